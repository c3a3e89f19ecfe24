"""Planning two-arm tests on means and proportions: sample size, power, MDE, duration.

Every function here describes the same normal-approximation z test of the
difference ``treatment - control``. With ``n`` control units, ``ratio * n``
treatment units and a true difference at distance ``D`` from the null
hypothesis, the estimate has standard deviation ``s0 / sqrt(n)`` under the
null and ``s1 / sqrt(n)`` under the alternative, and the power is

    power(n) = Phi((D sqrt(n) - z s0) / s1)  [+ Phi((-D sqrt(n) - z s0) / s1) if two-sided]

with ``z = Phi^-1(1 - alpha/2)`` (two-sided) or ``Phi^-1(1 - alpha)``
(one-sided). The second term, the rejections in the wrong tail of a
two-sided test, is usually dropped by textbooks; it is kept here so that
:func:`achieved_power` and :func:`sample_size_per_arm` are exact inverses.
Without it, ``s0 == s1 == s`` gives the familiar closed form (Chow, Shao &
Wang 2008, "Sample Size Calculations in Clinical Research", 2nd ed., §3.2.1,
test for equality of two means, large-sample form)

    n = (z + z_beta)**2 * s**2 / D**2,   s**2 = variance * (1 + 1/ratio)

which is the starting bracket of the exact solution.

Means (``variance`` given): ``s0 = s1 = sqrt(variance (1 + 1/ratio))``.

Proportions (``baseline`` is the control rate ``p_c``, ``p_t = p_c + effect``)
have a variance that depends on the rates, so ``proportion_variance`` says
where it is evaluated:

- ``"pooled"`` (default): the pooled z test that
  :func:`iterate.stats.two_proportion_z_test` runs. Null variance at the
  pooled rate ``p = (p_c + ratio p_t) / (1 + ratio)``, alternative variance
  unpooled (Fleiss, Levin & Paik 2003, "Statistical Methods for Rates and
  Proportions", 3rd ed., §4.2, sample size without continuity correction):
  ``s0 = sqrt(p q (1 + 1/ratio))``, ``s1 = sqrt(p_c q_c + p_t q_t / ratio)``.
  Same as ``statsmodels.stats.proportion.power_proportions_2indep``.
- ``"unpooled"``: the Wald test, unpooled variance under both hypotheses
  (Chow, Shao & Wang 2008, §4.2.1): ``s0 = s1 = sqrt(p_c q_c + p_t q_t / ratio)``.
- ``"evan_miller"``: Evan Miller's online calculator
  (evanmiller.org/ab-testing/sample-size.html), used by the Udacity A/B
  testing course: null variance as if both arms had the baseline rate,
  ``s0 = sqrt(p_c q_c (1 + 1/ratio))``, alternative variance unpooled, and the
  effect taken on whichever side, ``p_c + |effect|`` or ``p_c - |effect|``,
  needs more units (the side nearer 1/2). This is the formula that
  reproduces the published Udacity sizes, 25,835, 27,413 and 39,115 per
  group, rounded to the nearest unit as the calculator does (rounded up as
  here: 25,835, 27,414 and 39,115; see ``tests/stats/test_udacity_sizing.py``).
- ``"arcsine"``: Cohen's effect size ``h = 2 asin(sqrt(p_t)) - 2 asin(sqrt(p_c))``,
  whose estimate has variance ``1/n`` per arm (Cohen 1988, "Statistical
  Power Analysis for the Behavioral Sciences", 2nd ed., §6.2); ``D = |h|``,
  ``s0 = s1 = sqrt(1 + 1/ratio)``. Same as ``statsmodels``'
  ``proportion_effectsize`` with ``NormalIndPower``.

Non-inferiority (a guardrail): the one-sided test of ``H0: the effect is
margin or worse`` against ``H1: it is better than that``, with the true
effect (often 0) at distance ``D = margin + effect in the good direction``
from the null (Chow, Shao & Wang 2008, §3.2.2 for means and §4.2.2 for
proportions, where the variance is unpooled at the true rates).

CUPED (Deng, Xu, Kohavi & Walker 2013, "Improving the Sensitivity of Online
Controlled Experiments by Utilizing Pre-Experiment Data", WSDM, §3) leaves
``1 - rho**2`` of the variance, ``rho`` being the correlation of the metric
with its pre-exposure covariate: ``cuped_correlation`` multiplies ``s0**2``
and ``s1**2`` by ``1 - rho**2``.

Example:
    >>> from iterate.stats.power import achieved_power, sample_size_per_arm
    >>> n = sample_size_per_arm(baseline=0.20625, mde=0.01, proportion_variance="evan_miller")
    >>> n
    25835
    >>> round(achieved_power(n, 0.01, baseline=0.20625, proportion_variance="evan_miller"), 4)
    0.8
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from iterate.errors import StatsError
from iterate.stats.distributions import ndtr, ndtri
from iterate.stats.estimate import check_alpha

PowerAlternative = Literal["two-sided", "one-sided"]
"""Two-sided test, or one-sided in the direction of the effect (or of the margin)."""

ProportionVariance = Literal["pooled", "unpooled", "evan_miller", "arcsine"]
"""Where the variance of a difference of proportions is evaluated (see the module docstring)."""

Direction = Literal["increase", "decrease"]
"""Which way a metric is good."""

POWER_ALTERNATIVES: tuple[str, ...] = get_args(PowerAlternative)
PROPORTION_VARIANCES: tuple[str, ...] = get_args(ProportionVariance)
DIRECTIONS: tuple[str, ...] = get_args(Direction)

_BISECTIONS = 200  # halvings of the bracket: far below double precision
_CEIL_SLACK = 1e-12  # relative: 25835.000000000004 needs 25835 units, not 25836


@dataclass(frozen=True, slots=True)
class _Design:
    """One alternative: distance from the null and per-sqrt(n) standard deviations."""

    distance: float
    null_sd: float
    alternative_sd: float


# -- validation ---------------------------------------------------------------------------------


def _finite(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise StatsError(f"{name} == {value!r}, must be a finite number")
    return float(value)


def _positive(value: float, name: str) -> float:
    number = _finite(value, name)
    if number <= 0:
        raise StatsError(f"{name} == {value!r}, must be a finite number > 0")
    return number


def _check_choice(value: str, name: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise StatsError(f"{name} == {value!r}, must be one of {', '.join(choices)}")


def _variance_factor(cuped_correlation: float) -> float:
    rho = _finite(cuped_correlation, "cuped_correlation")
    if not -1 < rho < 1:
        raise StatsError(f"cuped_correlation == {cuped_correlation!r}, must be in (-1, 1)")
    return 1.0 - rho * rho


def _rate(value: float, name: str) -> float:
    rate = _finite(value, name)
    if not 0 < rate < 1:
        raise StatsError(f"{name} == {value!r}, must be a proportion in (0, 1)")
    return rate


def _critical(alpha: float, alternative: str) -> float:
    check_alpha(alpha)
    _check_choice(alternative, "alternative", POWER_ALTERNATIVES)
    tail = alpha / 2 if alternative == "two-sided" else alpha
    return float(-ndtri(tail))


def _absolute(amount: float, name: str, *, relative: bool, baseline: float | None) -> float:
    """``amount`` in the metric's units (a relative amount is a fraction of ``baseline``)."""
    value = _finite(amount, name)
    if not relative:
        return value
    if baseline is None:
        raise StatsError(f"relative=True needs the control mean as baseline, to scale {name}")
    base = _finite(baseline, "baseline")
    if base == 0:
        raise StatsError(f"baseline == 0 with relative=True, {name} must be absolute (relative=False)")
    return value * abs(base)


