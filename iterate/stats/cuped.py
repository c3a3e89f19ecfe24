"""CUPED: variance reduction with pre-exposure data, for means and ratio metrics, from moments.

CUPED (Deng, Xu, Kohavi & Walker 2013, "Improving the Sensitivity of Online
Controlled Experiments by Utilizing Pre-Experiment Data", WSDM) subtracts
from each arm's metric the part predicted by a covariate that the treatment
cannot affect, typically the same metric measured before exposure. The
treatment effect keeps its expectation and loses the variance the covariate
explains (``1 - rho**2`` of it for a mean metric). Equation and section
numbers below are the paper's: eq. (3) the control-variate estimator, eq. (4)
the optimal ``theta``, eq. (5) the ``1 - rho**2`` reduction, eq. (7) the
adjusted difference, §4.2 missing pre-period data, Appendix B eq. (8)
``theta`` for ratio metrics by the delta method.

One code path serves means and ratios: each unit carries the vector
``Z = (y, x, y0, x0)``, the metric being ``mean(y) / mean(x)`` and the
covariate ``mean(y0) / mean(x0)``. A mean metric has ``x == 1`` and a plain
per-unit covariate (pre-period value, a column such as ``history``) has
``x0 == 1``. Only the per-arm count, means and 4 x 4 sample covariance of
``Z`` are needed (:class:`JointMoments`), so any engine can produce them.

Units without pre-exposure activity simply have covariate 0. Deng et al.
(2013, §4.2, "Handling Missing Pre-Experiment Data") add an indicator "appeared
in the pre-period" as a second covariate, which stratifies new and returning
units; that multi-covariate extension is not implemented here (one covariate).

Example:
    >>> import numpy as np
    >>> from iterate.stats.cuped import JointMoments, cuped_test
    >>> rng = np.random.default_rng(1)
    >>> pre_c, pre_t = rng.gamma(2.0, 5.0, 2000), rng.gamma(2.0, 5.0, 2000)
    >>> control = JointMoments.from_values(pre_c + rng.normal(0, 5, 2000), y0=pre_c)
    >>> treatment = JointMoments.from_values(pre_t + 0.5 + rng.normal(0, 5, 2000), y0=pre_t)
    >>> e = cuped_test(control, treatment)
    >>> e.method, e.adjusted, round(e.theta, 3), round(e.variance_reduction, 2)
    ('cuped', True, 0.986, 0.65)
    >>> e.std_error < e.unadjusted.std_error
    True
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np

from iterate.errors import StatsError
from iterate.stats.estimate import (
    count_problem,
    Alternative,
    Estimate,
    check_alternative_and_alpha,
    interval_and_p_value,
    relative_difference,
    welch_degrees_of_freedom,
)
from iterate.stats.moments import _NEGATIVE_VARIANCE_TOLERANCE
from iterate.stats.ratio import RatioMoments, delta_method_test

CovariateStatus = Literal["ok", "zero_variance", "zero_denominator", "not_tested"]
"""Whether the covariate adjusted the estimate, and why not:

- ``ok``: adjusted;
- ``zero_variance``: the covariate (linearized) has no within-arm variance,
  e.g. no unit had pre-period activity;
- ``zero_denominator``: an arm's covariate denominator mean ``mean(x0)`` is 0;
- ``not_tested``: the metric itself cannot be tested (status
  ``too_few_units``, ``zero_denominator`` or ``zero_variance`` unadjusted),
  so nothing is adjusted.
