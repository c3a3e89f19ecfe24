"""Clopper-Pearson interval against statsmodels' exact ("beta") interval."""

from __future__ import annotations

import pytest
from statsmodels.stats.proportion import proportion_confint

from iterate.errors import StatsError
from iterate.stats import binomial_interval


@pytest.mark.parametrize(("successes", "trials"), [(0, 20), (1, 20), (10, 200), (57, 1000), (200, 200), (3, 7)])
@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_equals_statsmodels_beta_interval(successes, trials, alpha):
    low, high = binomial_interval(successes, trials, alpha=alpha)
    expected_low, expected_high = proportion_confint(successes, trials, alpha=alpha, method="beta")
    assert low == pytest.approx(expected_low, abs=1e-12)
    assert high == pytest.approx(expected_high, abs=1e-12)


@pytest.mark.parametrize(("successes", "trials"), [(-1, 10), (11, 10), (1, 0)])
def test_rejects_impossible_counts(successes, trials):
    with pytest.raises(StatsError, match="successes"):
        binomial_interval(successes, trials)
