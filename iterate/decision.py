"""The decision: a pure function from metric comparisons and quality checks to a verdict with reasons.

The risk-aware rule of Schultzberg, Ankargren & Frånberg (2024), "Risk-aware product decisions in
A/B tests with multiple metrics":

- ``invalid`` when an error-level quality check fails (SRM, multiple exposures, pre-exposure imbalance);
- ``rollback`` when harm is shown: any metric (or segment value) significantly worse in its bad
  direction;
- ``ship`` when nothing shows harm, every guardrail with a margin is shown non-inferior, and at
  least one success metric is shown better (alpha corrected over the success metrics only); a
  release without success metrics ships on its guardrails alone; never on no evidence
  (:mod:`iterate.evidence`): not with a guardrail or deterioration metric without data, nor
  with fewer than ``min_units_per_arm`` units in an arm;
- ``inconclusive`` when the planned sample or duration is reached without a ship decision, or
  early when it cannot be reached (``futility``, :mod:`iterate.horizon`): with ``[experiment] mde``,
  every success metric's minimum detectable effect at the largest reachable sample per arm (80%
  power, the success family's alpha, the observed variances) is above ``mde``; or a guardrail
  with a margin would be shown non-inferior there with less than 80% power even with a true
  effect of 0. Harm still rolls back first and failed checks still make it ``invalid``; without
  ``mde`` and guardrail margins, or without ``planned_units`` and ``max_duration``, no futility;
- ``continue`` otherwise, with how many more units per arm and days at the observed traffic
  would change that, for each pending metric and for the verdict (``verdict_horizon``).

With several treatment variants, each gets its own verdict. The experiment's verdict is ``ship``
when an arm is recommended (below) and the choice is settled: it is distinguishably better than the
runner-up, or every other arm is itself settled (``ship``: either may go out, the better one is
named; ``rollback``: out of the running). Shipping that arm turns the others off, so a harmful or
clearly beaten arm does not hold the release back (its reasons are still reported). Otherwise the
experiment's verdict is the most cautious of the arms' (``invalid`` > ``rollback`` >
``inconclusive`` > ``continue`` > ``ship``): a CI gate never passes while no arm is shown good and
safe, or while an unproven arm might still beat the one it would ship.

Which arm to ship (:func:`recommend`): among the arms whose own verdict is ``ship``, the best on
the first success metric, by its effect against control in the metric's good direction. The
runner-up is the best of the other treatment arms on that metric, whatever its verdict (the
strongest competitor). The two are compared directly with the metric kind's own test (best
against runner-up, CUPED-adjusted when the comparisons with control are; always-valid under
sequential inference), and its p-value is Bonferroni-corrected for the k(k-1)/2 pairs of the k
treatment arms (Bonferroni 1936; Hochberg & Tamhane 1987, section 2.1, all pairwise comparisons):
the best arm is ``distinguishable`` when the corrected p is below alpha (the look's
``decision_alpha`` at a group-sequential look) and the difference is in the good direction.

``decide`` also returns its trace: every rule it evaluated, in order, with the numbers and the
alpha each test used, including the rules that did not fire (:class:`iterate.result.TraceStep`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping, Sequence

from iterate.horizon import Horizon, outlook, success_family_size
from iterate.result import Check, MetricResult, Outcome, Reason, Recommendation, TraceStep, Verdict

_CAUTION: dict[Verdict, int] = {"invalid": 4, "rollback": 3, "inconclusive": 2, "continue": 1, "ship": 0}


@dataclass(frozen=True, slots=True)
class Decision:
    """A verdict for the experiment and for each treatment variant, with the rules that fired,
    every rule evaluated (``trace``) and the arm to ship (``recommendation``)."""

    verdict: Verdict
    variant_verdicts: dict[str, Verdict]
    reasons: tuple[Reason, ...]
    trace: tuple[TraceStep, ...] = ()
    recommendation: Recommendation | None = None


def classify(direction: str, effect: float | None, p_value: float | None, alpha: float) -> Outcome:
    """Whether a comparison shows the metric ``better``, ``worse`` or not different at ``alpha``.

    Example:
        >>> classify("decrease", effect=-0.2, p_value=0.01, alpha=0.05)
        'better'
    """
    if effect is None or p_value is None:
        return "not_tested"
    if p_value >= alpha or effect == 0:
        return "no_difference"
    good = effect > 0 if direction == "increase" else effect < 0
    return "better" if good else "worse"


def decide(
    metric_results: Sequence[MetricResult],
    checks: Iterable[Check],
    segment_results: Sequence[MetricResult] = (),
    *,
    stopped: str | None = None,
    shortfalls: Mapping[str, str] | None = None,
    pairwise: Mapping[tuple[str, str], MetricResult] | None = None,
    horizon: Horizon | None = None,
) -> Decision:
    """Verdict and reasons from the metric rows, the quality checks and the per-segment rows.

    Outcomes are judged on the multiplicity-corrected p-values. A segment value whose metric is
    significantly worse (corrected over all segment tests) is harm shown, like an overall one.
    ``stopped`` says why the experiment has reached its planned end (sample or duration), if it
    has: a variant that is not shipped or rolled back is then ``inconclusive``. The evidence
    rules (:mod:`iterate.evidence`) keep a variant from shipping on no evidence: a guardrail or
    deterioration metric with status ``no_data`` blocks it, a success metric without data does
    not count, and ``shortfalls`` names the variants with too few units to ship. ``pairwise`` holds
    the comparisons between treatment arms on the first success metric, keyed ``(arm, other)``
    (the row of ``arm`` against ``other`` as control), from which :func:`recommend` names the arm.

    ``horizon`` (:mod:`iterate.horizon`: the observed traffic, ``planned_units``,
    ``max_duration``, ``mde``, the correction) gives each pending metric and a ``continue`` its
    projection: the extra units per arm and days after which, if the observed effects held, the
    metric would be shown (80% power, at the alpha the decision reads) and the variant could ship
    (``verdict_horizon``). It also decides futility: a ``continue`` becomes ``inconclusive`` early
    (rule ``futility``) when at the largest reachable sample no success metric could detect
    ``mde`` or a guardrail could not be shown non-inferior (below 80% power with a true effect of
    0). Harm shown (``rollback``) and failed checks (``invalid``) come first; without ``mde`` and
    without guardrail margins, or without ``planned_units`` and ``max_duration``, nothing is futile.

    Example:
        >>> decide([], [Check("srm", False, "sample ratio mismatch")]).verdict
        'invalid'
    """
    checks = tuple(checks)
    failed = [check for check in checks if not check.passed and check.severity == "error"]
    variants = sorted({row.variant for row in metric_results})
    trace = check_steps(checks)
    if failed:
        reasons = tuple(Reason(rule=f"check_{check.name}", message=check.message) for check in failed)
        invalid: dict[str, Verdict] = {variant: "invalid" for variant in variants}
        recommendation = recommend(metric_results, invalid, pairwise)
        trace += [_recommendation_step(recommendation), _experiment_verdict_step("invalid", invalid)]
        return Decision("invalid", invalid, reasons, numbered(trace), recommendation)

    variant_verdicts: dict[str, Verdict] = {}
    reasons: list[Reason] = []
    family_size = success_family_size(metric_results, (horizon or Horizon()).correction)
    for variant in variants:
        rows = [row for row in metric_results if row.variant == variant]
        harmed_segments = [row for row in segment_results if row.variant == variant and row.outcome == "worse"]
        shortfall = (shortfalls or {}).get(variant)
        verdict, variant_reasons = _decide_variant(variant, rows, harmed_segments, stopped, shortfall)
        verdict, variant_reasons = outlook(verdict, variant, rows, variant_reasons, horizon or Horizon(),
                                           family_size, shortfall)
        variant_verdicts[variant] = verdict
        reasons += variant_reasons
        trace += _variant_steps(variant, rows, [row for row in segment_results if row.variant == variant],
                                stopped, shortfall, verdict, variant_reasons)
    reasons.sort(key=lambda reason: -_CAUTION.get(_RULE_VERDICT.get(reason.rule, "continue"), 0))
    recommendation = recommend(metric_results, variant_verdicts, pairwise)
    verdict = experiment_verdict(variant_verdicts, recommendation)
    reasons = _with_recommended_arm(reasons, recommendation, verdict, len(variants))
    trace += [_recommendation_step(recommendation), _experiment_verdict_step(verdict, variant_verdicts)]
    return Decision(verdict, variant_verdicts, tuple(reasons), numbered(trace), recommendation)


_RULE_VERDICT: dict[str, Verdict] = {
    "harm": "rollback", "segment_harm": "rollback", "success": "ship", "noninferior": "ship",
    "planned_end_reached": "inconclusive", "futility": "inconclusive",
}


def _decide_variant(
    variant: str, rows: list[MetricResult], harmed_segments: list[MetricResult], stopped: str | None,
    shortfall: str | None,
) -> tuple[Verdict, list[Reason]]:
    worse = [row for row in rows if row.outcome == "worse"]
    if worse or harmed_segments:
        return "rollback", [
            Reason("harm", f"{row.name} is worse ({_describe(row)}), significant in its bad direction "
                   f"({row.direction} is good)", variant, row.name)
            for row in worse
        ] + [
            Reason("segment_harm", f"{row.name} is worse for {row.segment} = {row.segment_value} ({_describe(row)}), "
                   f"significant after correction over all segments ({row.direction} is good)", variant, row.name)
            for row in harmed_segments
        ]
    successes = [row for row in rows if row.role == "success"]
    better = [row for row in successes if row.outcome == "better"]
    guarded = [row for row in rows if row.role == "guardrail" and row.noninferior is not None]
    blind = [row for row in rows if row.status == "no_data" and row.role != "success"]
    unproven = [row for row in guarded if not row.noninferior and row.status != "no_data"]
    if (better or (not successes and guarded)) and not unproven and not blind and not shortfall:
        reasons = [Reason("success", f"{row.name} is better ({_describe(row)}) and no metric is worse", variant, row.name)
                   for row in better]
        reasons += [Reason("noninferior", f"guardrail {row.name} is shown non-inferior ({_margin(row)})", variant, row.name)
                    for row in guarded]
        return "ship", reasons

    reasons = []
    if not successes and not guarded:
        reasons.append(Reason(
            "no_success_metric",
            "no success metric is declared and no guardrail has a non-inferiority margin: nothing can show "
            "that the release is good; add a success metric or guardrail margins",
            variant,
        ))
    if shortfall:
        reasons.append(Reason("too_few_units", shortfall, variant))
    for row in blind:
        reasons.append(Reason("no_data", f"{row.role} {row.name} has no data in its windows, so it cannot show that "
                              "the release is safe; iterate does not ship what it could not measure", variant, row.name))
    for row in successes:
        if row.status == "no_data":
            reasons.append(Reason("no_data", f"{row.name} has no data in its windows and cannot count toward ship",
                                  variant, row.name))
        elif row.outcome == "not_tested":
            reasons.append(Reason("not_tested", f"{row.name} could not be tested (status {row.status})", variant, row.name))
        elif row.outcome != "better":  # its projection is added by iterate.horizon.outlook
            reasons.append(Reason("no_evidence_yet", f"{row.name} shows no significant difference ({_describe(row)})",
                                  variant, row.name))
    for row in unproven:
        reasons.append(Reason("not_yet_noninferior",
                              f"guardrail {row.name} is not yet shown non-inferior ({_margin(row)})", variant, row.name))
    if stopped:
        reasons.insert(0, Reason("planned_end_reached", f"{stopped} without a decision to ship or roll back", variant))
        return "inconclusive", reasons
    return "continue", reasons


def _margin(row: MetricResult) -> str:
    parts = [f"effect {_number(row.effect)}", f"margin {row.noninferiority_margin:.4g}"]
    if row.noninferiority_p_value is not None:
        parts.append(f"one-sided p = {row.noninferiority_p_value:.3g}")
    return ", ".join(parts)


def _describe(row: MetricResult) -> str:
    parts = [f"effect {_number(row.effect)}"]
    if row.relative_effect is not None:
        unbounded = " (relative interval unbounded)" if row.relative_status == "unbounded" else ""
        parts.append(f"{row.relative_effect:+.2%} relative{unbounded}")
    if row.ci_low is not None and row.ci_high is not None:
        parts.append(f"{1 - row.alpha:.0%} CI [{_number(row.ci_low)}, {_number(row.ci_high)}]")
    if row.p_value is not None:
        parts.append(f"p = {row.p_value:.3g}")
    if row.p_value_adjusted is not None and row.p_value_adjusted != row.p_value:
        parts.append(f"adjusted p = {row.p_value_adjusted:.3g}")
    return ", ".join(parts)


def _number(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.4g}"


def overrule_ship(decision: Decision, reason: Reason) -> Decision:
    """The decision with every variant that would ship rolled back instead, for ``reason`` (a rule
    outside the metrics, such as the release-train budget of :mod:`iterate.history.budget`), first
    among the reasons and in the trace before the experiment's verdict. A decision that ships
    nothing is returned unchanged."""
    if "ship" not in decision.variant_verdicts.values():
        return decision
    verdicts: dict[str, Verdict] = {variant: "rollback" if verdict == "ship" else verdict
                                    for variant, verdict in decision.variant_verdicts.items()}
    verdict = _most_cautious(verdicts)
    trace = [*decision.trace[:-1], _reason_step(reason, "fired"), _experiment_verdict_step(verdict, verdicts)]
    recommendation = decision.recommendation
    if recommendation is not None:
        recommendation = _no_arm(recommendation.metric, recommendation.pairs, verdicts)
    return Decision(verdict, verdicts, (reason, *decision.reasons), numbered(trace), recommendation)


# ---------------------------------------------------------------------------- the arm to ship


def experiment_verdict(variant_verdicts: Mapping[str, Verdict], recommendation: Recommendation) -> Verdict:
    """The experiment's verdict from its arms' (the rule of the module docstring): ``ship`` when the
    recommended arm ships and is distinguishably better than the runner-up or every other arm ships
    or is rolled back, else the most cautious of the arms' verdicts.

    Example:
        >>> best = Recommendation("b", "conversion", "a", 0.03, 1e-6, 1e-6, 1, True, "ship b")
        >>> experiment_verdict({"a": "rollback", "b": "ship"}, best)
        'ship'
    """
    chosen = recommendation.variant
    settled = all(verdict in ("ship", "rollback") for arm, verdict in variant_verdicts.items() if arm != chosen)
    if chosen is not None and variant_verdicts.get(chosen) == "ship" and (recommendation.distinguishable or settled):
        return "ship"
    return _most_cautious(variant_verdicts)


def _most_cautious(variant_verdicts: Mapping[str, Verdict]) -> Verdict:
    return max(variant_verdicts.values(), key=_CAUTION.__getitem__, default="continue")


def recommend(
    metric_results: Sequence[MetricResult],
    variant_verdicts: Mapping[str, Verdict],
    pairwise: Mapping[tuple[str, str], MetricResult] | None = None,
) -> Recommendation:
    """Which treatment arm to ship, by the rule of the module docstring.

    ``pairwise[(best, runner_up)]`` is the comparison of the best arm (as treatment) with the
    runner-up (as control) on the first success metric; its p-value is multiplied by the number of
    pairs k(k-1)/2 (Bonferroni), capped at 1. With one treatment arm the recommendation is that arm
    when it ships (``distinguishable``: there is no other arm to tell it from), else ``None``.

    Example:
        >>> recommend([], {"treatment": "continue"}).message
        'no arm is recommended: none ships (treatment continue)'
    """
    arms = sorted(variant_verdicts)
    pairs = len(arms) * (len(arms) - 1) // 2
    shipping = [arm for arm in arms if variant_verdicts[arm] == "ship"]
    metric = next((row.name for row in metric_results if row.role == "success"), None)
    empty = Recommendation(None, metric, None, None, None, None, pairs, False, "")
    if not shipping:
        return _no_arm(metric, pairs, variant_verdicts)
    if len(arms) == 1:
        return replace(empty, variant=shipping[0], distinguishable=True,
                       message=f"ship {shipping[0]}: the only treatment arm, and it ships")
    if metric is None:
        named = shipping[0] if len(shipping) == 1 else None
        return replace(empty, variant=named, message=(
            f"ship {named}: the only arm that ships; there is no success metric to rank the arms on" if named else
            f"no arm is recommended: {', '.join(shipping)} all ship on their guardrails alone, and without a "
            "success metric the arms cannot be ranked; add a success metric"))
    on_metric = {row.variant: row for row in metric_results if row.name == metric}
    best = min(shipping, key=lambda arm: (-_goodness(on_metric.get(arm)), arm))  # a tie: the first name
    if _goodness(on_metric.get(best)) == -math.inf:
        named = shipping[0] if len(shipping) == 1 else None
        return replace(empty, variant=named, message=(
            f"ship {named}: the only arm that ships; it has no estimate on {metric} to rank it by" if named else
            f"no arm is recommended: none of {', '.join(shipping)} has an estimate on {metric} to rank them by"))
    rivals = [arm for arm in arms if arm != best and _goodness(on_metric.get(arm)) > -math.inf]
    if not rivals:
        return replace(empty, variant=best, message=(
            f"ship {best}: best on {metric} among the arms that ship; no other arm has an estimate on {metric} "
            "to compare it with"))
    runner_up = min(rivals, key=lambda arm: (-_goodness(on_metric[arm]), arm))
    return _pairwise_recommendation(best, runner_up, on_metric[best], (pairwise or {}).get((best, runner_up)),
                                    replace(empty, variant=best, runner_up=runner_up), variant_verdicts[runner_up])


def _no_arm(metric: str | None, pairs: int, variant_verdicts: Mapping[str, Verdict]) -> Recommendation:
    """The recommendation when no arm ships: none, with each arm's verdict."""
    verdicts = ", ".join(f"{arm} {variant_verdicts[arm]}" for arm in sorted(variant_verdicts))
    return Recommendation(None, metric, None, None, None, None, pairs, False,
                          f"no arm is recommended: none ships ({verdicts})")


