"""Power calibration by simulation: at the planned sample size, the library's own tests reject as often as planned.

For each design, ``SIMULATIONS`` seeded experiments are drawn at the size given by
``iterate.stats.power`` and analyzed with the library's frequentist tests; the
share of rejections must lie within ``SIGMAS`` binomial standard errors of the
power the planner promises (``achieved_power`` at the rounded-up size, a hair
above the target).

- proportions are drawn as binomial counts per arm;
- means are drawn from the exact sampling distribution of normal data's moments
  (sample mean ``N(mu, sigma**2 / n)``, sample variance ``sigma**2 chi2(n-1) / (n-1)``),
  so no per-unit values are needed;
- the guardrail is declared non-inferior when the one-sided upper bound of the
  harm is below the margin (the decision rule of ``iterate.decision``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from iterate.stats import Moments, two_proportion_z_test, welch_t_test
from iterate.stats.power import (
    achieved_power,
    guardrail_power,
    non_inferiority_sample_size,
    sample_size_per_arm,
)

pytestmark = pytest.mark.slow

SIMULATIONS = 100_000
SIGMAS = 4.0
ALPHA = 0.05


def _within_binomial_interval(rejections: int, expected: float) -> tuple[bool, str]:
    observed = rejections / SIMULATIONS
    error = math.sqrt(expected * (1 - expected) / SIMULATIONS)
    message = f"observed power {observed:.4f} over {SIMULATIONS} simulations, expected {expected:.4f} +/- {SIGMAS} x {error:.4f}"
    return abs(observed - expected) <= SIGMAS * error, message


def test_two_proportion_z_test_reaches_the_planned_power() -> None:
    p_c, mde = 0.10, 0.02
    n = sample_size_per_arm(baseline=p_c, mde=mde, alpha=ALPHA, power=0.8)
    expected = achieved_power(n, mde, baseline=p_c, alpha=ALPHA)
    rng = np.random.default_rng(2008)
    control = rng.binomial(n, p_c, SIMULATIONS)
    treatment = rng.binomial(n, p_c + mde, SIMULATIONS)
    rejections = sum(
        two_proportion_z_test(Moments.from_proportion(int(c), n), Moments.from_proportion(int(t), n),
                              alpha=ALPHA).p_value < ALPHA
        for c, t in zip(control, treatment)
    )
    ok, message = _within_binomial_interval(rejections, expected)
    print(message)
    assert ok, message


def test_welch_t_test_with_unequal_arms_reaches_the_planned_power() -> None:
    sigma, mde, ratio = 2.0, 0.1, 2.0
    n_c = sample_size_per_arm(variance=sigma**2, mde=mde, alpha=ALPHA, power=0.9, ratio=ratio)
    n_t = math.ceil(ratio * n_c)
    expected = achieved_power(n_c, mde, variance=sigma**2, alpha=ALPHA, ratio=n_t / n_c)
    rng = np.random.default_rng(2013)

    def arm(n: int, mu: float) -> tuple[np.ndarray, np.ndarray]:
        means = rng.normal(mu, sigma / math.sqrt(n), SIMULATIONS)
        variances = sigma**2 * rng.chisquare(n - 1, SIMULATIONS) / (n - 1)
        return means, variances

    (mean_c, var_c), (mean_t, var_t) = arm(n_c, 5.0), arm(n_t, 5.0 + mde)
    rejections = sum(
        welch_t_test(Moments(n_c, mc, vc), Moments(n_t, mt, vt), alpha=ALPHA).p_value < ALPHA
        for mc, vc, mt, vt in zip(mean_c, var_c, mean_t, var_t)
    )
    ok, message = _within_binomial_interval(rejections, expected)
    print(message)
    assert ok, message


def test_guardrail_non_inferiority_reaches_the_planned_power() -> None:
    # A crash rate (lower is better) of 5%, a relative margin of 10%, no true change.
    p_c, margin = 0.05, 0.10
    n = non_inferiority_sample_size(margin, baseline=p_c, relative=True, direction="decrease",
                                    alpha=ALPHA, power=0.8)
    expected = guardrail_power(n, margin, baseline=p_c, relative=True, direction="decrease", alpha=ALPHA)
    rng = np.random.default_rng(2017)
    control = rng.binomial(n, p_c, SIMULATIONS)
    treatment = rng.binomial(n, p_c, SIMULATIONS)
    absolute_margin = margin * p_c
    rejections = sum(
        two_proportion_z_test(Moments.from_proportion(int(c), n), Moments.from_proportion(int(t), n),
                              alternative="less", alpha=ALPHA).ci_high < absolute_margin
        for c, t in zip(control, treatment)
    )
    ok, message = _within_binomial_interval(rejections, expected)
    print(message)
    assert ok, message
