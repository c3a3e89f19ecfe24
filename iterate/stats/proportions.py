"""Two-proportion z test for the difference of two conversion rates.

Example:
    >>> from iterate.stats import Moments, two_proportion_z_test
    >>> e = two_proportion_z_test(Moments.from_proportion(8502, 44700),
    ...                           Moments.from_proportion(8279, 45489))
    >>> round(e.statistic, 3), round(e.p_value, 5)
    (-3.164, 0.00155)
"""

from __future__ import annotations

import math

from iterate.errors import StatsError
from iterate.stats.estimate import (
    Alternative,
    Estimate,
    check_alternative_and_alpha,
    interval_and_p_value,
    relative_difference,
)
from iterate.stats.moments import Moments
from iterate.stats.ratio import degenerate_estimate


def bernoulli_moments(arm: Moments, name: str = "arm") -> Moments:
    """The arm with its variance replaced by the Bernoulli ``p (1 - p)`` of its proportion ``p = mean``.

    Its ``variance / n`` is the variance ``p (1 - p) / n`` of the proportion that the Wald interval
    and the Bayesian summaries of a 0/1 metric use.

    Raises:
        StatsError: If the mean is not in [0, 1].

    Example:
        >>> bernoulli_moments(Moments.from_proportion(1, 4))
        Moments(n=4, mean=0.25, variance=0.1875)
    """
    if not 0 <= arm.mean <= 1:
        raise StatsError(f"{name} mean == {arm.mean!r}, must be a proportion in [0, 1]")
    return Moments(arm.n, arm.mean, arm.mean * (1 - arm.mean))


def two_proportion_z_test(
    control: Moments,
    treatment: Moments,
    *,
    alternative: Alternative = "two-sided",
    alpha: float = 0.05,
) -> Estimate:
    """z test of ``p_t - p_c`` for two independent proportions.

    The arm's ``mean`` is its proportion; its ``variance`` is ignored and
    recomputed from the proportion. The test and the interval use
    different standard errors, as is standard practice (and as statsmodels
    does), so each is right for its job:

    - statistic and p-value use the pooled standard error, exact under the
      null hypothesis ``p_t == p_c``, with ``p = (x_c + x_t) / (n_c + n_t)``:
      ``se0 = sqrt(p (1 - p) (1/n_c + 1/n_t))``
      (Pearson's two-sample test; ``statsmodels.stats.proportion.proportions_ztest``);
    - the interval uses the unpooled Wald standard error, valid whatever the
      effect: ``se = sqrt(p_c (1 - p_c) / n_c + p_t (1 - p_t) / n_t)``
      (``confint_proportions_2indep(..., method="wald", compare="diff")``).
      ``std_error`` reports this one.

    The relative effect's interval is Fieller's
    (:func:`iterate.stats.estimate.relative_difference`; Fieller 1954) on the
    same Bernoulli variances ``p (1 - p) / n`` and the same normal quantile as
    the Wald interval, so it excludes 0 exactly when the Wald interval does.

    Args:
        control: Control moments (``mean`` is the proportion).
        treatment: Treatment moments.
        alternative: ``"greater"`` tests treatment > control.
        alpha: Significance level of the interval, in (0, 1).

    Returns:
        Estimate with method ``"two_proportion_z"``; ``too_few_units`` if an
        arm has fewer than 2 units, ``zero_variance`` if the pooled
        proportion is 0 or 1. If both arms are all 0 or all 1 with different
        values (pooled se > 0, Wald se == 0), the Wald interval collapses to
        the effect itself.

    Raises:
        StatsError: On a mean outside [0, 1], a bad alpha or alternative.

    Example:
        >>> e = two_proportion_z_test(Moments.from_proportion(100, 1000),
        ...                           Moments.from_proportion(130, 1000), alternative="greater")
        >>> round(e.statistic, 3), round(e.p_value, 4), round(e.ci_low, 4)
        (2.103, 0.0177, 0.0066)
    """
    check_alternative_and_alpha(alternative, alpha)
    control = bernoulli_moments(control, "control")
    treatment = bernoulli_moments(treatment, "treatment")
    if control.n < 2 or treatment.n < 2:
        return degenerate_estimate(
            "two_proportion_z", control, treatment, alternative=alternative, alpha=alpha
        )
    n = control.n + treatment.n
    pooled = (control.mean * control.n + treatment.mean * treatment.n) / n
    pooled_se = math.sqrt(pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n))
    std_error = math.sqrt(control.variance / control.n + treatment.variance / treatment.n)
    if pooled_se == 0:
        return degenerate_estimate(
            "two_proportion_z", control, treatment, alternative=alternative, alpha=alpha, std_error=0.0
        )
    effect = treatment.mean - control.mean
    _, _, statistic, p_value = interval_and_p_value(
        effect, pooled_se, alternative=alternative, alpha=alpha
    )
    if std_error > 0:
        ci_low, ci_high, _, _ = interval_and_p_value(
            effect, std_error, alternative=alternative, alpha=alpha
        )
    else:
        ci_low = -math.inf if alternative == "less" else effect
        ci_high = math.inf if alternative == "greater" else effect
    relative = relative_difference(
        control.mean, control.variance / control.n, treatment.mean, treatment.variance / treatment.n,
        alternative=alternative, alpha=alpha,
    )
    return Estimate(
        method="two_proportion_z",
        status="ok",
        alternative=alternative,
        alpha=alpha,
        control_mean=control.mean,
        treatment_mean=treatment.mean,
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
