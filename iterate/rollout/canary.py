"""A canary, end to end (``[rollout] kind = "canary"``): the canary's values of each metric over
fixed intervals against the baseline's, the Kayenta model (Mann-Whitney per metric, weighted
score, thresholds), the anytime-valid event-rate test beside it, and the verdict.

**What an interval value is.** A unit belongs to the interval (``[rollout] interval`` long,
aligned on the clock) of its first exposure. The value of a metric in an interval and an arm is
the metric over the units of that arm first exposed in that interval, each measured in its own
window from its first exposure, as ``analyze`` measures it: the mean of the per-unit values
(``proportion``, ``count``, ``mean``, ...), or for a ``ratio`` the sum of the numerators over the
sum of the denominators. They come from the one unit-metrics scan, grouped by interval and arm
(the interval is an exposure segment, :mod:`iterate.aggregation.intervals`), as the ramp's stages
are. An arm's interval with fewer than ``[rollout] min_units_per_interval`` units with a value
has no value. The intervals compared are those where both arms have a value, so the canary and
the baseline are compared over the same periods (units of the latest intervals have shorter
windows, in both arms alike).

**The judge** (:mod:`iterate.rollout.canary_decision`): per metric,
:func:`iterate.stats.canary.mann_whitney` of the canary's interval values against the baseline's
at the experiment's alpha, the metric's ``tolerance`` (relative to the baseline's median; 0.1 by
default) and its bad direction (the opposite of ``direction``); then
:func:`iterate.stats.canary.canary_score` with the metrics' ``group``, ``critical`` and
``[rollout] group_weights`` / ``thresholds``. Beside it, each ``count`` metric's events are tested
as a rate per unit of exposure with :func:`iterate.stats.rates.sequential_rate_test` (Lindon &
Malek 2022), anytime-valid, so the canary may be checked after every interval: the exposure is
the number of units of each arm (every unit is measured over the same window length; the log
has no time online), the events the sum of the units' counts, the tolerance the metric's.

Each interval's verdict in ``stages`` is the judge's on the intervals up to its end.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import reduce
from datetime import datetime, timedelta
from typing import Any

from iterate import aggregation, checks, evidence
from iterate.aggregation.intervals import interval_exposures, interval_start
from iterate.config import Experiment, Metric
from iterate.errors import ConfigError
from iterate.result import Check, MetricResult
from iterate.rollout.canary_decision import RolloutDecision, CanaryEvidence, judge_canary
from iterate.rollout.result import RolloutResult, StageSummary
from iterate.session import Session, now, open_session
from iterate.stats import RatioMoments
from iterate.stats.canary import CanaryScore, MannWhitneyResult, canary_score, mann_whitney
from iterate.stats.rates import RateTest, sequential_rate_test

INTERVAL_KEY = "iterate_interval"
"""The exposure dimension holding a unit's interval index (``"dim:iterate_interval"`` in SQL)."""

DEFAULT_TOLERANCE = 0.1
"""A metric's tolerance when it gives none: 10% of the baseline's median."""

METHOD = "mann_whitney_hodges_lehmann"

_TIMELINE_LIMIT = 200
"""The verdict judged at each interval's end is computed for the last this many intervals."""


@dataclass(frozen=True, slots=True)
class IntervalValue:
    """One metric's value in one interval, per arm.

    Attributes:
        interval: The interval's label (its start, ISO 8601).
        start: Its start (naive UTC).
        baseline: The baseline's value (``None`` below ``min_units_per_interval`` units).
        canary: The canary's value.
        baseline_units: Baseline units with a value first exposed in the interval.
        canary_units: Canary units with a value.
        compared: Whether both arms have a value (the interval enters the comparison).
    """

    interval: str
    start: datetime
    baseline: float | None
    canary: float | None
    baseline_units: int
    canary_units: int
    compared: bool


