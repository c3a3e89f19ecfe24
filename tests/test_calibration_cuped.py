"""Calibration of CUPED by simulation: interval coverage and variance reduction (slow).

Seeded, vectorized experiments (moments of every simulated arm computed at once with NumPy), then
:func:`iterate.stats.cuped.cuped_test` on each. Checks, for a mean metric with a skewed pre-period
covariate and for a ratio metric (clicks / views, covariate the same ratio before exposure):

- the 95% intervals cover the true effect at a rate inside the 99% binomial interval around 0.95;
- the variance reduction matches ``rho**2`` (Deng et al. 2013, eq. (5)), ``rho`` being the
  correlation of the metric and the covariate (of their linearized values for a ratio): the
  reported reduction on average, and the actual one, ``1 - Var(adjusted effects) /
  Var(unadjusted effects)`` across the simulated experiments.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from iterate.stats.cuped import JointMoments, cuped_test

pytestmark = pytest.mark.slow

REPS = 4_000
LOW, HIGH = stats.binom.interval(0.99, REPS, 0.95)


def joint_moments(values: np.ndarray) -> list[JointMoments]:
    """``JointMoments`` of each experiment's arm from an array of shape (reps, n, 4)."""
    n = values.shape[1]
    means = values.mean(axis=1)
    deviations = values - means[:, None, :]
    covariances = np.einsum("rni,rnj->rij", deviations, deviations) / (n - 1)
    return [JointMoments(n, tuple(m), c) for m, c in zip(means, covariances)]  # type: ignore[arg-type]


def run(control: np.ndarray, treatment: np.ndarray, truth: float) -> dict[str, float]:
    covered = 0
    effects, unadjusted, reductions = [], [], []
    for c, t in zip(joint_moments(control), joint_moments(treatment)):
        e = cuped_test(c, t)
        assert e.status == "ok" and e.adjusted
        covered += e.ci_low <= truth <= e.ci_high
        effects.append(e.effect)
        unadjusted.append(e.unadjusted.effect)
        reductions.append(e.variance_reduction)
    return {
        "coverage": covered / REPS,
        "mean_reported_reduction": float(np.mean(reductions)),
        "actual_reduction": 1 - np.var(effects, ddof=1) / np.var(unadjusted, ddof=1),
        "bias": float(np.mean(effects)) - truth,
        "effect_sd": float(np.std(effects, ddof=1)),
    }


def test_mean_metric_coverage_and_variance_reduction() -> None:
    rng = np.random.default_rng(20130204)
    rho, slope, effect = 0.7, 0.5, 0.3
    pre_variance = 2.0 * 2.0**2  # gamma(shape 2, scale 2)
    noise_sd = math.sqrt(slope**2 * pre_variance * (1 - rho**2) / rho**2)

    def arm(n: int, shift: float) -> np.ndarray:
        y0 = rng.gamma(2.0, 2.0, size=(REPS, n))
        y = 1.0 + shift + slope * (y0 - 4.0) + rng.normal(0.0, noise_sd, size=(REPS, n))
        ones = np.ones_like(y)
        return np.stack([y, ones, y0, ones], axis=-1)

    result = run(arm(400, 0.0), arm(300, effect), effect)
    assert LOW / REPS <= result["coverage"] <= HIGH / REPS, result
    assert result["mean_reported_reduction"] == pytest.approx(rho**2, abs=0.01), result
    assert result["actual_reduction"] == pytest.approx(rho**2, abs=0.03), result
    assert abs(result["bias"]) < 3 * result["effect_sd"] / math.sqrt(REPS), result


def test_ratio_metric_coverage_and_variance_reduction() -> None:
    rng = np.random.default_rng(20180819)
    rate, effect = 0.2, 0.02

    def arm(n: int, shift: float) -> np.ndarray:
        activity = rng.gamma(2.0, 4.0, size=(REPS, n))
        p = 0.9 * rng.beta(4 * rate, 4 * (1 - rate), size=(REPS, n))
        views0 = rng.poisson(activity)  # units without pre-period views have covariate (0, 0)
        views = 1 + rng.poisson(activity)
        clicks0, clicks = rng.binomial(views0, p), rng.binomial(views, p + shift)
        return np.stack([clicks, views, clicks0, views0], axis=-1).astype(float)

    # Views and the click probability are independent, so each arm's ratio of means is E[p].
    result = run(arm(400, 0.0), arm(400, effect), effect)
    assert LOW / REPS <= result["coverage"] <= HIGH / REPS, result
    # rho: correlation of the linearized metric and covariate in each arm, from very large arms
    # (the treatment changes it a little); equal arm sizes, so the expected reduction is
    # 1 - sum Var_a (1 - rho_a**2) / sum Var_a.
    variances, residuals = [], []
    for shift in (0.0, effect):
        clicks, views, clicks0, views0 = np.moveaxis(arm(500, shift).reshape(-1, 4), -1, 0)
        metric = (clicks - clicks.mean() / views.mean() * views) / views.mean()
        covariate = clicks0 - clicks0.mean() / views0.mean() * views0
        rho = np.corrcoef(metric, covariate)[0, 1]
        variances.append(metric.var())
        residuals.append(metric.var() * (1 - rho**2))
    expected = 1 - sum(residuals) / sum(variances)
    assert result["mean_reported_reduction"] == pytest.approx(expected, abs=0.005), (result, expected)
    assert result["actual_reduction"] == pytest.approx(result["mean_reported_reduction"], abs=0.03), result
    assert abs(result["bias"]) < 3 * result["effect_sd"] / math.sqrt(REPS), result
