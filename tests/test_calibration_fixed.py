"""Fixed-horizon tests of iterate.stats keep the false-positive rate at alpha on A/A simulations.

Seeded numpy simulations (heavy-tailed counts, rare proportions); the rate of p < alpha over the
replications must lie in a 99% Clopper-Pearson interval around alpha.
"""

from __future__ import annotations

import numpy as np
import pytest

from iterate.stats import Moments, binomial_interval, two_proportion_z_test, welch_t_test

ALPHA = 0.05
REPLICATIONS = 4000


def _rate_is_alpha(rejections: int) -> tuple[float, float, float]:
    low, high = binomial_interval(rejections, REPLICATIONS, alpha=0.01)
    return rejections / REPLICATIONS, low, high


@pytest.mark.slow
def test_welch_t_keeps_alpha_on_heavy_tailed_counts():
    rng = np.random.default_rng(2024)
    rejections = 0
    for _ in range(REPLICATIONS):
        # per-unit event counts: gamma-Poisson mixture (overdispersed, many zeros), unequal arms
        control = rng.poisson(rng.gamma(0.5, 2.0, size=800))
        treatment = rng.poisson(rng.gamma(0.5, 2.0, size=600))
        estimate = welch_t_test(Moments.from_values(control), Moments.from_values(treatment), alpha=ALPHA)
        rejections += estimate.p_value < ALPHA
    rate, low, high = _rate_is_alpha(rejections)
    assert low <= ALPHA <= high, f"false-positive rate {rate:.4f}, 99% interval [{low:.4f}, {high:.4f}]"


@pytest.mark.slow
def test_two_proportion_z_keeps_alpha_on_rare_conversions():
    rng = np.random.default_rng(2025)
    n = 5000
    successes = rng.binomial(n, 0.02, size=(REPLICATIONS, 2))
    rejections = sum(
        two_proportion_z_test(Moments.from_proportion(int(c), n), Moments.from_proportion(int(t), n),
                              alpha=ALPHA).p_value < ALPHA
        for c, t in successes
    )
    rate, low, high = _rate_is_alpha(rejections)
    assert low <= ALPHA <= high, f"false-positive rate {rate:.4f}, 99% interval [{low:.4f}, {high:.4f}]"
