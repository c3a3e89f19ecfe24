"""A new app version (``[rollout] kind = "version"``): **observational**, users update on their own.

Users who update early are not like users who do not: heavy users update first, so the naive
comparison of the new version's users with the old version's users over the same days shows the
heavy users' activity, not the version's effect. The version is judged instead by a
difference-in-differences on per-unit pre/post values (Angrist & Pischke 2009, "Mostly Harmless
Econometrics", ch. 5.2; for adoption at different times, Callaway & Sant'Anna 2021,
"Difference-in-differences with multiple time periods", Journal of Econometrics 225(2), with the
never-treated units as the comparison group, eq. 2.4 of their ATT(g, t)):

- **units**: the exposures' ``variant`` holds each unit's app version and ``timestamp`` when it is
  seen on it. An *updater* is first seen on ``[rollout] new`` on its update day ``d`` (a UTC date)
  and was seen on an older version at or before its pre window starts; a *comparison unit* is never
  seen on ``new`` (in the data up to the as-of time) and was seen on an older version at or before
  the earliest pre window starts. Others (new installs, units seen too late, updaters whose
  windows do not fit in the data) are counted and left out;
- **windows** of update day ``d``: pre ``[d - pre_period, d)``, post ``[d + 1 day, d + 1 day +
  post_period)``; the update day itself, half old version half new, is in neither. Only update days
  whose windows lie within the data (from the UTC day of the first event to the data's end) are
  used;
- **per-unit values**: the metric kind's per-unit value over the window's events (a total or an
  indicator). An updater's change is ``Y_post - Y_pre`` over its own windows. A comparison unit is
  measured over the windows of every update day ``d`` and weighted by the share of updaters
  ``w_d = n_d / N`` updating that day: ``C = sum_d w_d (Y_post(d) - Y_pre(d))``, the counterfactual
  trend over the updaters' own calendar days (Callaway & Sant'Anna's cohort-size weights, eq. 3.10,
  with one value per comparison unit so that the units stay independent);
- **estimate**: ``DiD = mean(change | updaters) - mean(C | comparison)``, with Welch's standard
  error of the two independent samples of per-unit values (Welch 1947): a two-period
  difference-in-differences with unit fixed effects is the difference of the mean per-unit
  changes (Angrist & Pischke 2009, eq. 5.2.5 on first differences). The weights ``w_d`` are taken as
  known (the variance of their estimate is left out). Fixed-horizon inference: an observational
  estimate's risk is its assumption, not peeking;
- **pre-trend check**: the same difference-in-differences on the two halves of the pre window
  (late half minus early half); a p-value below ``[rollout] max_pretrend_p`` says the trends differ
  before the update, parallel trends are not credible, and the verdict cannot be ``advance``;
- **overlap**: the standardized mean difference of the pre-window values of updaters and
  comparison units (Stuart 2010); beyond 0.25 a warning says the groups differ in level, so the
  estimate rests on parallel trends more than on similar groups;
- **naive**: the post-window values of the updaters against the comparison units' (weighted)
  post-window values: the comparison self-selection biases, reported for contrast.

The verdict, rules in order: ``rollback`` when a metric (any role) is shown worse; ``hold`` (or
``rollback`` with ``on_no_data = "rollback"``) when there is no updater or no comparison unit with
complete windows, a group has fewer than ``min_units_per_stage`` units, or a metric has no data;
``hold`` when a pre-trend check fails (the numbers given) or a guardrail is not yet shown
non-inferior (no guardrail margin: nothing shows it safe); ``advance`` otherwise. Every result says
**observational**: a reason, a check, the rows' method and the document's ``observational`` key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from iterate import aggregation
from iterate.aggregation.versions import (
    CohortWindow,
    Cohorts,
    Sums,
    VersionSums,
    refuse_unsupported,
    version_cohorts,
    version_sums,
)
from iterate.comparisons import with_family_corrections, with_noninferiority
from iterate.config import Experiment, Metric
from iterate.decision import check_steps, harm_step, noninferiority_step, trace_step
from iterate.result import Check, MetricResult, Reason
from iterate.rollout.result import RolloutDecision, RolloutResult, decided
from iterate.session import now, open_session
from iterate.stats import Estimate, Moments, shifted_variance, welch_t_test
from iterate.stats.balance import SMD_THRESHOLD, standardized_mean_difference

OBSERVATIONAL = ("observational: users chose when to update (not randomized); the effect is a "
                 "difference-in-differences adjusted with each user's own pre-update behaviour, credible only "
                 "under parallel trends (see the pre-trend and overlap checks)")
METHOD = "difference_in_differences (observational)"
NAIVE_METHOD = "naive post-period comparison (observational, biased by self-selection)"


@dataclass(frozen=True, slots=True)
class VersionFacts:
    """What the engine returns for a new app version: the cohorts, the update days used, the sums."""

    cohorts: Cohorts
    windows: tuple[CohortWindow, ...]
    sums: VersionSums
    data_start: datetime | None
    data_end: datetime | None


def judge(experiment: Experiment, events: Any, exposures: Any, engine: Any) -> tuple[RolloutResult, Mapping[str, Any]]:
    """The new version's result (without provenance) and the data fingerprint."""
    from iterate.provenance import data_fingerprint

    ingest = experiment.replace(segments=())
    with open_session(ingest, events, exposures, engine=engine) as session:
        refuse_unsupported(experiment, session.engine.dialect)
        times = aggregation.event_times(session.engine, session.logs, now(), None)
        fingerprint = data_fingerprint(session, {"events": events, "exposures": exposures},
                                       (times.first_event, times.last_event))
        cohorts = version_cohorts(session.engine, experiment, session.logs)
        data_end = experiment.as_of or times.data_end
        windows = cohort_windows(experiment, cohorts, times.first_event, data_end)
        sums = version_sums(session.engine, experiment, session.logs, windows) if windows else {}
    return version_result(experiment, VersionFacts(cohorts, windows, sums, times.first_event, data_end)), fingerprint


