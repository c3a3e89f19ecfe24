"""LORD++ (Ramdas et al. 2017) against hand computations, and its FDR by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from iterate.history.online_fdr import GAMMA_CONSTANT, gamma, gamma_normalizer_tail, lord_alpha, lord_stream, lord_wealth


def gamma_by_hand(j: int) -> float:
    return 0.07720838 * math.log(max(j, 2)) / (j * math.exp(math.sqrt(math.log(j))))


def test_gamma_sums_to_at_most_one_and_decreases_after_its_peak():
    # sum_j gamma_j / C by partial sum and an exact tail integral: C times it must not exceed 1
    total = gamma_normalizer_tail(10**6)
    assert total == pytest.approx(gamma_normalizer_tail(2 * 10**6), rel=1e-7)
    assert GAMMA_CONSTANT * total == pytest.approx(0.9763, abs=1e-4)
    assert GAMMA_CONSTANT * total <= 1
    values = [gamma(j) for j in range(1, 200)]
    assert values == pytest.approx([gamma_by_hand(j) for j in range(1, 200)], rel=1e-15)
    peak = int(np.argmax(values))
    assert all(a >= b for a, b in zip(values[peak:], values[peak + 1:]))


def test_levels_of_a_short_stream_match_hand_computation():
    alpha, w0 = 0.05, 0.005
    # stream: test 1 rejects, test 2 does not, test 3 rejects, test 4 ...
    g = gamma_by_hand
    expected = [
        g(1) * w0,                                     # t = 1: no discovery yet
        g(2) * w0 + (alpha - w0) * g(1),               # t = 2: tau_1 = 1
        g(3) * w0 + (alpha - w0) * g(2),               # t = 3
        g(4) * w0 + (alpha - w0) * g(3) + alpha * g(1),  # t = 4: tau_2 = 3
    ]
    p_values = [1e-9, 0.9, 1e-9, 0.9]
    decisions = lord_stream(p_values, alpha=alpha, w0=w0)
    assert [level for level, _ in decisions] == pytest.approx(expected, rel=1e-12)
    assert [rejected for _, rejected in decisions] == [True, False, True, False]
    assert lord_alpha(4, [1, 3], alpha=alpha, w0=w0) == pytest.approx(expected[3], rel=1e-12)
    # wealth before test 4: w0 - alpha_1 - alpha_2 - alpha_3 + (alpha - w0) + alpha
    wealth = w0 - sum(expected[:3]) + (alpha - w0) + alpha
    assert lord_wealth(4, [1, 3], alpha=alpha, w0=w0) == pytest.approx(wealth, rel=1e-12)
    assert lord_alpha(4, [1, 3], alpha=alpha, w0=w0) <= lord_wealth(4, [1, 3], alpha=alpha, w0=w0)


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="w0"):
        lord_alpha(1, (), alpha=0.05, w0=0.06)
    with pytest.raises(ValueError, match="j >= 1"):
        gamma(0)


@pytest.mark.slow
def test_fdr_over_a_stream_of_200_releases_stays_below_target():
    """200 releases, 10% with a true effect (z ~ N(3.5, 1)), the others null (z ~ N(0, 1)), one-sided
    p-values; over 400 seeded replications the mean false discovery proportion is at most 0.05,
    where testing each release at 0.05 alone gives about 0.3."""
    rng = np.random.default_rng(20240601)
    alpha, w0, releases, replications = 0.05, 0.025, 200, 400
    proportions, powers, naive = [], [], []
    for _ in range(replications):
        effect = rng.random(releases) < 0.10
        z = rng.normal(np.where(effect, 3.5, 0.0), 1.0)
        p_values = norm.sf(z)
        rejected = np.array([r for _, r in lord_stream(p_values.tolist(), alpha=alpha, w0=w0)])
        false = int(np.sum(rejected & ~effect))
        proportions.append(false / max(int(rejected.sum()), 1))
        alone = p_values <= alpha
        naive.append(np.sum(alone & ~effect) / max(int(alone.sum()), 1))
        powers.append(np.sum(rejected & effect) / max(int(effect.sum()), 1))
    fdr = float(np.mean(proportions))
    standard_error = float(np.std(proportions, ddof=1) / math.sqrt(replications))
    assert fdr <= alpha
    assert fdr + 3 * standard_error > 0.001  # some false discoveries happen: the level is not vacuous
    assert np.mean(powers) > 0.4  # and it finds true effects
    assert np.mean(naive) > 0.2  # the stream needs the control
