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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from iterate import aggregation
from iterate.config import Experiment, Source, load_config, parse_timestamp
from iterate.engine import connect
from iterate.errors import ConfigError, DataError
from iterate.ingest import PreparedLogs, prepare_logs
from iterate.result import AnalysisResult


def analyze(
    config: Experiment | str | Path,
    *,
    events: Any = None,
    exposures: Any = None,
    as_of: datetime | str | None = None,
    segments: Sequence[str] | None = None,
) -> AnalysisResult:
    """Analyze an experiment and decide: ship, rollback, continue or invalid.

    Args:
        config: An :class:`~iterate.config.Experiment` or the path of its TOML file.
        events: Events log overriding the configured one: a path / glob / folder, a
            :class:`~iterate.config.Source`, or a polars / Arrow / pandas frame.
        exposures: Exposures log overriding the configured one (same kinds as ``events``).
        as_of: Analysis end overriding the configured one (exposures and events after it ignored).
        segments: Dimension columns to break the metrics down by, overriding the configured ones.

    Raises:
        ConfigError: the configuration is invalid.
        DataError: a log is unreadable or breaks the data contract.
    """
    experiment, events, exposures = resolve(config, events, exposures)
    experiment = _with_overrides(experiment, as_of, segments)
    now = datetime.now(timezone.utc).replace(tzinfo=None)

    with connect() as con, engine_errors_as_data_errors():
        logs = prepare_logs(con, experiment, events, exposures)
        _import_in_background(*_statistics_modules(experiment))
        quantile_metrics = [metric for metric in experiment.metrics if metric.type == "quantile"]
        # a spine read by one query is computed inside it; quantile metrics read it three times each
        spine = aggregation.build_spine(con, experiment, logs, materialize=bool(quantile_metrics))
        started = spine.first_exposure
        if started is None:
            raise DataError(_no_exposures_message(con, experiment, logs))
        times = aggregation.event_times(con, logs, now, started)
        data_end = experiment.as_of or times.data_end
        exposure_segments = [s for s in experiment.segments if s in logs.exposure_dimensions]
        unit_metrics = aggregation.unit_metric_moments(con, experiment, logs, spine, experiment.variants, data_end,
                                                       exposure_segments=exposure_segments)
        counts = unit_metrics.exposures or aggregation.count_exposures(con, spine, exposure_segments)
        variants = check_variants(experiment, counts, logs.exposures.label)
        duplicates = aggregation.duplicate_events(con, experiment, logs, spine, variants,
                                                  sum(counts.units.get(v, 0) for v in variants))
        quantiles = {
            metric.name: aggregation.quantile_summaries(con, experiment, logs, spine, variants, metric)
            for metric in quantile_metrics
        }

    from iterate import checks
    from iterate.comparisons import overall_rows, segment_rows
    from iterate.decision import decide

    groups = unit_metrics.groups
    analyzed = {variant: counts.units.get(variant, 0) for variant in variants}
    quality = (
        checks.srm_check(experiment, analyzed, variants),
        checks.multiple_exposure_check(experiment, counts),
        checks.pre_exposure_check(experiment, groups, variants),
        *checks.segment_srm_checks(experiment, counts, variants),
        checks.unknown_variant_check(counts, variants),
        checks.event_time_check(times),
        checks.duplicate_check(duplicates),
    )
    rows = overall_rows(experiment, variants, groups, quantiles)
    by_segment, heterogeneity = segment_rows(experiment, variants, groups)
    decision = decide(rows, quality, by_segment, stopped=planned_end(experiment, analyzed, started, data_end))
    return AnalysisResult(
        experiment=experiment.name,
        verdict=decision.verdict,
        reasons=decision.reasons,
        checks=quality,
        metric_results=tuple(rows),
        variant_verdicts=decision.variant_verdicts,
        units=analyzed,
        excluded_units=_excluded(counts, variants),
        alpha=experiment.alpha,
        window=experiment.window,
        control=experiment.control,
        correction=experiment.correction,
        segment_results=tuple(by_segment),
        heterogeneity=tuple(heterogeneity),
    )


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


def _statistics_modules(experiment: Experiment) -> list[str]:
    """The statistics this analysis will import: the plain tests always, the NumPy-based ones only
    for the options that use them."""
    from iterate.aggregation.unit_metrics import uses_cuped

    options = {
        "iterate.stats.cuped": any(uses_cuped(metric, experiment) for metric in experiment.metrics),
        "iterate.stats.heterogeneity": bool(experiment.segments),
        "iterate.stats.quantile": any(metric.type == "quantile" for metric in experiment.metrics),
        "iterate.stats.sequential": experiment.sequential,
        "iterate.stats.group_sequential": experiment.looks is not None,
        "iterate.stats.bayes": experiment.engine != "frequentist",
    }
    return ["iterate.comparisons", "iterate.checks", *(module for module, used in options.items() if used)]


