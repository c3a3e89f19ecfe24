from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from iterate.errors import StatsError
from iterate.stats import Moments, interval_and_p_value, relative_lift, welch_t_test


def test_delta_method_variance_matches_hand_computation() -> None:
    rng = np.random.default_rng(11)
    c, t = rng.exponential(4.0, size=900), rng.exponential(4.4, size=1_100)
    rel, low, high = relative_lift(
        Moments.from_values(c), Moments.from_values(t), alternative="two-sided", alpha=0.05
    )
    mc, mt = c.mean(), t.mean()
    variance = t.var(ddof=1) / (t.size * mc**2) + mt**2 * c.var(ddof=1) / (c.size * mc**4)
    z = stats.norm.ppf(0.975)
    assert rel == pytest.approx(mt / mc - 1, rel=1e-12)
    assert low == pytest.approx(rel - z * math.sqrt(variance), rel=1e-9)
    assert high == pytest.approx(rel + z * math.sqrt(variance), rel=1e-9)


def test_one_sided_relative_intervals() -> None:
    control, treatment = Moments(500, 20.0, 25.0), Moments(500, 21.0, 30.0)
    _, two_low, two_high = relative_lift(control, treatment, alternative="two-sided", alpha=0.10)
    rel, low, high = relative_lift(control, treatment, alternative="greater", alpha=0.05)
    assert (low, high) == (pytest.approx(two_low, rel=1e-12), math.inf)
    rel, low, high = relative_lift(control, treatment, alternative="less", alpha=0.05)
    assert (low, high) == (-math.inf, pytest.approx(two_high, rel=1e-12))


def test_relative_fields_of_estimate_use_the_same_lift() -> None:
    control, treatment = Moments(400, 3.0, 2.0), Moments(420, 3.3, 2.5)
    e = welch_t_test(control, treatment, alternative="less", alpha=0.1)
    assert (e.relative_effect, e.relative_ci_low, e.relative_ci_high) == relative_lift(
        control, treatment, alternative="less", alpha=0.1
    )


def test_relative_interval_covers_truth_at_nominal_rate() -> None:
    rng = np.random.default_rng(2024)
    replications, n = 2_000, 400
    true_lift = 5.5 / 5.0 - 1
    c = rng.exponential(5.0, size=(replications, n))
    t = rng.exponential(5.5, size=(replications, n))
    c_mean, c_var = c.mean(axis=1), c.var(axis=1, ddof=1)
    t_mean, t_var = t.mean(axis=1), t.var(axis=1, ddof=1)
    covered = 0
    for i in range(replications):
        _, low, high = relative_lift(
            Moments(n, c_mean[i], c_var[i]), Moments(n, t_mean[i], t_var[i]),
            alternative="two-sided", alpha=0.05,
        )
        covered += low <= true_lift <= high
    tolerance = 3 * math.sqrt(0.95 * 0.05 / replications)
    assert abs(covered / replications - 0.95) < tolerance


def test_degenerate_relative_lift() -> None:
    assert relative_lift(Moments(10, 0.0, 1.0), Moments(10, 1.0, 1.0)) == (None, None, None)
    assert relative_lift(Moments(0, 0.0, 0.0), Moments(10, 1.0, 1.0)) == (None, None, None)
    assert relative_lift(Moments(1, 2.0, 0.0), Moments(10, 3.0, 1.0)) == (0.5, None, None)
    assert relative_lift(Moments(5, 2.0, 0.0), Moments(5, 3.0, 0.0)) == (0.5, None, None)


def test_shared_helper_normal_and_t() -> None:
    low, high, z, p = interval_and_p_value(0.4, 0.2, alternative="two-sided", alpha=0.05)
    assert z == pytest.approx(2.0) and p == pytest.approx(2 * stats.norm.sf(2.0), rel=1e-12)
    assert (low, high) == (pytest.approx(0.4 - 0.2 * stats.norm.ppf(0.975), rel=1e-12),
                           pytest.approx(0.4 + 0.2 * stats.norm.ppf(0.975), rel=1e-12))
    low, high, t, p = interval_and_p_value(0.4, 0.2, alternative="less", alpha=0.05, df=7.5)
    assert p == pytest.approx(stats.t.cdf(2.0, 7.5), rel=1e-12)
    assert (low, high) == (-math.inf, pytest.approx(0.4 + 0.2 * stats.t.ppf(0.95, 7.5), rel=1e-12))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 2}, "alpha == 2, must be in"),
        ({"alternative": "both"}, "alternative == 'both'"),
        ({"std_error": 0.0}, "std_error == 0.0"),
        ({"df": 0}, "df == 0"),
    ],
)
def test_shared_helper_validates(kwargs: dict, message: str) -> None:
    arguments = {"effect": 1.0, "std_error": 1.0, "alternative": "two-sided", "alpha": 0.05} | kwargs
    with pytest.raises(StatsError, match=message):
        interval_and_p_value(**arguments)