def _pairwise_recommendation(best: str, runner_up: str, best_row: MetricResult, pair: MetricResult | None,
                             partial: Recommendation, runner_up_verdict: Verdict) -> Recommendation:
    """The recommendation with the corrected pairwise test of the best arm against the runner-up."""
    alpha = best_row.decision_alpha or best_row.alpha
    named = f"ship {best}: best on {best_row.name} among the arms that ship"
    if pair is None or pair.p_value is None or pair.effect is None:
        return replace(partial, alpha=alpha, message=(
            f"{named}; it could not be compared with the runner-up {runner_up} "
            f"({'no pairwise comparison' if pair is None else 'status ' + pair.status}), so whether it is "
            "distinguishably better is unknown"))
    adjusted = min(1.0, pair.p_value * partial.pairs)
    toward_good = pair.effect if best_row.direction == "increase" else -pair.effect
    distinguishable = adjusted < alpha and toward_good > 0
    numbers = (f"difference {_number(pair.effect)} ({1 - best_row.alpha:.0%} CI [{_number(pair.ci_low)}, "
               f"{_number(pair.ci_high)}]), p = {pair.p_value:.3g}, Bonferroni-adjusted over {partial.pairs} "
               f"pair{'' if partial.pairs == 1 else 's'} p = {adjusted:.3g}")
    choice = ("either may be shipped on this evidence" if runner_up_verdict == "ship" else
              f"{runner_up} does not ship ({runner_up_verdict}), so {best} is the arm to ship")
    verdict = (f"distinguishably better than the runner-up {runner_up} ({numbers} < alpha {alpha:.3g})"
               if distinguishable else
               f"but not distinguishable from the runner-up {runner_up} ({numbers}, "
               f"{'not below' if toward_good > 0 else 'in the bad direction at'} alpha {alpha:.3g}): {choice}")
    return replace(partial, effect_difference=pair.effect, p_value=pair.p_value, p_value_adjusted=adjusted,
                   distinguishable=distinguishable, ci_low=pair.ci_low, ci_high=pair.ci_high, alpha=alpha,
                   method=pair.method, message=f"{named}, {verdict}")


