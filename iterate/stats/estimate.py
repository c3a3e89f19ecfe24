"""The result of comparing two arms, and the interval / p-value helper every test shares.

Example:
    >>> from iterate.stats.estimate import interval_and_p_value
    >>> low, high, z, p = interval_and_p_value(0.3, 0.1, alternative="two-sided", alpha=0.05)
    >>> round(low, 4), round(high, 4), round(z, 4), round(p, 4)
    (0.104, 0.496, 3.0, 0.0027)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from iterate.stats.distributions import ndtr, ndtri, stdtr, stdtrit

from iterate.errors import StatsError

Alternative = Literal["two-sided", "greater", "less"]
"""Alternative hypothesis about ``effect = treatment - control``: ``"greater"`` means > 0."""

Status = Literal["ok", "zero_variance", "too_few_units", "zero_denominator"]
"""Why test fields may be ``None``: ``ok`` when everything could be computed."""

ALTERNATIVES: tuple[str, ...] = get_args(Alternative)


@dataclass(frozen=True, slots=True)
class Estimate:
    """Comparison of a treatment arm with the control arm on one metric.

    Intervals are at confidence ``1 - alpha``; a one-sided interval has
    ``-inf`` or ``+inf`` on its open side. Nothing is invented for a
    degenerate case: the ``status`` says why a field is ``None``.

    - ``too_few_units``: an arm has fewer than 2 units. Means and effect are
      given when both arms have at least one unit; test fields are ``None``.
    - ``zero_denominator``: an arm of a ratio metric has a denominator mean
      of 0, so its ratio is undefined; that arm's mean, the effect and all
      test fields are ``None``.
    - ``zero_variance``: the standard error is 0. Effect is given;
      statistic, p-value and intervals are ``None``.
    - Relative fields are ``None`` when the control mean is 0.

    For a ratio metric the arm "means" are the ratios of means; for a
    quantile metric they are the arms' sample quantiles.

    Attributes:
        method: Name of the test, e.g. ``"welch_t"``, ``"delta_ratio"``.
        status: ``"ok"``, ``"zero_variance"``, ``"too_few_units"`` or ``"zero_denominator"``.
        alternative: ``"two-sided"``, ``"greater"`` or ``"less"``.
        alpha: Significance level, in (0, 1).
        control_mean: Control mean (``None`` if the arm is empty or undefined).
        treatment_mean: Treatment mean (``None`` if the arm is empty or undefined).
        effect: ``treatment_mean - control_mean``.
        ci_low: Lower bound of the effect's interval.
        ci_high: Upper bound of the effect's interval.
        std_error: Standard error of the effect.
        statistic: Test statistic (t or z).
        df: Degrees of freedom of a t test, ``None`` for a z test.
        p_value: p-value for ``alternative``.
        relative_effect: ``treatment_mean / control_mean - 1``.
        relative_ci_low: Lower bound of the relative effect's interval.
        relative_ci_high: Upper bound of the relative effect's interval.

    Example:
        >>> from iterate.stats import Moments, welch_t_test
        >>> e = welch_t_test(Moments(1000, 10.0, 4.0), Moments(1000, 10.3, 4.2))
        >>> e.status, round(e.effect, 2), e.p_value < 0.05
        ('ok', 0.3, True)
    """

    method: str
    status: Status
    alternative: Alternative
    alpha: float
    control_mean: float | None
    treatment_mean: float | None
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    std_error: float | None
    statistic: float | None
    df: float | None
    p_value: float | None
    relative_effect: float | None
    relative_ci_low: float | None
    relative_ci_high: float | None


def check_alternative_and_alpha(alternative: str, alpha: float) -> None:
    """Raise StatsError unless ``alternative`` is known and ``0 < alpha < 1``.

    Example:
        >>> check_alternative_and_alpha("less", 0.1)
    """
    if alternative not in ALTERNATIVES:
        raise StatsError(f"alternative == {alternative!r}, must be one of {', '.join(ALTERNATIVES)}")
    check_alpha(alpha)


def check_alpha(alpha: float, name: str = "alpha") -> None:
    """Raise StatsError unless ``0 < alpha < 1`` (also used for quantile levels).

    Example:
        >>> check_alpha(0.05)
    """
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise StatsError(f"{name} == {alpha!r}, must be in (0, 1)")


def count_problem(value: object, name: str) -> str | None:
    """Why ``value`` is not a count (an integer >= 0, numpy integers included), or ``None``.

    Example:
        >>> count_problem(2.5, "n")
        'n == 2.5, must be an integer >= 0'
    """
    if isinstance(value, bool) or not isinstance(value, int) and not hasattr(value, "__index__") or value < 0:
        return f"{name} == {value!r}, must be an integer >= 0"
    return None


def welch_degrees_of_freedom(variance_c: float, n_c: int, variance_t: float, n_t: int) -> float:
    """Welch-Satterthwaite degrees of freedom of a difference of two arm estimates.

    ``variance_c`` and ``variance_t`` are the variances of the estimates (a mean's ``s**2 / n``),
    not of the units: ``df = (v_c + v_t)**2 / (v_c**2 / (n_c - 1) + v_t**2 / (n_t - 1))``
    (Welch 1947, "The generalization of Student's problem", Biometrika 34, eq. (29);
    Satterthwaite 1946, Biometrics Bulletin 2).

    Example:
        >>> round(welch_degrees_of_freedom(4.0 / 10, 10, 9.0 / 20, 20), 3)
        25.408
    """
    total = variance_c + variance_t
    return total * total / (variance_c**2 / (n_c - 1) + variance_t**2 / (n_t - 1))


def interval_and_p_value(
    effect: float,
    std_error: float,
    *,
    alternative: Alternative,
    alpha: float,
    df: float | None = None,
) -> tuple[float, float, float, float]:
    """Interval, statistic and p-value of an asymptotically normal (or t) effect.

    With ``statistic = effect / std_error`` and ``q`` the quantile function
    of Student's t with ``df`` degrees of freedom (standard normal when
    ``df`` is None):

    - two-sided: ``effect -/+ q(1 - alpha/2) * std_error``, ``p = 2 * P(T > |statistic|)``;
    - greater: ``[effect - q(1 - alpha) * std_error, +inf)``, ``p = P(T > statistic)``;
    - less: ``(-inf, effect + q(1 - alpha) * std_error]``, ``p = P(T < statistic)``.

    Every test in ``iterate.stats`` goes through this one function, so the
    one-sided conventions cannot drift apart.

    Args:
        effect: Point estimate of ``treatment - control``.
        std_error: Its standard error, > 0.
        alternative: ``"two-sided"``, ``"greater"`` or ``"less"``.
        alpha: Significance level, in (0, 1).
        df: Degrees of freedom for a t reference distribution; None for normal.

    Returns:
        ``(ci_low, ci_high, statistic, p_value)``.

    Raises:
        StatsError: On a bad alpha, alternative, standard error or df.

    Example:
        >>> low, high, t, p = interval_and_p_value(1.0, 0.5, alternative="greater", alpha=0.05, df=10)
        >>> round(low, 4), high, t, round(p, 4)
        (0.0938, inf, 2.0, 0.0367)
    """
    check_alternative_and_alpha(alternative, alpha)
    if not (math.isfinite(std_error) and std_error > 0):
        raise StatsError(f"std_error == {std_error!r}, must be a finite number > 0")
    if df is not None and not df > 0:
        raise StatsError(f"df == {df!r}, must be > 0")

    def cdf(x: float) -> float:
        return float(ndtr(x) if df is None else stdtr(df, x))

    def upper_quantile(tail: float) -> float:
        return float(-ndtri(tail) if df is None else -stdtrit(df, tail))

    statistic = effect / std_error
    if alternative == "two-sided":
        half_width = upper_quantile(alpha / 2) * std_error
        return effect - half_width, effect + half_width, statistic, 2 * cdf(-abs(statistic))
    half_width = upper_quantile(alpha) * std_error
    if alternative == "greater":
        return effect - half_width, math.inf, statistic, cdf(-statistic)
    return -math.inf, effect + half_width, statistic, cdf(statistic)


def relative_difference(
    control: float,
    control_variance: float | None,
    treatment: float,
    treatment_variance: float | None,
    *,
    alternative: Alternative,
    alpha: float,
) -> tuple[float | None, float | None, float | None]:
    """Relative difference ``treatment / control - 1`` of two independent estimates.

    First-order delta method for a ratio of two independent, asymptotically
    normal estimates (Deng, Knoblich & Lu 2018, "Applying the Delta Method
    in Metric Analytics: A Practical Guide with Novel Ideas", KDD, the
    ratio-of-means variance with zero covariance between the arms):

        Var(t / c) ~= Var(t) / c**2 + t**2 * Var(c) / c**4

    This is the one implementation of relative effects: means, ratios and
    quantiles all pass their estimates and variances here.

    Args:
        control: Control estimate.
        control_variance: Variance of the control estimate, None if unknown.
        treatment: Treatment estimate.
        treatment_variance: Variance of the treatment estimate, None if unknown.
        alternative: ``"two-sided"``, ``"greater"`` or ``"less"``.
        alpha: Significance level, in (0, 1).

    Returns:
        ``(relative, ci_low, ci_high)``; all None when ``control == 0``, the
        bounds None when a variance is unknown or the variance is 0.

    Example:
        >>> rel, low, high = relative_difference(10.0, 0.004, 10.3, 0.0042,
        ...                                      alternative="two-sided", alpha=0.05)
        >>> round(rel, 4), round(low, 4), round(high, 4)
        (0.03, 0.012, 0.048)
    """
    check_alternative_and_alpha(alternative, alpha)
    if control == 0:
        return None, None, None
    relative = treatment / control - 1
    if control_variance is None or treatment_variance is None:
        return relative, None, None
    variance = treatment_variance / control**2 + treatment**2 * control_variance / control**4
    if not variance > 0:
        return relative, None, None
    low, high, _, _ = interval_and_p_value(
        relative, math.sqrt(variance), alternative=alternative, alpha=alpha
    )
    return relative, low, high
