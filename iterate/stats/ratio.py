"""Ratio metrics by the delta method; a mean is the ratio with denominator 1.

A ratio metric divides two per-unit sums, e.g. crashes per app open: each
unit (user) contributes a numerator ``y_i`` and a denominator ``x_i``, and the
metric is ``r = mean(y) / mean(x)``. Units are independent, events within a
unit are not, so the variance comes from per-unit moments. Welch's t test on
means goes through the same function with ``x_i == 1``.

Example:
    >>> from iterate.stats import RatioMoments, delta_method_test
    >>> c = RatioMoments.from_values([2, 0, 1, 3, 1, 0], [10, 4, 6, 12, 8, 5])
    >>> t = RatioMoments.from_values([4, 1, 2, 3, 2, 3], [11, 5, 7, 10, 9, 8])
    >>> e = delta_method_test(c, t)
    >>> e.method, round(e.control_mean, 4), round(e.treatment_mean, 4), round(e.p_value, 3)
    ('delta_ratio', 0.1556, 0.3, 0.014)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from iterate.errors import StatsError
from iterate.stats.estimate import (
    count_problem,
    Alternative,
    Estimate,
    RelativeInterval,
    Status,
    check_alternative_and_alpha,
    interval_and_p_value,
    relative_difference,
    welch_degrees_of_freedom,
)
from iterate.stats.moments import _NEGATIVE_VARIANCE_TOLERANCE, Moments

if TYPE_CHECKING:
    import numpy as np

_CANCELLATION_TOLERANCE = 1e-12


def _variance(value: float, mean: float, name: str) -> float:
    variance = float(value)
    if not math.isfinite(variance):
        raise StatsError(f"{name} == {value!r}, must be a finite number >= 0")
    if variance < 0:
        if variance < -_NEGATIVE_VARIANCE_TOLERANCE * max(1.0, mean * mean):
            raise StatsError(f"{name} == {value!r}, must be >= 0")
        return 0.0
    return variance


@dataclass(frozen=True, slots=True)
class RatioMoments:
    """Per-unit moments of a ratio metric's numerator and denominator in one arm.

    Variances and covariance use ``n - 1`` in the denominator (``var_samp``
    and ``covar_samp`` in SQL); pass ``0.0`` when ``n < 2``. Tiny negative
    variances from rounding are clamped to 0 as in :class:`Moments`.

    Args:
        n: Number of units.
        numerator_mean: Mean of the per-unit numerators ``y_i``.
        denominator_mean: Mean of the per-unit denominators ``x_i``.
        numerator_variance: Sample variance of ``y_i``.
        denominator_variance: Sample variance of ``x_i``.
        covariance: Sample covariance of ``y_i`` and ``x_i``.

    Raises:
        StatsError: If ``n`` is not a non-negative integer, a mean or the
            covariance is not finite, or a variance is negative.

    Example:
        >>> m = RatioMoments(n=4, numerator_mean=1.0, denominator_mean=4.0,
        ...                  numerator_variance=1.0, denominator_variance=4.0, covariance=1.5)
        >>> m.ratio, m.ratio_variance
        (0.25, 0.0078125)
    """

    n: int
    numerator_mean: float
    denominator_mean: float
    numerator_variance: float
    denominator_variance: float
    covariance: float

    def __post_init__(self) -> None:
        problem = count_problem(self.n, "n")
        if problem:
            raise StatsError(problem)
        for name in ("numerator_mean", "denominator_mean", "covariance"):
            value = float(getattr(self, name))
            if not math.isfinite(value):
                raise StatsError(f"{name} == {getattr(self, name)!r}, must be a finite number")
            object.__setattr__(self, name, value)
        for name, mean in (("numerator_variance", self.numerator_mean),
                           ("denominator_variance", self.denominator_mean)):
            object.__setattr__(self, name, _variance(getattr(self, name), mean, name))
        object.__setattr__(self, "n", int(self.n))

    @classmethod
    def from_values(
        cls,
        numerators: Iterable[float] | np.ndarray,
        denominators: Iterable[float] | np.ndarray,
    ) -> RatioMoments:
        """Moments of raw per-unit numerators and denominators (two-pass NumPy).

        Raises:
            StatsError: If the two arrays differ in length.

        Example:
            >>> m = RatioMoments.from_values([1.0, 3.0], [2.0, 4.0])
            >>> m.n, m.numerator_mean, m.denominator_mean, m.covariance
            (2, 2.0, 3.0, 2.0)
        """
        import numpy as np

        y = np.asarray(numerators, dtype=float).ravel()
        x = np.asarray(denominators, dtype=float).ravel()
        if y.size != x.size:
            raise StatsError(
                f"{y.size} numerators and {x.size} denominators, must be one of each per unit"
            )
        n = y.size
        if n == 0:
            return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0)
        if n == 1:
            return cls(1, float(y[0]), float(x[0]), 0.0, 0.0, 0.0)
        covariance = float(np.dot(y - y.mean(), x - x.mean()) / (n - 1))
        return cls(n, float(y.mean()), float(x.mean()), float(y.var(ddof=1)),
                   float(x.var(ddof=1)), covariance)

    @classmethod
    def from_mean(cls, moments: Moments) -> RatioMoments:
        """A plain mean as a ratio with denominator ``x_i == 1``.

        Example:
            >>> RatioMoments.from_mean(Moments(10, 2.5, 4.0)).ratio
            2.5
        """
        return cls(moments.n, moments.mean, 1.0, moments.variance, 0.0, 0.0)

    @property
    def ratio(self) -> float:
        """``numerator_mean / denominator_mean``.

        Raises:
            StatsError: If ``denominator_mean == 0``.
        """
        if self.denominator_mean == 0:
            raise StatsError("denominator_mean == 0, the ratio needs a nonzero denominator mean")
        return self.numerator_mean / self.denominator_mean

    @property
    def ratio_variance(self) -> float:
        """Delta-method variance of the ratio estimate, ``Var(r)``.

        First-order Taylor expansion of ``mean(y) / mean(x)`` (Deng, Knoblich
        & Lu 2018, "Applying the Delta Method in Metric Analytics: A Practical
        Guide with Novel Ideas", KDD, the variance of a ratio of means):

            Var(r) ~= (var_y - 2 r cov_yx + r**2 var_x) / (n * mean_x**2)

        which is the variance of the mean of the linearized per-unit values
        ``(y_i - r x_i) / mean_x``. A result below ``1e-12`` of the sum of the
        non-negative terms is cancellation noise and is returned as 0 (every
        unit has the same ratio).

        Raises:
            StatsError: If ``n == 0`` or ``denominator_mean == 0``.
        """
        if self.n == 0:
            raise StatsError("n == 0, the ratio variance needs n >= 1")
        r = self.ratio
        scale = self.numerator_variance + r * r * self.denominator_variance
        linearized = scale - 2 * r * self.covariance
        if linearized <= _CANCELLATION_TOLERANCE * scale:
            return 0.0
        return linearized / self.denominator_mean**2 / self.n

    def __add__(self, other: RatioMoments) -> RatioMoments:
        """Moments of the union of two disjoint sets of units (days, shards, stages).

        Pairwise update of Chan, Golub & LeVeque (1979), "Updating formulae and
        a pairwise algorithm for computing sample variances", eq. (2.1), with
        ``delta = mean_b - mean_a`` and ``M2 = (n - 1) * variance``, and its
        co-moment form (Pébay 2008, "Formulas for robust, one-pass parallel
        computation of covariances and arbitrary-order statistical moments",
        Sandia report SAND2008-6212, the pairwise covariance update):

            M2_y = M2_y,a + M2_y,b + delta_y**2 * n_a n_b / n
            C_yx = C_yx,a + C_yx,b + delta_y delta_x * n_a n_b / n

        Example:
            >>> a = RatioMoments.from_values([1.0, 3.0], [2.0, 4.0])
            >>> b = RatioMoments.from_values([2.0, 6.0], [1.0, 5.0])
            >>> (a + b).covariance == RatioMoments.from_values([1, 3, 2, 6], [2, 4, 1, 5]).covariance
            True
        """
        if not isinstance(other, RatioMoments):
            return NotImplemented
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        weight = self.n * other.n / n
        delta_y = other.numerator_mean - self.numerator_mean
        delta_x = other.denominator_mean - self.denominator_mean

        def pooled(a: float, b: float, extra: float) -> float:
            return (a * (self.n - 1) + b * (other.n - 1) + extra * weight) / (n - 1)

        return RatioMoments(
            n,
            self.numerator_mean + delta_y * other.n / n,
            self.denominator_mean + delta_x * other.n / n,
            pooled(self.numerator_variance, other.numerator_variance, delta_y * delta_y),
            pooled(self.denominator_variance, other.denominator_variance, delta_x * delta_x),
            pooled(self.covariance, other.covariance, delta_y * delta_x),
        )

    def __radd__(self, other: object) -> RatioMoments:
        """Let ``sum(list_of_ratio_moments)`` start from the integer 0."""
        if other == 0:
            return self
        return NotImplemented


def _as_ratio(arm: Moments | RatioMoments) -> RatioMoments:
    if isinstance(arm, RatioMoments):
        return arm
    if isinstance(arm, Moments):
        return RatioMoments.from_mean(arm)
    raise StatsError(f"arm of type {type(arm).__name__}, must be Moments or RatioMoments")


def _arm_value(arm: RatioMoments) -> float | None:
    return arm.ratio if arm.n >= 1 and arm.denominator_mean != 0 else None


def relative_lift(
    control: Moments | RatioMoments,
    treatment: Moments | RatioMoments,
    *,
    alternative: Alternative = "two-sided",
    alpha: float = 0.05,
) -> RelativeInterval:
    """Relative effect ``r_t / r_c - 1`` of a mean or ratio metric, and its Fieller interval.

    The interval of :func:`delta_method_test` (and so of Welch's t test) made
    relative: :func:`iterate.stats.estimate.relative_difference` (Fieller
    1954) with each arm's delta-method ``Var(r)``
    (:attr:`RatioMoments.ratio_variance`; for a mean, ``variance / n``) and the
    Welch-Satterthwaite degrees of freedom of the absolute test, so the
    relative interval excludes 0 exactly when the absolute one does.

    Returns:
        The :class:`RelativeInterval`. Its ``effect`` is None when an arm is
        empty, a denominator mean is 0 or the control value is 0; its status
        is ``"not_tested"`` when the comparison has no test (an arm with fewer
        than 2 units, a zero denominator mean or a zero standard error).

    Example:
        >>> r = relative_lift(Moments(1000, 10.0, 4.0), Moments(1000, 10.3, 4.2))
        >>> round(r.effect, 4), round(r.ci_low, 4), round(r.ci_high, 4), r.status
        (0.03, 0.0121, 0.0482, 'ok')
    """
    check_alternative_and_alpha(alternative, alpha)
    control, treatment = _as_ratio(control), _as_ratio(treatment)
    value_c, value_t = _arm_value(control), _arm_value(treatment)
    if value_c is None or value_t is None:
        return RelativeInterval(None, None, None, "not_tested")
    testable = control.n >= 2 and treatment.n >= 2
    var_c, var_t = (control.ratio_variance, treatment.ratio_variance) if testable else (0.0, 0.0)
    if not var_c + var_t > 0:  # no test, so no interval: only the relative effect
        return relative_difference(value_c, None, value_t, None, alternative=alternative, alpha=alpha)
    return relative_difference(
        value_c, var_c, value_t, var_t, alternative=alternative, alpha=alpha,
        df=welch_degrees_of_freedom(var_c, control.n, var_t, treatment.n),
    )


def degenerate_estimate(
    method: str,
    control: Moments | RatioMoments,
    treatment: Moments | RatioMoments,
    *,
    alternative: Alternative,
    alpha: float,
    std_error: float | None = None,
) -> Estimate | None:
    """The Estimate of a comparison that cannot be tested, or None if it can.

    ``too_few_units`` when an arm has fewer than 2 units, else
    ``zero_denominator`` when an arm's denominator mean is 0, else
    ``zero_variance`` when ``std_error`` is 0. Shared by the tests so the
    statuses agree.

    Example:
        >>> degenerate_estimate("welch_t", Moments(1, 2.0, 0.0), Moments(5, 3.0, 1.0),
        ...                     alternative="two-sided", alpha=0.05).status
        'too_few_units'
    """
    control, treatment = _as_ratio(control), _as_ratio(treatment)
    status: Status
    if control.n < 2 or treatment.n < 2:
        status = "too_few_units"
    elif control.denominator_mean == 0 or treatment.denominator_mean == 0:
        status = "zero_denominator"
    elif std_error == 0:
        status = "zero_variance"
    else:
        return None
    value_c, value_t = _arm_value(control), _arm_value(treatment)
    relative = relative_lift(control, treatment, alternative=alternative, alpha=alpha)
    return Estimate(
        method=method,
        status=status,
        alternative=alternative,
        alpha=alpha,
        control_mean=value_c,
        treatment_mean=value_t,
        effect=value_t - value_c if value_c is not None and value_t is not None else None,
        ci_low=None,
        ci_high=None,
        std_error=0.0 if status == "zero_variance" else None,
        statistic=None,
        df=None,
        p_value=None,
        relative_effect=relative.effect,
        relative_ci_low=relative.ci_low,
        relative_ci_high=relative.ci_high,
        relative_status=relative.status,
    )


def delta_method_test(
    control: RatioMoments | Moments,
    treatment: RatioMoments | Moments,
    *,
    alternative: Alternative = "two-sided",
    alpha: float = 0.05,
) -> Estimate:
    """t test of ``r_t - r_c`` for a ratio metric, by the delta method.

    Each arm's ``Var(r)`` is :attr:`RatioMoments.ratio_variance` (Deng,
    Knoblich & Lu 2018, the ratio-of-means variance). With ``s_a = Var(r_a)``
    the arms combine as in Welch's test (Welch 1947, Biometrika 34;
    Satterthwaite 1946, Biometrics Bulletin 2), the linearized values playing
    the part of the raw values:

        se**2 = s_c + s_t
        df = se**4 / (s_c**2 / (n_c - 1) + s_t**2 / (n_t - 1))

    With every denominator equal to 1 (:meth:`RatioMoments.from_mean`) this
    is exactly Welch's t test.

    Args:
        control: Control moments (a ``Moments`` counts as denominator 1).
        treatment: Treatment moments.
        alternative: ``"greater"`` tests treatment > control.
        alpha: Significance level of the interval, in (0, 1).

    Returns:
        Estimate with method ``"delta_ratio"``; the arm means are the ratios.
        ``too_few_units`` if an arm has fewer than 2 units,
        ``zero_denominator`` if an arm's denominator mean is 0,
        ``zero_variance`` if both ratio variances are 0.

    Raises:
        StatsError: On a bad alpha or alternative.

    Example:
        >>> e = delta_method_test(RatioMoments(500, 0.8, 10.0, 2.0, 30.0, 5.0),
        ...                       RatioMoments(500, 0.9, 10.0, 2.2, 30.0, 5.5))
        >>> round(e.effect, 4), round(e.std_error, 5), round(e.p_value, 4)
        (0.01, 0.00754, 0.1852)
    """
    check_alternative_and_alpha(alternative, alpha)
    control, treatment = _as_ratio(control), _as_ratio(treatment)
    degenerate = degenerate_estimate(
        "delta_ratio", control, treatment, alternative=alternative, alpha=alpha
    )
    if degenerate is not None:
        return degenerate
    var_c, var_t = control.ratio_variance, treatment.ratio_variance
    std_error = math.sqrt(var_c + var_t)
    if std_error == 0:
        return degenerate_estimate(
            "delta_ratio", control, treatment, alternative=alternative, alpha=alpha, std_error=0.0
        )  # type: ignore[return-value]
    df = welch_degrees_of_freedom(var_c, control.n, var_t, treatment.n)
    effect = treatment.ratio - control.ratio
    ci_low, ci_high, statistic, p_value = interval_and_p_value(
        effect, std_error, alternative=alternative, alpha=alpha, df=df
    )
    relative = relative_difference(control.ratio, var_c, treatment.ratio, var_t,
                                   alternative=alternative, alpha=alpha, df=df)
    return Estimate(
        method="delta_ratio",
        status="ok",
        alternative=alternative,
        alpha=alpha,
        control_mean=control.ratio,
        treatment_mean=treatment.ratio,
        effect=effect,
        ci_low=ci_low,
        ci_high=ci_high,
        std_error=std_error,
        statistic=statistic,
        df=df,
        p_value=p_value,
        relative_effect=relative.effect,
        relative_ci_low=relative.ci_low,
        relative_ci_high=relative.ci_high,
        relative_status=relative.status,
    )
