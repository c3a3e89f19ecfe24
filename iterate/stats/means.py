"""Welch's t test for the difference of two means: the delta-method test with denominator 1.

Example:
    >>> from iterate.stats import Moments, welch_t_test
    >>> e = welch_t_test(Moments(1000, 10.0, 4.0), Moments(1000, 10.3, 4.2))
    >>> round(e.statistic, 3), round(e.df, 1), round(e.p_value, 5)
    (3.313, 1996.8, 0.00094)
"""

from __future__ import annotations

import dataclasses

from iterate.stats.estimate import Alternative, Estimate
from iterate.stats.moments import Moments
from iterate.stats.ratio import RatioMoments, delta_method_test


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

    A mean is a ratio metric whose denominator is 1 for every unit, so this
    is :func:`iterate.stats.ratio.delta_method_test` on
    :meth:`RatioMoments.from_mean` (one code path). Matches
    ``scipy.stats.ttest_ind(treatment, control, equal_var=False)``.

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
    estimate = delta_method_test(
        RatioMoments.from_mean(control), RatioMoments.from_mean(treatment),
        alternative=alternative, alpha=alpha,
    )
    return dataclasses.replace(estimate, method="welch_t")