def _goodness(row: MetricResult | None) -> float:
    """The effect against control in the metric's good direction; -inf without an estimate."""
    if row is None or row.effect is None:
        return -math.inf
    return row.effect if row.direction == "increase" else -row.effect


def _with_recommended_arm(reasons: list[Reason], recommendation: Recommendation, verdict: Verdict,
                          arms: int) -> list[Reason]:
    """The reasons with a ``recommended_arm`` one when several arms compete and one would ship:
    first when the experiment ships, else after the reasons of the more cautious verdict."""
    if arms < 2 or recommendation.variant is None:
        return reasons
    message = recommendation.message
    if verdict != "ship":
        message += f"; the experiment's verdict is {verdict}, the most cautious of its arms'"
    details = {key: getattr(recommendation, key) for key in (
        "runner_up", "effect_difference", "ci_low", "ci_high", "p_value", "p_value_adjusted", "pairs",
        "distinguishable", "alpha")}
    reason = Reason("recommended_arm", message, recommendation.variant, recommendation.metric, details)
    return [reason, *reasons] if verdict == "ship" else [*reasons, reason]


# ------------------------------------------------------------------------------- the trace


def trace_step(rule: str, outcome: str, message: str, *, variant: str | None = None, metric: str | None = None,
               alpha: float | None = None, **numbers: Any) -> TraceStep:
    """One rule evaluated, numbered later by :func:`numbered` (the trace builders below are shared
    with the rollout decision of :mod:`iterate.rollout.decision`)."""
    return TraceStep(0, rule, variant, metric, outcome, alpha, numbers, message)  # type: ignore[arg-type]