@dataclass(frozen=True, slots=True)
class CanaryJudgement:
    """The canary judge's own numbers (the ``canary`` section of the rollout document).

    Attributes:
        interval: The intervals' length as configured (``"10m"``).
        interval_seconds: It in seconds.
        baseline: The baseline's variant (the experiment's control).
        canary: The canary's variant.
        score: The canary score and its rules (``None`` when nothing was compared: no traffic).
        comparisons: Each metric's Mann-Whitney comparison over the intervals.
        rate_tests: Each count metric's anytime-valid event-rate test.
        values: Each metric's value per interval and arm.
        critical: The critical metrics.
        groups: Each metric's group.
    """

    interval: str
    interval_seconds: float
    baseline: str
    canary: str | None
    score: CanaryScore | None
    comparisons: Mapping[str, MannWhitneyResult]
    rate_tests: Mapping[str, RateTest]
    values: Mapping[str, tuple[IntervalValue, ...]]
    critical: tuple[str, ...]
    groups: Mapping[str, str]

    def as_document(self) -> dict[str, Any]:
        """Plain values: the score, thresholds, groups and rules, then one entry per metric."""
        score = self.score
        return {
            "interval": self.interval, "interval_seconds": self.interval_seconds,
            "baseline": self.baseline, "canary": self.canary,
            "score": None if score is None else score.score,
            "weighted_score": None if score is None else score.weighted_score,
            "score_verdict": None if score is None else score.verdict,
            "thresholds": None if score is None else dict(score.thresholds),
            "critical_failure": None if score is None else score.critical_failure,
            "groups": [] if score is None else [asdict(group) for group in score.groups],
            "rules": [] if score is None else [asdict(rule) for rule in score.rules],
            "metrics": [
                {"name": name, "group": self.groups[name], "critical": name in self.critical,
                 **{key: value for key, value in asdict(result).items()},
                 "outcome": result.outcome,
                 "rate_test": asdict(self.rate_tests[name]) if name in self.rate_tests else None,
                 "intervals": [asdict(value) for value in self.values.get(name, ())]}
                for name, result in self.comparisons.items()
            ],
        }


@dataclass(frozen=True, slots=True)
class _CanaryFacts:
    """What the engine returns for a canary: moments per interval and arm, and the checks' facts."""

    indices: tuple[int, ...]
    arms: tuple[str, ...]
    groups: list[aggregation.GroupMoments]
    interval_groups: Mapping[tuple[int, str, str], aggregation.GroupMoments]
    interval_units: Mapping[int, Mapping[str, int]]
    quality: tuple[Check, ...]
    no_traffic: str | None
    fingerprint: Mapping[str, Any]


def refuse_unsupported(experiment: Experiment) -> None:
    """Configurations a canary cannot judge, each named with its fix.

    Raises:
        ConfigError: an event-level (quantile) metric, or a canary that is the baseline.
    """
    problems = [f"[[metrics]] {metric.name}: type = \"{metric.type}\" is not available in a canary yet; use a "
                "per-unit metric (proportion, count, mean, ratio, ...)" for metric in experiment.metrics
                if not metric.kind.per_unit]
    if experiment.rollout.canary == experiment.control:
        problems.append(f"[rollout] canary == {experiment.control!r} is the baseline ([experiment] control); name "
                        "the canary's variant")
    declared = experiment.variants
    if declared and experiment.rollout.canary is not None and experiment.rollout.canary not in declared:
        problems.append(f"[rollout] canary == {experiment.rollout.canary!r} is not in [experiment] expected_split "
                        f"({', '.join(declared)})")
    if declared and experiment.rollout.canary is None and len(declared) > 2:
        problems.append(f"[experiment] expected_split declares {len(declared) - 1} variants besides the baseline "
                        f"`{experiment.control}`; name the canary with [rollout] canary")
    if problems:
        raise ConfigError(f"the canary of {experiment.name} cannot be analyzed:", problems)


def judge(experiment: Experiment, events: Any, exposures: Any, engine: Any) -> tuple[RolloutResult, Mapping[str, Any]]:
    """The canary's result (without provenance) and the data fingerprint."""
    refuse_unsupported(experiment)
    with open_session(experiment, events, exposures, engine=engine) as session:
        facts = _aggregate(session, experiment, {"events": events, "exposures": exposures})
    return _result(experiment, facts), facts.fingerprint


