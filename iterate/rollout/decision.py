"""The verdict of a staged ramp: a pure function of the pooled rows, the checks and the evidence
of the current stage, with the trace of every rule evaluated (rules in this order):

1. ``check_<name>``: a failed error-level check (sample ratio of a stage against its planned
   share, units exposed to several variants, a pre-exposure imbalance within a stage) -> ``invalid``;
2. ``harm``: a metric of any role shown worse on the anytime-valid stratified estimate ->
   ``rollback`` (checking after every batch is safe: the test is anytime-valid);
   ``rate_regression``: an event-rate metric (crashes per user-hour) whose anytime-valid rate test
   for counting processes, stratified by stage, shows a regression (p <= alpha) -> ``rollback``
   (:mod:`iterate.rollout.event_rates`), with the rate ratio, its interval, the log Bayes factor
   and p named;
3. ``no_traffic``: no unit exposed, or an arm without units -> ``hold``;
4. ``no_data``: a metric without data in the current stage (no unit with a value, no event) and
5. ``min_units``: an arm of the current stage below ``[rollout] min_units_per_stage`` ->
   ``hold``, or ``rollback`` with ``on_no_data = "rollback"``; the metric or stage is named;
6. ``noninferiority``: each guardrail with a margin, shown non-inferior on the anytime-valid
   stratified estimate (met) or not yet (not met);
7. ``no_guardrail_margin``: without any guardrail margin nothing can show the ramp safe -> ``hold``;
8. ``success``: success metrics are reported (met / not met) but a ramp does not need them to
   advance: a ramp step asks "is it safe to go on", not "is it better";
9. ``verdict``: ``advance`` when no rule above holds the ramp and every guardrail with a margin is
   met; ``hold`` otherwise, with what is missing.

No traffic or no data never gives ``advance``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

# the trace steps of analyze's decision, reused so both traces read the same
from iterate.decision import check_steps, harm_step, noninferiority_step, success_step, trace_step
from iterate.result import Check, MetricResult, Reason, TraceStep
from iterate.rollout import event_rates
from iterate.rollout.event_rates import RateRegressionTest
from iterate.rollout.result import RolloutDecision, decided


@dataclass(frozen=True, slots=True)
class RampEvidence:
    """What the current stage lacks, for the evidence rules.

    Attributes:
        stage: The current stage's label (``None`` when none has started).
        no_traffic: Why there is nothing to compare (no unit exposed, an arm without units), or ``None``.
        no_data: Metric name -> why it has no data in the current stage.
        shortfall: Why an arm of the current stage has too few units, or ``None``.
        on_no_data: ``"hold"`` or ``"rollback"``.
    """

    stage: str | None
    no_traffic: str | None = None
    no_data: Mapping[str, str] | None = None
    shortfall: str | None = None
    on_no_data: str = "hold"


def judge_ramp(rows: Sequence[MetricResult], checks: Iterable[Check], evidence: RampEvidence,
               rate_tests: Sequence[RateRegressionTest] = ()) -> RolloutDecision:
    """The verdict of the ramp from its pooled rows (see the module docstring for the rules).

    Example:
        >>> judge_ramp([], [], RampEvidence(stage=None, no_traffic="no unit is exposed yet")).verdict
        'hold'
    """
    checks = tuple(checks)
    trace = check_steps(checks)
    failed = [check for check in checks if not check.passed and check.severity == "error"]
    if failed:
        reasons = tuple(Reason(f"check_{check.name}", check.message) for check in failed)
        return decided("ramp", "invalid", reasons, trace, "an error-level quality check failed")

    harm_steps = [harm_step(row) for row in rows]
    trace += harm_steps
    worse = [row for row in rows if row.outcome == "worse"]
    trace += [_rate_step(rate) for rate in rate_tests]
    regressions = [rate for rate in rate_tests if rate.test.regression]
    if worse or regressions:
        reasons = tuple(Reason("harm", step.message + " on the anytime-valid estimate stratified by stage",
                               row.variant, row.name) for row, step in zip(rows, harm_steps) if row in worse)
        reasons += tuple(Reason("rate_regression", f"{rate.role} {rate.metric} shows an event-rate regression: "
                                f"{event_rates.describe(rate)}", rate.variant, rate.metric) for rate in regressions)
        return decided("ramp", "rollback", reasons, trace, "harm is shown")

    blocked = _evidence_reasons(evidence)
    trace += _evidence_steps(evidence)
    missing = evidence.on_no_data if blocked else None
    guarded = [row for row in rows if row.role == "guardrail" and row.noninferior is not None]
    trace += [noninferiority_step(row) for row in guarded]
    unproven = [row for row in guarded if not row.noninferior]
    pending = [Reason("not_yet_noninferior", f"guardrail {row.name} is not yet shown non-inferior "
                      f"({_noninferiority_numbers(row)})", row.variant, row.name) for row in unproven]
    if not guarded and not evidence.no_traffic:
        pending.append(Reason("no_guardrail_margin", "no guardrail has a non-inferiority margin: nothing can show that "
                              "the ramp is safe to advance; give the guardrails a margin"))
    trace.append(trace_step("no_guardrail_margin", "passed" if guarded else "fired",
                       f"{len(guarded)} guardrail(s) with a margin" if guarded else
                       "no guardrail has a margin: nothing can show the ramp safe"))
    trace += [replace(success_step(row), message=success_step(row).message + " (reported: a ramp does not need "
                      "success metrics to advance)") for row in rows if row.role == "success"]
    if missing == "rollback":
        return decided("ramp", "rollback", tuple(blocked) + tuple(pending), trace,
                        "evidence is missing and [rollout] on_no_data = \"rollback\"")
    if blocked or pending:
        return decided("ramp", "hold", tuple(blocked) + tuple(pending), trace,
                        "no harm, but the ramp is not yet shown safe to advance")
    reasons = tuple(Reason("noninferior", f"guardrail {row.name} is shown non-inferior ({_noninferiority_numbers(row)})",
                           row.variant, row.name) for row in guarded)
    return decided("ramp", "advance", reasons, trace, "no harm, every guardrail with a margin is non-inferior, and the "
                    "current stage has data and units")


def _rate_step(rate: RateRegressionTest) -> TraceStep:
    """The rate-regression rule on one metric: fired when the stratified rate test rejects."""
    if rate.test.status != "ok":
        outcome, text = "not_applicable", event_rates.describe(rate)
    elif rate.test.regression:
        outcome, text = "fired", f"shows a regression: {event_rates.describe(rate)}"
    else:
        outcome, text = "passed", f"is not shown to regress: {event_rates.describe(rate)}"
    return trace_step("rate_regression", outcome, f"{rate.role} {rate.metric} {text}", variant=rate.variant,
                      metric=rate.metric, alpha=rate.test.alpha, **event_rates.numbers(rate))


def _evidence_reasons(evidence: RampEvidence) -> list[Reason]:
    """The evidence rules that hold the ramp (or roll it back with ``on_no_data = "rollback"``)."""
    reasons = []
    if evidence.no_traffic:
        reasons.append(Reason("no_traffic", evidence.no_traffic))
    for name, why in (evidence.no_data or {}).items():
        reasons.append(Reason("no_data", f"{name} has no data in the current stage {evidence.stage}: {why}; "
                              "a ramp does not advance on what it could not measure", metric=name))
    if evidence.shortfall:
        reasons.append(Reason("min_units", evidence.shortfall))
    return reasons


def _evidence_steps(evidence: RampEvidence) -> list[TraceStep]:
    no_data = dict(evidence.no_data or {})
    return [
        trace_step("no_traffic", "fired" if evidence.no_traffic else "passed",
              evidence.no_traffic or "both arms have exposed units"),
        trace_step("no_data", "fired" if no_data else "passed",
              "; ".join(f"{name}: {why}" for name, why in no_data.items()) if no_data else
              f"every metric has data in the current stage {evidence.stage}", stage=evidence.stage,
              metrics=sorted(no_data), on_no_data=evidence.on_no_data),
        trace_step("min_units", "fired" if evidence.shortfall else "passed",
              evidence.shortfall or f"both arms of the current stage {evidence.stage} have at least min_units_per_stage units",
              stage=evidence.stage, on_no_data=evidence.on_no_data),
    ]


def _noninferiority_numbers(row: MetricResult) -> str:
    """The numbers of the row's non-inferiority step (effect, margin, one-sided p)."""
    margin = row.noninferiority_margin
    parts = [f"effect {row.effect:+.4g}" if row.effect is not None else "effect n/a",
             f"margin {margin:.4g}" if margin is not None else "no margin"]
    if row.noninferiority_p_value is not None:
        parts.append(f"anytime-valid one-sided p = {row.noninferiority_p_value:.3g}")
    return ", ".join(parts)
