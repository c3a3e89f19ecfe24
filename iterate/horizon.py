"""What would change a verdict, in units and days, and when no reachable sample can (futility).

Pure: metric rows and a few numbers about the traffic and the plan in, numbers and reasons out. The
power calculations are those of :mod:`iterate.stats.power` (the normal-approximation z test of a
difference of means, Chow, Shao & Wang 2008, "Sample Size Calculations in Clinical Research", 2nd
ed., §3.2.1 for equality and §3.2.2 for non-inferiority).

**The observed variance.** A row carries the standard error ``se`` of its effect with ``n_c`` and
``n_t`` units. The per-unit variance that gives that standard error with a common variance in
both arms is

    sigma^2 = se^2 n_c n_t / (n_c + n_t),   so that   se^2 = sigma^2 (1/n_c + 1/n_t).

It is exact for a Welch test with equal arm variances and is otherwise the variance that
reproduces the observed ``se`` at the observed sizes; the ratio of the arms stays as observed.
The sizes below are those of the smaller arm, ``n = min(n_c, n_t)``, with ``ratio = max / min``;
as both arms grow in that ratio, ``se`` shrinks as ``1/sqrt(n)``.

**Projection of a pending metric** (:func:`units_to_significance`, :func:`units_to_noninferiority`).
If the observed effect ``D`` is the true one, the test of ``D`` with standard error
``sigma sqrt((1 + 1/ratio) / n')`` reaches power ``1 - beta`` at (Chow, Shao & Wang §3.2.1)

    n' = (z_crit + z_beta)^2 sigma^2 (1 + 1/ratio) / D^2 = n ((z_crit + z_beta) / z)^2,   z = |D| / se,

solved exactly (both tails of a two-sided test counted) by
:func:`iterate.stats.power.sample_size_per_arm`; for a guardrail, ``D`` is the distance of the
observed effect from its margin, ``margin + effect toward good``, and ``z_crit`` one-sided
(:func:`iterate.stats.power.non_inferiority_sample_size`, §3.2.2). The extra units per arm are
``n' - n``. **The power is 80%** (``HORIZON_POWER``), not the 50% of ``z_beta = 0`` (the point where
an estimate exactly equal to the observed effect would just be significant): at 50% the
experiment stopped there would still miss a real effect of that size every other time, while 80%
is the convention of sample-size planning (``iterate plan``) and of the futility rule below, so
all three speak of the same power. The days are ``ceil(extra / daily)`` with ``daily`` the
smaller arm's units per day so far (its units over the days between the first exposure and the
data end): a constant arrival rate of new units is assumed.

**Alphas.** The ones the decision reads (:func:`iterate.decision.decide` classifies a success
metric on its family-corrected p-value against ``decision_alpha or alpha``; a guardrail's
non-inferiority is one-sided at that alpha, uncorrected). A success metric is projected at
``alpha / m``, ``m`` the number of tested success rows of all variants (the family that
:func:`iterate.comparisons.with_family_corrections` corrects; ``m = 1`` with ``correction =
"none"``): Holm (1979) and Bonferroni reject at least one hypothesis exactly when the smallest
p-value is at most ``alpha / m``, so that is the level at which the first success metric, the one
``ship`` needs, is shown; Benjamini-Hochberg rejects a p-value at most ``alpha / m`` whatever the
others are, so there the projection errs on the long side.

**Futility** (:func:`futility`). With the largest reachable sample per arm ``n_max = n k``, ``k``
the smaller of ``planned_units / analyzed units`` and ``max_duration / elapsed days``, the MDE of
each success metric at power 80% and two-sided level ``alpha / m`` (``alpha`` the experiment's,
not a group-sequential look's smaller nominal level, so futility is never declared on an early
look's level), relative to the control mean (:func:`iterate.stats.power.minimum_detectable_effect`)
is compared with ``[experiment] mde``. When it exceeds ``mde`` for every success metric, no success
metric of interest can be shown; when a guardrail with a margin, not yet shown non-inferior, has
power below 80% to be shown so at ``n_max`` even if its true effect is 0
(:func:`iterate.stats.power.guardrail_power`), no release can be shown safe. Either makes the
verdict ``inconclusive`` early. Anytime-valid (sequential) tests need more units than the
fixed-horizon ones used here: their projections are lower bounds, and a fixed-horizon MDE above
``mde`` means an anytime-valid one above it too.

Example:
    >>> from iterate.horizon import Horizon
    >>> Horizon(elapsed_days=7.0, analyzed_units=14_000, planned_units=56_000).growth()
    (4.0, 'planned_units')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from iterate.errors import StatsError
from iterate.result import MetricResult, Reason, Verdict
from iterate.stats.power import (
    duration_days,
    guardrail_power,
    minimum_detectable_effect,
    non_inferiority_sample_size,
    sample_size_per_arm,
)

HORIZON_POWER = 0.8
"""Power at which projections and futility are computed (see the module docstring)."""

PENDING_RULES = ("no_evidence_yet", "not_yet_noninferior")
"""Reasons of metrics that more data could decide, which get their projection."""


@dataclass(frozen=True, slots=True)
class Horizon:
    """The observed traffic and the plan's limits: what projections need beyond the metric rows.

    Attributes:
        elapsed_days: Days between the first exposure and the data end (``None``: unknown, no days).
        analyzed_units: Analyzed units of all arms (what ``planned_units`` counts).
        planned_units: Planned analyzed units of all arms, or ``None``.
        max_duration_days: Planned maximum duration in days, or ``None``.
        mde: Relative minimum effect of interest of the success metrics (0.02 is +2%), or ``None``.
        correction: Multiple-comparison correction of the success family (``none`` or another).
    """

    elapsed_days: float | None = None
    analyzed_units: int = 0
    planned_units: int | None = None
    max_duration_days: float | None = None
    mde: float | None = None
    correction: str = "holm"

    def daily_rate(self, units: float) -> float | None:
        """Units a day of an arm that has ``units`` now, or ``None`` without elapsed time."""
        if not self.elapsed_days or self.elapsed_days <= 0 or units <= 0:
            return None
        return units / self.elapsed_days

    def growth(self) -> tuple[float, str] | None:
        """Factor ``k >= 1`` by which every arm can still grow, and which limit sets it
        (``planned_units`` or ``max_duration``); ``None`` without a limit or traffic to scale."""
        limits = []
        if self.planned_units is not None and self.analyzed_units > 0:
            limits.append((self.planned_units / self.analyzed_units, "planned_units"))
        if self.max_duration_days is not None and self.elapsed_days and self.elapsed_days > 0:
            limits.append((self.max_duration_days / self.elapsed_days, "max_duration"))
        if not limits:
            return None
        factor, limit = min(limits)
        return max(1.0, factor), limit

    def days_left(self) -> int | None:
        """Whole days (rounded up) until the reachable sample, at the observed traffic."""
        grown = self.growth()
        if grown is None or not self.elapsed_days or self.elapsed_days <= 0:
            return None
        return math.ceil(self.elapsed_days * (grown[0] - 1) * (1 - 1e-12))


@dataclass(frozen=True, slots=True)
class ArmDesign:
    """A row's arms as the power functions see them: the smaller arm, the ratio of the larger to
    it, and the common per-unit variance that gives the row's standard error."""

    units: int
    ratio: float
    variance: float