def _aggregate(session: Session, experiment: Experiment, sources: Mapping[str, Any]) -> _CanaryFacts:
    """Moments per interval and arm from the one unit-metrics scan, and the checks' facts."""
    from iterate.provenance import data_fingerprint

    engine = session.engine
    logs = interval_exposures(engine, session.logs, INTERVAL_KEY, experiment.rollout.interval_seconds)
    keyed = experiment.replace(segments=(INTERVAL_KEY,))
    spine = aggregation.build_spine(engine, keyed, logs, materialize=False)
    times = aggregation.event_times(engine, logs, now(), spine.first_exposure)
    fingerprint = data_fingerprint(session, sources, (times.first_event, times.last_event))
    if spine.first_exposure is None:
        why = Session(keyed, engine, logs)._no_exposures_message()  # the diagnosis analyze gives
        return _CanaryFacts((), (experiment.control,), [], {}, {}, (), f"no unit is exposed: {why}", fingerprint)
    data_end = experiment.as_of or times.data_end
    named = _named_arms(experiment)
    unit_metrics = aggregation.unit_metric_moments(engine, keyed, logs, spine, named, data_end,
                                                   exposure_segments=[INTERVAL_KEY])
    counts = unit_metrics.exposures
    arms, no_traffic = (named, None) if named else _exposed_arms(experiment, counts)
    interval_units = {int(value): dict(units) for value, units in counts.segment_units.get(INTERVAL_KEY, {}).items()
                      if value is not None}
    if no_traffic is None:
        no_traffic = _arm_without_units(arms, counts)
    groups = [group for group in unit_metrics.groups if group.variant in arms]
    interval_groups = {(int(g.segment_value), g.metric, g.variant): g for g in groups
                       if g.segment == INTERVAL_KEY and g.segment_value is not None}
    analyzed = {arm: counts.units.get(arm, 0) for arm in arms}
    active = sum(unit_metrics.units_with_events.get(arm, 0) for arm in arms)
    low_activity = not active or active < experiment.min_active_share * sum(analyzed.values())
    activity = evidence.activity_check(experiment, unit_metrics.units_with_events, analyzed,
                                       aggregation.log_summaries(engine, logs) if low_activity else None)
    if not active:  # no event yet is no evidence (the evidence rules hold the canary), not a broken join
        activity = replace(activity, severity="warning")
    quality = [
        checks.multiple_exposure_check(experiment, counts),
        activity,
        checks.unknown_variant_check(counts, arms),
        checks.event_time_check(times),
        checks.duplicate_check(aggregation.duplicate_events(engine, keyed, logs, spine, arms, sum(analyzed.values()))),
    ]
    if experiment.expected_split is not None and len(arms) == 2:
        planned = experiment.replace(expected_split={arm: experiment.expected_split[arm] for arm in arms})
        quality.insert(0, checks.srm_check(planned, counts.units, arms, anytime_valid=True))
    return _CanaryFacts(tuple(sorted(interval_units)), arms, groups, interval_groups, interval_units, tuple(quality),
                        no_traffic, fingerprint)


def _named_arms(experiment: Experiment) -> tuple[str, str] | None:
    """``(baseline, canary)`` when the config names them: ``[rollout] canary``, or the one variant
    of ``expected_split`` besides the baseline; ``None`` when the data must tell."""
    if experiment.rollout.canary is not None:
        return experiment.control, experiment.rollout.canary
    if experiment.variants:
        return experiment.variants[0], experiment.variants[1]
    return None