# -- designs ------------------------------------------------------------------------------------


def _mean_design(distance: float, variance: float, ratio: float, factor: float) -> _Design:
    sd = math.sqrt(variance * (1 + 1 / ratio) * factor)
    return _Design(abs(distance), sd, sd)


def _proportion_designs(
    baseline: float, effect: float, ratio: float, factor: float, method: str
) -> list[_Design]:
    """Designs of a test of proportions with ``p_t = baseline + effect`` (two for evan_miller)."""
    p_c = baseline
    if method == "evan_miller":
        sides = [abs(effect), -abs(effect)]
        sides = [side for side in sides if 0 < p_c + side < 1] or sides[:1]
    else:
        sides = [effect]
    designs = []
    for side in sides:
        p_t = _rate(p_c + side, "baseline + effect (treatment rate)")
        alternative_var = (p_c * (1 - p_c) + p_t * (1 - p_t) / ratio) * factor
        if method == "arcsine":
            h = 2 * math.asin(math.sqrt(p_t)) - 2 * math.asin(math.sqrt(p_c))
            sd = math.sqrt((1 + 1 / ratio) * factor)
            designs.append(_Design(abs(h), sd, sd))
            continue
        if method == "pooled":
            pooled = (p_c + ratio * p_t) / (1 + ratio)
            null_var = pooled * (1 - pooled) * (1 + 1 / ratio) * factor
        elif method == "evan_miller":
            null_var = p_c * (1 - p_c) * (1 + 1 / ratio) * factor
        else:
            null_var = alternative_var
        designs.append(_Design(abs(side), math.sqrt(null_var), math.sqrt(alternative_var)))
    return designs


