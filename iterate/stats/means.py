"""Welch's t test for the difference of two means.

Example:
    >>> from iterate.stats import Moments, welch_t_test
    >>> e = welch_t_test(Moments(1000, 10.0, 4.0), Moments(1000, 10.3, 4.2))
    >>> round(e.statistic, 3), round(e.df, 1), round(e.p_value, 5)
    (3.313, 1996.8, 0.00094)
"""

from __future__ import annotations

import math

from iterate.stats.estimate import (
    Alternative,
    Estimate,
    check_alternative_and_alpha,
    degenerate_estimate,
    interval_and_p_value,
    relative_lift,
)
from iterate.stats.moments import Moments


def welch_t_test(
    control: Moments,
    treatment: Moments,
    *,
    alternative: Alternative = "two-sided",
    alpha: float = 0.05,
) -> Estimate:
    """Welch's unequal-variances t test of ``treatment.mean - control.mean``.

    Standard error and degrees of freedom (Welch 1947, "The generalization of
    'Student's' problem when several different population variances are
    involved", Biometrika 34; Satterthwaite 1946, "An approximate distribution
    of estimates of variance components", Biometrics Bulletin 2):

        se**2 = v_c / n_c + v_t / n_t
        df = se**4 / ((v_c / n_c)**2 / (n_c - 1) + (v_t / n_t)**2 / (n_t - 1))

    Matches ``scipy.stats.ttest_ind(treatment, control, equal_var=False)``.

    Args:
        control: Control moments.
        treatment: Treatment moments.
        alternative: ``"greater"`` tests treatment > control.
        alpha: Significance level of the interval, in (0, 1).

    Returns:
        Estimate with method ``"welch_t"``; ``too_few_units`` if an arm has
        fewer than 2 units, ``zero_variance`` if both variances are 0.

    Raises:
        StatsError: On a bad alpha or alternative.

    Example:
        >>> e = welch_t_test(Moments(50, 1.0, 1.0), Moments(50, 1.5, 1.0), alternative="greater")
        >>> round(e.ci_low, 4), e.ci_high, round(e.p_value, 4)
        (0.1679, inf, 0.007)
    """
    check_alternative_and_alpha(alternative, alpha)
    if control.n < 2 or treatment.n < 2:
        return degenerate_estimate("welch_t", control, treatment, alternative=alternative, alpha=alpha)
    var_c = control.variance / control.n
    var_t = treatment.variance / treatment.n
    std_error = math.sqrt(var_c + var_t)
    if std_error == 0:
        return degenerate_estimate(
            "welch_t", control, treatment, alternative=alternative, alpha=alpha, std_error=0.0
        )
    df = (var_c + var_t) ** 2 / (var_c**2 / (control.n - 1) + var_t**2 / (treatment.n - 1))
    effect = treatment.mean - control.mean
    ci_low, ci_high, statistic, p_value = interval_and_p_value(
        effect, std_error, alternative=alternative, alpha=alpha, df=df
    )
    rel, rel_low, rel_high = relative_lift(control, treatment, alternative=alternative, alpha=alpha)
    return Estimate(
        method="welch_t",
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
        df=df,
        p_value=p_value,
        relative_effect=rel,
        relative_ci_low=rel_low,
        relative_ci_high=rel_high,
    )