def _exposed_arms(experiment: Experiment, counts: aggregation.ExposureCounts) -> tuple[tuple[str, ...], str | None]:
    """``(baseline, canary)`` with the canary the one variant exposed besides the baseline, and why
    there is nothing to compare yet, if so.

    Raises:
        ConfigError: several variants besides the baseline are exposed and none is named the canary.
    """
    baseline = experiment.control
    others = sorted(variant for variant, units in counts.units.items() if units and variant != baseline)
    if len(others) > 1:
        raise ConfigError(f"the canary of {experiment.name} cannot be analyzed:",
                          [f"{len(others)} variants besides the baseline `{baseline}` are exposed "
                           f"({', '.join(others)}); name the canary with [rollout] canary = \"{others[0]}\""])
    if not others:
        return (baseline,), f"only the baseline `{baseline}` is exposed: no canary unit yet"
    return (baseline, others[0]), None


def _arm_without_units(arms: Sequence[str], counts: aggregation.ExposureCounts) -> str | None:
    empty = [arm for arm in arms if not counts.units.get(arm, 0)]
    return f"no unit is exposed to {', '.join(f'`{arm}`' for arm in empty)} yet" if empty else None


def interval_value(moments: RatioMoments) -> float | None:
    """A metric's value over the units of one interval and arm: the mean of the per-unit
    numerators over the mean of the denominators (1 unless a ratio), ``None`` without units or
    with a zero denominator."""
    if not moments.n or moments.denominator_mean == 0:
        return None
    return moments.numerator_mean / moments.denominator_mean


def _label(index: int, seconds: float) -> str:
    return interval_start(index, seconds).isoformat()


def metric_values(experiment: Experiment, facts: _CanaryFacts, metric: Metric,
                  indices: Sequence[int]) -> tuple[IntervalValue, ...]:
    """The metric's value in each of the intervals ``indices``, per arm."""
    seconds, minimum = experiment.rollout.interval_seconds, experiment.rollout.min_units_per_interval
    values = []
    for index in indices:
        per_arm = []
        for arm in facts.arms[:2]:
            group = facts.interval_groups.get((index, metric.name, arm))
            units = 0 if group is None else group.moments.n
            value = None if group is None or units < minimum else interval_value(group.moments)
            per_arm.append((value, units))
        (baseline, baseline_units), (canary, canary_units) = per_arm if len(per_arm) == 2 else (per_arm[0], (None, 0))
        values.append(IntervalValue(_label(index, seconds), interval_start(index, seconds), baseline, canary,
                                    baseline_units, canary_units, baseline is not None and canary is not None))
    return tuple(values)


def _compare(experiment: Experiment, metric: Metric, values: Sequence[IntervalValue],
             without_evidence: bool) -> MannWhitneyResult:
    """Mann-Whitney of the canary's values against the baseline's over the intervals where both
    have one; classified ``nodata`` when the units show nothing (``without_evidence``)."""
    compared = [value for value in values if value.compared]
    tolerance = DEFAULT_TOLERANCE if metric.tolerance is None else float(metric.tolerance)
    result = mann_whitney([value.canary for value in compared], [value.baseline for value in compared],
                          alpha=experiment.alpha, tolerance=tolerance,
                          bad_direction="increase" if metric.direction == "decrease" else "decrease")
    return replace(result, classification="nodata", status="no_data") if without_evidence else result


def _no_evidence(experiment: Experiment, facts: _CanaryFacts, metric: Metric,
                 values: Sequence[IntervalValue]) -> str | None:
    """Why the units of the intervals compared show nothing about the metric (no event, no unit
    with a non-zero value, no variance: :meth:`iterate.metrics.base.MetricKind.no_evidence`), or ``None``."""
    seconds = experiment.rollout.interval_seconds
    labels = {value.interval for value in values if value.compared}
    arms = []
    for arm in facts.arms[:2]:
        parts = [facts.interval_groups[key].moments for index in facts.indices
                 if _label(index, seconds) in labels and (key := (index, metric.name, arm)) in facts.interval_groups]
        if parts:
            arms.append(reduce(lambda a, b: a + b, parts))
    return metric.kind.no_evidence(arms) if arms else None