def cohort_windows(experiment: Experiment, cohorts: Cohorts, data_start: datetime | None,
                   data_end: datetime | None) -> tuple[CohortWindow, ...]:
    """The update days whose pre window starts at or after the UTC day of the first event and whose
    post window ends at or before the data's end, with updaters, each weighted by its share of them."""
    if data_start is None or data_end is None:
        return ()
    rollout = experiment.rollout
    first_day = datetime(data_start.year, data_start.month, data_start.day)
    fitting = [CohortWindow(day, 0.0, rollout.pre_seconds, rollout.post_seconds)
               for day, units in sorted(cohorts.updaters.items()) if units]
    fitting = [window for window in fitting if window.pre_start >= first_day and window.post_end <= data_end]
    total = sum(cohorts.updaters[window.day] for window in fitting)
    return tuple(replace(window, weight=cohorts.updaters[window.day] / total) for window in fitting)


def moments(sums: VersionSums, group: str, metric: str, quantity: str) -> Moments | None:
    """The moments of a per-unit quantity in a group from its exact sums (``None`` without units)."""
    found: Sums | None = sums.get((group, metric, quantity))
    if found is None or not found.n:
        return None
    variance = shifted_variance(found.n, found.total, found.squares) if found.n >= 2 else 0.0
    return Moments(found.n, found.total / found.n, max(variance or 0.0, 0.0))


def version_result(experiment: Experiment, facts: VersionFacts) -> RolloutResult:
    """The rows, checks and verdict of a new app version from its facts (pure)."""
    rollout = experiment.rollout
    units = {group: max((s.n for (g, _, _), s in facts.sums.items() if g == group), default=0)
             for group in ("updaters", "comparison")}
    no_traffic = _no_traffic(experiment, facts, units)
    rows = [] if no_traffic else did_rows(experiment, facts.sums)
    naive = [] if no_traffic else naive_rows(experiment, facts.sums)
    pretrends = [] if no_traffic else [pretrend_check(experiment, metric, facts.sums) for metric in experiment.metrics]
    overlaps = [] if no_traffic else [overlap_check(metric, facts.sums) for metric in experiment.metrics]
    checks = (_observational_check(), _units_check(experiment, facts, units), *pretrends, *overlaps)
    evidence = VersionEvidence(
        no_traffic=no_traffic, no_data={} if no_traffic else _no_data(experiment, facts.sums),
        shortfall=None if no_traffic else _shortfall(rollout.min_units_per_stage, units),
        pretrend_failures=tuple(check for check in pretrends if not check.passed), on_no_data=rollout.on_no_data)
    decision = judge_version(rows, checks, evidence)
    verdict, reasons, trace = decision.verdict, decision.reasons, decision.trace
    return RolloutResult(
        experiment=experiment.name, kind="version", verdict=verdict, reasons=reasons, checks=checks, stages=(),
        current_stage=None, metric_results=tuple(rows), naive_results=tuple(naive), stage_results=(),
        decision_trace=trace, alpha=experiment.alpha, control=experiment.control, observational=True,
    )