def arm_design(row: MetricResult) -> ArmDesign | None:
    """``sigma^2 = se^2 n_c n_t / (n_c + n_t)`` on the smaller arm (module docstring); ``None``
    without a positive standard error or units in both arms."""
    if not row.std_error or row.std_error <= 0 or row.n_control <= 0 or row.n_treatment <= 0:
        return None
    small, large = sorted((row.n_control, row.n_treatment))
    variance = row.std_error ** 2 * small * large / (small + large)
    return ArmDesign(small, large / small, variance)


def success_family_size(rows: Sequence[MetricResult], correction: str) -> int:
    """Number ``m`` of tested success rows (all variants): the success family's correction divides by it."""
    if correction == "none":
        return 1
    return max(1, sum(1 for row in rows if row.role == "success" and row.p_value is not None))


def decision_alpha(row: MetricResult) -> float:
    """The level the decision compares this row with now: a group-sequential look's, else the experiment's."""
    return row.decision_alpha or row.alpha


def units_to_significance(row: MetricResult, *, alpha: float | None = None, power: float = HORIZON_POWER) -> int | None:
    """Extra units per arm (the smaller arm) after which a test of the observed effect, were it the
    true one, is significant at two-sided ``alpha`` with probability ``power``.

    ``n' = n ((z_{1-alpha/2} + z_power) / z)^2`` with ``z = |effect| / se`` (module docstring),
    solved by :func:`iterate.stats.power.sample_size_per_arm`. ``alpha`` defaults to the row's
    decision level (pass the success family's, ``alpha / m``). ``None`` when there is no effect
    or no standard error to scale.

    Example:
        >>> from iterate.result import MetricResult
        >>> row = MetricResult("m", "b", "success", "mean", "increase", "welch", "ok", 1000, 1000, 1.0, 1.1,
        ...                    0.1, None, None, None, None, None, 0.16, 0.16, 0.0707, 0.05, "no_difference")
        >>> units_to_significance(row)
        2924
    """
    design = arm_design(row)
    if design is None or not row.effect:
        return None
    needed = _solved(lambda: sample_size_per_arm(variance=design.variance, mde=abs(row.effect), ratio=design.ratio,
                                                 alpha=decision_alpha(row) if alpha is None else alpha, power=power))
    return None if needed is None else max(0, needed - design.units)