def _designs(
    effect: float,
    *,
    variance: float | None,
    baseline: float | None,
    ratio: float,
    proportion_variance: str,
    cuped_correlation: float,
) -> list[_Design]:
    ratio = _positive(ratio, "ratio")
    factor = _variance_factor(cuped_correlation)
    _check_choice(proportion_variance, "proportion_variance", PROPORTION_VARIANCES)
    if variance is not None:
        return [_mean_design(effect, _positive(variance, "variance"), ratio, factor)]
    if baseline is None:
        raise StatsError("neither variance nor baseline is given: pass the per-unit variance of a "
                         "mean metric, or the control rate of a proportion as baseline")
    return _proportion_designs(_rate(baseline, "baseline"), effect, ratio, factor, proportion_variance)


def _noninferiority_design(
    margin: float,
    true_effect: float,
    *,
    variance: float | None,
    baseline: float | None,
    direction: str,
    relative: bool,
    ratio: float,
    cuped_correlation: float,
) -> _Design:
    _check_choice(direction, "direction", DIRECTIONS)
    margin_abs = _absolute(margin, "margin", relative=relative, baseline=baseline)
    if margin_abs <= 0:
        raise StatsError(f"margin == {margin!r}, must be > 0 for a non-inferiority test")
    effect = _absolute(true_effect, "true_effect", relative=relative, baseline=baseline)
    toward_good = effect if direction == "increase" else -effect
    distance = margin_abs + toward_good
    if distance <= 0:
        raise StatsError(
            f"true_effect == {true_effect!r} is at or beyond the margin {margin!r} in the bad "
            "direction, so no sample size can show non-inferiority; expected a true effect "
            "better than -margin"
        )
    design = _designs(effect, variance=variance, baseline=baseline, ratio=ratio,
                      proportion_variance="unpooled", cuped_correlation=cuped_correlation)[0]
    return _Design(distance, design.null_sd, design.alternative_sd)


# -- power and its inverses ---------------------------------------------------------------------


def _power(design: _Design, root_n: float, z: float, two_sided: bool) -> float:
    shift = design.distance * root_n
    power = float(ndtr((shift - z * design.null_sd) / design.alternative_sd))
    if two_sided:
        power += float(ndtr((-shift - z * design.null_sd) / design.alternative_sd))
    return power


def _bisect_increasing(function, low: float, high: float, target: float) -> float:  # noqa: ANN001
    """Root of an increasing ``function`` in ``[low, high]``, with ``function(high) >= target``."""
    for _ in range(_BISECTIONS):
        middle = 0.5 * (low + high)
        if middle in (low, high):
            break
        if function(middle) >= target:
            high = middle
        else:
            low = middle
    return high


def _root_n(design: _Design, power: float, z: float, two_sided: bool) -> float:
    """``sqrt(n)`` at which ``design`` reaches ``power`` (power increases with n)."""
    if design.distance == 0:
        raise StatsError("the effect is 0: no sample size detects it (expected a nonzero mde)")
    with_no_data = _power(design, 0.0, z, two_sided)
    if with_no_data >= power:
        raise StatsError(
            f"power == {power!r}, must exceed the test's rejection rate with no data "
            f"({with_no_data:.4g}); with equal variances that is alpha"
        )
    z_beta = float(ndtri(power))
    # One-tail closed form (Chow, Shao & Wang §3.2.1): power there is >= target, the far tail adding.
    high = max((z * design.null_sd + z_beta * design.alternative_sd) / design.distance, 0.0)
    while _power(design, high, z, two_sided) < power:  # only when z_beta < 0 pushes it below
        high = 2 * high + 1
    return _bisect_increasing(lambda x: _power(design, x, z, two_sided), 0.0, high, power)


