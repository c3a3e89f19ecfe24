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
- ``inconclusive`` when the planned sample or duration is reached without a ship decision;
- ``continue`` otherwise, with how many more units would change that.

With several treatment variants, each gets its own verdict and the experiment's verdict is the
most cautious one (``invalid`` > ``rollback`` > ``inconclusive`` > ``continue`` > ``ship``), so
that a CI gate never passes a release one of whose arms is harmful or unproven.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from iterate.result import Check, MetricResult, Outcome, Reason, Verdict
from iterate.stats.distributions import ndtri

_CAUTION: dict[Verdict, int] = {"invalid": 4, "rollback": 3, "inconclusive": 2, "continue": 1, "ship": 0}


@dataclass(frozen=True, slots=True)
class Decision:
    """A verdict for the experiment and for each treatment variant, with the rules that fired."""

    verdict: Verdict
    variant_verdicts: dict[str, Verdict]
    reasons: tuple[Reason, ...]


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


def units_to_significance(row: MetricResult) -> int | None:
    """Extra units per arm after which the observed effect, if it held, would reach significance.

    The standard error shrinks as 1/sqrt(n), so at n' = n (z_crit / |z|)^2 the z statistic of the
    same effect reaches z_crit = Phi^{-1}(1 - alpha/2). ``None`` when there is no effect to scale.
    """
    if row.effect in (None, 0) or not row.std_error or row.p_value is None:
        return None
    return _extra_units(abs(row.effect) / row.std_error, float(ndtri(1 - row.alpha / 2)), row)


def units_to_noninferiority(row: MetricResult) -> int | None:
    """Extra units per arm after which a guardrail's observed effect, if it held, would be shown
    non-inferior: the one-sided statistic (effect + margin) / se reaches Phi^{-1}(1 - alpha)."""
    if row.noninferiority_margin is None or row.effect is None or not row.std_error:
        return None
    toward_good = row.effect if row.direction == "increase" else -row.effect
    distance = toward_good + row.noninferiority_margin
    if distance <= 0:
        return None
    return _extra_units(distance / row.std_error, float(ndtri(1 - row.alpha)), row)


def _extra_units(z_observed: float, z_needed: float, row: MetricResult) -> int:
    arm_size = min(row.n_control, row.n_treatment)
    return max(0, math.ceil(arm_size * (z_needed / z_observed) ** 2 - arm_size))


def decide(
    metric_results: Sequence[MetricResult],
    checks: Iterable[Check],
    segment_results: Sequence[MetricResult] = (),
    *,
    stopped: str | None = None,
    shortfalls: Mapping[str, str] | None = None,
) -> Decision:
    """Verdict and reasons from the metric rows, the quality checks and the per-segment rows.

    Outcomes are judged on the multiplicity-corrected p-values. A segment value whose metric is
    significantly worse (corrected over all segment tests) is harm shown, like an overall one.
    ``stopped`` says why the experiment has reached its planned end (sample or duration), if it
    has: a variant that is not shipped or rolled back is then ``inconclusive``. The evidence
    rules (:mod:`iterate.evidence`) keep a variant from shipping on no evidence: a guardrail or
    deterioration metric with status ``no_data`` blocks it, a success metric without data does
    not count, and ``shortfalls`` names the variants with too few units to ship.

    Example:
        >>> decide([], [Check("srm", False, "sample ratio mismatch")]).verdict
        'invalid'
    """
    failed = [check for check in checks if not check.passed and check.severity == "error"]
    variants = sorted({row.variant for row in metric_results})
    if failed:
        reasons = tuple(Reason(rule=f"check_{check.name}", message=check.message) for check in failed)
        return Decision("invalid", {variant: "invalid" for variant in variants}, reasons)

    variant_verdicts: dict[str, Verdict] = {}
    reasons: list[Reason] = []
    for variant in variants:
        rows = [row for row in metric_results if row.variant == variant]
        harmed_segments = [row for row in segment_results if row.variant == variant and row.outcome == "worse"]
        verdict, variant_reasons = _decide_variant(variant, rows, harmed_segments, stopped,
                                                   (shortfalls or {}).get(variant))
        variant_verdicts[variant] = verdict
        reasons += variant_reasons
    verdict = max(variant_verdicts.values(), key=_CAUTION.__getitem__, default="continue")
    reasons.sort(key=lambda reason: -_CAUTION.get(_RULE_VERDICT.get(reason.rule, "continue"), 0))
    return Decision(verdict, variant_verdicts, tuple(reasons))


_RULE_VERDICT: dict[str, Verdict] = {
    "harm": "rollback", "segment_harm": "rollback", "success": "ship", "noninferior": "ship",
    "planned_end_reached": "inconclusive",
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
        elif row.outcome != "better":
            more = units_to_significance(row)
            extra = f"; if this effect held, about {more:,} more units per arm would make it significant" if more else ""
            reasons.append(Reason("no_evidence_yet", f"{row.name} shows no significant difference ({_describe(row)}){extra}",
                                  variant, row.name))
    for row in unproven:
        more = units_to_noninferiority(row)
        extra = f"; if this effect held, about {more:,} more units per arm would show it" if more else ""
        reasons.append(Reason("not_yet_noninferior",
                              f"guardrail {row.name} is not yet shown non-inferior ({_margin(row)}){extra}", variant, row.name))
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
    among the reasons. A decision that ships nothing is returned unchanged."""
    if "ship" not in decision.variant_verdicts.values():
        return decision
    verdicts: dict[str, Verdict] = {variant: "rollback" if verdict == "ship" else verdict
                                    for variant, verdict in decision.variant_verdicts.items()}
    verdict = max(verdicts.values(), key=_CAUTION.__getitem__)
    return Decision(verdict, verdicts, (reason, *decision.reasons))