def units_to_noninferiority(row: MetricResult, *, alpha: float | None = None,
                            power: float = HORIZON_POWER) -> int | None:
    """Extra units per arm (the smaller arm) after which a guardrail whose true effect is the
    observed one is shown non-inferior (one-sided at ``alpha``) with probability ``power``.

    ``n' = n ((z_{1-alpha} + z_power) / z)^2`` with ``z = (margin + effect toward good) / se``
    (Chow, Shao & Wang 2008, §3.2.2), solved by
    :func:`iterate.stats.power.non_inferiority_sample_size`. ``None`` without a margin, or when the
    observed effect is at or beyond the margin (no sample shows it non-inferior).
    """
    design = arm_design(row)
    if design is None or row.noninferiority_margin is None or row.effect is None or row.noninferiority_margin <= 0:
        return None
    needed = _solved(lambda: non_inferiority_sample_size(
        row.noninferiority_margin, variance=design.variance, true_effect=row.effect, direction=row.direction,
        ratio=design.ratio, alpha=decision_alpha(row) if alpha is None else alpha, power=power))
    return None if needed is None else max(0, needed - design.units)


def reachable_mde(row: MetricResult, units: float, *, alpha: float, power: float = HORIZON_POWER) -> float | None:
    """Relative MDE of a success metric with ``units`` in its smaller arm: the smallest effect the
    two-sided test at ``alpha`` detects with probability ``power``, given the row's variance
    (:func:`iterate.stats.power.minimum_detectable_effect`), over ``|control mean|``. ``None``
    without a variance or a nonzero control mean."""
    design = arm_design(row)
    if design is None or not row.control_mean:
        return None
    absolute = _solved(lambda: minimum_detectable_effect(units, variance=design.variance, ratio=design.ratio,
                                                         alpha=alpha, power=power))
    return None if absolute is None else absolute / abs(row.control_mean)


def noninferiority_power(row: MetricResult, units: float, *, alpha: float) -> float | None:
    """Power of a guardrail's one-sided non-inferiority test at ``alpha`` with ``units`` in the
    smaller arm when its true effect is 0 (:func:`iterate.stats.power.guardrail_power`)."""
    design = arm_design(row)
    if design is None or not row.noninferiority_margin or row.noninferiority_margin <= 0:
        return None
    return _solved(lambda: guardrail_power(units, row.noninferiority_margin, variance=design.variance,
                                           ratio=design.ratio, alpha=alpha, direction=row.direction))


def _solved(compute):  # noqa: ANN001, ANN202 - a power calculation, None when it has no solution
    try:
        return compute()
    except StatsError:
        return None


@dataclass(frozen=True, slots=True)
class Projection:
    """One pending metric's projection: extra units of its smaller arm and the days at its traffic."""

    extra_units_per_arm: int | None
    days: int | None
    daily_units_per_arm: float | None
    alpha: float
    remaining_units_per_arm: float | None

    @property
    def within_plan(self) -> bool | None:
        """Whether the projected units still fit before ``planned_units`` / ``max_duration``."""
        if self.extra_units_per_arm is None or self.remaining_units_per_arm is None:
            return None
        return self.extra_units_per_arm <= self.remaining_units_per_arm

    def details(self) -> dict[str, Any]:
        """The numbers as plain values (``Reason.details``)."""
        return {"extra_units_per_arm": self.extra_units_per_arm, "days": self.days,
                "daily_units_per_arm": self.daily_units_per_arm, "alpha": self.alpha, "power": HORIZON_POWER,
                "within_plan": self.within_plan}


def project(row: MetricResult, horizon: Horizon, family_size: int) -> Projection:
    """The projection of a pending success metric (at ``alpha / m``) or guardrail (one-sided at alpha)."""
    if row.role == "success":
        alpha = decision_alpha(row) / family_size
        extra = units_to_significance(row, alpha=alpha) if _toward_good(row) > 0 else None
    else:
        alpha = decision_alpha(row)
        extra = units_to_noninferiority(row, alpha=alpha)
    smaller = min(row.n_control, row.n_treatment)
    daily = horizon.daily_rate(smaller)
    days = None if extra is None or daily is None else duration_days(extra, daily, arms=1)
    grown = horizon.growth()
    remaining = None if grown is None else smaller * (grown[0] - 1)
    return Projection(extra, days, daily, alpha, remaining)


