"""A staged ramp, end to end: the stage of each unit in SQL, per-stage moments from the one
unit-metrics scan, then the statistics and the verdict on the moments alone.

A unit's stage is the stage of its first exposure: from the schedule (``[rollout] stages``, by the
exposure's time, :mod:`iterate.aggregation.stages`) or from ``[rollout] stage_column``. The stage
is an exposure segment of the unit spine, so :func:`iterate.aggregation.unit_metric_moments` returns
the moments per stage and per variant, and the units per stage, in its one scan; cumulative
moments up to a stage are sums of the stages' moments (``a + b``), never a second scan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from iterate import aggregation, checks, evidence
from iterate.aggregation.stages import staged_exposures
from iterate.config import Experiment
from iterate.errors import ConfigError, DataError
from iterate.result import Check, MetricResult
from iterate.rollout.decision import RolloutDecision, RampEvidence, judge_ramp
from iterate.rollout.estimates import StageGroups, cumulative_moments, naive_rows, pooled_rows, stage_rows
from iterate.rollout.event_rates import RateRegressionTest, rate_tests
from iterate.rollout.result import RolloutResult, StageSummary
from iterate.session import Session, now, open_session

STAGE_KEY = "iterate_stage"
"""The exposure dimension holding the stage of a schedule (``"dim:iterate_stage"`` in SQL)."""

MISSING_STAGE = "(no stage)"
"""The label of units whose ``stage_column`` is null at their first exposure."""


@dataclass(frozen=True, slots=True)
class _RampFacts:
    """What the engine returns for a ramp: moments and counts per stage, and the checks' facts."""

    labels: tuple[str, ...]
    variants: tuple[str, ...]
    groups: list[aggregation.GroupMoments]
    stage_groups: StageGroups
    stage_units: Mapping[str, Mapping[str, int]]
    counts: aggregation.ExposureCounts | None
    quality: tuple[Check, ...]
    no_traffic: str | None
    fingerprint: Mapping[str, Any]


def stage_labels(experiment: Experiment) -> tuple[str, ...]:
    """The labels of a schedule's stages: ``stage 1``, ``stage 2``, ..."""
    return tuple(f"stage {position}" for position in range(1, len(experiment.rollout.stages) + 1))


def refuse_unsupported(experiment: Experiment) -> None:
    """Configurations a ramp cannot judge yet, each named with its fix.

    Raises:
        ConfigError: an event-level (quantile) metric, or ``stage_column`` with exposures taken from
            the events log.
    """
    problems = [f"[[metrics]] {metric.name}: type = \"{metric.type}\" is not available in a ramp yet; use a per-unit "
                "metric (proportion, count, mean, ratio, ...)" for metric in experiment.metrics if not metric.kind.per_unit]
    if experiment.rollout.stage_column is not None and experiment.exposure_event is not None:
        problems.append("[rollout] stage_column is read from an exposures log ([data] exposures); with "
                        "[data] exposure_event give the schedule as [rollout] stages instead")
    if problems:
        raise ConfigError(f"the ramp of {experiment.name} cannot be analyzed:", problems)


def judge(experiment: Experiment, events: Any, exposures: Any, engine: Any) -> tuple[RolloutResult, Mapping[str, Any]]:
    """The ramp's result (without provenance) and the data fingerprint."""
    refuse_unsupported(experiment)
    rollout = experiment.rollout
    stage_key = STAGE_KEY if rollout.stages else rollout.stage_column
    ingest = experiment.replace(segments=() if rollout.stages else (stage_key,))
    try:
        with open_session(ingest, events, exposures, engine=engine) as session:
            facts = _aggregate(session, experiment, stage_key, {"events": events, "exposures": exposures})
    except DataError as error:
        raise _stage_column_error(error, rollout.stage_column) from None
    return _result(experiment, facts), facts.fingerprint