def numbered(steps: list[TraceStep]) -> tuple[TraceStep, ...]:
    """The steps with their 1-based order."""
    return tuple(replace(step, step=position) for position, step in enumerate(steps, start=1))


def check_steps(checks: Sequence[Check]) -> list[TraceStep]:
    """One step per quality check: a failed error check fires (``invalid``), a failed warning warns."""
    def outcome(check: Check) -> str:
        if check.passed:
            return "passed"
        return "fired" if check.severity == "error" else "warning"

    return [TraceStep(0, f"check_{check.name}", None, None, outcome(check), _check_alpha(check),  # type: ignore[arg-type]
                      {"severity": check.severity, **check.details}, check.message) for check in checks]


_P_VALUE_CHECKS = ("srm", "pre_exposure_imbalance")


def _check_alpha(check: Check) -> float | None:
    """The p-value threshold of a check that is a test (sample ratio, pre-exposure imbalance)."""
    threshold = check.details.get("threshold")
    tested = check.name.split(":")[0] in _P_VALUE_CHECKS
    return float(threshold) if tested and isinstance(threshold, (int, float)) else None


def _variant_steps(variant: str, rows: list[MetricResult], segment_rows: list[MetricResult], stopped: str | None,
                   shortfall: str | None, verdict: Verdict, reasons: Sequence[Reason]) -> list[TraceStep]:
    """The rules ``_decide_variant`` and :func:`iterate.horizon.outlook` evaluate for one arm, in
    their order, ending with its verdict (``reasons``: the arm's, for the outlook's numbers)."""
    steps = [harm_step(row) for row in rows] + _segment_harm_steps(variant, segment_rows)
    if any(step.outcome == "fired" for step in steps):
        return steps + [_variant_verdict_step(variant, verdict)]
    successes = [row for row in rows if row.role == "success"]
    guarded = [row for row in rows if row.role == "guardrail" and row.noninferior is not None]
    steps.append(_no_data_step(variant, rows))
    steps.append(_min_units_step(variant, rows, shortfall))
    steps += [success_step(row) for row in successes]
    steps += [noninferiority_step(row) for row in guarded]
    steps.append(_no_success_metric_step(variant, bool(successes), bool(guarded)))
    steps.append(_planned_end_step(variant, stopped, verdict))
    steps += _outlook_steps(variant, reasons)
    return steps + [_variant_verdict_step(variant, verdict)]