def _check_power(power: float) -> float:
    check_alpha(power, "power")
    return float(power)


def _ceil(value: float) -> int:
    return math.ceil(value * (1 - _CEIL_SLACK))


def _resolve(alternative: str | None, proportion_variance: str | None, margin: float) -> tuple[str, str]:
    margin = _finite(margin, "margin")
    if margin < 0:
        raise StatsError(f"margin == {margin!r}, must be >= 0")
    if margin > 0:
        if alternative not in (None, "one-sided"):
            raise StatsError(f"alternative == {alternative!r} with margin > 0, a non-inferiority "
                             "test is one-sided (pass alternative='one-sided' or leave it out)")
        if proportion_variance not in (None, "unpooled"):
            raise StatsError(f"proportion_variance == {proportion_variance!r} with margin > 0: the "
                             "null is not 'equal rates', so there is no pooled rate; the variance is "
                             "unpooled at the true rates (leave it out)")
        return "one-sided", "unpooled"
    return alternative or "two-sided", proportion_variance or "pooled"


def unrounded_sample_size_per_arm(
    *,
    variance: float | None = None,
    baseline: float | None = None,
    mde: float,
    relative: bool = False,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: PowerAlternative | None = None,
    ratio: float = 1.0,
    margin: float = 0.0,
    proportion_variance: ProportionVariance | None = None,
    cuped_correlation: float = 0.0,
) -> float:
    """Control-arm size at which the test reaches ``power`` exactly, before rounding up.

    :func:`sample_size_per_arm` is its ceiling; this real-valued root is what
    other calculators and ``statsmodels``' ``solve_power`` return. Arguments
    as in :func:`sample_size_per_arm`.

    Example:
        >>> round(unrounded_sample_size_per_arm(baseline=0.1093125, mde=0.0075,
        ...                                     proportion_variance="evan_miller"), 2)
        27413.25
    """
    power = _check_power(power)
    alternative, method = _resolve(alternative, proportion_variance, margin)
    z = _critical(alpha, alternative)
    if margin > 0:
        designs = [_noninferiority_design(
            margin, mde, variance=variance, baseline=baseline, direction="increase",
            relative=relative, ratio=ratio, cuped_correlation=cuped_correlation,
        )]
    else:
        effect = _absolute(mde, "mde", relative=relative, baseline=baseline)
        if effect == 0:
            raise StatsError("mde == 0, must be nonzero (the smallest effect worth detecting)")
        designs = _designs(effect, variance=variance, baseline=baseline, ratio=ratio,
                           proportion_variance=method, cuped_correlation=cuped_correlation)
    two_sided = alternative == "two-sided"
    return max(_root_n(design, power, z, two_sided) ** 2 for design in designs)