def _stage_column_error(error: DataError, column: str | None) -> DataError:
    """The error with ingest's problem of a missing stage column (looked for in the events once the
    exposures lack it) said as what it is: the exposures lack ``[rollout] stage_column``."""
    missing = f"column `{column}` (dimension) is missing"
    if column is None or not any(missing in problem for problem in error.problems):
        return error
    problems = [problem if missing not in problem else
                f"the exposures log has no column `{column}` ([rollout] stage_column); name the exposures' column "
                "holding each unit's stage, or give the schedule as [rollout] stages" for problem in error.problems]
    return DataError(str(error.args[0]), problems)


def _aggregate(session: Session, experiment: Experiment, stage_key: str, sources: Mapping[str, Any]) -> _RampFacts:
    """Per-stage moments and counts from the one unit-metrics scan, and the checks' facts."""
    from iterate.provenance import data_fingerprint

    engine, logs, rollout = session.engine, session.logs, experiment.rollout
    if rollout.stages:
        logs = staged_exposures(engine, logs, stage_key, [stage.start for stage in rollout.stages],
                                stage_labels(experiment))
    elif stage_key not in logs.exposure_dimensions:
        raise DataError(f"{logs.exposures.label}: no column `{stage_key}` ([rollout] stage_column); name the exposures' "
                        "column holding each unit's stage, or give the schedule as [rollout] stages")
    staged = experiment.replace(segments=(stage_key,))
    spine = aggregation.build_spine(engine, staged, logs, materialize=False)
    times = aggregation.event_times(engine, logs, now(), spine.first_exposure)
    fingerprint = data_fingerprint(session, sources, (times.first_event, times.last_event))
    if spine.first_exposure is None:
        why = Session(staged, engine, logs)._no_exposures_message()  # the diagnosis analyze gives
        return _RampFacts(_started(experiment, {}, None), (), [], {}, {}, None, (), f"no unit is exposed: {why}",
                          fingerprint)
    data_end = experiment.as_of or times.data_end
    unit_metrics = aggregation.unit_metric_moments(engine, staged, logs, spine, experiment.variants, data_end,
                                                   exposure_segments=[stage_key])
    counts = unit_metrics.exposures
    stage_units = {_label(value): dict(units) for value, units in counts.segment_units.get(stage_key, {}).items()}
    labels = _started(experiment, stage_units, data_end)
    variants, no_traffic = _variants(experiment, counts)
    analyzed = {variant: counts.units.get(variant, 0) for variant in variants}
    groups = unit_metrics.groups
    stage_groups = {(_label(g.segment_value), g.metric, g.variant): g for g in groups if g.segment == stage_key}
    active = sum(unit_metrics.units_with_events.get(variant, 0) for variant in variants)
    low_activity = not active or active < experiment.min_active_share * sum(analyzed.values())
    activity = evidence.activity_check(experiment, unit_metrics.units_with_events, analyzed,
                                       aggregation.log_summaries(engine, logs) if low_activity else None)
    if not active:  # no event yet is no evidence (the evidence rules hold the ramp), not a broken join
        activity = replace(activity, severity="warning")
    quality = (
        *_stage_srm_checks(experiment, variants, stage_units, labels),
        checks.multiple_exposure_check(experiment, counts),
        *_stage_imbalance_checks(experiment, variants, stage_groups, labels),
        activity,
        checks.unknown_variant_check(counts, variants),
        checks.event_time_check(times),
        checks.duplicate_check(aggregation.duplicate_events(engine, staged, logs, spine, variants,
                                                            sum(analyzed.values()))),
    )
    return _RampFacts(labels, variants, groups, stage_groups, stage_units, counts, quality, no_traffic, fingerprint)


def _label(value: str | None) -> str:
    return MISSING_STAGE if value is None else value