def did_rows(experiment: Experiment, sums: VersionSums) -> list[MetricResult]:
    """The difference-in-differences row of every metric: Welch on the per-unit changes, family
    corrected, guardrails tested for non-inferiority (a relative margin is relative to the updaters'
    counterfactual post mean, their post mean minus the effect)."""
    rows = []
    for metric in experiment.metrics:
        estimate = _welch(sums, metric, "change", experiment.alpha)
        post = moments(sums, "updaters", metric.name, "post")
        treated = None if post is None else post.mean
        counterfactual = None if treated is None or estimate.effect is None else treated - estimate.effect
        rows.append(_row(metric, experiment, estimate, METHOD, counterfactual, treated, sums))
    rows = with_family_corrections(rows, experiment.correction)
    return [with_noninferiority(row, metric, experiment) for row, metric in zip(rows, experiment.metrics)]


def naive_rows(experiment: Experiment, sums: VersionSums) -> list[MetricResult]:
    """The naive rows: Welch on the post-window values, updaters against comparison units."""
    rows = []
    for metric in experiment.metrics:
        estimate = _welch(sums, metric, "post", experiment.alpha)
        rows.append(_row(metric, experiment, estimate, NAIVE_METHOD, estimate.control_mean, estimate.treatment_mean,
                         sums, quantity="post"))
    return rows


def pretrend_check(experiment: Experiment, metric: Metric, sums: VersionSums) -> Check:
    """The difference-in-differences of the pre window's halves (late - early), updaters against
    comparison units; fails below ``[rollout] max_pretrend_p`` or when it cannot be tested."""
    threshold = experiment.rollout.pretrend_threshold
    estimate = _welch(sums, metric, "trend", experiment.alpha)
    details = {"metric": metric.name, "effect": estimate.effect, "std_error": estimate.std_error,
               "p_value": estimate.p_value, "max_pretrend_p": threshold}
    if estimate.p_value is None:
        return Check("pretrend", False, f"pre-trend of {metric.name}: cannot be tested ({estimate.status}): "
                     "parallel trends are not shown", details, severity="warning")
    numbers = (f"difference of pre-window trends (late half - early half) {estimate.effect:+.4g} "
               f"(se {estimate.std_error:.3g}), p = {estimate.p_value:.3g}")
    if estimate.p_value < threshold:
        return Check("pretrend", False, f"pre-trend of {metric.name}: updaters and comparison units trend apart "
                     f"before the update: {numbers} < max_pretrend_p {threshold:g}", details, severity="warning")
    return Check("pretrend", True, f"pre-trend of {metric.name}: {numbers} >= max_pretrend_p {threshold:g}",
                 details, severity="warning")


def overlap_check(metric: Metric, sums: VersionSums) -> Check:
    """The standardized mean difference of the pre-window values (Stuart 2010), flagged beyond 0.25."""
    updaters = moments(sums, "updaters", metric.name, "pre")
    comparison = moments(sums, "comparison", metric.name, "pre")
    smd = None if updaters is None or comparison is None else standardized_mean_difference(comparison, updaters)
    details = {"metric": metric.name, "standardized_mean_difference": smd, "threshold": SMD_THRESHOLD,
               "updaters_pre_mean": None if updaters is None else updaters.mean,
               "comparison_pre_mean": None if comparison is None else comparison.mean}
    if smd is None:
        return Check("overlap", True, f"overlap of {metric.name}: no spread of pre-update values to compare",
                     details, severity="warning")
    passed = abs(smd) <= SMD_THRESHOLD
    said = ("the groups' pre-update levels are similar" if passed else
            "updaters differ from comparison units before the update (self-selection): the estimate rests on "
            "parallel trends")
    return Check("overlap", passed, f"overlap of {metric.name}: pre-update standardized mean difference {smd:+.3f} "
                 f"({'within' if passed else 'beyond'} {SMD_THRESHOLD}): {said}", details, severity="warning")


def _welch(sums: VersionSums, metric: Metric, quantity: str, alpha: float) -> Estimate:
    """Welch's test of the quantity, updaters (treatment) against comparison units (control)."""
    empty = Moments(0, 0.0, 0.0)
    comparison = moments(sums, "comparison", metric.name, quantity) or empty
    updaters = moments(sums, "updaters", metric.name, quantity) or empty
    return welch_t_test(comparison, updaters, alpha=alpha)