def _outlook_steps(variant: str, reasons: Sequence[Reason]) -> list[TraceStep]:
    """Futility (``inconclusive`` early) or the projection of a ``continue``, with their numbers."""
    outcomes = {"futility": "fired", "verdict_horizon": "not_met"}
    return [_reason_step(reason, outcomes[reason.rule]) for reason in reasons if reason.rule in outcomes]


def _reason_step(reason: Reason, outcome: str) -> TraceStep:
    """A rule that gave a reason, as a step with the reason's message and numbers."""
    numbers = {key: value for key, value in reason.details.items() if key not in ("variant", "metric", "alpha")}
    alpha = reason.details.get("alpha")
    return trace_step(reason.rule, outcome, reason.message, variant=reason.variant, metric=reason.metric,
                 alpha=alpha if isinstance(alpha, (int, float)) else None, **numbers)


def _decision_alpha(row: MetricResult) -> float:
    return row.decision_alpha if row.decision_alpha is not None else row.alpha


def _test_numbers(row: MetricResult) -> dict[str, Any]:
    return {"effect": row.effect, "ci_low": row.ci_low, "ci_high": row.ci_high, "p_value": row.p_value,
            "p_value_adjusted": row.p_value_adjusted, "std_error": row.std_error, "direction": row.direction,
            "status": row.status, "n_control": row.n_control, "n_treatment": row.n_treatment}