def sample_size_per_arm(
    *,
    variance: float | None = None,
    baseline: float | None = None,
    mde: float,
    relative: bool = False,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: PowerAlternative | None = None,
    ratio: float = 1.0,
    margin: float = 0.0,
    proportion_variance: ProportionVariance | None = None,
    cuped_correlation: float = 0.0,
) -> int:
    """Units needed in the control arm (the treatment arm gets ``ratio`` times as many).

    Solves ``power(n) = power`` for the z test described in the module
    docstring and rounds up.

    Args:
        variance: Per-unit variance of a mean metric (the same in both arms).
        baseline: Control rate of a proportion metric (used when ``variance``
            is None), or the control mean that scales a relative ``mde`` or
            ``margin`` of a mean metric.
        mde: Minimum detectable effect, ``treatment - control`` under the
            alternative (for a proportion ``p_t = baseline + mde``). With a
            ``margin``, the true effect in the good direction (``0`` for a
            guardrail expected to be flat), increases counting as good; see
            :func:`non_inferiority_sample_size` for a metric where lower is better.
        relative: ``mde`` and ``margin`` are fractions of ``baseline``.
        alpha: Significance level, in (0, 1).
        power: Target power, in (0, 1).
        alternative: ``"two-sided"`` (default without margin) or
            ``"one-sided"`` (in the direction of ``mde``; default, and only
            choice, with a margin).
        ratio: ``n_treatment / n_control``, > 0.
        margin: Non-inferiority margin, >= 0, in the units of ``mde``. With
            ``margin > 0`` the test is ``H0: effect <= -margin`` (one-sided).
        proportion_variance: ``"pooled"`` (default), ``"unpooled"``,
            ``"evan_miller"`` or ``"arcsine"``; see the module docstring.
            With a margin, only ``"unpooled"``.
        cuped_correlation: Correlation ``rho`` of the metric with its CUPED
            covariate, in (-1, 1); the variance is multiplied by ``1 - rho**2``.

    Returns:
        The control arm's size, rounded up.

    Raises:
        StatsError: On an invalid argument, a zero effect, a rate outside
            (0, 1), or a power the test already has with no data.

    Example:
        >>> sample_size_per_arm(variance=4.0, mde=0.1)
        6280
        >>> sample_size_per_arm(variance=4.0, mde=0.1, cuped_correlation=0.5)
        4710
        >>> sample_size_per_arm(baseline=0.1, mde=0.05, relative=True)
        57763
    """
    return _ceil(unrounded_sample_size_per_arm(
        variance=variance, baseline=baseline, mde=mde, relative=relative, alpha=alpha,
        power=power, alternative=alternative, ratio=ratio, margin=margin,
        proportion_variance=proportion_variance, cuped_correlation=cuped_correlation,
    ))


def _check_n(n_per_arm: float) -> float:
    return _positive(n_per_arm, "n_per_arm")


def achieved_power(
    n_per_arm: float,
    effect: float,
    *,
    variance: float | None = None,
    baseline: float | None = None,
    relative: bool = False,
    alpha: float = 0.05,
    alternative: PowerAlternative = "two-sided",
    ratio: float = 1.0,
    proportion_variance: ProportionVariance = "pooled",
    cuped_correlation: float = 0.0,
) -> float:
    """Power of the test with ``n_per_arm`` control units when the true effect is ``effect``.

    The power function of the module docstring, both tails counted for a
    two-sided test. For ``"evan_miller"`` the smaller power of the two sides.

    Args:
        n_per_arm: Control arm size (> 0; the treatment arm has ``ratio`` times as many).
        effect: True ``treatment - control`` (a fraction of ``baseline`` if ``relative``).
        variance: Per-unit variance of a mean metric.
        baseline: Control rate of a proportion (or control mean for ``relative``).
        relative: ``effect`` is a fraction of ``baseline``.
        alpha: Significance level, in (0, 1).
        alternative: ``"two-sided"`` or ``"one-sided"`` (in the direction of ``effect``).
        ratio: ``n_treatment / n_control``.
        proportion_variance: See the module docstring.
        cuped_correlation: CUPED correlation ``rho``, in (-1, 1).

    Returns:
        The probability of rejecting the null hypothesis; ``alpha`` (or the
        rejection rate with no effect) when ``effect == 0``.

    Raises:
        StatsError: On an invalid argument.

    Example:
        >>> round(achieved_power(6280, 0.1, variance=4.0), 3)
        0.8
        >>> round(achieved_power(6280, 0.1, variance=4.0, alternative="one-sided"), 4)
        0.8763
    """
    root_n = math.sqrt(_check_n(n_per_arm))
    z = _critical(alpha, alternative)
    absolute = _absolute(effect, "effect", relative=relative, baseline=baseline)
    designs = _designs(absolute, variance=variance, baseline=baseline, ratio=ratio,
                       proportion_variance=proportion_variance, cuped_correlation=cuped_correlation)
    return min(_power(design, root_n, z, alternative == "two-sided") for design in designs)


