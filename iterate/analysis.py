"""One analysis, end to end: ingest -> sql -> stats -> decision -> result.

Example:
    >>> import iterate
    >>> result = iterate.analyze("sample_data/experiment.toml")  # doctest: +SKIP
    >>> result.verdict, result.exit_code  # doctest: +SKIP
    ('ship', 0)
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from iterate import aggregation, evidence
from iterate.aggregation.quality import LogSummary
from iterate.config import Experiment
from iterate.engines import Engine
from iterate.errors import ConfigError, DataError
from iterate.horizon import Horizon
from iterate.result import AnalysisResult
from iterate.session import Session, open_session, resolve


@dataclass(frozen=True, slots=True)
class _Aggregates:
    """What the engine returns for one analysis: moments, counts and the facts the checks need."""

    variants: tuple[str, ...]
    counts: aggregation.ExposureCounts
    groups: list[aggregation.GroupMoments]
    quantiles: Mapping[str, Mapping[str, Any]]
    times: aggregation.EventTimes
    duplicates: aggregation.Duplicates
    started: datetime
    data_end: datetime | None
    no_data: Mapping[str, str]
    units_with_events: Mapping[str, int]
    log_summaries: tuple[LogSummary, LogSummary] | None
    fingerprint: Mapping[str, Any]


def analyze(
    config: Experiment | str | Path,
    *,
    events: Any = None,
    exposures: Any = None,
    as_of: datetime | str | None = None,
    segments: Sequence[str] | str | None = None,
    engine: Engine | None = None,
    timeline: bool = False,
    record: str | Path | None = None,
) -> AnalysisResult:
    """Analyze an experiment and decide: ship, rollback, continue, inconclusive or invalid.

    Args:
        config: An :class:`~iterate.config.Experiment` or the path of its TOML file.
        events: Events log overriding the configured one: a path / glob / folder, a
            :class:`~iterate.config.Source`, or a polars / Arrow / pandas frame.
        exposures: Exposures log overriding the configured one (same kinds as ``events``).
        as_of: Analysis end overriding the configured one (exposures and events after it ignored).
        segments: Dimension columns to break the metrics down by (a string is one column), overriding
            the configured ones.
        engine: The engine to run on (:mod:`iterate.engines`); by default a new embedded DuckDB.
        timeline: Also compute the per-day timeline with always-valid intervals; the experiment
            is then looked at every day, so the sample ratio check is anytime-valid.
        record: Append the analysis to this iteration history (a DuckDB file, :mod:`iterate.history`),
            overriding ``[history] path``; its online-FDR and budget rules apply.

    Raises:
        ConfigError: the configuration is invalid.
        DataError: a log is unreadable or breaks the data contract.
        HistoryError: the history file is not one, or stays locked by another process.
    """
    started = time.perf_counter()
    generated_at = datetime.now(timezone.utc).replace(tzinfo=None)
    experiment, events, exposures = resolve(config, events, exposures, as_of=as_of, segments=segments)
    store, gate = _history(experiment, record)
    with open_session(experiment, events, exposures, engine=engine) as session:
        aggregates = _aggregate(session, {"events": events, "exposures": exposures})
    result = _decide(experiment, aggregates, anytime_valid=experiment.sequential or timeline, gate=gate)
    from iterate.provenance import provenance

    result = replace(result, provenance=provenance(experiment, aggregates.fingerprint, generated_at))
    if timeline:
        from iterate.timeline import timeline as daily_points

        result = result.with_timeline(daily_points(experiment, events=events, exposures=exposures, engine=engine))
    if store is not None:
        fdr = gate.fdr if gate is not None else None
        store.record(result, experiment, run_seconds=time.perf_counter() - started,
                     fdr_alpha=fdr.alpha if fdr else None, fdr_wealth=fdr.wealth if fdr else None)
    return result


def _history(experiment: Experiment, record: str | Path | None) -> tuple[Any, Any]:
    """The history store (``record``, else ``[history] path``) and its gate, or ``(None, None)``."""
    path = record if record is not None else (experiment.history.path if experiment.history else None)
    if path is None:
        return None, None
    from iterate.history.gate import HistoryGate
    from iterate.history.store import HistoryStore

    store = HistoryStore(path)
    return store, HistoryGate.load(store, experiment)


def _aggregate(session: Session, sources: Mapping[str, Any]) -> _Aggregates:
    """Everything the analysis needs from the engine: one query for the per-unit metrics and the
    exposure counts, three passes per quantile metric, the event-time and duplicate checks, and
    the fingerprint of the logs (``sources``: as the analysis was given them)."""
    from iterate.provenance import data_fingerprint

    experiment, engine, logs = session.experiment, session.engine, session.logs
    _import_in_background(*_statistics_modules(experiment))
    event_level = [metric for metric in experiment.metrics if not metric.kind.per_unit]
    # a spine read by one query is computed inside it; event-level metrics read it three times each
    spine = session.exposed_spine(materialize=bool(event_level))
    times = session.event_times(spine.first_exposure)
    if times.first_event is None:
        raise DataError(f"{logs.events.label}: the events log has no rows; there is nothing to analyze")
    data_end = experiment.as_of or times.data_end
    exposure_segments = [s for s in experiment.segments if s in logs.exposure_dimensions]
    unit_metrics = aggregation.unit_metric_moments(engine, experiment, logs, spine, experiment.variants, data_end,
                                                   exposure_segments=exposure_segments)
    counts = unit_metrics.exposures or session.count_exposures(spine, exposure_segments)
    variants = session.variants(counts)
    analyzed = {variant: counts.units.get(variant, 0) for variant in variants}
    quantiles = {metric.name: aggregation.quantile_summaries(engine, experiment, logs, spine, variants, metric)
                 for metric in event_level}
    no_data = evidence.no_data_metrics(experiment, variants, unit_metrics.groups, quantiles)
    _refuse_missing_events(session, no_data)
    active = sum(unit_metrics.units_with_events.get(v, 0) for v in variants)
    low_activity = not active or active < experiment.min_active_share * sum(analyzed.values())
    return _Aggregates(
        variants=variants,
        counts=counts,
        groups=unit_metrics.groups,
        quantiles=quantiles,
        times=times,
        duplicates=aggregation.duplicate_events(engine, experiment, logs, spine, variants, sum(analyzed.values())),
        started=spine.first_exposure,
        data_end=data_end,
        no_data=no_data,
        units_with_events=unit_metrics.units_with_events,
        log_summaries=aggregation.log_summaries(engine, logs) if low_activity else None,
        fingerprint=data_fingerprint(session, sources, (times.first_event, times.last_event)),
    )


def _refuse_missing_events(session: Session, no_data: Mapping[str, str]) -> None:
    """A metric without data whose event never occurs in the events log is a configuration error
    (a misspelt event), reported for every such metric at once with the nearest names found."""
    suspects = [metric for metric in session.experiment.metrics if metric.name in no_data]
    wanted = sorted({side.event for metric in suspects for side in metric.sides})
    found = aggregation.events_found(session.engine, session.logs, wanted)
    if set(wanted) <= found:
        return
    names = aggregation.event_names(session.engine, session.logs)
    problems = evidence.missing_event_problems(suspects, found, names)
    raise ConfigError(f"{len(problems)} metric event(s) never occur in {session.logs.events.label}:", problems)


def _decide(experiment: Experiment, aggregates: _Aggregates, *, anytime_valid: bool, gate: Any = None,
            not_run: Mapping[str, str] | None = None) -> AnalysisResult:
    """Statistics, checks and decision on the moments: no engine from here on. ``anytime_valid``:
    the experiment is looked at repeatedly, so the sample ratio check is anytime-valid. ``gate``:
    the iteration history's rules (:class:`iterate.history.gate.HistoryGate`), if recorded.
    ``not_run``: check name -> what it needs, for the checks the aggregates cannot feed (an
    analysis of summary statistics, :mod:`iterate.moments_input`), reported as not run."""
    from iterate import checks
    from iterate.comparisons import overall_rows, pairwise_rows, segment_rows
    from iterate.decision import decide

    variants, counts, groups = aggregates.variants, aggregates.counts, aggregates.groups
    analyzed = {variant: counts.units.get(variant, 0) for variant in variants}
    quality = (
        checks.srm_check(experiment, analyzed, variants, anytime_valid=anytime_valid),
        checks.multiple_exposure_check(experiment, counts),
        checks.pre_exposure_check(experiment, groups, variants),
        evidence.activity_check(experiment, aggregates.units_with_events, analyzed, aggregates.log_summaries),
        evidence.evidence_check(aggregates.no_data, experiment.window),
        *checks.segment_srm_checks(experiment, counts, variants, anytime_valid=anytime_valid),
        checks.unknown_variant_check(counts, variants),
        checks.event_time_check(aggregates.times),
        checks.duplicate_check(aggregates.duplicates),
    )
    if not_run:
        quality = tuple(_not_run(check, not_run[check.name]) if check.name in not_run else check for check in quality)
    rows = evidence.with_no_data(overall_rows(experiment, variants, groups, aggregates.quantiles), aggregates.no_data)
    if gate is not None:
        rows = gate.with_success_alpha(rows)
    by_segment, heterogeneity = segment_rows(experiment, variants, groups)
    stopped = planned_end(experiment, analyzed, aggregates.started, aggregates.data_end)
    decision = decide(rows, quality, by_segment, stopped=stopped,
                      shortfalls=evidence.sample_shortfalls(experiment, analyzed, variants),
                      pairwise=pairwise_rows(experiment, variants, groups, aggregates.quantiles),
                      horizon=observed_horizon(experiment, analyzed, aggregates.started, aggregates.data_end))
    if gate is not None:
        decision, history_checks = gate.judge(decision, rows)
        quality += history_checks
    undeclared = sum(units for variant, units in counts.units.items() if variant not in variants)
    return AnalysisResult(
        experiment=experiment.name,
        verdict=decision.verdict,
        reasons=decision.reasons,
        checks=quality,
        metric_results=tuple(rows),
        variant_verdicts=decision.variant_verdicts,
        units=analyzed,
        excluded_units={"multiple_variants": counts.multiple_variant_units, "undeclared_variants": undeclared},
        alpha=experiment.alpha,
        window=experiment.window,
        control=experiment.control,
        correction=experiment.correction,
        segment_results=tuple(by_segment),
        heterogeneity=tuple(heterogeneity),
        decision_trace=decision.trace,
        recommendation=decision.recommendation,
    )


def _not_run(check: Any, needs: str) -> Any:
    """A check that could not run: a failed warning (never passed) saying why; no effect on the verdict."""
    from iterate.result import Check

    return Check(check.name, False, f"{check.name}: not run on summary statistics ({needs})", {"not_run": True}, "warning")


def planned_end(experiment: Experiment, units: dict[str, int], started: datetime | None,
                data_end: datetime | None) -> str | None:
    """Why the experiment has reached its planned end (sample size or duration), or ``None``."""
    total = sum(units.values())
    if experiment.planned_units is not None and total >= experiment.planned_units:
        return f"the planned {experiment.planned_units:,} units are reached ({total:,} analyzed)"
    limit = experiment.max_duration_seconds
    if limit is not None and started is not None and data_end is not None:
        elapsed = (data_end - started).total_seconds()
        if elapsed >= limit:
            return f"the planned maximum duration {experiment.max_duration} is reached ({elapsed / 86400:.1f} days of data)"
    return None


def observed_horizon(experiment: Experiment, units: dict[str, int], started: datetime | None,
                     data_end: datetime | None) -> Horizon:
    """The traffic so far (analyzed units over the days between the first exposure and the data end)
    and the plan's limits, for the projections and the futility rule of :mod:`iterate.horizon`."""
    elapsed = None if started is None or data_end is None else (data_end - started).total_seconds() / 86400
    limit = experiment.max_duration_seconds
    return Horizon(elapsed_days=elapsed, analyzed_units=sum(units.values()), planned_units=experiment.planned_units,
                   max_duration_days=None if limit is None else limit / 86400, mde=experiment.mde,
                   correction=experiment.correction)


def _statistics_modules(experiment: Experiment) -> list[str]:
    """The statistics this analysis will import: the plain tests always, the NumPy-based ones only
    for the options and metric kinds that use them."""
    options = {
        "iterate.stats.cuped": any(experiment.uses_cuped(metric) for metric in experiment.metrics),
        "iterate.stats.heterogeneity": bool(experiment.segments),
        "iterate.stats.sequential": experiment.sequential,
        "iterate.stats.group_sequential": experiment.looks is not None,
        "iterate.stats.bayes": experiment.inference != "frequentist",
    }
    by_kinds = [module for metric in experiment.metrics for module in metric.kind.statistics]
    return ["iterate.comparisons", "iterate.checks", *(module for module, used in options.items() if used), *by_kinds]


def _import_in_background(*modules: str) -> None:
    """Import the statistics (numpy, scipy) on another thread while the engine aggregates: DuckDB
    releases the GIL, so the imports cost no wall time. Started only once the long queries begin,
    as before that the main thread runs Python too and both would share the GIL."""
    missing = [module for module in dict.fromkeys(modules) if module not in sys.modules]
    if missing:
        threading.Thread(target=lambda: [importlib.import_module(m) for m in missing], name="import statistics",
                         daemon=True).start()