def harm_step(row: MetricResult) -> TraceStep:
    """The harm rule on one row: fired when it is worse at the alpha its outcome is judged at."""
    alpha = _decision_alpha(row)
    if row.outcome == "worse":
        outcome, text = "fired", f"is worse ({_describe(row)}), adjusted p below alpha {alpha:.3g} in its bad direction"
    elif row.outcome == "not_tested":
        outcome, text = "not_applicable", f"is not tested (status {row.status}): no harm can be shown"
    elif row.outcome == "better":
        outcome, text = "passed", f"is not worse: it is better ({_describe(row)})"
    else:
        outcome, text = "passed", f"is not shown worse ({_describe(row)}; not below alpha {alpha:.3g})"
    return trace_step("harm", outcome, f"{row.role} {row.name} {text}", variant=row.variant, metric=row.name,
                 alpha=alpha, **_test_numbers(row))


def _segment_harm_steps(variant: str, segment_rows: list[MetricResult]) -> list[TraceStep]:
    """One step per metric broken down by segments: fired when a segment value is worse."""
    if not segment_rows:
        return [trace_step("segment_harm", "not_applicable", "no segment breakdown", variant=variant)]
    steps = []
    for name in dict.fromkeys(row.name for row in segment_rows):
        rows = [row for row in segment_rows if row.name == name]
        worse = [f"{row.segment} = {row.segment_value}" for row in rows if row.outcome == "worse"]
        tested = [row.p_value_adjusted for row in rows if row.p_value_adjusted is not None]
        alpha = rows[0].alpha
        message = (f"{name} is worse for {', '.join(worse)} (corrected over all segment tests)" if worse else
                   f"{name} is not shown worse in any of {len(rows)} segment values")
        steps.append(trace_step("segment_harm", "fired" if worse else "passed", message, variant=variant, metric=name,
                           alpha=alpha, segment_values=len(rows), worse=worse,
                           smallest_p_value_adjusted=min(tested) if tested else None))
    return steps


