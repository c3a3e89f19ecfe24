"""The decision: a pure function from metric comparisons and quality checks to a verdict with reasons.

First version of the risk-aware rule of Schultzberg, Ankargren & Frånberg (2024), "Risk-aware
product decisions in A/B tests with multiple metrics":

- ``invalid`` when a quality check fails (sample ratio mismatch);
- ``rollback`` when any metric is significantly worse in its bad direction;
- ``ship`` when a success metric is significantly better and no metric is significantly worse;
- ``continue`` otherwise, with how many more units would make the observed effect significant.

Every test here is two-sided at ``alpha``; p-values are corrected over all metrics and variants
(Holm by default). Non-inferiority margins for guardrails come with a later version of the rule.

With several treatment variants, each gets its own verdict and the experiment's verdict is the
most cautious one (``invalid`` > ``rollback`` > ``continue`` > ``ship``), so that a CI gate never
passes a release one of whose arms is harmful or unproven.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

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
    z_observed = abs(row.effect) / row.std_error
    z_critical = float(ndtri(1 - row.alpha / 2))
    arm_size = min(row.n_control, row.n_treatment)
    needed = arm_size * (z_critical / z_observed) ** 2
    return max(0, math.ceil(needed - arm_size))


def decide(
    metric_results: Sequence[MetricResult], checks: Iterable[Check], segment_results: Sequence[MetricResult] = ()
) -> Decision:
    """Verdict and reasons from the metric rows, the quality checks and the per-segment rows.

    Outcomes are judged on the multiplicity-corrected p-values. A segment value whose metric is
    significantly worse (corrected over all segment tests) is harm shown, like an overall one.

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
        verdict, variant_reasons = _decide_variant(variant, rows, harmed_segments)
        variant_verdicts[variant] = verdict
        reasons += variant_reasons
    verdict = max(variant_verdicts.values(), key=_CAUTION.__getitem__, default="continue")
    reasons.sort(key=lambda reason: -_CAUTION.get(_RULE_VERDICT.get(reason.rule, "continue"), 0))
    return Decision(verdict, variant_verdicts, tuple(reasons))


_RULE_VERDICT: dict[str, Verdict] = {"harm": "rollback", "segment_harm": "rollback", "success": "ship"}


def _decide_variant(variant: str, rows: list[MetricResult], harmed_segments: list[MetricResult]) -> tuple[Verdict, list[Reason]]:
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
    better = [row for row in rows if row.outcome == "better" and row.role == "success"]
    if better:
        return "ship", [
            Reason("success", f"{row.name} is better ({_describe(row)}) and no metric is worse", variant, row.name)
            for row in better
        ]
    reasons = []
    successes = [row for row in rows if row.role == "success"]
    if not successes:
        reasons.append(Reason(
            "no_success_metric",
            "no success metric is declared and nothing is worse; shipping on guardrails alone needs "
            "non-inferiority margins, so keep collecting or add a success metric",
            variant,
        ))
    for row in successes:
        if row.outcome == "not_tested":
            reasons.append(Reason("not_tested", f"{row.name} could not be tested (status {row.status})", variant, row.name))
            continue
        more = units_to_significance(row)
        extra = f"; if this effect held, about {more:,} more units per arm would make it significant" if more else ""
        reasons.append(Reason("no_evidence_yet", f"{row.name} shows no significant difference ({_describe(row)}){extra}", variant, row.name))
    return "continue", reasons


def _describe(row: MetricResult) -> str:
    parts = [f"effect {_number(row.effect)}"]
    if row.relative_effect is not None:
        parts.append(f"{row.relative_effect:+.2%} relative")
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
