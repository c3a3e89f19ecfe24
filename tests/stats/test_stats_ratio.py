from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from iterate.errors import StatsError
from helpers import fieller_by_hand
from iterate.stats import Moments, RatioMoments, RelativeInterval, delta_method_test, relative_lift, welch_t_test

ALTERNATIVES = ["two-sided", "greater", "less"]


def clustered_arm(rng: np.random.Generator, n: int, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit (clicks, views): views vary by unit, click rate has a strong unit effect."""
    views = 1 + rng.poisson(rng.gamma(2.0, 4.0, size=n))
    p = rng.beta(rate * 4, (1 - rate) * 4, size=n)
    return rng.binomial(views, p).astype(float), views.astype(float)


def test_ratio_variance_is_the_variance_of_linearized_values() -> None:
    y, x = clustered_arm(np.random.default_rng(5), 700, 0.2)
    m = RatioMoments.from_values(y, x)
    r = y.mean() / x.mean()
    assert m.ratio == pytest.approx(r, rel=1e-12)
    expected = np.var(y - r * x, ddof=1) / (y.size * x.mean() ** 2)
    assert m.ratio_variance == pytest.approx(expected, rel=1e-9)


def test_from_values_equals_numpy() -> None:
    y, x = clustered_arm(np.random.default_rng(6), 300, 0.3)
    m = RatioMoments.from_values(y, x)
    assert m.n == 300
    assert m.numerator_mean == pytest.approx(y.mean(), rel=1e-12)
    assert m.denominator_mean == pytest.approx(x.mean(), rel=1e-12)
    assert m.numerator_variance == pytest.approx(np.var(y, ddof=1), rel=1e-12)
    assert m.denominator_variance == pytest.approx(np.var(x, ddof=1), rel=1e-12)
    assert m.covariance == pytest.approx(np.cov(y, x, ddof=1)[0, 1], rel=1e-12)


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_denominator_one_is_exactly_welch(alternative: str) -> None:
    rng = np.random.default_rng(8)
    c, t = rng.lognormal(1.0, 0.8, size=250), rng.lognormal(1.1, 0.9, size=140)
    e = delta_method_test(
        RatioMoments.from_values(c, np.ones_like(c)), RatioMoments.from_values(t, np.ones_like(t)),
        alternative=alternative,  # type: ignore[arg-type]
    )
    ref = stats.ttest_ind_from_stats(
        t.mean(), t.std(ddof=1), t.size, c.mean(), c.std(ddof=1), c.size,
        equal_var=False, alternative=alternative,
    )
    assert e.method == "delta_ratio" and e.status == "ok"
    assert e.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert e.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert e.df == pytest.approx(stats.ttest_ind(t, c, equal_var=False).df, rel=1e-12)


def test_welch_is_the_delta_test_on_from_mean() -> None:
    control, treatment = Moments(120, 10.0, 9.0), Moments(80, 11.2, 16.0)
    ratio = delta_method_test(RatioMoments.from_mean(control), RatioMoments.from_mean(treatment))
    assert welch_t_test(control, treatment) == dataclasses.replace(ratio, method="welch_t")
    assert delta_method_test(control, treatment) == ratio


def test_merging_shards_equals_from_values_on_all_data() -> None:
    rng = np.random.default_rng(9)
    y, x = clustered_arm(rng, 2_000, 0.25)
    y, x = y + 1e6, x + 5e5  # values far from 0 are where naive formulas fail
    cuts = [0, 1, 3, 400, 401, 1_250, 2_000]
    shards = [RatioMoments.from_values(y[a:b], x[a:b]) for a, b in zip(cuts, cuts[1:])]
    merged = sum(shards + [RatioMoments.from_values([], [])])
    whole = RatioMoments.from_values(y, x)
    assert merged.n == whole.n
    for field in ("numerator_mean", "denominator_mean", "numerator_variance",
                  "denominator_variance", "covariance"):
        assert getattr(merged, field) == pytest.approx(getattr(whole, field), rel=1e-9), field


def test_merging_shards_near_1e8_stays_accurate() -> None:
    rng = np.random.default_rng(13)
    x = 1e8 + rng.normal(0.0, 1.0, size=100_000)
    y = 2e8 + 0.5 * (x - 1e8) + rng.normal(0.0, 1.0, size=x.size)
    merged = sum(RatioMoments.from_values(a, b)
                 for a, b in zip(np.array_split(y, 16), np.array_split(x, 16)))
    whole = RatioMoments.from_values(y, x)
    assert merged.numerator_variance == pytest.approx(whole.numerator_variance, rel=1e-6)
    assert merged.denominator_variance == pytest.approx(whole.denominator_variance, rel=1e-6)
    assert merged.covariance == pytest.approx(whole.covariance, rel=1e-6)
    assert merged.ratio_variance == pytest.approx(whole.ratio_variance, rel=1e-5)


def test_swapping_arms_flips_sign() -> None:
    rng = np.random.default_rng(10)
    a = RatioMoments.from_values(*clustered_arm(rng, 400, 0.2))
    b = RatioMoments.from_values(*clustered_arm(rng, 500, 0.23))
    forward, backward = delta_method_test(a, b), delta_method_test(b, a)
    assert backward.effect == pytest.approx(-forward.effect, rel=1e-12)
    assert backward.ci_low == pytest.approx(-forward.ci_high, rel=1e-12)
    assert backward.ci_high == pytest.approx(-forward.ci_low, rel=1e-12)
    assert backward.p_value == pytest.approx(forward.p_value, rel=1e-12)
    assert delta_method_test(b, a, alternative="less").p_value == pytest.approx(
        delta_method_test(a, b, alternative="greater").p_value, rel=1e-12
    )


def test_relative_lift_of_ratios_is_fieller_on_the_delta_method_variances() -> None:
    rng = np.random.default_rng(12)
    (yc, xc), (yt, xt) = clustered_arm(rng, 600, 0.2), clustered_arm(rng, 650, 0.22)
    c, t = RatioMoments.from_values(yc, xc), RatioMoments.from_values(yt, xt)
    rc, rt = yc.sum() / xc.sum(), yt.sum() / xt.sum()
    var_c = np.var(yc - rc * xc, ddof=1) / (yc.size * xc.mean() ** 2)
    var_t = np.var(yt - rt * xt, ddof=1) / (yt.size * xt.mean() ** 2)
    df = (var_c + var_t) ** 2 / (var_c**2 / (yc.size - 1) + var_t**2 / (yt.size - 1))
    low, high = fieller_by_hand(rc, var_c, rt, var_t, stats.t.ppf(0.95, df))
    r = relative_lift(c, t, alternative="two-sided", alpha=0.1)
    assert r.effect == pytest.approx(rt / rc - 1, rel=1e-9) and r.status == "ok"
    assert (r.ci_low, r.ci_high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))
    e = delta_method_test(c, t, alpha=0.1)
    assert (e.relative_effect, e.relative_ci_low, e.relative_ci_high, e.relative_status) == (
        r.effect, r.ci_low, r.ci_high, r.status)


def test_ratio_interval_covers_under_clustering_and_naive_does_not() -> None:
    rng = np.random.default_rng(2025)
    reps, n, rate_c, rate_t = 2_000, 200, 0.20, 0.22
    truth = rate_t - rate_c  # click probability is independent of the number of views
    arms = []
    for rate in (rate_c, rate_t):
        views = 1 + rng.poisson(rng.gamma(2.0, 4.0, size=(reps, n)))
        clicks = rng.binomial(views, rng.beta(rate * 4, (1 - rate) * 4, size=(reps, n)))
        arms.append((clicks.astype(float), views.astype(float)))
    covered = naive_covered = 0
    z = stats.norm.ppf(0.975)
    for i in range(reps):
        c, t = (RatioMoments.from_values(y[i], x[i]) for y, x in arms)
        e = delta_method_test(c, t)
        covered += e.ci_low <= truth <= e.ci_high
        # Events as if independent: binomial variance of clicks / views.
        naive_se = math.sqrt(sum(a.ratio * (1 - a.ratio) / (a.n * a.denominator_mean)
                                 for a in (c, t)))
        naive_covered += abs(e.effect - truth) <= z * naive_se
    tolerance = 3 * math.sqrt(0.95 * 0.05 / reps)
    assert abs(covered / reps - 0.95) < tolerance
    assert naive_covered / reps < 0.95 - 0.1


def test_zero_denominator() -> None:
    empty_views = RatioMoments(10, 0.0, 0.0, 0.0, 0.0, 0.0)
    other = RatioMoments(10, 1.0, 5.0, 1.0, 4.0, 1.0)
    e = delta_method_test(empty_views, other)
    assert e.status == "zero_denominator"
    assert e.control_mean is None and e.treatment_mean == pytest.approx(0.2)
    assert e.effect is None and e.p_value is None and e.ci_low is None and e.std_error is None
    assert e.relative_effect is None
    assert e.relative_status == "not_tested"
    assert relative_lift(empty_views, other) == RelativeInterval(None, None, None, "not_tested")
    with pytest.raises(StatsError, match="denominator_mean == 0"):
        _ = empty_views.ratio


def test_too_few_units_and_zero_variance() -> None:
    one = RatioMoments.from_values([2.0], [4.0])
    other = RatioMoments.from_values([1.0, 2.0, 3.0], [5.0, 5.0, 6.0])
    e = delta_method_test(one, other)
    assert e.status == "too_few_units" and e.p_value is None and e.df is None
    assert e.control_mean == 0.5 and e.effect == pytest.approx(6 / 16 - 0.5)
    # Every unit has the same ratio: the ratio is known exactly in each arm.
    a = RatioMoments.from_values([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])
    b = RatioMoments.from_values([3.0, 6.0], [4.0, 8.0])
    assert a.ratio_variance == 0.0
    e = delta_method_test(a, b)
    assert e.status == "zero_variance" and e.std_error == 0.0 and e.p_value is None
    assert e.effect == pytest.approx(0.25) and e.relative_effect == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, 0.0, 0.0, 0.0, 0.0, 0.0), "n == -1"),
        ((3, 1.0, math.nan, 0.0, 0.0, 0.0), "denominator_mean == nan"),
        ((3, 1.0, 1.0, -0.5, 0.0, 0.0), "numerator_variance == -0.5"),
        ((3, 1.0, 1.0, 0.0, 0.0, math.inf), "covariance == inf"),
    ],
)
def test_invalid_ratio_moments_raise(args: tuple, message: str) -> None:
    with pytest.raises(StatsError, match=message):
        RatioMoments(*args)


def test_mismatched_lengths_raise() -> None:
    with pytest.raises(StatsError, match="3 numerators and 2 denominators"):
        RatioMoments.from_values([1, 2, 3], [1, 2])


def test_bad_alpha_raises() -> None:
    m = RatioMoments(10, 1.0, 5.0, 1.0, 4.0, 1.0)
    with pytest.raises(StatsError, match="alpha == 2"):
        delta_method_test(m, m, alpha=2)