"""

COMPONENTS: tuple[str, str, str, str] = ("y", "x", "y0", "x0")
"""Order of the per-unit vector: metric numerator and denominator, covariate numerator and denominator."""

_SYMMETRY_TOLERANCE = 1e-9
_CANCELLATION_TOLERANCE = 1e-12


@dataclass(frozen=True, slots=True)
class JointMoments:
    """Count, means and sample covariance of the per-unit vector ``(y, x, y0, x0)`` in one arm.

    ``y / x`` is the metric (numerator and denominator per unit) and
    ``y0 / x0`` the covariate measured before exposure. For a mean metric
    ``x == 1`` for every unit (mean 1, zero variance and covariances), and
    for a plain per-unit covariate ``x0 == 1`` likewise. Covariances use
    ``n - 1`` in the denominator (``covar_samp`` in SQL); pass zeros when
    ``n < 2``.

    The covariance matrix must be 4 x 4 and symmetric to a relative
    ``1e-9`` (it is stored exactly symmetric, as the average of the two
    triangles); a tiny negative variance from rounding (within
    ``1e-12 * max(1, mean**2)``) is stored as 0.

    Args:
        n: Number of units.
        means: ``(mean(y), mean(x), mean(y0), mean(x0))``.
        covariance: 4 x 4 sample covariance matrix in the same order, as a
            tuple of tuples (any nested sequence or array is accepted).

    Raises:
        StatsError: Listing every problem: ``n`` not a non-negative integer,
            wrong shapes, non-finite values, an asymmetric matrix, a
            negative variance.

    Example:
        >>> m = JointMoments(3, (2.0, 1.0, 1.0, 1.0),
        ...                  ((1.0, 0.0, 0.5, 0.0), (0.0, 0.0, 0.0, 0.0),
        ...                   (0.5, 0.0, 1.0, 0.0), (0.0, 0.0, 0.0, 0.0)))
        >>> m.metric.ratio, m.covariate.numerator_variance
        (2.0, 1.0)
    """

    n: int
    means: tuple[float, float, float, float]
    covariance: tuple[tuple[float, float, float, float], ...]

    def __post_init__(self) -> None:
        problems: list[str] = []
        if count_problem(self.n, "n"):
            problems.append(count_problem(self.n, "n"))
        means = _float_array(self.means, (4,), "means", problems)
        covariance = _float_array(self.covariance, (4, 4), "covariance", problems)
        if means is not None and not np.isfinite(means).all():
            problems.append(f"means == {tuple(means.tolist())!r}, must be finite numbers")
        if covariance is not None:
            if not np.isfinite(covariance).all():
                problems.append("covariance has non-finite entries, must be finite numbers")
            else:
                covariance = _checked_covariance(covariance, means, problems)
        if problems:
            message = problems[0] if len(problems) == 1 else f"{len(problems)} problems in JointMoments"
            raise StatsError(message, problems if len(problems) > 1 else None)
        assert means is not None and covariance is not None  # for type checkers; problems is empty
        object.__setattr__(self, "n", int(self.n))
        object.__setattr__(self, "means", tuple(float(v) for v in means))
        object.__setattr__(self, "covariance", tuple(tuple(float(v) for v in row) for row in covariance))

    @classmethod
    def from_values(
        cls,
        y: Iterable[float] | np.ndarray,
        x: Iterable[float] | np.ndarray | None = None,
        *,
        y0: Iterable[float] | np.ndarray,
        x0: Iterable[float] | np.ndarray | None = None,
    ) -> JointMoments:
        """Moments of raw per-unit values (two-pass NumPy), for tests and notebooks.

        Args:
            y: Metric numerator per unit.
            x: Metric denominator per unit; None for a mean metric (1 per unit).
            y0: Covariate numerator per unit (0 for units without pre-period activity).
            x0: Covariate denominator per unit; None for a plain covariate (1 per unit).

        Raises:
            StatsError: If the arrays differ in length.

        Example:
            >>> m = JointMoments.from_values([1.0, 3.0], y0=[0.0, 4.0])
            >>> m.n, m.means, m.covariance[0]
            (2, (2.0, 1.0, 2.0, 1.0), (2.0, 0.0, 4.0, 0.0))
        """
        y_array = np.asarray(y, dtype=float).ravel()
        columns = [
            y_array,
            np.ones_like(y_array) if x is None else np.asarray(x, dtype=float).ravel(),
            np.asarray(y0, dtype=float).ravel(),
            None if x0 is None else np.asarray(x0, dtype=float).ravel(),
        ]
        if columns[3] is None:
            columns[3] = np.ones_like(columns[2])
        sizes = [column.size for column in columns]  # type: ignore[union-attr]
        if len(set(sizes)) > 1:
            given = ", ".join(f"{size} {name}" for name, size in zip(COMPONENTS, sizes))
            raise StatsError(f"{given} values, must be one of each per unit")
        n = sizes[0]
        if n == 0:
            return cls(0, (0.0, 0.0, 0.0, 0.0), ((0.0,) * 4,) * 4)
        values = np.column_stack(columns)
        means = values.mean(axis=0)
        if n == 1:
            return cls(1, tuple(means), ((0.0,) * 4,) * 4)  # type: ignore[arg-type]
        deviations = values - means
        return cls(n, tuple(means), deviations.T @ deviations / (n - 1))  # type: ignore[arg-type]

    @property
    def metric(self) -> RatioMoments:
        """Moments of the metric ``(y, x)`` alone, for :func:`delta_method_test`.

        Example:
            >>> JointMoments.from_values([1.0, 3.0], y0=[0.0, 4.0]).metric.ratio
            2.0
        """
        s = self.covariance
        return RatioMoments(self.n, self.means[0], self.means[1], s[0][0], s[1][1], s[0][1])

    @property
    def covariate(self) -> RatioMoments:
        """Moments of the covariate ``(y0, x0)`` alone.

        Example:
            >>> JointMoments.from_values([1.0, 3.0], y0=[0.0, 4.0]).covariate.ratio
            2.0
        """
        s = self.covariance
        return RatioMoments(self.n, self.means[2], self.means[3], s[2][2], s[3][3], s[2][3])

    def __add__(self, other: JointMoments) -> JointMoments:
        """Moments of the union of two disjoint sets of units (days, shards, stages).

        Pairwise update of the co-moment matrix (Pébay 2008, "Formulas for
        robust, one-pass parallel computation of covariances and
        arbitrary-order statistical moments", Sandia report SAND2008-6212,
        the pairwise covariance update; Chan, Golub & LeVeque 1979, eq. (2.1),
        for the diagonal), with ``delta = means_b - means_a`` and
        ``C = (n - 1) * covariance``:

            means = means_a + delta * n_b / n
            C = C_a + C_b + outer(delta, delta) * n_a n_b / n

        Example:
            >>> a = JointMoments.from_values([1.0, 3.0], y0=[2.0, 4.0])
            >>> b = JointMoments.from_values([2.0, 6.0, 4.0], y0=[1.0, 5.0, 3.0])
            >>> whole = JointMoments.from_values([1, 3, 2, 6, 4], y0=[2, 4, 1, 5, 3])
            >>> (a + b).covariance[0][2] == whole.covariance[0][2], (a + b).means == whole.means
            (True, True)
        """
        if not isinstance(other, JointMoments):
            return NotImplemented
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        mean_a, mean_b = np.array(self.means), np.array(other.means)
        delta = mean_b - mean_a
        comoment = (
            np.array(self.covariance) * (self.n - 1)
            + np.array(other.covariance) * (other.n - 1)
            + np.outer(delta, delta) * (self.n * other.n / n)
        )
        return JointMoments(n, tuple(mean_a + delta * (other.n / n)), comoment / (n - 1))  # type: ignore[arg-type]

    def __radd__(self, other: object) -> JointMoments:
        """Let ``sum(list_of_joint_moments)`` start from the integer 0."""
        if other == 0:
            return self
        return NotImplemented


def _float_array(value: object, shape: tuple[int, ...], name: str, problems: list[str]) -> np.ndarray | None:
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        problems.append(f"{name} == {value!r}, must be numbers of shape {shape}")
        return None
    if array.shape != shape:
        problems.append(f"{name} has shape {array.shape}, must be {shape}")
        return None
    return array


def _checked_covariance(
    covariance: np.ndarray, means: np.ndarray | None, problems: list[str]
) -> np.ndarray:
    for i in range(4):
        for j in range(i + 1, 4):
            a, b = float(covariance[i, j]), float(covariance[j, i])
            scale = max(abs(a), abs(b), math.sqrt(abs(covariance[i, i] * covariance[j, j])))
            if abs(a - b) > _SYMMETRY_TOLERANCE * scale:
                problems.append(
                    f"covariance[{i}][{j}] == {a!r} but covariance[{j}][{i}] == {b!r}, "
                    "must be symmetric"
                )
    symmetric = (covariance + covariance.T) / 2
    for i, name in enumerate(COMPONENTS):
        variance = float(symmetric[i, i])
        if variance < 0:
            mean = means[i] if means is not None and math.isfinite(means[i]) else 0.0
            if variance < -_NEGATIVE_VARIANCE_TOLERANCE * max(1.0, mean * mean):
                problems.append(f"covariance[{i}][{i}] (variance of {name}) == {variance!r}, must be >= 0")
            else:
                symmetric[i, i] = 0.0
    return symmetric


@dataclass(frozen=True, slots=True)
class CupedEstimate(Estimate):
    """A CUPED-adjusted :class:`Estimate`, with the adjustment and the unadjusted estimate.

    The inherited fields describe the adjusted comparison (method
    ``"cuped"``): ``control_mean`` and ``treatment_mean`` are the adjusted
    arm values ``r - theta * (c_arm - c_pooled)``, so ``effect`` is the
    adjusted effect. When nothing was adjusted (``adjusted`` False, see
    ``covariate_status``) they are the unadjusted estimate's fields, method
    included (``"delta_ratio"``), and ``theta`` is 0.

    Attributes:
        theta: The coefficient ``theta`` (Deng et al. 2013, eq. (4) and
            Appendix B eq. (8)); 0 when not adjusted.
        variance_reduction: ``1 - Var(adjusted effect) / Var(unadjusted
            effect)``; ``rho**2`` in expectation for a mean metric (eq. (5)),
            slightly negative when the covariate is useless; 0 when not
            adjusted; None when the unadjusted estimate has no variance.
        adjusted: Whether the covariate adjusted the estimate.
        covariate_status: ``"ok"``, ``"zero_variance"``, ``"zero_denominator"``
            or ``"not_tested"`` (see :data:`CovariateStatus`).
        unadjusted: :func:`iterate.stats.ratio.delta_method_test` on the
            metric ``(y, x)`` alone.

    Example:
        >>> c = JointMoments.from_values([3.0, 5.0, 4.0, 8.0], y0=[1.0, 3.0, 2.0, 5.0])
        >>> t = JointMoments.from_values([6.0, 5.0, 9.0, 7.0], y0=[3.0, 1.0, 5.0, 4.0])
        >>> e = cuped_test(c, t)
        >>> round(e.theta, 4), round(e.effect, 4), round(e.unadjusted.effect, 4)
        (1.1, 1.2, 1.75)
    """

    theta: float
    variance_reduction: float | None
    adjusted: bool
    covariate_status: CovariateStatus
    unadjusted: Estimate


def _not_adjusted(unadjusted: Estimate, covariate_status: CovariateStatus) -> CupedEstimate:
    base = {field.name: getattr(unadjusted, field.name) for field in fields(Estimate)}
    return CupedEstimate(
        **base,
        theta=0.0,
        variance_reduction=0.0 if unadjusted.status == "ok" else None,
        adjusted=False,
        covariate_status=covariate_status,
        unadjusted=unadjusted,
    )


@dataclass(frozen=True, slots=True)
class _Linearized:
    """One arm's ratios and the (co)variances of its linearized metric and covariate."""

    n: int
    ratio: float  # r = mean(y) / mean(x)
    covariate_ratio: float  # c = mean(y0) / mean(x0)
    metric_variance: float  # Var(r), the unadjusted delta-method variance
    cross: float  # g' S h
    covariate_variance: float  # h' S h


