"""The verdict of a canary: a pure function of each metric's Mann-Whitney comparison over
intervals, the Kayenta-style score, the anytime-valid event-rate tests, the checks and the
evidence, with the trace of every rule evaluated (rules in this order):

1. ``check_<name>``: a failed error-level check (units exposed to several variants, the sample
   ratio against a declared ``expected_split``, logs that do not join) -> ``invalid``;
2. ``canary_metric``: each metric's classification against its tolerance band (``pass``, ``high``,
   ``low``, ``nodata``), with U, p, the Hodges-Lehmann shift and its interval;
3. ``rate_regression``: a count metric whose event rate per unit is shown worse by the
   anytime-valid rate test (Lindon & Malek 2022) -> ``rollback``, however early;
4. ``canary_score``: the score (0 to 100) against the thresholds; ``fail`` *with a metric shown
   failing* -> ``rollback`` (a score that fails only because metrics lack data is not harm);
5. ``no_traffic`` (no unit exposed, an arm without units), ``no_data`` (a metric without
   comparable values: too few intervals with units in both arms, or no event) and ``min_units``
   (an arm of the current interval below ``min_units_per_interval``) -> ``hold``, or ``rollback``
   with ``on_no_data = "rollback"``; each names the metric or the interval;
6. ``within_tolerance``: ``advance`` needs more than Kayenta's "no significant shift beyond the
   tolerance": each metric's Hodges-Lehmann interval must lie within the tolerance band on its bad
   side (an equivalence / non-inferiority reading, as a ramp's guardrails need), else ``hold``:
   after a few intervals every interval is wide, nothing is shown failing, and Kayenta would pass
   a canary that nothing has measured yet;
7. ``verdict``: score ``pass`` -> ``advance``; ``marginal`` -> ``hold``.

No traffic or no data never gives ``advance``: a metric without data does not pass (it lowers the
score, and it holds the canary even when the score of the others would pass).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from iterate.decision import check_steps, trace_step
from iterate.result import Check, Reason, TraceStep
from iterate.rollout.result import RolloutDecision, RolloutVerdict, decided
from iterate.stats.canary import CanaryScore, MannWhitneyResult
from iterate.stats.rates import RateTest

SCORE_VERDICTS: Mapping[str, RolloutVerdict] = {"pass": "advance", "marginal": "hold", "fail": "rollback"}
"""The canary score's verdict as a rollout verdict (Kayenta's pass / marginal / fail)."""


@dataclass(frozen=True, slots=True)
class CanaryEvidence:
    """What the canary lacks, for the evidence rules.

    Attributes:
        interval: The current interval's label (the last with exposures), ``None`` without any.
        no_traffic: Why there is nothing to compare (no unit exposed, an arm without units), or ``None``.
        shortfall: Why an arm of the current interval has too few units, or ``None``.
        no_data: Metric name -> why its units show nothing (no event, no variance), beyond too
            few intervals (which its comparison says).
        on_no_data: ``"hold"`` or ``"rollback"``.
    """

    interval: str | None
    no_traffic: str | None = None
    shortfall: str | None = None
    no_data: Mapping[str, str] | None = None
    on_no_data: str = "hold"


def judge_canary(comparisons: Mapping[str, MannWhitneyResult], score: CanaryScore | None,
                 rate_tests: Mapping[str, RateTest], checks: Iterable[Check], evidence: CanaryEvidence,
                 *, variant: str | None = None) -> RolloutDecision:
    """The verdict of the canary (see the module docstring for the rules).

    Args:
        comparisons: Each metric's comparison of the canary's interval values with the baseline's.
        score: Their score (``None`` when there is nothing to score: no traffic).
        rate_tests: The anytime-valid event-rate test of each count metric.
        checks: The quality checks.
        evidence: What the canary lacks.
        variant: The canary's variant, named in the reasons.

    Example:
        >>> judge_canary({}, None, {}, [], CanaryEvidence(None, no_traffic="no unit is exposed yet")).verdict
        'hold'
    """
    checks = tuple(checks)
    trace = check_steps(checks)
    failed = [check for check in checks if not check.passed and check.severity == "error"]
    if failed:
        reasons = tuple(Reason(f"check_{check.name}", check.message) for check in failed)
        return decided("canary", "invalid", reasons, trace, "an error-level quality check failed")

    trace += [_metric_step(name, result, variant) for name, result in comparisons.items()]
    trace += [_rate_step(name, test, variant) for name, test in rate_tests.items()]
    regressions = [Reason("rate_regression", _rate_message(name, test), variant, name,
                          details=_rate_numbers(test)) for name, test in rate_tests.items() if test.regression]
    if regressions:
        return decided("canary", "rollback", tuple(regressions), trace, "an event rate is shown worse (anytime-valid)")

    harmed = score is not None and score.verdict == "fail" and any(
        result.outcome == "fail" for result in comparisons.values())
    if score is not None:
        trace.append(_score_step(score, harmed))
    if harmed:
        reasons = tuple(Reason(rule.rule, rule.message, variant, rule.metric, details=_rule_numbers(rule))
                        for rule in score.rules)
        return decided("canary", "rollback", reasons, trace, "the canary score fails and a metric is shown failing")

    blocked = _evidence_reasons(comparisons, evidence, variant)
    trace += _evidence_steps(comparisons, evidence)
    if blocked and evidence.on_no_data == "rollback":
        return decided("canary", "rollback", tuple(blocked), trace,
                        "evidence is missing and [rollout] on_no_data = \"rollback\"")
    if blocked:
        return decided("canary", "hold", tuple(blocked), trace, "the canary lacks traffic or data: no data, no pass")
    verdict = SCORE_VERDICTS[score.verdict]
    reasons = tuple(Reason(rule.rule, rule.message, variant, rule.metric, details=_rule_numbers(rule))
                    for rule in score.rules)
    unproven = {name: result for name, result in comparisons.items() if not shown_within_tolerance(result)}
    trace += [_tolerance_step(name, result, variant) for name, result in comparisons.items()]
    if verdict == "advance" and unproven:
        reasons = tuple(_unproven_reason(name, result, variant) for name, result in unproven.items()) + reasons
        return decided("canary", "hold", reasons, trace, "the score passes, but a metric's interval still reaches past its "
                        "tolerance on its bad side: not yet shown safe")
    if verdict == "advance":
        reasons += (Reason("canary_pass", f"canary score {score.score:.4g} reaches the pass threshold "
                           f"{score.thresholds['pass']:g}", variant, details={"score": score.score,
                                                                               "threshold": score.thresholds["pass"]}),)
        return decided("canary", "advance", reasons, trace, "the canary score passes, every metric has data and no event "
                        "rate is shown worse")
    return decided("canary", verdict, reasons, trace, f"the canary score is {score.verdict}")


def _metric_step(name: str, result: MannWhitneyResult, variant: str | None) -> TraceStep:
    outcome = {"pass": "passed", "fail": "fired", "nodata": "not_applicable"}[result.outcome]
    if result.outcome == "nodata":
        message = (f"{name}: no comparable values ({result.n_canary} canary and {result.n_baseline} baseline "
                   "intervals)")
    else:
        message = (f"{name} is {result.classification}: shift {result.shift:+.6g} [{result.ci_low:.6g}, "
                   f"{result.ci_high:.6g}] against the band +/-{result.tolerance_band:.6g} "
                   f"(U = {result.u_statistic:g}, p = {result.p_value:.3g}, {result.n_canary} vs "
                   f"{result.n_baseline} intervals)")
    return trace_step("canary_metric", outcome, message, variant=variant, metric=name, alpha=result.alpha,
                      classification=result.classification, status=result.status, u_statistic=result.u_statistic,
                      p_value=result.p_value, shift=result.shift, ci_low=result.ci_low, ci_high=result.ci_high,
                      tolerance_band=result.tolerance_band, n_canary=result.n_canary, n_baseline=result.n_baseline)


def _rate_numbers(test: RateTest) -> dict[str, float | int | str | None]:
    return {"alternative": test.alternative, "tolerance": test.tolerance, "control_events": test.control_events,
            "control_exposure": test.control_exposure, "treatment_events": test.treatment_events,
            "treatment_exposure": test.treatment_exposure, "rate_ratio": test.rate_ratio, "ci_low": test.ci_low,
            "ci_high": test.ci_high, "p_value": test.p_value}


def _rate_message(name: str, test: RateTest) -> str:
    if test.status != "ok":
        return f"{name}: anytime-valid rate test not applicable ({test.message})"
    ratio = "n/a" if test.rate_ratio is None else f"{test.rate_ratio:.4g}"
    worse = "higher" if test.alternative == "greater" else "lower"
    bound = f"{1 + test.tolerance:g}" if test.alternative == "greater" else f"{1 - test.tolerance:g}"
    return (f"{name}: events per unit {test.treatment_events:,}/{test.treatment_exposure:,.0f} canary vs "
            f"{test.control_events:,}/{test.control_exposure:,.0f} baseline, rate ratio {ratio}; "
            f"anytime-valid p = {test.p_value:.3g} that it is not {worse} than {bound}"
            + (" (a regression)" if test.regression else ""))


def _rate_step(name: str, test: RateTest, variant: str | None) -> TraceStep:
    outcome = "not_applicable" if test.status != "ok" else "fired" if test.regression else "passed"
    return trace_step("rate_regression", outcome, _rate_message(name, test), variant=variant, metric=name,
                      alpha=test.alpha, **_rate_numbers(test))


def _rule_numbers(rule) -> dict[str, object]:
    return {key: value for key, value in (
        ("group", rule.group), ("critical", rule.critical), ("classification", rule.classification),
        ("shift", rule.shift), ("ci_low", rule.ci_low), ("ci_high", rule.ci_high),
        ("tolerance_band", rule.tolerance_band), ("p_value", rule.p_value), ("weight", rule.weight),
        ("threshold", rule.threshold)) if value is not None}


def _score_step(score: CanaryScore, harmed: bool) -> TraceStep:
    outcome = "fired" if harmed else "passed" if score.verdict == "pass" else "not_met"
    message = (f"canary score {score.score:.4g} of 100 ({score.verdict}; pass from {score.thresholds['pass']:g}, "
               f"marginal from {score.thresholds['marginal']:g})"
               + ("; a critical metric failed or lacked data" if score.critical_failure else ""))
    return trace_step("canary_score", outcome, message, score=score.score, weighted_score=score.weighted_score,
                      verdict=score.verdict, thresholds=dict(score.thresholds),
                      groups={group.group: group.score for group in score.groups})


def _evidence_reasons(comparisons: Mapping[str, MannWhitneyResult], evidence: CanaryEvidence,
                      variant: str | None) -> list[Reason]:
    reasons = []
    if evidence.no_traffic:
        reasons.append(Reason("no_traffic", evidence.no_traffic, variant))
    for name, result in comparisons.items():
        if result.outcome == "nodata":
            why = (evidence.no_data or {}).get(name) or _no_data_why(result)
            reasons.append(Reason("no_data", f"{name} has no comparable values: {why}; a canary "
                                  "does not advance on what it could not measure", variant, name,
                                  details={"n_canary": result.n_canary, "n_baseline": result.n_baseline}))
    if evidence.shortfall:
        reasons.append(Reason("min_units", evidence.shortfall, variant))
    return reasons


def _no_data_why(result: MannWhitneyResult) -> str:
    if result.status == "no_data":
        return "no interval has a value of it in both arms"
    return (f"{result.n_canary} interval(s) with values in both arms, too few to bound the shift at confidence "
            f"{1 - result.alpha:g} (at least 4 are needed at alpha 0.05)")


def _evidence_steps(comparisons: Mapping[str, MannWhitneyResult], evidence: CanaryEvidence) -> list[TraceStep]:
    missing = sorted(name for name, result in comparisons.items() if result.outcome == "nodata")
    return [
        trace_step("no_traffic", "fired" if evidence.no_traffic else "passed",
                   evidence.no_traffic or "both arms have exposed units"),
        trace_step("no_data", "fired" if missing else "passed",
                   f"no comparable values: {', '.join(missing)}" if missing else "every metric has comparable values",
                   metrics=missing, on_no_data=evidence.on_no_data),
        trace_step("min_units", "fired" if evidence.shortfall else "passed",
                   evidence.shortfall or f"both arms of the current interval {evidence.interval} have at least "
                   "min_units_per_interval units", interval=evidence.interval, on_no_data=evidence.on_no_data),
    ]



def shown_within_tolerance(result: MannWhitneyResult) -> bool:
    """Whether the metric's shift interval lies within its tolerance band on its bad side (both
    sides when either change is bad): evidence that the canary is no worse than the tolerance,
    not merely no evidence that it is worse."""
    if result.ci_low is None or result.ci_high is None or result.tolerance_band is None:
        return False
    band = result.tolerance_band
    if result.bad_direction == "increase":
        return result.ci_high <= band
    if result.bad_direction == "decrease":
        return result.ci_low >= -band
    return -band <= result.ci_low and result.ci_high <= band


def _unproven_reason(name: str, result: MannWhitneyResult, variant: str | None) -> Reason:
    bounds = "n/a" if result.ci_low is None else f"[{result.ci_low:.6g}, {result.ci_high:.6g}]"
    return Reason("not_yet_within_tolerance",
                  f"{name}: shift interval {bounds} still reaches past the tolerance band +/-{result.tolerance_band:.6g} "
                  f"on its bad side ({result.bad_direction}): not yet shown safe; more intervals will narrow it",
                  variant, name, details={"shift": result.shift, "ci_low": result.ci_low, "ci_high": result.ci_high,
                                          "tolerance_band": result.tolerance_band,
                                          "bad_direction": result.bad_direction})


def _tolerance_step(name: str, result: MannWhitneyResult, variant: str | None) -> TraceStep:
    shown = shown_within_tolerance(result)
    return trace_step("within_tolerance", "met" if shown else "not_met",
                      f"{name}: the shift interval {'lies' if shown else 'does not lie'} within the tolerance band on "
                      f"its bad side ({result.bad_direction})", variant=variant, metric=name, alpha=result.alpha,
                      shift=result.shift, ci_low=result.ci_low, ci_high=result.ci_high,
                      tolerance_band=result.tolerance_band)