def minimum_detectable_effect(
    n_per_arm: float,
    *,
    variance: float | None = None,
    baseline: float | None = None,
    relative: bool = False,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: PowerAlternative = "two-sided",
    ratio: float = 1.0,
    proportion_variance: ProportionVariance = "pooled",
    cuped_correlation: float = 0.0,
) -> float:
    """Smallest positive effect the test detects with probability ``power``.

    For a mean, ``D`` solves ``power(n) = power`` with ``s0 = s1`` fixed
    (about ``(z + z_beta) s / sqrt(n)``, Chow, Shao & Wang 2008, §3.2.1). For
    a proportion the variance depends on the effect, so the effect
    ``p_t - p_c > 0`` is found by bisection on ``(0, 1 - p_c)``.

    Args:
        n_per_arm: Control arm size, > 0.
        variance: Per-unit variance of a mean metric.
        baseline: Control rate of a proportion (or control mean for ``relative``).
        relative: Return the effect as a fraction of ``baseline``.
        alpha: Significance level, in (0, 1).
        power: Target power, in (0, 1).
        alternative: ``"two-sided"`` or ``"one-sided"``.
        ratio: ``n_treatment / n_control``.
        proportion_variance: See the module docstring.
        cuped_correlation: CUPED correlation ``rho``, in (-1, 1).

    Returns:
        The MDE, absolute (or relative to ``baseline``).

    Raises:
        StatsError: On an invalid argument, or when even ``p_t`` next to 1 is
            not detected with that power (too few units).

    Example:
        >>> round(minimum_detectable_effect(6280, variance=4.0), 4)
        0.1
        >>> round(minimum_detectable_effect(25835, baseline=0.20625,
        ...                                 proportion_variance="evan_miller"), 4)
        0.01
    """
    power = _check_power(power)
    n = _check_n(n_per_arm)
    z = _critical(alpha, alternative)
    two_sided = alternative == "two-sided"

    def scaled(effect: float) -> float:
        if not relative:
            return effect
        if baseline is None or baseline == 0:
            raise StatsError("relative=True needs a nonzero baseline (the control mean or rate)")
        return effect / abs(baseline)

    if variance is not None:
        unit = _designs(1.0, variance=variance, baseline=baseline, ratio=ratio,
                        proportion_variance=proportion_variance, cuped_correlation=cuped_correlation)[0]
        # power depends on D * sqrt(n) only: solve for sqrt(n) at D = 1, then D = that / sqrt(n).
        return scaled(_root_n(unit, power, z, two_sided) / math.sqrt(n))

    if baseline is None:
        raise StatsError("neither variance nor baseline is given: pass the per-unit variance of a "
                         "mean metric, or the control rate of a proportion as baseline")
    p_c = _rate(baseline, "baseline")

    def power_at(effect: float) -> float:
        designs = _designs(effect, variance=None, baseline=p_c, ratio=ratio,
                           proportion_variance=proportion_variance, cuped_correlation=cuped_correlation)
        return min(_power(design, math.sqrt(n), z, two_sided) for design in designs)

    # p_t = p_c + effect must stay below 1 (and p_c - effect above 0 for the two sides of evan_miller)
    room = min(p_c, 1 - p_c) if proportion_variance == "evan_miller" else 1 - p_c
    largest = room * (1 - 1e-9)
    if power_at(largest) < power:
        raise StatsError(
            f"n_per_arm == {n_per_arm!r} is too small: even an effect of {largest:.4g} is detected "
            f"with power {power_at(largest):.4g} < {power}"
        )
    return scaled(_bisect_increasing(power_at, 0.0, largest, power))


def duration_days(
    n_per_arm: float,
    daily_units: float,
    arms: int = 2,
    traffic_share: float = 1.0,
) -> int:
    """Days needed to enroll ``n_per_arm`` units in each of ``arms`` arms.

    ``ceil(n_per_arm * arms / (daily_units * traffic_share))``: new eligible
    units arrive at ``daily_units`` a day, ``traffic_share`` of them enter
    the experiment and are split equally between the arms.

    Args:
        n_per_arm: Units needed per arm, >= 0.
        daily_units: New eligible units a day, > 0.
        arms: Number of arms (control included), >= 1.
        traffic_share: Share of the traffic in the experiment, in (0, 1].

    Returns:
        Whole days, rounded up.

    Raises:
        StatsError: On an invalid argument.

    Example:
        >>> duration_days(27413, 40000 * 0.08)  # 40,000 pageviews a day, 8% click
        18
        >>> duration_days(27413, 3200, traffic_share=0.5)
        35
    """
    n = _finite(n_per_arm, "n_per_arm")
    if n < 0:
        raise StatsError(f"n_per_arm == {n_per_arm!r}, must be >= 0")
    daily = _positive(daily_units, "daily_units")
    if isinstance(arms, bool) or not isinstance(arms, int) or arms < 1:
        raise StatsError(f"arms == {arms!r}, must be an integer >= 1")
    share = _finite(traffic_share, "traffic_share")
    if not 0 < share <= 1:
        raise StatsError(f"traffic_share == {traffic_share!r}, must be in (0, 1]")
    return _ceil(n * arms / (daily * share))