def _import_in_background(*modules: str) -> None:
    """Import the statistics (numpy, scipy) on another thread while the engine aggregates: DuckDB
    releases the GIL, so the imports cost no wall time. Started only once the long queries begin,
    as before that the main thread runs Python too and both would share the GIL."""
    missing = [module for module in modules if module not in sys.modules]
    if missing:
        threading.Thread(target=lambda: [importlib.import_module(m) for m in missing], name="import statistics",
                         daemon=True).start()


def _with_overrides(experiment: Experiment, as_of: datetime | str | None, segments: Sequence[str] | None) -> Experiment:
    changes: dict[str, Any] = {}
    if as_of is not None:
        try:
            changes["as_of"] = parse_timestamp(as_of)
        except ValueError:
            raise ConfigError(f"as_of == {as_of!r}, must be a date-time like 2026-01-20T00:00:00Z") from None
    if segments:
        changes["segments"] = tuple(segments)
    return experiment.replace(**changes) if changes else experiment


def _excluded(counts: aggregation.ExposureCounts, variants: Sequence[str]) -> dict[str, int]:
    undeclared = sum(units for variant, units in counts.units.items() if variant not in variants)
    return {"multiple_variants": counts.multiple_variant_units, "undeclared_variants": undeclared}


def resolve(config: Experiment | str | Path, events: Any, exposures: Any) -> tuple[Experiment, Any, Any]:
    """The experiment (loaded from TOML if a path) and the logs to read (arguments win over the config)."""
    experiment = config if isinstance(config, Experiment) else load_config(config)
    if not isinstance(experiment, Experiment):
        raise ConfigError(f"expected an Experiment or a TOML path, got {type(config).__name__}")
    events = _as_source(events) if events is not None else experiment.events
    exposures = _as_source(exposures) if exposures is not None else experiment.exposures
    return experiment, events, exposures


@contextmanager
def engine_errors_as_data_errors() -> Iterator[None]:
    """A log that turns out unreadable mid-scan (a malformed CSV row, a corrupt Parquet page) is a data error."""
    import duckdb

    try:
        yield
    except (duckdb.IOException, duckdb.InvalidInputException, duckdb.ConversionException) as error:
        first_line = str(error).strip().splitlines()[0]
        raise DataError(f"the engine could not read the input logs: {first_line}; fix or remove the offending file") from None


def _as_source(value: Any) -> Any:
    return Source(path=str(value)) if isinstance(value, (str, Path)) else value


def _no_exposures_message(con, experiment: Experiment, logs: PreparedLogs) -> str:
    if logs.has_experiment_column:
        found = aggregation.experiments_in_exposures(con, logs)
        return (
            f"{logs.exposures.label}: no exposure of experiment `{experiment.name}`; experiments found: "
            f"{', '.join(found) or 'none'}. Fix [experiment] name or the exposures log"
        )
    return f"{logs.exposures.label}: no exposure left after the as_of time and unit filters; check them"


def check_variants(experiment: Experiment, counts: aggregation.ExposureCounts, label: str) -> tuple[str, ...]:
    """Variants to analyze, control first; a missing control or an empty declared variant is an input error.

    Undeclared variants are not an error: their units are excluded and reported by a check.
    """
    observed = {variant for variant, units in counts.units.items() if units}
    declared = experiment.variants
    problems = []
    if declared is None:
        others = sorted(observed - {experiment.control})
        variants = (experiment.control, *others)
        if experiment.control not in observed:
            problems.append(
                f"{label}: the control variant `{experiment.control}` has no exposed unit; variants found: "
                f"{', '.join(sorted(observed)) or 'none'}. Fix [experiment] control"
            )
        elif not others:
            problems.append(f"{label}: only the control variant `{experiment.control}` is exposed; there is nothing to compare")
    else:
        variants = declared
        for variant in declared:
            if counts.units.get(variant, 0) == 0:
                found = ", ".join(sorted(observed)) or "none"
                problems.append(
                    f"{label}: variant `{variant}` has no exposed unit (after excluding units exposed to several "
                    f"variants; variants found: {found}); check the variant names in expected_split"
                )
    if problems:
        raise DataError("the variants of the exposures do not match the experiment:", problems)
    return variants
