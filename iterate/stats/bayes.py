"""Gaussian Bayesian summaries of an effect: posterior, chance to beat control, expected loss.

The observed effect ``d`` (``treatment - control``) with standard error
``se`` is, for large samples, a normal likelihood for the true effect
``delta``: ``d | delta ~ N(delta, se**2)``. With a normal prior
``delta ~ N(m0, s0**2)`` the posterior is normal (conjugate update of a
normal mean with known variance; Gelman et al. 2013, "Bayesian Data
Analysis", 3rd ed., §2.5; applied to A/B tests by Deng 2015, "Objective
Bayesian Two Sample Hypothesis Testing for Online Controlled Experiments",
WWW'15 Companion, which learns ``s0`` from past experiments):

    precision = 1 / se**2 + 1 / s0**2
    posterior_mean = (d / se**2 + m0 / s0**2) / precision
    posterior_std = 1 / sqrt(precision)

A flat prior (``prior_std=None``) gives ``N(d, se**2)``. The same summaries
are computed from this posterior ``N(m, s**2)``, with ``g = delta`` if an
increase is good and ``g = -delta`` otherwise:

- credible interval: ``m -/+ Phi^-1((1 + level) / 2) s`` (equal tails);
- chance to beat control: ``P(g > 0) = Phi(m_g / s)``;
- expected loss (Stucchio 2015, "Bayesian A/B Testing at VWO", the expected
  loss of a choice, ``E[max(theta_other - theta_chosen, 0)]``): shipping loses
  ``E[max(0, -g)]``, not shipping loses ``E[max(0, g)]``. For ``X ~ N(m, s**2)``,
  ``E[max(0, X)] = m Phi(m / s) + s phi(m / s)`` (the mean of a normal
  truncated at 0 times its probability), so no simulation is needed.
  The two losses differ by ``m_g``.

The relative effect ``d / control_mean`` gets the same treatment from its
delta-method standard error (Deng, Knoblich & Lu 2018, "Applying the Delta
Method in Metric Analytics", KDD), with the prior scaled by ``|control_mean|``.

Example:
    >>> from iterate.stats.bayes import bayesian_summary
    >>> b = bayesian_summary(0.3, 0.1, control_mean=10.0)
    >>> round(b.chance_to_beat_control, 4), round(b.expected_loss_ship, 6), round(b.expected_loss_keep, 6)
    (0.9987, 3.8e-05, 0.300038)
    >>> round(b.ci_low, 4), round(b.ci_high, 4)
    (0.104, 0.496)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from iterate.errors import StatsError
from iterate.stats.distributions import ndtr, ndtri
from iterate.stats.estimate import Status, check_alpha
from iterate.stats.moments import Moments
from iterate.stats.proportions import bernoulli_moments
from iterate.stats.ratio import RatioMoments, _as_ratio, degenerate_estimate

Direction = Literal["increase", "decrease"]
"""Which way the metric is good."""

DIRECTIONS: tuple[str, ...] = get_args(Direction)

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True, slots=True)
class BayesianResult:
    """Normal posterior of an effect and the decision summaries derived from it.

    Absolute fields describe ``treatment - control``; ``relative_*`` fields
    describe ``treatment / control - 1``. Nothing is invented for a
    degenerate case: ``status`` says why fields are ``None``.

    - ``too_few_units`` / ``zero_denominator``: the comparison cannot be
      made (see :class:`iterate.stats.Estimate`); the observed effect is
      kept when it is defined, posterior fields are ``None``.
    - ``zero_variance``: the standard error is 0; posterior fields are ``None``.
    - Relative posterior fields are ``None`` when the control mean is 0 or
      unknown, or no relative standard error was given.

    Attributes:
        method: ``"normal_flat_prior"`` or ``"normal_normal_prior"``.
        status: ``"ok"``, ``"zero_variance"``, ``"too_few_units"`` or ``"zero_denominator"``.
        direction: ``"increase"`` or ``"decrease"``: which way is good.
        credible_level: Probability inside the credible intervals.
        prior_mean: Prior mean of the absolute effect.
        prior_std: Prior standard deviation of the absolute effect (None: flat).
        control_mean: Control mean (for the relative effect).
        effect: Observed effect ``treatment - control``.
        std_error: Its standard error.
        posterior_mean: Posterior mean of the effect.
        posterior_std: Posterior standard deviation of the effect.
        ci_low: Lower bound of the equal-tailed credible interval.
        ci_high: Upper bound of the credible interval.
        chance_to_beat_control: Posterior probability that the effect is in the good direction.
        expected_loss_ship: ``E[max(0, -effect_good)]``, in the metric's units.
        expected_loss_keep: ``E[max(0, effect_good)]``, the loss of not shipping.
        relative_effect: Observed ``effect / control_mean``.
        relative_std_error: Its standard error (delta method).
        relative_posterior_mean: Posterior mean of the relative effect.
        relative_posterior_std: Posterior standard deviation of the relative effect.
        relative_ci_low: Lower bound of its credible interval.
        relative_ci_high: Upper bound of its credible interval.
        relative_chance_to_beat_control: Posterior probability of a relative effect in the good direction.
        relative_expected_loss_ship: Expected relative loss of shipping.
        relative_expected_loss_keep: Expected relative loss of not shipping.

    Example:
        >>> b = bayesian_summary(-0.2, 0.1, control_mean=5.0, direction="decrease")
        >>> b.status, round(b.chance_to_beat_control, 4), b.relative_posterior_mean
        ('ok', 0.9772, None)
    """

    method: str
    status: Status
    direction: Direction
    credible_level: float
    prior_mean: float
    prior_std: float | None
    control_mean: float | None
    effect: float | None
    std_error: float | None
    posterior_mean: float | None
    posterior_std: float | None
    ci_low: float | None
    ci_high: float | None
    chance_to_beat_control: float | None
    expected_loss_ship: float | None
    expected_loss_keep: float | None
    relative_effect: float | None
    relative_std_error: float | None
    relative_posterior_mean: float | None
    relative_posterior_std: float | None
    relative_ci_low: float | None
    relative_ci_high: float | None
    relative_chance_to_beat_control: float | None
    relative_expected_loss_ship: float | None
    relative_expected_loss_keep: float | None


def expected_positive_part(mean: float, std: float) -> float:
    """``E[max(0, X)]`` for ``X ~ N(mean, std**2)``: ``m Phi(m/s) + s phi(m/s)``.

    The partial expectation of a normal variable (the integral of
    ``x phi((x - m)/s) / s`` over ``x > 0``). With ``std == 0`` it is ``max(0, mean)``.

    Raises:
        StatsError: If ``std`` is negative or a value is not finite.

    Example:
        >>> round(expected_positive_part(0.0, 1.0), 6)  # 1 / sqrt(2 pi)
        0.398942
        >>> expected_positive_part(-2.0, 0.0)
        0.0
    """
    if not (math.isfinite(mean) and math.isfinite(std)) or std < 0:
        raise StatsError(f"mean == {mean!r}, std == {std!r}, must be finite with std >= 0")
    if std == 0:
        return max(0.0, mean)
    ratio = mean / std
    value = mean * float(ndtr(ratio)) + std * _INV_SQRT_2PI * math.exp(-0.5 * ratio * ratio)
    return max(0.0, value)


def _posterior(
    effect: float, std_error: float, prior_mean: float, prior_std: float | None
) -> tuple[float, float]:
    if prior_std is None:
        return effect, std_error
    data_precision = 1.0 / std_error**2
    prior_precision = 1.0 / prior_std**2
    precision = data_precision + prior_precision
    mean = (effect * data_precision + prior_mean * prior_precision) / precision
    return mean, 1.0 / math.sqrt(precision)


def _summaries(
    mean: float, std: float, direction: str, level: float
) -> tuple[float, float, float, float, float]:
    """``(ci_low, ci_high, chance_to_beat, loss_ship, loss_keep)`` of the posterior ``N(mean, std**2)``."""
    half_width = float(ndtri(0.5 + level / 2)) * std
    good = mean if direction == "increase" else -mean
    chance = float(ndtr(good / std))
    loss_ship = expected_positive_part(-good, std)
    loss_keep = expected_positive_part(good, std)
    return mean - half_width, mean + half_width, chance, loss_ship, loss_keep


def _check_number(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise StatsError(f"{name} == {value!r}, must be a finite number")
    return float(value)


def _check_prior_std(prior_std: float | None) -> float | None:
    if prior_std is None:
        return None
    value = _check_number(prior_std, "prior_std")
    if value <= 0:
        raise StatsError(f"prior_std == {prior_std!r}, must be > 0 (or None for a flat prior)")
    return value


def _check_std_error(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    number = _check_number(value, name)
    if number < 0:
        raise StatsError(f"{name} == {value!r}, must be >= 0")
    return number


def _result(
    *,
    status: Status,
    direction: str,
    credible_level: float,
    prior_mean: float,
    prior_std: float | None,
    control_mean: float | None,
    effect: float | None,
    std_error: float | None,
    relative_std_error: float | None,
) -> BayesianResult:
    relative_effect = effect / control_mean if effect is not None and control_mean else None
    absolute: tuple[float | None, ...] = (None,) * 7
    relative: tuple[float | None, ...] = (None,) * 7
    if status == "ok" and effect is not None and std_error:
        mean, std = _posterior(effect, std_error, prior_mean, prior_std)
        absolute = (mean, std, *_summaries(mean, std, direction, credible_level))
        if relative_effect is not None and control_mean and relative_std_error:
            rel_mean, rel_std = _posterior(
                relative_effect, relative_std_error, prior_mean / control_mean,
                None if prior_std is None else prior_std / abs(control_mean),
            )
            relative = (rel_mean, rel_std, *_summaries(rel_mean, rel_std, direction, credible_level))
    return BayesianResult(
        "normal_flat_prior" if prior_std is None else "normal_normal_prior",
        status,
        direction,  # type: ignore[arg-type]
        credible_level,
        prior_mean,
        prior_std,
        control_mean,
        effect,
        std_error,
        *absolute,
        relative_effect,
        relative_std_error if relative_effect is not None else None,
        *relative,
    )


def _check_options(direction: str, prior_mean: float, prior_std: float | None,
                   credible_level: float) -> tuple[float, float | None]:
    if direction not in DIRECTIONS:
        raise StatsError(f"direction == {direction!r}, must be one of {', '.join(DIRECTIONS)}")
    check_alpha(credible_level, "credible_level")
    return _check_number(prior_mean, "prior_mean"), _check_prior_std(prior_std)


def _scale_prior(prior_mean: float, prior_std: float | None,
                 control_mean: float) -> tuple[float, float | None]:
    """A prior on the relative effect, expressed on the absolute effect."""
    return prior_mean * control_mean, None if prior_std is None else prior_std * abs(control_mean)


def bayesian_summary(
    effect: float,
    std_error: float,
    *,
    control_mean: float | None,
    direction: Direction = "increase",
    prior_mean: float = 0.0,
    prior_std: float | None = None,
    relative_std_error: float | None = None,
    relative_prior: bool = False,
    credible_level: float = 0.95,
) -> BayesianResult:
    """Posterior of an effect from its estimate and standard error (normal likelihood).

    Formulas in the module docstring. Any estimator's ``effect`` and
    ``std_error`` (Welch, delta method, CUPED, proportions) can be passed.

    Args:
        effect: Observed ``treatment - control``.
        std_error: Its standard error, >= 0 (0 gives ``zero_variance``).
        control_mean: Control mean, for the relative effect (None or 0: no relative fields).
        direction: ``"increase"`` if higher is better, ``"decrease"`` otherwise.
        prior_mean: Prior mean of the effect.
        prior_std: Prior standard deviation of the effect, > 0; None for a flat prior.
        relative_std_error: Standard error of ``effect / control_mean`` (delta
            method, e.g. ``sqrt(Var(t)/c**2 + t**2 Var(c)/c**4)``); without
            it the relative posterior is not computed.
        relative_prior: ``prior_mean`` and ``prior_std`` are fractions of
            ``|control_mean|`` (as the ``prior_std`` configuration key).
        credible_level: Probability inside the credible intervals, in (0, 1).

    Returns:
        The :class:`BayesianResult`.

    Raises:
        StatsError: On a non-finite number, a negative standard error, a
            non-positive prior standard deviation or a bad level or direction.

    Example:
        >>> b = bayesian_summary(0.3, 0.1, control_mean=10.0, prior_std=0.1)
        >>> round(b.posterior_mean, 4), round(b.posterior_std, 4)  # halfway: equal precisions
        (0.15, 0.0707)
        >>> b.method, b.relative_posterior_mean is None
        ('normal_normal_prior', True)
    """
    effect = _check_number(effect, "effect")
    std_error = _check_std_error(std_error, "std_error")
    relative_std_error = _check_std_error(relative_std_error, "relative_std_error")
    if control_mean is not None:
        control_mean = _check_number(control_mean, "control_mean")
    prior_mean, prior_std = _check_options(direction, prior_mean, prior_std, credible_level)
    if relative_prior:
        if not control_mean:
            raise StatsError(f"relative_prior=True with control_mean == {control_mean!r}: a "
                             "relative prior needs a nonzero control mean to scale it")
        prior_mean, prior_std = _scale_prior(prior_mean, prior_std, control_mean)
    return _result(
        status="ok" if std_error else "zero_variance",
        direction=direction,
        credible_level=credible_level,
        prior_mean=prior_mean,
        prior_std=prior_std,
        control_mean=control_mean,
        effect=effect,
        std_error=std_error,
        relative_std_error=relative_std_error,
    )


def bayesian_comparison(
    control: Moments | RatioMoments,
    treatment: Moments | RatioMoments,
    *,
    direction: Direction = "increase",
    prior_mean: float = 0.0,
    prior_std: float | None = None,
    relative_prior: bool = False,
    credible_level: float = 0.95,
    binary: bool = False,
) -> BayesianResult:
    """:func:`bayesian_summary` of two arms' moments (a mean, a proportion or a ratio metric).

    One variance convention with :func:`bayesian_summary` of a test's
    estimate: each arm's variance is the one the frequentist test's interval
    uses, so the two entry points give the same posterior on the same data.

    - ``binary=True`` (a proportion, e.g. :meth:`Moments.from_proportion`):
      the Bernoulli variance ``p (1 - p) / n``, recomputed from the proportion
      as :func:`iterate.stats.two_proportion_z_test` does for its Wald interval
      and standard error (the given sample variance, ``p (1 - p) n / (n - 1)``
      for 0/1 values, is ignored). It is also the large-sample variance of the
      exact Beta posterior of ``p``.
    - otherwise (means, ratios): :attr:`RatioMoments.ratio_variance`, the
      delta method of Deng, Knoblich & Lu (2018) that Welch's t test and
      :func:`iterate.stats.delta_method_test` use (for a mean, the sample
      ``variance / n``).

    With ``Var(r_a)`` so defined, ``se**2 = Var(r_c) + Var(r_t)``. The
    relative effect ``r_t / r_c - 1`` has the delta-method variance of a
    ratio of independent estimates (a normal approximation of its posterior):

        Var(r_t / r_c) ~= Var(r_t) / r_c**2 + r_t**2 Var(r_c) / r_c**4

    Args:
        control: Control moments (``Moments`` or ``RatioMoments``).
        treatment: Treatment moments.
        direction: ``"increase"`` if higher is better, ``"decrease"`` otherwise.
        prior_mean: Prior mean of the absolute effect.
        prior_std: Prior standard deviation of the absolute effect; None for flat.
        relative_prior: The prior is on the relative effect instead.
        credible_level: Probability inside the credible intervals.
        binary: The arms are 0/1 metrics (``Moments`` whose means are
            proportions): Bernoulli variances, as the two-proportion z test.

    Returns:
        The :class:`BayesianResult`; ``too_few_units`` when an arm has fewer
        than 2 units, ``zero_denominator`` when a denominator mean is 0 (or
        the control value is 0 under a relative prior), ``zero_variance``
        when both arm variances are 0.

    Raises:
        StatsError: On invalid moments or arguments (with ``binary``, arms
            that are not ``Moments`` or means outside [0, 1]).

    Example:
        >>> c, t = Moments.from_proportion(8502, 44700), Moments.from_proportion(8279, 45489)
        >>> b = bayesian_comparison(c, t, binary=True)
        >>> round(b.chance_to_beat_control, 4), round(b.relative_chance_to_beat_control, 4)
        (0.0008, 0.0006)
    """
    prior_mean, prior_std = _check_options(direction, prior_mean, prior_std, credible_level)
    if binary:
        for name, arm in (("control", control), ("treatment", treatment)):
            if not isinstance(arm, Moments):
                raise StatsError(f"{name} of type {type(arm).__name__} with binary=True, must be Moments")
        control, treatment = bernoulli_moments(control, "control"), bernoulli_moments(treatment, "treatment")
    control, treatment = _as_ratio(control), _as_ratio(treatment)
    degenerate = degenerate_estimate("bayes", control, treatment,
                                     alternative="two-sided", alpha=0.05)
    control_value = treatment_value = None
    std_error = relative_std_error = None
    if degenerate is None:
        control_value, treatment_value = control.ratio, treatment.ratio
        var_c, var_t = control.ratio_variance, treatment.ratio_variance
        std_error = math.sqrt(var_c + var_t)
        if control_value != 0:
            relative_std_error = math.sqrt(
                var_t / control_value**2 + treatment_value**2 * var_c / control_value**4
            )
        status: Status = "ok" if std_error > 0 else "zero_variance"
    else:
        status = degenerate.status
        control_value, treatment_value = degenerate.control_mean, degenerate.treatment_mean
    effect = None
    if control_value is not None and treatment_value is not None:
        effect = treatment_value - control_value
    if relative_prior:
        if control_value:
            prior_mean, prior_std = _scale_prior(prior_mean, prior_std, control_value)
        elif status == "ok" or status == "zero_variance":
            status = "zero_denominator"  # a relative prior has no scale when the control is 0
    return _result(
        status=status,
        direction=direction,
        credible_level=credible_level,
        prior_mean=prior_mean,
        prior_std=prior_std,
        control_mean=control_value,
        effect=effect,
        std_error=std_error,
        relative_std_error=relative_std_error,
    )
