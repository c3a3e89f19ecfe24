from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from helpers import fieller_by_hand
from iterate.errors import StatsError
from iterate.stats import QuantileSummary, RatioMoments, quantile_rank_bounds, quantile_test

Z = stats.norm.ppf(0.975)


def clustered_values(
    rng: np.random.Generator, n_units: int, unit_sd: float
) -> tuple[np.ndarray, np.ndarray]:
    """Lognormal event values (latencies); a unit has 1 + Poisson(5) events and its own level."""
    events = 1 + rng.poisson(5.0, size=n_units)
    unit = np.repeat(np.arange(n_units), events)
    values = rng.lognormal(rng.normal(0.0, unit_sd, size=n_units)[unit], 0.5)
    return values, unit


def summarize(values: np.ndarray, unit: np.ndarray, p: float, alpha: float = 0.05) -> QuantileSummary:
    """The engine's part, in NumPy: Q(p), per-unit (B_i, N_i), Q at the rank bounds."""
    estimate = float(np.quantile(values, p))
    below = np.bincount(unit, weights=values <= estimate)
    events = np.bincount(unit)
    ranks = quantile_rank_bounds(RatioMoments.from_values(below, events), p, alpha=alpha)
    lower, upper = np.quantile(values, [ranks.lower, ranks.upper])
    return QuantileSummary(events.size, values.size, p, estimate, float(lower), float(upper), alpha)


def naive_std_error(values: np.ndarray, p: float) -> float:
    """The same rank inversion with events treated as independent: sigma = sqrt(p(1-p)/N)."""
    sigma = math.sqrt(p * (1 - p) / values.size)
    lower, upper = np.quantile(values, [p - Z * sigma, p + Z * sigma])
    return (upper - lower) / (2 * Z)


def test_rank_bounds_use_the_delta_method_of_the_indicator_ratio() -> None:
    values, unit = clustered_values(np.random.default_rng(1), 800, 0.7)
    q = np.quantile(values, 0.9)
    below, events = np.bincount(unit, weights=values <= q), np.bincount(unit)
    ranks = quantile_rank_bounds(RatioMoments.from_values(below, events), 0.9, alpha=0.1)
    p_hat = below.sum() / events.sum()
    sigma = math.sqrt(np.var(below - p_hat * events, ddof=1) / (events.size * events.mean() ** 2))
    z = stats.norm.ppf(0.95)
    assert ranks.status == "ok" and ranks.p == 0.9
    assert ranks.sigma == pytest.approx(sigma, rel=1e-9)
    assert (ranks.lower, ranks.upper) == (pytest.approx(0.9 - z * sigma, rel=1e-12),
                                          pytest.approx(0.9 + z * sigma, rel=1e-12))


def test_rank_bounds_are_clipped_to_the_unit_interval() -> None:
    ranks = quantile_rank_bounds(RatioMoments(20, 0.99, 1.0, 0.5, 0.0, 0.0), 0.99, alpha=0.05)
    assert ranks.upper == 1.0 and ranks.lower > 0


@pytest.mark.parametrize("p", [0.5, 0.95])
def test_analytic_interval_agrees_with_unit_bootstrap(p: float) -> None:
    rng = np.random.default_rng(20 + int(100 * p))
    values, unit = clustered_values(rng, 1_500, 0.8)
    analytic = summarize(values, unit, p).std_error
    n_units = unit.max() + 1
    replicates = []
    for _ in range(400):
        weights = np.bincount(rng.integers(0, n_units, size=n_units), minlength=n_units)
        replicates.append(np.quantile(np.repeat(values, weights[unit]), p))
    bootstrap = float(np.std(replicates, ddof=1))
    assert analytic == pytest.approx(bootstrap, rel=0.25)
    assert analytic > 1.5 * naive_std_error(values, p)