def _linearize(arm: JointMoments) -> _Linearized:
    """Gradients ``g = (1/mx, -r/mx, 0, 0)`` and ``h = (0, 0, 1/mx0, -c/mx0)`` applied to ``S``.

    First-order Taylor expansion of the two ratios of means (Deng, Knoblich
    & Lu 2018, "Applying the Delta Method in Metric Analytics", KDD; Deng et
    al. 2013, Appendix B, ``beta_1`` and ``beta_2`` of eq. (8)):

        g' S h = (s_y,y0 - c s_y,x0 - r s_x,y0 + r c s_x,x0) / (mx mx0)
        h' S h = (s_y0,y0 - 2 c s_y0,x0 + c**2 s_x0,x0) / mx0**2

    ``g' S g / n`` is :attr:`RatioMoments.ratio_variance`. A covariate
    variance below ``1e-12`` of its non-negative terms is cancellation noise
    (every unit has the same covariate ratio) and is returned as 0.
    """
    (_, mean_x, mean_y0, mean_x0), s = arm.means, arm.covariance
    r = arm.metric.ratio
    c = mean_y0 / mean_x0
    cross = (s[0][2] - c * s[0][3] - r * s[1][2] + r * c * s[1][3]) / (mean_x * mean_x0)
    scale = s[2][2] + c * c * s[3][3]
    covariate = scale - 2 * c * s[2][3]
    covariate_variance = 0.0 if covariate <= _CANCELLATION_TOLERANCE * scale else covariate / mean_x0**2
    return _Linearized(arm.n, r, c, arm.metric.ratio_variance, cross, covariate_variance)


