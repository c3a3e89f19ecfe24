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

RelativeStatus = Literal["ok", "unbounded", "not_tested"]
"""State of a relative interval (:func:`relative_difference`): ``ok`` when it has finite bounds (on
its closed sides); ``unbounded`` when the Fieller confidence set is not an interval with finite
bounds (the control value is not significantly different from 0), so no bounds are given;
``not_tested`` when no interval was computed (the comparison has no test)."""

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
    - ``relative_effect`` is ``None`` when the control mean is 0 or undefined.
      The relative interval is Fieller's (:func:`relative_difference`), with the
      variances and reference distribution of the test's own interval, so it
      excludes 0 exactly when ``[ci_low, ci_high]`` does. Its bounds are
      ``None`` unless ``relative_status`` is ``"ok"``: ``"unbounded"`` when the
      control value is not significantly different from 0 (the confidence set
      of the ratio has no finite bounds), ``"not_tested"`` when the
      comparison has no test (any ``status`` other than ``ok``).

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
        relative_ci_low: Lower bound of the relative effect's Fieller interval.
        relative_ci_high: Upper bound of the relative effect's Fieller interval.
        relative_status: ``"ok"``, ``"unbounded"`` or ``"not_tested"`` (see
            :data:`RelativeStatus`).

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
    relative_status: RelativeStatus


@dataclass(frozen=True, slots=True)
class RelativeInterval:
    """The relative effect ``treatment / control - 1`` and its Fieller interval.

    Attributes:
        effect: ``treatment / control - 1``; None when the control value is 0.
        ci_low: Lower bound (``-inf`` on the open side of a one-sided
            interval); None unless ``status == "ok"``.
        ci_high: Upper bound (``+inf`` on the open side); None unless ``status == "ok"``.
        status: ``"ok"``, ``"unbounded"`` or ``"not_tested"`` (:data:`RelativeStatus`).

    Example:
        >>> RelativeInterval(0.5, None, None, "unbounded").status
        'unbounded'
    """

    effect: float | None
    ci_low: float | None
    ci_high: float | None
    status: RelativeStatus


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