def _rate_test(experiment: Experiment, facts: _CanaryFacts, metric: Metric, indices: Sequence[int]) -> RateTest | None:
    """The anytime-valid test of a count metric's events per unit, canary against baseline, over
    the units of the intervals ``indices`` (all of them, not only the intervals compared);
    ``None`` for other kinds, or counts that are not whole (capped)."""
    if not metric.kind.event_count or len(facts.arms) < 2:
        return None
    totals = []
    for arm in facts.arms:
        parts = [facts.interval_groups[key].moments for index in indices
                 if (key := (index, metric.name, arm)) in facts.interval_groups]
        events = math.fsum(m.numerator_mean * m.n for m in parts)
        if abs(events - round(events)) > 1e-6 * max(1.0, abs(events)):
            return None
        totals.append((int(round(events)), float(sum(m.n for m in parts))))
    alternative = "greater" if metric.direction == "decrease" else "less"
    tolerance = DEFAULT_TOLERANCE if metric.tolerance is None else float(metric.tolerance)
    if alternative == "less" and tolerance >= 1:
        return None
    (baseline_events, baseline_units), (canary_events, canary_units) = totals
    return sequential_rate_test(baseline_events, baseline_units, canary_events, canary_units, alpha=experiment.alpha,
                                alternative=alternative, tolerance=tolerance)


def _judge_up_to(experiment: Experiment, facts: _CanaryFacts, indices: Sequence[int]) -> tuple[
        dict[str, tuple[IntervalValue, ...]], dict[str, MannWhitneyResult], CanaryScore | None,
        dict[str, RateTest], RolloutDecision]:
    """The values, comparisons, score, rate tests and decision on the intervals ``indices``."""
    rollout = experiment.rollout
    current = indices[-1] if indices else None
    label = None if current is None else _label(current, rollout.interval_seconds)
    canary = facts.arms[1] if len(facts.arms) > 1 else None
    if facts.no_traffic or not indices:
        decision = judge_canary({}, None, {}, facts.quality, CanaryEvidence(
            label, no_traffic=facts.no_traffic or "no interval has exposed units", on_no_data=rollout.on_no_data),
            variant=canary)
        return {}, {}, None, {}, decision
    rate_tests = {metric.name: test for metric in experiment.metrics
                  if (test := _rate_test(experiment, facts, metric, indices)) is not None}
    values = {metric.name: metric_values(experiment, facts, metric, indices) for metric in experiment.metrics}
    no_data = {metric.name: why for metric in experiment.metrics
               if (why := _no_evidence(experiment, facts, metric, values[metric.name])) is not None}
    comparisons = {metric.name: _compare(experiment, metric, values[metric.name], metric.name in no_data)
                   for metric in experiment.metrics}
    score = canary_score(comparisons, groups={m.name: m.group or "default" for m in experiment.metrics},
                         group_weights=dict(rollout.group_weights) or None,
                         critical=[m.name for m in experiment.metrics if m.critical],
                         thresholds=rollout.score_thresholds)
    units = facts.interval_units.get(current, {})
    short = {arm: units.get(arm, 0) for arm in facts.arms if units.get(arm, 0) < rollout.min_units_per_interval}
    shortfall = None
    if short:
        listed = ", ".join(f"{arm} {count:,}" for arm, count in short.items())
        shortfall = (f"the current interval {label} has too few units: {listed}, below [rollout] "
                     f"min_units_per_interval = {rollout.min_units_per_interval:,}")
    decision = judge_canary(comparisons, score, rate_tests, facts.quality,
                            CanaryEvidence(label, shortfall=shortfall, no_data=no_data, on_no_data=rollout.on_no_data),
                            variant=canary)
    return values, comparisons, score, rate_tests, decision