def cuped_correlation(arm: JointMoments) -> float:
    """Correlation of the linearized metric with its linearized covariate in one arm.

    CUPED leaves ``1 - rho**2`` of the metric's variance (Deng et al. 2013, eq. (5)); planning uses
    it to shrink sample sizes. 0 when the metric or the covariate has no variance.

    Example:
        >>> arm = JointMoments.from_values([1.0, 2.0, 3.0, 5.0], y0=[1.0, 2.0, 2.5, 4.0])
        >>> round(cuped_correlation(arm), 4)
        0.9954
    """
    if not arm.means[1] or not arm.means[3] or arm.n < 2:
        return 0.0
    linearized = _linearize(arm)
    metric = linearized.metric_variance * arm.n
    if metric <= 0 or linearized.covariate_variance <= 0:
        return 0.0
    return max(-1.0, min(1.0, linearized.cross / math.sqrt(metric * linearized.covariate_variance)))


def cuped_test(
    control: JointMoments,
    treatment: JointMoments,
    *,
    alternative: Alternative = "two-sided",
    alpha: float = 0.05,
) -> CupedEstimate:
    """CUPED-adjusted t test of ``r_t - r_c`` for a mean or ratio metric.

    Control-variate estimator (Deng, Xu, Kohavi & Walker 2013, WSDM,
    eq. (3) and its difference eq. (7)), per arm ``a``:

        adjusted_a = r_a - theta * (c_a - c_pooled)

    with ``r = mean(y) / mean(x)``, ``c = mean(y0) / mean(x0)`` and
    ``c_pooled`` the covariate over both arms (``sum n mean(y0) / sum n
    mean(x0)``; it cancels in the effect). The two ratios are linearized by
    the delta method with gradients ``g = (1/mx, -r/mx, 0, 0)`` and ``h = (0,
    0, 1/mx0, -c/mx0)`` (Deng et al. 2013, Appendix B, eq. (8); Deng,
    Knoblich & Lu 2018, KDD), and ``theta`` is eq. (4), ``Cov / Var`` of the
    linearized values, pooled over the arms within arm with weights
    ``n_a - 1``:

        theta = sum (n_a - 1) g_a' S_a h_a / sum (n_a - 1) h_a' S_a h_a

    The same ``theta`` in both arms keeps the effect unbiased (§3.2.2);
    within-arm pooling leaves the treatment effect out of the covariance, so
    for a mean metric with a plain covariate ``theta`` is the ANCOVA common
    slope and the effect equals the OLS coefficient of the treatment
    indicator in ``y ~ T + y0``. Each arm's variance (eq. (3)'s variance,
    ``Var(Y - theta X) / n``, on linearized values) is

        v_a = (g_a - theta h_a)' S_a (g_a - theta h_a) / n_a

    and the arms combine as in Welch's test: ``se**2 = v_c + v_t``, ``df =
    se**4 / (v_c**2 / (n_c - 1) + v_t**2 / (n_t - 1))`` (Welch 1947;
    Satterthwaite 1946). The estimation of ``theta`` is ignored in the
    variance (first order, as in the paper). The relative effect's interval is
    Fieller's (:func:`iterate.stats.estimate.relative_difference`; Fieller
    1954) on the adjusted arm values with variances ``v_a`` (``c_pooled``
    taken as fixed) and the same Welch df, so it excludes 0 exactly when the
    adjusted absolute interval does.

    Args:
        control: Control arm's joint moments.
        treatment: Treatment arm's joint moments.
        alternative: ``"greater"`` tests treatment > control.
        alpha: Significance level of the interval, in (0, 1).

    Returns:
        A :class:`CupedEstimate`. Nothing is adjusted (``adjusted`` False,
        ``theta`` 0, the fields those of the unadjusted estimate) when the
        metric cannot be tested (``covariate_status`` ``"not_tested"``), an
        arm's ``mean(x0)`` is 0 (``"zero_denominator"``) or the covariate has
        no within-arm variance (``"zero_variance"``, e.g. no unit had
        pre-period activity). Status ``zero_variance`` when the adjusted
        standard error is 0 (the covariate explains the metric exactly).

    Raises:
        StatsError: On a bad alpha or alternative, or arms that are not
            :class:`JointMoments`.

    Example:
        >>> c = JointMoments(1000, (10.0, 1.0, 9.0, 1.0),
        ...                  ((16.0, 0.0, 12.0, 0.0), (0.0, 0.0, 0.0, 0.0),
        ...                   (12.0, 0.0, 16.0, 0.0), (0.0, 0.0, 0.0, 0.0)))
        >>> t = JointMoments(1000, (10.5, 1.0, 9.1, 1.0), c.covariance)
        >>> e = cuped_test(c, t)
        >>> e.theta, round(e.effect, 3), round(e.variance_reduction, 4)
        (0.75, 0.425, 0.5625)
        >>> round(e.std_error, 4), round(e.unadjusted.std_error, 4)
        (0.1183, 0.1789)
    """
    check_alternative_and_alpha(alternative, alpha)
    for name, arm in (("control", control), ("treatment", treatment)):
        if not isinstance(arm, JointMoments):
            raise StatsError(f"{name} of type {type(arm).__name__}, must be JointMoments")
    unadjusted = delta_method_test(
        control.metric, treatment.metric, alternative=alternative, alpha=alpha
    )
    if unadjusted.status != "ok":
        return _not_adjusted(unadjusted, "not_tested")
    if control.means[3] == 0 or treatment.means[3] == 0:
        return _not_adjusted(unadjusted, "zero_denominator")
    arm_c, arm_t = _linearize(control), _linearize(treatment)
    theta = _pooled_theta(arm_c, arm_t)
    if theta is None:
        return _not_adjusted(unadjusted, "zero_variance")
    c_pooled = (control.n * control.means[2] + treatment.n * treatment.means[2]) / (
        control.n * control.means[3] + treatment.n * treatment.means[3]
    )
    mean_c, var_c = _adjusted_arm(arm_c, theta, c_pooled)
    mean_t, var_t = _adjusted_arm(arm_t, theta, c_pooled)
    return _adjusted_estimate(arm_c, arm_t, mean_c, var_c, mean_t, var_t, theta, unadjusted,
                              alternative=alternative, alpha=alpha)