def _toward_good(row: MetricResult) -> float:
    effect = row.effect or 0.0
    return effect if row.direction == "increase" else -effect


def _when(projection: Projection) -> str:
    """``about N more units per arm (about D more days at R units per arm a day)``."""
    text = f"about {projection.extra_units_per_arm:,} more units per arm"
    if projection.days is not None:
        text += f" (about {projection.days:,} more days at {projection.daily_units_per_arm:,.1f} units per arm a day)"
    if projection.within_plan is False:
        text += f", beyond the planned end ({projection.remaining_units_per_arm:,.0f} more units per arm reachable)"
    return text


def with_projection(reason: Reason, row: MetricResult, horizon: Horizon, family_size: int) -> Reason:
    """A pending metric's reason with its projection in the message and in ``details``."""
    projection = project(row, horizon, family_size)
    if projection.extra_units_per_arm is None:
        why = ("the observed effect is beyond the margin in the bad direction" if row.role != "success"
               else "the observed effect is 0 or in the bad direction")
        text = f"; no projection: {why}, so more data of the same kind would not show it"
    elif row.role == "success":
        text = (f"; if this effect is the true one, {HORIZON_POWER:.0%} power to show it significant (two-sided "
                f"alpha {projection.alpha:.3g}) needs {_when(projection)}")
    else:
        text = (f"; if this effect is the true one, {HORIZON_POWER:.0%} power to show it non-inferior (one-sided "
                f"alpha {projection.alpha:.3g}) needs {_when(projection)}")
    return replace(reason, message=reason.message + text, details={**reason.details, **projection.details()})


def verdict_horizon(variant: str, rows: Sequence[MetricResult], horizon: Horizon, family_size: int,
                    shortfall: str | None) -> Reason:
    """When the variant could be shipped, if the observed effects held: ship needs one success
    metric better (the quickest pending one, unless one already is) and every guardrail with a margin
    non-inferior (the slowest pending one), so the extra units are the larger of those two numbers."""
    successes = [row for row in rows if row.role == "success"]
    guarded = [row for row in rows if row.role == "guardrail" and row.noninferior is not None]
    blind = [row.name for row in rows if row.status == "no_data" and row.role != "success"]
    unproven = [row for row in guarded if not row.noninferior and row.status != "no_data"]
    obstacles: list[str] = []
    if not successes and not guarded:
        obstacles.append("no success metric and no guardrail margin can show the release good")
    if blind:
        obstacles.append(f"{', '.join(blind)} without data cannot show the release safe")
    needs: list[tuple[Projection, MetricResult]] = []
    if successes and not any(row.outcome == "better" for row in successes):
        candidates = [(project(row, horizon, family_size), row) for row in successes if row.outcome != "not_tested"]
        candidates = [(p, row) for p, row in candidates if p.extra_units_per_arm is not None]
        if candidates:
            needs.append(min(candidates, key=lambda item: (item[0].extra_units_per_arm, item[1].name)))
        else:
            obstacles.append("no success metric has an observed effect in its good direction to project")
    for row in unproven:
        projection = project(row, horizon, family_size)
        if projection.extra_units_per_arm is None:
            obstacles.append(f"the observed effect of guardrail {row.name} is beyond its margin")
        else:
            needs.append((projection, row))
    if obstacles:
        return Reason("verdict_horizon", f"no projection to ship: {'; '.join(obstacles)}", variant,
                      details={"extra_units_per_arm": None, "days": None, "daily_units_per_arm": None})
    if not needs:
        return Reason("verdict_horizon", f"ship needs no more metric evidence, only: {shortfall or 'nothing'}", variant,
                      details={"extra_units_per_arm": 0, "days": 0, "daily_units_per_arm": None})
    projection, binding = max(needs, key=lambda item: (item[0].extra_units_per_arm, item[1].name))
    parts = ", ".join(f"{row.name} {p.extra_units_per_arm:,}" for p, row in needs)
    message = (f"if the observed effects are the true ones, ship needs {_when(projection)} "
               f"({HORIZON_POWER:.0%} power for each metric it waits for: {parts})")
    if shortfall:
        message += f"; also {shortfall}"
    details = projection.details()
    details["binding_metric"] = binding.name
    return Reason("verdict_horizon", message, variant, binding.name, details)