def test_without_unit_effect_the_clustered_and_naive_errors_agree() -> None:
    values, unit = clustered_values(np.random.default_rng(3), 1_500, 0.0)
    clustered = summarize(values, unit, 0.5).std_error
    assert clustered == pytest.approx(naive_std_error(values, 0.5), rel=0.2)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_quantile_test_matches_hand_normal_test(alternative: str) -> None:
    c = QuantileSummary(4_000, 25_000, 0.95, 812.0, 790.0, 836.0, alpha=0.05)
    t = QuantileSummary(4_100, 25_400, 0.95, 771.0, 752.0, 795.0, alpha=0.1)
    e = quantile_test(c, t, alternative=alternative, alpha=0.05)  # type: ignore[arg-type]
    se_c = (836.0 - 790.0) / (2 * stats.norm.ppf(0.975))
    se_t = (795.0 - 752.0) / (2 * stats.norm.ppf(0.95))
    se = math.hypot(se_c, se_t)
    z = -41.0 / se
    p_value = {"two-sided": 2 * stats.norm.sf(abs(z)), "greater": stats.norm.sf(z),
               "less": stats.norm.cdf(z)}[alternative]
    assert e.method == "clustered_quantile" and e.status == "ok" and e.df is None
    assert (e.control_mean, e.treatment_mean, e.effect) == (812.0, 771.0, -41.0)
    assert e.std_error == pytest.approx(se, rel=1e-12)
    assert e.p_value == pytest.approx(p_value, rel=1e-9)
    assert e.relative_effect == pytest.approx(771 / 812 - 1, rel=1e-12)
    # Fieller's interval with the same arm variances and normal quantile, solved by hand; one-sided,
    # the bound on the closed side is a root at q(1 - alpha)
    q = stats.norm.ppf(0.975 if alternative == "two-sided" else 0.95)
    low, high = fieller_by_hand(812.0, se_c**2, 771.0, se_t**2, q)
    expected = {"two-sided": (low, high), "greater": (low, math.inf), "less": (-math.inf, high)}[alternative]
    assert e.relative_status == "ok"
    assert (e.relative_ci_low, e.relative_ci_high) == (pytest.approx(expected[0], rel=1e-9),
                                                      pytest.approx(expected[1], rel=1e-9))
    if alternative == "two-sided":
        assert e.ci_low == pytest.approx(-41.0 - stats.norm.ppf(0.975) * se, rel=1e-12)


def test_swapping_arms_flips_sign() -> None:
    rng = np.random.default_rng(4)
    a = summarize(*clustered_values(rng, 600, 0.5), 0.5)
    b = summarize(*clustered_values(rng, 700, 0.5), 0.5)
    forward, backward = quantile_test(a, b), quantile_test(b, a)
    assert backward.effect == pytest.approx(-forward.effect, rel=1e-12)
    assert backward.ci_low == pytest.approx(-forward.ci_high, rel=1e-12)
    assert backward.p_value == pytest.approx(forward.p_value, rel=1e-12)


def test_degenerate_quantile_tests() -> None:
    ok = QuantileSummary(50, 300, 0.5, 3.0, 2.5, 3.5)
    single = QuantileSummary(1, 4, 0.5, 2.0, None, None)
    e = quantile_test(single, ok)
    assert e.status == "too_few_units" and e.effect == 1.0 and e.p_value is None
    assert e.relative_effect == pytest.approx(0.5) and e.relative_ci_low is None
    no_events = QuantileSummary(50, 0, 0.5, None, None, None)
    e = quantile_test(no_events, ok)
    assert e.status == "zero_denominator" and e.effect is None and e.control_mean is None
    flat = QuantileSummary(50, 300, 0.5, 3.0, 3.0, 3.0)
    e = quantile_test(flat, QuantileSummary(60, 300, 0.5, 4.0, 4.0, 4.0))
    assert e.status == "zero_variance" and e.std_error == 0.0 and e.effect == 1.0 and e.p_value is None
    assert quantile_test(flat, ok).status == "ok"


def test_degenerate_rank_bounds() -> None:
    one_unit = RatioMoments(1, 1.0, 2.0, 0.0, 0.0, 0.0)
    no_events = RatioMoments(5, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert quantile_rank_bounds(one_unit, 0.5, alpha=0.05).status == "too_few_units"
    assert quantile_rank_bounds(no_events, 0.5, alpha=0.05).status == "zero_denominator"
    flat = quantile_rank_bounds(RatioMoments(5, 1.0, 2.0, 0.0, 0.0, 0.0), 0.5, alpha=0.05)
    assert (flat.status, flat.sigma, flat.lower, flat.upper) == ("zero_variance", 0.0, 0.5, 0.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p": 1.0}, "p == 1.0, must be in"),
        ({"lower": 3.2}, "must satisfy lower <= estimate <= upper"),
        ({"upper": None}, "both must be given"),
        ({"estimate": None}, "estimate is None with n_events == 300"),
        ({"n_units": -2}, "n_units == -2"),
        ({"alpha": 0}, "alpha == 0"),
    ],
)
def test_invalid_summary_raises(kwargs: dict, message: str) -> None:
    arguments = {"n_units": 50, "n_events": 300, "p": 0.5, "estimate": 3.0,
                 "lower": 2.5, "upper": 3.5, "alpha": 0.05} | kwargs
    with pytest.raises(StatsError, match=message):
        QuantileSummary(**arguments)


def test_arms_at_different_levels_raise() -> None:
    with pytest.raises(StatsError, match="control p == 0.5, treatment p == 0.9"):
        quantile_test(QuantileSummary(50, 300, 0.5, 3.0, 2.5, 3.5),
                      QuantileSummary(50, 300, 0.9, 6.0, 5.0, 7.0))