def _started(experiment: Experiment, stage_units: Mapping[str, Mapping[str, int]], data_end: datetime | None) -> tuple[str, ...]:
    """The stages started so far, in order: of a schedule, those whose start is at or before the
    data's end (the as-of time, else the last event) or that have units; with ``stage_column``,
    the values found, in natural order (numbers by value, then text)."""
    rollout = experiment.rollout
    if not rollout.stages:
        def natural(label: str) -> tuple[int, float, str]:
            try:
                return (0, float(label), label)
            except ValueError:
                return (1, 0.0, label)
        return tuple(sorted(stage_units, key=natural))
    reference = experiment.as_of or data_end
    labels = stage_labels(experiment)
    started = [label for label, stage in zip(labels, rollout.stages)
               if (reference is not None and stage.start <= reference) or sum(stage_units.get(label, {}).values())]
    last = labels.index(started[-1]) if started else 0
    return labels[:last + 1]


def _variants(experiment: Experiment, counts: aggregation.ExposureCounts) -> tuple[tuple[str, ...], str | None]:
    """The variants to compare (control first) and why there is nothing to compare yet, if so."""
    observed = sorted(variant for variant, units in counts.units.items() if units and variant != experiment.control)
    variants = experiment.variants or (experiment.control, *observed)
    empty = [variant for variant in variants if not counts.units.get(variant, 0)]
    if len(variants) < 2:
        return variants, f"only the control `{experiment.control}` is exposed: no treatment unit yet"
    if empty:
        return variants, f"no unit is exposed to {', '.join(f'`{v}`' for v in empty)} yet"
    return variants, None


def _stage_split(experiment: Experiment, variants: Sequence[str], share: float) -> dict[str, float]:
    """The planned split of a stage: ``1 - share`` to control, ``share`` over the treatment arms."""
    arms = variants[1:]
    return {variants[0]: 1 - share, **{arm: share / len(arms) for arm in arms}}


def _stage_srm_checks(experiment: Experiment, variants: Sequence[str], stage_units: Mapping[str, Mapping[str, int]],
                      labels: Sequence[str]) -> list[Check]:
    """The anytime-valid sample ratio check of each stage against its planned share (Lindon &
    Malek 2022), when the schedule gives shares; a stage at share 1 has no control to check."""
    if not experiment.rollout.stages or len(variants) < 2:
        return []
    found = []
    for label, stage in zip(labels, experiment.rollout.stages):
        if stage.share >= 1:
            continue
        planned = experiment.replace(expected_split=_stage_split(experiment, variants, stage.share))
        found.append(checks.srm_check(planned, stage_units.get(label, {}), variants, name=f"srm:stage={label}",
                                      scope=f"{label} (planned share {stage.share:.4g}): ", anytime_valid=True))
    return found


def _stage_imbalance_checks(experiment: Experiment, variants: Sequence[str], groups: StageGroups,
                            labels: Sequence[str]) -> list[Check]:
    """The pre-exposure imbalance check within each stage (across stages the baseline may drift,
    so the arms are comparable only within a stage)."""
    if len(variants) < 2:
        return []
    found = []
    for label in labels:
        within = [replace(group, segment=None) for (stage, _, _), group in groups.items() if stage == label]
        if {g.variant for g in within} >= set(variants):
            check = checks.pre_exposure_check(experiment, within, variants)
            found.append(replace(check, name=f"{check.name}:stage={label}", message=f"{label}: {check.message}"))
    return found


def _checks_up_to(quality: Sequence[Check], labels: Sequence[str]) -> tuple[Check, ...]:
    """The checks that apply to the ramp judged at the end of the last of ``labels``."""
    later = {check.name for check in quality if "stage=" in check.name and check.name.split("stage=")[1] not in labels}
    return tuple(check for check in quality if check.name not in later)


