"""Post-stratified estimate of a treatment effect over strata (the stages of a staged ramp).

When the share of treated units changes from stratum to stratum (a ramp 1% -> 5% -> 25% -> 50%)
and the outcome drifts over time in both arms, the difference of the pooled arm means is biased
(Simpson's paradox): late, high-outcome units are over-represented in the treatment. Comparing
within each stratum and weighting the within-stratum effects by the stratum's share of all units
removes that bias (Miratrix, Sekhon & Yu 2013, "Adjusting treatment effect estimates by
post-stratification in randomized experiments", JRSS-B 75(2), eq. 2 for the estimator and
eq. 6 for its variance given the strata sizes):

    effect = sum_s w_s d_s,   w_s = n_s / N,   var(effect) = sum_s w_s^2 se_s^2,

with ``d_s`` the effect within stratum s (treatment mean - control mean), ``se_s`` its standard
error, ``n_s`` the stratum's units (both arms) and ``N`` the units of all strata. The strata are
independent (each unit is in one), so the variances add.

Example:
    >>> estimate = stratified_effect([0.10, 0.30], [0.05, 0.05], [100, 300], control_means=[1.0, 2.0])
    >>> round(estimate.effect, 4), round(estimate.std_error, 5), round(estimate.control_mean, 3)
    (0.25, 0.03953, 1.75)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StratifiedEstimate:
    """The post-stratified effect and its standard error.

    Attributes:
        effect: ``sum_s w_s d_s``.
        std_error: ``sqrt(sum_s w_s^2 se_s^2)``.
        weights: ``w_s = n_s / N`` of each stratum, in the order given.
        control_mean: The stratified control mean ``sum_s w_s c_s`` (the base of a relative
            effect), ``None`` without the control means.
        treatment_mean: The stratified treatment mean ``sum_s w_s t_s``, ``None`` without them.
    """

    effect: float
    std_error: float
    weights: tuple[float, ...]
    control_mean: float | None = None
    treatment_mean: float | None = None


def stratified_effect(
    effects: Sequence[float],
    std_errors: Sequence[float],
    units: Sequence[int],
    *,
    control_means: Sequence[float] | None = None,
    treatment_means: Sequence[float] | None = None,
) -> StratifiedEstimate:
    """The post-stratified effect over strata (Miratrix, Sekhon & Yu 2013, eqs. 2 and 6).

    Args:
        effects: The effect ``d_s`` within each stratum.
        std_errors: The standard error ``se_s`` of each ``d_s``.
        units: The units ``n_s`` of each stratum (both arms); the weights are ``n_s / N``.
        control_means: Each stratum's control mean, for the stratified control mean.
        treatment_means: Each stratum's treatment mean, for the stratified treatment mean.

    Raises:
        ValueError: the sequences differ in length, are empty, a count is negative, the units sum
            to 0, or a value is not finite.
    """
    sizes = {len(effects), len(std_errors), len(units)}
    sizes |= {len(means) for means in (control_means, treatment_means) if means is not None}
    if len(sizes) != 1:
        raise ValueError("effects, std_errors, units (and the means) must have one value per stratum")
    if not effects:
        raise ValueError("no stratum to combine")
    if any(n < 0 for n in units) or sum(units) <= 0:
        raise ValueError(f"units == {list(units)!r}: counts must be >= 0 and sum to more than 0")
    values = [*effects, *std_errors, *(control_means or ()), *(treatment_means or ())]
    if not all(math.isfinite(value) for value in values):
        raise ValueError("every effect, standard error and mean must be finite")
    total = sum(units)
    weights = tuple(n / total for n in units)
    effect = math.fsum(w * d for w, d in zip(weights, effects))
    variance = math.fsum(w * w * se * se for w, se in zip(weights, std_errors))

    def weighted(means: Sequence[float] | None) -> float | None:
        return None if means is None else math.fsum(w * m for w, m in zip(weights, means))

    return StratifiedEstimate(effect=effect, std_error=math.sqrt(variance), weights=weights,
                              control_mean=weighted(control_means), treatment_mean=weighted(treatment_means))