def _result(experiment: Experiment, facts: _CanaryFacts) -> RolloutResult:
    rollout = experiment.rollout
    indices = facts.indices
    summaries = []
    for position, index in enumerate(indices):
        verdict = None
        if position >= len(indices) - _TIMELINE_LIMIT:
            verdict = _judge_up_to(experiment, facts, indices[:position + 1])[-1].verdict
        summaries.append(_summary(experiment, facts, index, verdict))
    values, comparisons, score, rate_tests, decision = _judge_up_to(experiment, facts, indices)
    canary = facts.arms[1] if len(facts.arms) > 1 else rollout.canary
    rows = [_row(experiment, facts, metric, comparisons[metric.name], values[metric.name])
            for metric in experiment.metrics if metric.name in comparisons]
    judgement = CanaryJudgement(
        interval=rollout.interval, interval_seconds=rollout.interval_seconds, baseline=experiment.control,
        canary=canary, score=score, comparisons=comparisons, rate_tests=rate_tests,
        values=values, critical=tuple(m.name for m in experiment.metrics if m.critical),
        groups={m.name: m.group or "default" for m in experiment.metrics},
    )
    return RolloutResult(
        experiment=experiment.name, kind=rollout.kind, verdict=decision.verdict, reasons=decision.reasons,
        checks=facts.quality, stages=tuple(summaries),
        current_stage=_label(indices[-1], rollout.interval_seconds) if indices else None,
        metric_results=tuple(rows), naive_results=(), stage_results=(), decision_trace=decision.trace,
        alpha=experiment.alpha, control=experiment.control, canary=judgement,
    )


def _row(experiment: Experiment, facts: _CanaryFacts, metric: Metric, result: MannWhitneyResult,
         values: Sequence[IntervalValue]) -> MetricResult:
    """The metric's row: the Hodges-Lehmann shift of the canary's interval values as the effect,
    its interval, the Mann-Whitney p-value; the arms' means over the units of the intervals compared."""
    compared = [value for value in values if value.compared]
    labels = {value.interval for value in compared}
    baseline, canary = (_pooled(experiment, facts, metric, arm, labels) for arm in facts.arms[:2])
    good = "high" if metric.direction == "increase" else "low"
    outcome = {"nodata": "not_tested", "pass": "no_difference"}.get(result.outcome, "worse")
    if result.outcome == "pass" and result.classification == good:
        outcome = "better"
    status = {"ok": "ok", "no_data": "no_data", "too_few": "too_few_units"}[result.status]
    return MetricResult(
        name=metric.name, variant=facts.arms[1], role=metric.role, type=metric.type, direction=metric.direction,
        method=METHOD, status=status, n_control=sum(value.baseline_units for value in compared),
        n_treatment=sum(value.canary_units for value in compared), control_mean=baseline, treatment_mean=canary,
        effect=result.shift, ci_low=result.ci_low, ci_high=result.ci_high, relative_effect=None,
        relative_ci_low=None, relative_ci_high=None, p_value=result.p_value, p_value_adjusted=result.p_value,
        std_error=None, alpha=experiment.alpha, outcome=outcome,  # type: ignore[arg-type]
    )


def _pooled(experiment: Experiment, facts: _CanaryFacts, metric: Metric, arm: str, labels: set[str]) -> float | None:
    """The arm's value over all units of the intervals ``labels`` (sums of numerators over sums of
    denominators: ``a + b`` of the intervals' moments)."""
    seconds = experiment.rollout.interval_seconds
    parts = [facts.interval_groups[key].moments for index in facts.indices
             if _label(index, seconds) in labels and (key := (index, metric.name, arm)) in facts.interval_groups]
    numerator = math.fsum(m.numerator_mean * m.n for m in parts)
    denominator = math.fsum(m.denominator_mean * m.n for m in parts)
    return numerator / denominator if denominator else None


def _summary(experiment: Experiment, facts: _CanaryFacts, index: int, verdict: str | None) -> StageSummary:
    seconds = experiment.rollout.interval_seconds
    units = {arm: facts.interval_units.get(index, {}).get(arm, 0) for arm in facts.arms}
    total = sum(units.values())
    canary = units.get(facts.arms[1], 0) if len(facts.arms) > 1 else 0
    start = interval_start(index, seconds)
    return StageSummary(stage=_label(index, seconds), start=start, end=start + timedelta(seconds=seconds),
                        planned_share=None, units=units, observed_share=canary / total if total else None,
                        verdict=verdict)  # type: ignore[arg-type]