def _stage_evidence(experiment: Experiment, facts: _RampFacts, stage: str | None) -> RampEvidence:
    """What the stage lacks: metrics without data, arms below ``min_units_per_stage``."""
    rollout = experiment.rollout
    if facts.no_traffic or stage is None:
        return RampEvidence(stage, no_traffic=facts.no_traffic or "no stage has started", on_no_data=rollout.on_no_data)
    no_data = {}
    for metric in experiment.metrics:
        arms = [facts.stage_groups[(stage, metric.name, v)].moments for v in facts.variants
                if (stage, metric.name, v) in facts.stage_groups]
        why = metric.kind.no_evidence(arms) if arms else "no unit of the stage"
        if why is not None:
            no_data[metric.name] = why
    units = facts.stage_units.get(stage, {})
    short = {variant: units.get(variant, 0) for variant in facts.variants
             if units.get(variant, 0) < rollout.min_units_per_stage}
    shortfall = None
    if short:
        listed = ", ".join(f"{variant} {count:,}" for variant, count in short.items())
        shortfall = (f"the current stage {stage} has too few units: {listed}, below [rollout] min_units_per_stage = "
                     f"{rollout.min_units_per_stage:,}")
    return RampEvidence(stage, no_data=no_data, shortfall=shortfall, on_no_data=rollout.on_no_data)


def _cumulative_no_data(experiment: Experiment, facts: _RampFacts, labels: Sequence[str]) -> dict[str, str]:
    """Metrics without evidence over the stages ``labels`` together (their pooled rows are ``no_data``)."""
    found = {}
    for metric in experiment.metrics:
        arms = [m for m in (cumulative_moments(facts.stage_groups, labels, metric.name, v) for v in facts.variants)
                if m is not None]
        why = metric.kind.no_evidence(arms) if arms else "no arm has units"
        if why is not None:
            found[metric.name] = why
    return found


def _judge_up_to(experiment: Experiment, facts: _RampFacts, per_stage: Sequence[MetricResult],
                 labels: Sequence[str]) -> tuple[list[MetricResult], list[RateRegressionTest], RolloutDecision]:
    """The pooled rows, the event-rate tests and the decision on the stages ``labels`` (the ramp
    judged at the last one's end)."""
    rows = [] if facts.no_traffic else pooled_rows(experiment, facts.variants, per_stage, labels,
                                                   _cumulative_no_data(experiment, facts, labels))
    rates = [] if facts.no_traffic else rate_tests(experiment, facts.variants, facts.stage_groups, labels)
    stage = labels[-1] if labels else None
    decision = judge_ramp(rows, _checks_up_to(facts.quality, labels), _stage_evidence(experiment, facts, stage), rates)
    return rows, rates, decision


def _result(experiment: Experiment, facts: _RampFacts) -> RolloutResult:
    labels = facts.labels
    per_stage = [] if facts.no_traffic else stage_rows(experiment, facts.variants, facts.stage_groups, labels)
    summaries = []
    for position, label in enumerate(labels):
        _, _, decision = _judge_up_to(experiment, facts, per_stage, labels[:position + 1])
        summaries.append(_summary(experiment, facts, label, position, decision.verdict))
    rows, rates, decision = _judge_up_to(experiment, facts, per_stage, labels)
    naive = [] if facts.no_traffic else naive_rows(experiment, facts.variants, facts.groups)
    return RolloutResult(
        experiment=experiment.name, kind=experiment.rollout.kind, verdict=decision.verdict, reasons=decision.reasons,
        checks=_checks_up_to(facts.quality, labels), stages=tuple(summaries),
        current_stage=labels[-1] if labels else None, metric_results=tuple(rows), naive_results=tuple(naive),
        stage_results=tuple(per_stage), decision_trace=decision.trace, alpha=experiment.alpha,
        control=experiment.control, rate_tests=tuple(rates),
    )


def _summary(experiment: Experiment, facts: _RampFacts, label: str, position: int, verdict: str) -> StageSummary:
    units = {variant: facts.stage_units.get(label, {}).get(variant, 0) for variant in facts.variants}
    total = sum(units.values())
    treated = total - units.get(experiment.control, 0)
    schedule = experiment.rollout.stages
    stage = schedule[position] if schedule else None
    following = schedule[position + 1] if schedule and position + 1 < len(schedule) else None
    return StageSummary(
        stage=label, start=None if stage is None else stage.start, end=None if following is None else following.start,
        planned_share=None if stage is None else stage.share, units=units,
        observed_share=treated / total if total else None, verdict=verdict,  # type: ignore[arg-type]
    )