def non_inferiority_sample_size(
    margin: float,
    *,
    variance: float | None = None,
    baseline: float | None = None,
    true_effect: float = 0.0,
    direction: Direction = "increase",
    relative: bool = False,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    cuped_correlation: float = 0.0,
) -> int:
    """Control-arm size for a guardrail's one-sided non-inferiority test.

    Tests ``H0: the effect is margin or more in the bad direction`` at level
    ``alpha`` (one-sided), when the true effect is ``true_effect``:
    ``D = margin + true_effect`` toward the good direction, ``s0 = s1`` the
    unpooled standard deviation at the true rates (Chow, Shao & Wang 2008,
    §3.2.2 for means, §4.2.2 for proportions):

        n = (z_alpha + z_beta)**2 * s**2 / (margin + effect_good)**2

    Args:
        margin: Largest degradation accepted, > 0 (a fraction of ``baseline`` if ``relative``).
        variance: Per-unit variance of a mean metric.
        baseline: Control rate of a proportion (or control mean for ``relative``).
        true_effect: Assumed true ``treatment - control`` (same units as ``margin``).
        direction: ``"increase"`` if higher is better (harm is a decrease),
            ``"decrease"`` if lower is better (harm is an increase).
        relative: ``margin`` and ``true_effect`` are fractions of ``baseline``.
        alpha: One-sided significance level, in (0, 1).
        power: Target power, in (0, 1).
        ratio: ``n_treatment / n_control``.
        cuped_correlation: CUPED correlation ``rho``, in (-1, 1).

    Returns:
        The control arm's size, rounded up.

    Raises:
        StatsError: On an invalid argument, or a true effect at or beyond the margin.

    Example:
        >>> non_inferiority_sample_size(0.02, baseline=0.05, relative=True, direction="decrease")
        587343
        >>> non_inferiority_sample_size(0.1, variance=4.0)
        4947
    """
    power = _check_power(power)
    design = _noninferiority_design(
        margin, true_effect, variance=variance, baseline=baseline, direction=direction,
        relative=relative, ratio=ratio, cuped_correlation=cuped_correlation,
    )
    z = _critical(alpha, "one-sided")
    return _ceil(_root_n(design, power, z, two_sided=False) ** 2)


def guardrail_power(
    n_per_arm: float,
    margin: float,
    *,
    variance: float | None = None,
    baseline: float | None = None,
    true_effect: float = 0.0,
    direction: Direction = "increase",
    relative: bool = False,
    alpha: float = 0.05,
    ratio: float = 1.0,
    cuped_correlation: float = 0.0,
) -> float:
    """Probability that a guardrail is shown non-inferior with ``n_per_arm`` control units.

    ``Phi(D sqrt(n) / s - z_alpha)``, the power of the one-sided test of
    :func:`non_inferiority_sample_size` (whose arguments these are).

    Returns:
        The power, in (0, 1).

    Raises:
        StatsError: On an invalid argument, or a true effect at or beyond the margin.

    Example:
        >>> round(guardrail_power(4947, 0.1, variance=4.0), 3)
        0.8
        >>> round(guardrail_power(1000, 0.1, variance=4.0), 3)
        0.299
    """
    root_n = math.sqrt(_check_n(n_per_arm))
    design = _noninferiority_design(
        margin, true_effect, variance=variance, baseline=baseline, direction=direction,
        relative=relative, ratio=ratio, cuped_correlation=cuped_correlation,
    )
    return _power(design, root_n, _critical(alpha, "one-sided"), two_sided=False)