def _pooled_theta(arm_c: _Linearized, arm_t: _Linearized) -> float | None:
    """Eq. (4) of Deng et al. (2013) pooled within arms (weights ``n_a - 1``); ``None`` when the
    covariate has no within-arm variance."""
    pooled_variance = (arm_c.n - 1) * arm_c.covariate_variance + (arm_t.n - 1) * arm_t.covariate_variance
    if not pooled_variance > 0:
        return None
    return ((arm_c.n - 1) * arm_c.cross + (arm_t.n - 1) * arm_t.cross) / pooled_variance


def _adjusted_arm(arm: _Linearized, theta: float, c_pooled: float) -> tuple[float, float]:
    """An arm's adjusted value ``r - theta (c - c_pooled)`` (eq. (3)) and its variance
    ``(g - theta h)' S (g - theta h) / n``, 0 when it cancels to rounding noise."""
    extra = theta * theta * arm.covariate_variance / arm.n
    variance = arm.metric_variance + (extra - 2 * theta * arm.cross / arm.n)
    if variance <= _CANCELLATION_TOLERANCE * (arm.metric_variance + extra):
        variance = 0.0
    return arm.ratio - theta * (arm.covariate_ratio - c_pooled), variance


def _adjusted_estimate(arm_c: _Linearized, arm_t: _Linearized, mean_c: float, var_c: float, mean_t: float,
                       var_t: float, theta: float, unadjusted: Estimate, *, alternative: Alternative,
                       alpha: float) -> CupedEstimate:
    """The adjusted arms compared as in Welch's test (Welch 1947; Satterthwaite 1946)."""
    effect = mean_t - mean_c
    unadjusted_se = unadjusted.std_error
    assert unadjusted_se is not None  # status "ok"
    variance_reduction = 1 - (var_c + var_t) / unadjusted_se**2
    std_error = math.sqrt(var_c + var_t)
    if std_error == 0:
        ci_low = ci_high = statistic = df = p_value = None
        relative = relative_difference(mean_c, None, mean_t, None, alternative=alternative, alpha=alpha)
    else:
        df = welch_degrees_of_freedom(var_c, arm_c.n, var_t, arm_t.n)
        ci_low, ci_high, statistic, p_value = interval_and_p_value(
            effect, std_error, alternative=alternative, alpha=alpha, df=df
        )
        relative = relative_difference(mean_c, var_c, mean_t, var_t, alternative=alternative,
                                       alpha=alpha, df=df)
    return CupedEstimate(
        method="cuped",
        status="ok" if std_error > 0 else "zero_variance",
        alternative=alternative,
        alpha=alpha,
        control_mean=mean_c,
        treatment_mean=mean_t,
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
        theta=theta,
        variance_reduction=variance_reduction,
        adjusted=True,
        covariate_status="ok",
        unadjusted=unadjusted,
    )