def critical_value(alternative: Alternative, alpha: float, df: float | None = None) -> float:
    """Upper quantile ``q`` of an interval at confidence ``1 - alpha``: ``q(1 - alpha/2)`` for a
    two-sided interval, ``q(1 - alpha)`` for a one-sided one, of Student's t with ``df`` degrees of
    freedom (standard normal when ``df`` is None).

    The absolute intervals (:func:`interval_and_p_value`) and the relative ones
    (:func:`relative_difference`) take their quantile here, so they agree to the last bit.

    Example:
        >>> round(critical_value("two-sided", 0.05), 4), round(critical_value("greater", 0.05, df=10), 4)
        (1.96, 1.8125)
    """
    tail = alpha / 2 if alternative == "two-sided" else alpha
    return float(-ndtri(tail) if df is None else -stdtrit(df, tail))


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

    statistic = effect / std_error
    half_width = critical_value(alternative, alpha, df) * std_error
    if alternative == "two-sided":
        return effect - half_width, effect + half_width, statistic, 2 * cdf(-abs(statistic))
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
    df: float | None = None,
) -> RelativeInterval:
    """Relative effect ``treatment / control - 1`` of two independent estimates, Fieller interval.

    Fieller's theorem (Fieller 1954, "Some problems in interval estimation",
    JRSS B 16:175-185; for two independent means, Fieller 1940, "The biological
    standardization of insulin", JRSS Suppl. 7): with ``m_t``, ``m_c`` the
    estimates, ``v_t``, ``v_c`` their variances and ``q`` the critical value
    of the absolute test, the confidence set of ``rho = mu_t / mu_c`` is the
    set of ``rho`` that the test of ``mu_t - rho mu_c == 0`` does not reject:

        (m_t - rho m_c)**2 <= q**2 (v_t + rho**2 v_c)

    At ``rho = 1`` this is the absolute test itself, so the relative interval
    excludes 0 exactly when the absolute interval ``effect -/+ q se`` does.
    Written for ``d = rho - 1`` (``e = m_t - m_c``, ``se**2 = v_c + v_t``):

        a d**2 - 2 b d + c <= 0
        a = m_c**2 - q**2 v_c,  b = e m_c + q**2 v_c,  c = e**2 - q**2 se**2

    with discriminant ``b**2 - a c = q**2 (m_t**2 v_c + a v_t)``. When ``a > 0``
    (the control is significantly different from 0) the set is the interval
    between the two roots (``(b -/+ sqrt(b**2 - a c)) / a``, computed in the
    cancellation-free form). When ``a <= 0`` it is not a bounded interval (the
    whole line or the outside of an interval; a half-line when ``a == 0``) and
    no bounds are given: status ``"unbounded"``.

    One-sided (``"greater"`` means ``effect > 0``): the set of ``rho`` that the
    one-sided test of ``mu_t - rho mu_c`` does not reject, ``(m_t - rho m_c) /
    sqrt(v_t + rho**2 v_c) <= q(1 - alpha)``. With a positive control that is
    ``[lower root, +inf)``; with a negative control a larger effect is a
    smaller ratio, so it is ``(-inf, upper root]`` ("less" mirrors both).

    ``df`` and the variances must be those of the absolute test (Welch's df for
    means, ratios and CUPED; ``None``, normal, for proportions and quantiles), so
    the two intervals agree.

    Args:
        control: Control estimate.
        control_variance: Variance of the control estimate, None if unknown.
        treatment: Treatment estimate.
        treatment_variance: Variance of the treatment estimate, None if unknown.
        alternative: ``"two-sided"``, ``"greater"`` or ``"less"``.
        alpha: Significance level, in (0, 1).
        df: Degrees of freedom of the t reference distribution; None for normal.

    Returns:
        The :class:`RelativeInterval`: status ``"not_tested"`` when a variance
        is unknown, ``"unbounded"`` when ``a <= 0`` (always so when the control
        is 0, whose relative effect is None). Zero variances give the point
        ``[effect, effect]``.

    Raises:
        StatsError: On a bad alpha, alternative, variance or df.

    Example:
        >>> r = relative_difference(10.0, 0.004, 10.3, 0.0042, alternative="two-sided", alpha=0.05)
        >>> round(r.effect, 4), round(r.ci_low, 5), round(r.ci_high, 5), r.status
        (0.03, 0.01215, 0.04817, 'ok')
        >>> relative_difference(0.1, 0.01, 0.5, 0.01, alternative="two-sided", alpha=0.05).status
        'unbounded'
    """
    check_alternative_and_alpha(alternative, alpha)
    if df is not None and not df > 0:
        raise StatsError(f"df == {df!r}, must be > 0")
    relative = treatment / control - 1 if control != 0 else None
    if control_variance is None or treatment_variance is None:
        return RelativeInterval(relative, None, None, "not_tested")
    for name, value in (("control_variance", control_variance), ("treatment_variance", treatment_variance)):
        if not (math.isfinite(value) and value >= 0):
            raise StatsError(f"{name} == {value!r}, must be a finite number >= 0")
    q = critical_value(alternative, alpha, df)
    q2 = q * q
    a = control * control - q2 * control_variance
    if not a > 0:
        return RelativeInterval(relative, None, None, "unbounded")
    effect = treatment - control
    half_width = q * math.sqrt(control_variance + treatment_variance)  # as interval_and_p_value's
    magnitude = abs(effect)
    c = (magnitude - half_width) * (magnitude + half_width)  # its sign decides, exactly as there
    b = effect * control + q2 * control_variance
    s = b + math.copysign(math.sqrt(q2 * (treatment * treatment * control_variance + a * treatment_variance)), b)
    roots = (b / a, b / a) if s == 0 else (s / a, c / s)
    low, high = min(roots), max(roots)
    if alternative == "two-sided":
        return RelativeInterval(relative, low, high, "ok")
    lower_bound = (alternative == "greater") == (control > 0)
    return RelativeInterval(relative, low if lower_bound else -math.inf,
                            math.inf if lower_bound else high, "ok")
