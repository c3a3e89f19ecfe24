"""Quantile metrics (p50, p95 latency...) of event values clustered by unit.

The sample quantile ``Q(p)`` of all events of an arm is not a mean of
independent values: a unit contributes many correlated events. Its interval
comes from the uncertainty of the rank ``p`` (Liu, Sun, Varshney & Xu 2019,
"Large-Scale Online Experimentation with Quantile Metrics", arXiv:1903.08762,
section 3, building on Deng, Knoblich & Lu 2018, KDD, who apply the delta
method to quantile metrics). The fraction of events at or below ``Q(p)``,

    p_hat = sum_i B_i / sum_i N_i      (N_i events of unit i, B_i of them <= Q(p))

is a ratio metric, so its standard error ``sigma`` is the delta-method one of
:class:`RatioMoments`. The interval of the quantile is the empirical quantile
function evaluated at the ranks ``p -/+ z sigma``: no density estimate needed.

The work is split between the engine and this module:

1. the engine computes ``Q(p)`` and per-unit ``(B_i, N_i)`` moments;
2. :func:`quantile_rank_bounds` turns them into two ranks;
3. the engine evaluates its quantile function at those ranks (rounding the
   order-statistic index outward, Liu et al.'s "outer" interval);
4. :func:`quantile_test` compares the arms' :class:`QuantileSummary`.

Example:
    >>> from iterate.stats import RatioMoments, quantile_rank_bounds
    >>> r = quantile_rank_bounds(RatioMoments(1000, 4.75, 5.0, 6.0, 7.0, 6.2), 0.95, alpha=0.05)
    >>> round(r.sigma, 5), round(r.lower, 4), round(r.upper, 4)
    (0.00464, 0.9409, 0.9591)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from iterate.stats.distributions import ndtri

from iterate.errors import StatsError
from iterate.stats.estimate import (
    count_problem,
    Alternative,
    Estimate,
    RelativeInterval,
    Status,
    check_alpha,
    check_alternative_and_alpha,
    interval_and_p_value,
    relative_difference,
)
from iterate.stats.ratio import RatioMoments


def _two_sided_z(alpha: float) -> float:
    return float(-ndtri(alpha / 2))


@dataclass(frozen=True, slots=True)
class QuantileRanks:
    """Ranks at which to evaluate the empirical quantile function for an interval.

    Attributes:
        p: The quantile level, in (0, 1).
        sigma: Delta-method standard error of the rank ``p`` (None if degenerate).
        lower: ``max(0, p - z sigma)``, with ``z = z(1 - alpha/2)``.
        upper: ``min(1, p + z sigma)``.
        status: ``"ok"``; ``"zero_variance"`` when ``sigma == 0`` (the
            bounds equal ``p``); ``"too_few_units"`` (fewer than 2 units) or
            ``"zero_denominator"`` (no events), with sigma and bounds None.
    """

    p: float
    sigma: float | None
    lower: float | None
    upper: float | None
    status: Status = "ok"


def quantile_rank_bounds(indicator: RatioMoments, p: float, *, alpha: float) -> QuantileRanks:
    """Rank interval of the sample ``p``-quantile of clustered events.

    ``sigma**2`` is the delta-method variance of ``p_hat = mean(B) / mean(N)``
    (:attr:`RatioMoments.ratio_variance`; Deng, Knoblich & Lu 2018, the
    ratio-of-means variance), and the ranks are ``p -/+ z(1 - alpha/2) sigma``
    clipped to [0, 1] (Liu, Sun, Varshney & Xu 2019, arXiv:1903.08762,
    section 3, the interval of the quantile from the interval of the rank).

    Args:
        indicator: Per-unit moments of ``B_i`` (numerator: events with value
            <= the sample quantile) and ``N_i`` (denominator: events).
        p: The quantile level, in (0, 1).
        alpha: Significance level of the two-sided interval, in (0, 1).

    Returns:
        The ranks; the quantile's interval is ``[Q(lower), Q(upper)]``.

    Raises:
        StatsError: If ``p`` or ``alpha`` is not in (0, 1).

    Example:
        >>> r = quantile_rank_bounds(RatioMoments(1, 2.0, 4.0, 0.0, 0.0, 0.0), 0.5, alpha=0.05)
        >>> r.status, r.sigma
        ('too_few_units', None)
    """
    check_alpha(p, "p")
    check_alpha(alpha)
    if indicator.n < 2:
        return QuantileRanks(p, None, None, None, "too_few_units")
    if indicator.denominator_mean == 0:
        return QuantileRanks(p, None, None, None, "zero_denominator")
    sigma = math.sqrt(indicator.ratio_variance)
    half_width = _two_sided_z(alpha) * sigma
    status: Status = "ok" if sigma > 0 else "zero_variance"
    return QuantileRanks(p, sigma, max(0.0, p - half_width), min(1.0, p + half_width), status)


@dataclass(frozen=True, slots=True)
class QuantileSummary:
    """One arm's sample quantile and its interval, as computed by the engine.

    Attributes:
        n_units: Number of units (clusters).
        n_events: Number of events (values) over all units.
        p: The quantile level, in (0, 1).
        estimate: Sample ``p``-quantile of all events (None when there are none).
        lower: Quantile at :attr:`QuantileRanks.lower` (None when degenerate).
        upper: Quantile at :attr:`QuantileRanks.upper` (None when degenerate).
        alpha: Significance level the interval was computed at, in (0, 1).

    Raises:
        StatsError: On a negative count, a level outside (0, 1), a missing
            estimate or interval when there are events (and, for the interval,
            2 units), a non-finite value or ``lower <= estimate <= upper`` broken.

    Example:
        >>> QuantileSummary(n_units=400, n_events=2400, p=0.5, estimate=3.1, lower=2.9, upper=3.4,
        ...                 alpha=0.05).upper
        3.4
    """

    n_units: int
    n_events: int
    p: float
    estimate: float | None
    lower: float | None
    upper: float | None
    alpha: float = 0.05

    def __post_init__(self) -> None:
        for name in ("n_units", "n_events"):
            value = getattr(self, name)
            problem = count_problem(value, name)
            if problem:
                raise StatsError(problem)
            object.__setattr__(self, name, int(value))
        check_alpha(self.p, "p")
        check_alpha(self.alpha)
        for name in ("estimate", "lower", "upper"):
            value = getattr(self, name)
            if value is not None:
                if not math.isfinite(value):
                    raise StatsError(f"{name} == {value!r}, must be a finite number")
                object.__setattr__(self, name, float(value))
        if self.n_events > 0 and self.estimate is None:
            raise StatsError(f"estimate is None with n_events == {self.n_events}, must be given")
        if self.n_events > 0 and self.n_units >= 2 and (self.lower is None or self.upper is None):
            raise StatsError(
                f"lower == {self.lower!r}, upper == {self.upper!r} with n_units == {self.n_units}, "
                "both must be given (see quantile_rank_bounds)"
            )
        if None not in (self.estimate, self.lower, self.upper) and not (
            self.lower <= self.estimate <= self.upper  # type: ignore[operator]
        ):
            raise StatsError(
                f"lower == {self.lower}, estimate == {self.estimate}, upper == {self.upper}, "
                "must satisfy lower <= estimate <= upper"
            )

    @property
    def std_error(self) -> float | None:
        """Standard error implied by the interval, ``(upper - lower) / (2 z(1 - alpha/2))``.

        Liu et al. (2019, section 3) invert the rank interval instead of
        estimating the density ``f(Q(p))``; the implied ``1 / f`` is
        ``(upper - lower) / (2 z sigma)``, so ``se = sigma / f`` is this.
        None without an interval.
        """
        if self.lower is None or self.upper is None:
            return None
        return (self.upper - self.lower) / (2 * _two_sided_z(self.alpha))


def quantile_test(
    control: QuantileSummary,
    treatment: QuantileSummary,
    *,
    alternative: Alternative = "two-sided",
    alpha: float = 0.05,
) -> Estimate:
    """z test of the difference of two arms' quantiles, ``Q_t(p) - Q_c(p)``.

    Each arm's standard error is :attr:`QuantileSummary.std_error`, implied by
    its clustered interval (Liu, Sun, Varshney & Xu 2019, arXiv:1903.08762,
    section 3); independent arms add variances, ``se**2 = se_c**2 + se_t**2``,
    and the interval and p-value are normal (:func:`interval_and_p_value`).
    The relative difference ``Q_t / Q_c - 1`` has Fieller's interval
    (:func:`iterate.stats.estimate.relative_difference`; Fieller 1954) with
    the same arm variances and normal quantile, so it excludes 0 exactly when
    the absolute interval does.

    Args:
        control: Control quantile summary.
        treatment: Treatment quantile summary, at the same ``p``.
        alternative: ``"greater"`` tests treatment > control.
        alpha: Significance level of the test's interval, in (0, 1).

    Returns:
        Estimate with method ``"clustered_quantile"`` (arm means are the
        quantiles); ``too_few_units`` if an arm has fewer than 2 units,
        ``zero_denominator`` if an arm has no events, ``zero_variance`` if
        both standard errors are 0.

    Raises:
        StatsError: On a bad alpha or alternative, or arms at different ``p``.

    Example:
        >>> c = QuantileSummary(5000, 30000, 0.95, 812.0, 790.0, 836.0)
        >>> t = QuantileSummary(5000, 30500, 0.95, 771.0, 750.0, 795.0)
        >>> e = quantile_test(c, t)
        >>> e.effect, round(e.std_error, 2), round(e.p_value, 4)
        (-41.0, 16.42, 0.0125)
    """
    check_alternative_and_alpha(alternative, alpha)
    if control.p != treatment.p:
        raise StatsError(f"control p == {control.p}, treatment p == {treatment.p}, must be equal")
    status: Status = "ok"
    std_error = ci_low = ci_high = statistic = p_value = se_c = se_t = None
    if control.n_units < 2 or treatment.n_units < 2:
        status = "too_few_units"
    elif control.estimate is None or treatment.estimate is None:
        status = "zero_denominator"
    else:
        se_c, se_t = control.std_error, treatment.std_error
        std_error = math.sqrt(se_c**2 + se_t**2)  # type: ignore[operator]
        if std_error == 0:
            status = "zero_variance"
        else:
            ci_low, ci_high, statistic, p_value = interval_and_p_value(
                treatment.estimate - control.estimate, std_error, alternative=alternative, alpha=alpha
            )
    q_c, q_t = control.estimate, treatment.estimate
    if q_c is None or q_t is None:
        effect, relative = None, RelativeInterval(None, None, None, "not_tested")
    else:
        effect = q_t - q_c
        tested = status == "ok"
        relative = relative_difference(
            q_c, se_c**2 if tested else None,  # type: ignore[operator]
            q_t, se_t**2 if tested else None,  # type: ignore[operator]
            alternative=alternative, alpha=alpha,
        )
    return Estimate(
        method="clustered_quantile",
        status=status,
        alternative=alternative,
        alpha=alpha,
        control_mean=q_c,
        treatment_mean=q_t,
        effect=effect,
        ci_low=ci_low,
        ci_high=ci_high,
        std_error=std_error,
        statistic=statistic,
        df=None,
        p_value=p_value,
        relative_effect=relative.effect,
        relative_ci_low=relative.ci_low,
        relative_ci_high=relative.ci_high,
        relative_status=relative.status,
    )