def _row(metric: Metric, experiment: Experiment, estimate: Estimate, method: str, control_mean: float | None,
         treatment_mean: float | None, sums: VersionSums, quantity: str = "change") -> MetricResult:
    from iterate.decision import classify

    counts = {group: (moments(sums, group, metric.name, quantity) or Moments(0, 0.0, 0.0)).n
              for group in ("comparison", "updaters")}
    relative = (estimate.effect / control_mean if estimate.effect is not None and control_mean is not None
                and control_mean > 0 else None)
    return MetricResult(
        name=metric.name, variant=str(experiment.rollout.new), role=metric.role, type=metric.type,
        direction=metric.direction, method=method, status=estimate.status, n_control=counts["comparison"],
        n_treatment=counts["updaters"], control_mean=control_mean, treatment_mean=treatment_mean,
        effect=estimate.effect, ci_low=estimate.ci_low, ci_high=estimate.ci_high, relative_effect=relative,
        relative_ci_low=None, relative_ci_high=None, p_value=estimate.p_value, p_value_adjusted=estimate.p_value,
        std_error=estimate.std_error, alpha=experiment.alpha,
        outcome=classify(metric.direction, estimate.effect, estimate.p_value, experiment.alpha),
        relative_status="not_tested" if control_mean is None or control_mean > 0 else "control_not_positive",
    )


def _observational_check() -> Check:
    return Check("observational", True, OBSERVATIONAL, {"randomized": False, "design": "difference_in_differences"},
                 severity="warning")


def _units_check(experiment: Experiment, facts: VersionFacts, units: Mapping[str, int]) -> Check:
    """Who is compared: updaters per update day used, comparison units, and who is left out and why."""
    cohorts, used = facts.cohorts, {window.day for window in facts.windows}
    outside = sum(n for day, n in cohorts.updaters.items() if day not in used)
    others = sum(cohorts.other_updaters.values())
    days = ", ".join(f"{window.day.isoformat()} {cohorts.updaters[window.day]:,}" for window in facts.windows)
    message = (f"{units['updaters']:,} updaters of {experiment.rollout.new} (by update day: {days or 'none'}) against "
               f"{units['comparison']:,} comparison units never on it; left out: {outside:,} updaters whose windows "
               f"do not fit in the data, {others:,} first seen on {experiment.rollout.new} without an older version "
               "before their pre window (new installs, or seen too late)")
    return Check("version_units", True, message, {
        "updaters": units["updaters"], "comparison": units["comparison"],
        "update_days": {window.day.isoformat(): cohorts.updaters[window.day] for window in facts.windows},
        "weights": {window.day.isoformat(): window.weight for window in facts.windows},
        "updaters_outside_data": outside, "other_new_version_units": others,
        "never_updated": cohorts.never_updated,
    }, severity="warning")


def _no_traffic(experiment: Experiment, facts: VersionFacts, units: Mapping[str, int]) -> str | None:
    """Why there is nothing to compare, or ``None``."""
    rollout = experiment.rollout
    if not facts.windows:
        if not any(facts.cohorts.updaters.values()):
            return (f"no unit is seen on {rollout.new} after an older version yet: no updater to compare "
                    "(check [rollout] new against the exposures' variant values)")
        return (f"no update day of {rollout.new} has a complete pre window ({rollout.pre_period or '7d'}) and post "
                f"window ({rollout.post_period or '7d'}) within the data (from {_when(facts.data_start)} to "
                f"{_when(facts.data_end)}): wait for more data")
    if not units["updaters"]:
        return f"no updater of {rollout.new} has complete windows within the data"
    if not units["comparison"]:
        return (f"no comparison unit: every unit seen before the first pre window updated to {rollout.new}; "
                "an observational comparison needs users still on an older version")
    return None


def _when(moment: datetime | None) -> str:
    return "n/a" if moment is None else moment.isoformat(sep=" ")


def _no_data(experiment: Experiment, sums: VersionSums) -> dict[str, str]:
    """Metrics without a non-zero value in any window of either group."""
    found = {}
    for metric in experiment.metrics:
        parts = [sums.get((group, metric.name, quantity)) for group in ("updaters", "comparison")
                 for quantity in ("pre", "post")]
        if all(part is None or (part.total == 0 and part.squares == 0) for part in parts):
            found[metric.name] = "no unit has a non-zero value in the pre or post windows of either group"
    return found