def futility(variant: str, rows: Sequence[MetricResult], horizon: Horizon, family_size: int) -> Reason | None:
    """A ``futility`` reason when the reachable sample cannot show what ``ship`` needs, else ``None``.

    Futile when (a) ``horizon.mde`` is set, no success metric is better yet, and every success
    metric's MDE at the reachable sample (power 80%, two-sided ``alpha / m``) exceeds ``mde``; or
    (b) a guardrail with a margin, not yet non-inferior, has power below 80% at the reachable sample
    with a true effect of 0. No limit (``planned_units``, ``max_duration``) or no traffic: never
    futile; a success metric without a variance or a control mean makes (a) not apply.
    """
    grown = horizon.growth()
    if grown is None:
        return None
    limit, days = grown[1], horizon.days_left()
    findings: list[dict[str, Any]] = []
    successes = [row for row in rows if row.role == "success"]
    if horizon.mde is not None and successes and not any(row.outcome == "better" for row in successes):
        found = [_success_finding(row, horizon, horizon.mde, family_size) for row in successes]
        if all(item is not None and item["reachable_mde"] > horizon.mde for item in found):
            findings += found
    for row in rows:
        if row.role == "guardrail" and row.noninferior is not None and not row.noninferior and row.status != "no_data":
            item = _guardrail_finding(row, horizon)
            if item is not None and item["power"] < HORIZON_POWER:
                findings.append(item)
    if not findings:
        return None
    reachable = f"the {limit} limit" if limit == "max_duration" else "the planned units"
    when = "" if days is None else f", reached in about {days:,} more days at the observed traffic"
    message = f"futile: at {reachable}{when}, {'; '.join(item['text'] for item in findings)}"
    details = {"limit": limit, "days": days, "metrics": [{k: v for k, v in item.items() if k != "text"}
                                                          for item in findings]}
    return Reason("futility", message, variant, None, details)


def _reachable(row: MetricResult, horizon: Horizon) -> tuple[float, dict[str, Any]] | None:
    """The smaller arm's reachable units ``n k`` and the numbers every finding names."""
    design, grown = arm_design(row), horizon.growth()
    if design is None or grown is None:
        return None
    units = design.units * grown[0]
    return units, {"metric": row.name, "reachable_units_per_arm": math.floor(units), "days": horizon.days_left(),
                   "daily_units_per_arm": horizon.daily_rate(design.units)}


def _success_finding(row: MetricResult, horizon: Horizon, mde: float, family_size: int) -> dict[str, Any] | None:
    reachable = _reachable(row, horizon)
    alpha = row.alpha / family_size
    detectable = None if reachable is None else reachable_mde(row, reachable[0], alpha=alpha)
    if detectable is None:
        return None
    units, numbers = reachable
    return {**numbers, "reachable_mde": detectable, "mde": mde, "alpha": alpha,
            "text": f"{row.name} could detect only {detectable:.2%} or more (relative, {HORIZON_POWER:.0%} power, "
                    f"alpha {alpha:.3g}) with {math.floor(units):,} units per arm, above the mde {mde:.2%}"}


def _guardrail_finding(row: MetricResult, horizon: Horizon) -> dict[str, Any] | None:
    reachable = _reachable(row, horizon)
    power = None if reachable is None else noninferiority_power(row, reachable[0], alpha=row.alpha)
    if power is None:
        return None
    units, numbers = reachable
    return {**numbers, "power": power, "margin": row.noninferiority_margin, "alpha": row.alpha,
            "text": f"guardrail {row.name} would be shown non-inferior (margin {row.noninferiority_margin:.4g}) "
                    f"with only {power:.0%} power with {math.floor(units):,} units per arm even if its true effect "
                    f"is 0"}


def outlook(verdict: Verdict, variant: str, rows: Sequence[MetricResult], reasons: list[Reason], horizon: Horizon,
            family_size: int, shortfall: str | None) -> tuple[Verdict, list[Reason]]:
    """The variant's verdict and reasons with what would change them: each pending metric's
    projection, then for ``continue`` either ``futility`` (``inconclusive`` early) or the
    ``verdict_horizon``. Futility is not judged below ``min_units_per_arm`` (``shortfall``): the
    variances it reads would be no evidence."""
    by_name = {row.name: row for row in rows}
    reasons = [with_projection(reason, by_name[reason.metric], horizon, family_size)
               if reason.rule in PENDING_RULES and reason.metric in by_name else reason for reason in reasons]
    if verdict != "continue":
        return verdict, reasons
    futile = None if shortfall else futility(variant, rows, horizon, family_size)
    if futile is not None:
        return "inconclusive", [futile, *reasons]
    return verdict, [*reasons, verdict_horizon(variant, rows, horizon, family_size, shortfall)]