def _no_data_step(variant: str, rows: list[MetricResult]) -> TraceStep:
    blind = [row.name for row in rows if row.status == "no_data" and row.role != "success"]
    message = (f"{', '.join(blind)} without data: the release cannot be shown safe" if blind else
               "every guardrail and deterioration metric has data")
    return trace_step("no_data", "fired" if blind else "passed", message, variant=variant, metrics=blind)


def _min_units_step(variant: str, rows: list[MetricResult], shortfall: str | None) -> TraceStep:
    units = {"units_control": max((row.n_control + row.missing_control for row in rows), default=0),
             "units_treatment": max((row.n_treatment + row.missing_treatment for row in rows), default=0)}
    if shortfall:
        return trace_step("min_units", "fired", shortfall, variant=variant, **units)
    return trace_step("min_units", "passed", "both arms have at least min_units_per_arm units", variant=variant, **units)


def success_step(row: MetricResult) -> TraceStep:
    """The success rule on one row: met when it is better at the alpha its outcome is judged at."""
    alpha = _decision_alpha(row)
    numbers = _test_numbers(row)
    if row.status == "no_data" or row.outcome == "not_tested":
        return trace_step("success", "not_applicable", f"{row.name} not tested (status {row.status}): cannot count toward ship",
                     variant=row.variant, metric=row.name, alpha=alpha, **numbers)
    if row.outcome == "better":
        return trace_step("success", "met", f"{row.name} is better ({_describe(row)}; below alpha {alpha:.3g})",
                     variant=row.variant, metric=row.name, alpha=alpha, **numbers)
    return trace_step("success", "not_met", f"{row.name} is not shown better ({_describe(row)}; alpha {alpha:.3g})",
                 variant=row.variant, metric=row.name, alpha=alpha, **numbers)