def _shortfall(minimum: int, units: Mapping[str, int]) -> str | None:
    short = {group: count for group, count in units.items() if count < minimum}
    if not short:
        return None
    listed = ", ".join(f"{group} {count:,}" for group, count in short.items())
    return f"too few units: {listed}, below [rollout] min_units_per_stage = {minimum:,}"


@dataclass(frozen=True, slots=True)
class VersionEvidence:
    """What holds a new version back besides the estimates (for :func:`judge_version`)."""

    no_traffic: str | None = None
    no_data: Mapping[str, str] | None = None
    shortfall: str | None = None
    pretrend_failures: tuple[Check, ...] = ()
    on_no_data: str = "hold"


def judge_version(rows: Sequence[MetricResult], checks: Sequence[Check],
                  evidence: VersionEvidence) -> RolloutDecision:
    """The verdict of a new app version (rules in the module docstring), its reasons and trace; the
    first reason always says the comparison is observational.

    Example:
        >>> judge_version([], [], VersionEvidence(no_traffic="no updater yet")).verdict
        'hold'
    """
    observational = Reason("observational", OBSERVATIONAL)
    trace = check_steps(checks)
    harm_steps = [harm_step(row) for row in rows]
    trace += harm_steps
    worse = [Reason("harm", step.message + " on the difference-in-differences (observational)", row.variant, row.name)
             for row, step in zip(rows, harm_steps) if row.outcome == "worse"]
    if worse:
        return decided("new version (observational)", "rollback", [observational, *worse], trace, "harm is shown")
    blocked = []
    if evidence.no_traffic:
        blocked.append(Reason("no_traffic", evidence.no_traffic))
    blocked += [Reason("no_data", f"{name}: {why}; a new version does not advance on what could not be measured",
                       metric=name) for name, why in (evidence.no_data or {}).items()]
    if evidence.shortfall:
        blocked.append(Reason("min_units", evidence.shortfall))
    trace += [trace_step("no_traffic", "fired" if evidence.no_traffic else "passed",
                         evidence.no_traffic or "updaters and comparison units have complete windows"),
              trace_step("no_data", "fired" if evidence.no_data else "passed",
                         "; ".join(evidence.no_data) if evidence.no_data else "every metric has data",
                         on_no_data=evidence.on_no_data),
              trace_step("min_units", "fired" if evidence.shortfall else "passed",
                         evidence.shortfall or "both groups have at least min_units_per_stage units")]
    pretrend = [Reason("pretrend", check.message, metric=check.details.get("metric"), details=dict(check.details))
                for check in evidence.pretrend_failures]
    trace.append(trace_step("pretrend", "fired" if pretrend else "passed",
                            "; ".join(reason.message for reason in pretrend) if pretrend else
                            "no pre-trend difference below max_pretrend_p"))
    guarded = [row for row in rows if row.role == "guardrail" and row.noninferior is not None]
    trace += [noninferiority_step(row) for row in guarded]
    pending = [Reason("not_yet_noninferior", f"guardrail {row.name} is not yet shown non-inferior (effect "
                      f"{_signed(row.effect)}, margin {row.noninferiority_margin:.4g})", row.variant, row.name)
               for row in guarded if not row.noninferior]
    if not guarded and not evidence.no_traffic:
        pending.append(Reason("no_guardrail_margin", "no guardrail has a non-inferiority margin: nothing can show the "
                              "new version safe to advance; give the guardrails a margin"))
    if blocked and evidence.on_no_data == "rollback":
        return decided("new version (observational)", "rollback", [observational, *blocked, *pretrend, *pending], trace,
                        "evidence is missing and [rollout] on_no_data = \"rollback\"")
    if blocked or pretrend or pending:
        return decided("new version (observational)", "hold", [observational, *blocked, *pretrend, *pending], trace,
                        "no harm, but the new version is not shown safe to advance")
    reasons = [Reason("noninferior", f"guardrail {row.name} is shown non-inferior (effect {_signed(row.effect)}, "
                      f"margin {row.noninferiority_margin:.4g}, one-sided p = {_p(row.noninferiority_p_value)})",
                      row.variant, row.name) for row in guarded]
    return decided("new version (observational)", "advance", [observational, *reasons], trace,
                    "no harm, parallel pre-trends, every guardrail with a margin non-inferior")


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4g}"