def noninferiority_step(row: MetricResult) -> TraceStep:
    """The non-inferiority rule on one guardrail row: met when shown no worse than its margin."""
    alpha = _decision_alpha(row)
    numbers = {"effect": row.effect, "margin": row.noninferiority_margin,
               "one_sided_p_value": row.noninferiority_p_value, "std_error": row.std_error,
               "direction": row.direction, "status": row.status}
    if row.noninferior:
        return trace_step("noninferiority", "met", f"guardrail {row.name} is non-inferior ({_margin(row)}; one-sided "
                     f"alpha {alpha:.3g})", variant=row.variant, metric=row.name, alpha=alpha, **numbers)
    if row.status == "no_data":
        return trace_step("noninferiority", "not_applicable", f"guardrail {row.name} has no data", variant=row.variant,
                     metric=row.name, alpha=alpha, **numbers)
    return trace_step("noninferiority", "not_met", f"guardrail {row.name} is not yet shown non-inferior ({_margin(row)}; "
                 f"one-sided alpha {alpha:.3g})", variant=row.variant, metric=row.name, alpha=alpha, **numbers)


def _no_success_metric_step(variant: str, successes: bool, guarded: bool) -> TraceStep:
    if successes or guarded:
        what = "a success metric" if successes else "guardrails with margins (no success metric: ships on them alone)"
        return trace_step("no_success_metric", "passed", f"there is {what} to show the release good", variant=variant)
    return trace_step("no_success_metric", "fired", "no success metric and no guardrail margin: nothing can show the "
                 "release good", variant=variant)


def _planned_end_step(variant: str, stopped: str | None, verdict: Verdict) -> TraceStep:
    if verdict == "ship":
        return trace_step("planned_end", "not_applicable", "the arm ships: the planned end does not hold it",
                     variant=variant, reached=stopped is not None)
    if stopped:
        return trace_step("planned_end", "fired", f"{stopped}: without a ship decision the arm is inconclusive",
                     variant=variant, reached=True)
    return trace_step("planned_end", "passed", "the planned sample and duration are not reached", variant=variant,
                 reached=False)


_VERDICT_WHY: dict[str, str] = {
    "invalid": "an error-level quality check failed",
    "rollback": "harm is shown",
    "ship": "no harm, and the criteria of a ship are met",
    "inconclusive": "the planned end is reached, or cannot show a ship in time (futility), without a ship",
    "continue": "no harm yet, but the criteria of a ship are not all met",
}


def _variant_verdict_step(variant: str, verdict: Verdict) -> TraceStep:
    return trace_step("verdict", verdict, f"{variant}: {verdict} ({_VERDICT_WHY[verdict]})", variant=variant)


def _recommendation_step(recommendation: Recommendation) -> TraceStep:
    outcome = "fired" if recommendation.variant is not None else "not_applicable"
    return trace_step("recommended_arm", outcome, recommendation.message, variant=recommendation.variant,
                 metric=recommendation.metric, alpha=recommendation.alpha, runner_up=recommendation.runner_up,
                 effect_difference=recommendation.effect_difference, p_value=recommendation.p_value,
                 p_value_adjusted=recommendation.p_value_adjusted, pairs=recommendation.pairs,
                 distinguishable=recommendation.distinguishable)


def _experiment_verdict_step(verdict: Verdict, variant_verdicts: Mapping[str, Verdict]) -> TraceStep:
    arms = ", ".join(f"{arm} {arm_verdict}" for arm, arm_verdict in variant_verdicts.items())
    cautious = _most_cautious(variant_verdicts)
    why = "the most cautious of the arms' verdicts" if verdict == cautious else "the recommended arm ships"
    return trace_step("verdict", verdict, f"experiment: {verdict}, {why} ({arms})"
                 if variant_verdicts else f"experiment: {verdict}", variant_verdicts=dict(variant_verdicts))
