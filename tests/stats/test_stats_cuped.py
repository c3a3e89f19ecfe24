"""CUPED (iterate.stats.cuped) against OLS regression adjustment and hand NumPy computations."""

from __future__ import annotations

import dataclasses
import doctest
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

import iterate.stats.cuped as cuped_module
from iterate.errors import StatsError
from helpers import fieller_by_hand
from iterate.stats import Estimate, RatioMoments, delta_method_test
from iterate.stats.cuped import CupedEstimate, JointMoments, cuped_test

ROOT = Path(__file__).resolve().parents[2]
ALTERNATIVES = ["two-sided", "greater", "less"]
EXACT = 1e-9


def mean_arms(rng: np.random.Generator, n_c: int = 800, n_t: int = 650, effect: float = 0.4):
    """Skewed pre-period value y0 and an outcome correlated with it; unequal arm sizes and noise."""
    y0_c, y0_t = rng.gamma(2.0, 3.0, n_c), rng.gamma(2.0, 3.0, n_t)
    y_c = 1.0 + 0.7 * y0_c + rng.normal(0.0, 3.0, n_c)
    y_t = 1.0 + effect + 0.7 * y0_t + rng.normal(0.0, 4.0, n_t)
    return (y_c, y0_c), (y_t, y0_t)


def ratio_arm(rng: np.random.Generator, n: int, rate: float):
    """Per-unit (clicks, views) in the experiment and in the pre-period, sharing a unit click rate."""
    activity = rng.gamma(2.0, 4.0, n)
    p = 0.9 * rng.beta(4 * rate, 4 * (1 - rate), n)
    views0 = rng.poisson(activity)  # some units have no pre-period activity: (0, 0)
    views = 1 + rng.poisson(activity)
    clicks0, clicks = rng.binomial(views0, p), rng.binomial(views, p)
    return clicks.astype(float), views.astype(float), clicks0.astype(float), views0.astype(float)


def estimate_fields(e: Estimate) -> dict:
    return {field.name: getattr(e, field.name) for field in dataclasses.fields(Estimate)}


def test_docstring_examples_run() -> None:
    outcome = doctest.testmod(cuped_module)
    assert outcome.attempted > 0 and outcome.failed == 0


def test_import_needs_no_engine_and_no_scipy() -> None:
    code = (
        "import iterate.stats.cuped, sys; "
        "assert not any(m.split('.')[0] in {'duckdb', 'polars', 'click', 'pandas', 'statsmodels'} "
        "for m in sys.modules), sorted(sys.modules); "
        "assert not any(m.split('.')[0] == 'scipy' for m in sys.modules), sorted(sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_from_values_equals_numpy() -> None:
    (y, x, y0, x0) = ratio_arm(np.random.default_rng(1), 500, 0.2)
    m = JointMoments.from_values(y, x, y0=y0, x0=x0)
    values = np.column_stack([y, x, y0, x0])
    assert m.n == 500
    assert m.means == pytest.approx(tuple(values.mean(axis=0)), rel=1e-12)
    assert np.array(m.covariance) == pytest.approx(np.cov(values, rowvar=False, ddof=1), rel=1e-12)
    reference = RatioMoments.from_values(y, x)
    for name in ("n", "numerator_mean", "denominator_mean", "numerator_variance",
                 "denominator_variance", "covariance"):
        assert getattr(m.metric, name) == pytest.approx(getattr(reference, name), rel=1e-12), name
    assert m.covariate.covariance == pytest.approx(np.cov(y0, x0)[0, 1], rel=1e-12)


def test_mean_metric_and_plain_covariate_have_exact_unit_denominators() -> None:
    m = JointMoments.from_values([1.0, 4.0, 2.0], y0=[3.0, 0.0, 5.0])
    assert m.means[1] == 1.0 and m.means[3] == 1.0
    for i in (1, 3):
        assert all(m.covariance[i][j] == 0.0 and m.covariance[j][i] == 0.0 for j in range(4))


def test_mean_metric_effect_is_the_ols_treatment_coefficient() -> None:
    (y_c, y0_c), (y_t, y0_t) = mean_arms(np.random.default_rng(3))
    e = cuped_test(JointMoments.from_values(y_c, y0=y0_c), JointMoments.from_values(y_t, y0=y0_t))

    y, y0 = np.r_[y_c, y_t], np.r_[y0_c, y0_t]
    treated = np.r_[np.zeros(y_c.size), np.ones(y_t.size)]
    design = sm.add_constant(np.column_stack([treated, y0 - y0.mean()]))
    ols = sm.OLS(y, design).fit(cov_type="HC2")
    assert e.method == "cuped" and e.status == "ok" and e.adjusted and e.covariate_status == "ok"
    assert e.effect == pytest.approx(ols.params[1], rel=EXACT)
    assert e.theta == pytest.approx(ols.params[2], rel=EXACT)  # the ANCOVA common slope
    # Adjusted arm values: the covariate-mean-centred OLS predictions for each arm.
    assert e.control_mean == pytest.approx(ols.params[0], rel=EXACT)
    assert e.treatment_mean == pytest.approx(ols.params[0] + ols.params[1], rel=EXACT)

    # Hand computation of the adjusted variances (Welch on y - theta * y0).
    theta = e.theta
    var_c = np.var(y_c - theta * y0_c, ddof=1) / y_c.size
    var_t = np.var(y_t - theta * y0_t, ddof=1) / y_t.size
    assert e.std_error == pytest.approx(math.sqrt(var_c + var_t), rel=EXACT)
    df = (var_c + var_t) ** 2 / (var_c**2 / (y_c.size - 1) + var_t**2 / (y_t.size - 1))
    assert e.df == pytest.approx(df, rel=EXACT)
    q = stats.t.ppf(0.975, df)
    assert (e.ci_low, e.ci_high) == (
        pytest.approx(e.effect - q * e.std_error, rel=EXACT),
        pytest.approx(e.effect + q * e.std_error, rel=EXACT),
    )
    assert e.p_value == pytest.approx(2 * stats.t.sf(abs(e.effect) / e.std_error, df), rel=1e-7)
    # Heteroskedasticity-robust OLS standard error: the same to first order.
    assert e.std_error == pytest.approx(ols.bse[1], rel=0.03)
    assert e.variance_reduction == pytest.approx(1 - (var_c + var_t) / e.unadjusted.std_error**2, rel=EXACT)


def test_ratio_metric_matches_hand_linearization() -> None:
    rng = np.random.default_rng(4)
    arms = [ratio_arm(rng, 900, 0.20), ratio_arm(rng, 700, 0.22)]
    c, t = (JointMoments.from_values(y, x, y0=y0, x0=x0) for y, x, y0, x0 in arms)
    e = cuped_test(c, t, alpha=0.1)

    linearized = []
    for y, x, y0, x0 in arms:
        r, cov_ratio = y.mean() / x.mean(), y0.mean() / x0.mean()
        linearized.append(((y - r * x) / x.mean(), (y0 - cov_ratio * x0) / x0.mean(), r, cov_ratio))
    cross = sum(np.dot(g - g.mean(), h - h.mean()) for g, h, _, _ in linearized)
    spread = sum(np.dot(h - h.mean(), h - h.mean()) for _, h, _, _ in linearized)
    theta = cross / spread
    (_, _, y0_c, x0_c), (_, _, y0_t, x0_t) = arms
    c_pooled = (y0_c.sum() + y0_t.sum()) / (x0_c.sum() + x0_t.sum())
    adjusted = [r - theta * (k - c_pooled) for _, _, r, k in linearized]
    variances = [np.var(g - theta * h, ddof=1) / g.size for g, h, _, _ in linearized]

    assert e.status == "ok" and e.adjusted
    assert e.theta == pytest.approx(theta, rel=EXACT)
    assert e.control_mean == pytest.approx(adjusted[0], rel=EXACT)
    assert e.treatment_mean == pytest.approx(adjusted[1], rel=EXACT)
    assert e.effect == pytest.approx(adjusted[1] - adjusted[0], rel=EXACT)
    assert e.std_error == pytest.approx(math.sqrt(sum(variances)), rel=EXACT)
    unadjusted_variance = sum(np.var(g, ddof=1) / g.size for g, _, _, _ in linearized)
    assert e.variance_reduction == pytest.approx(1 - sum(variances) / unadjusted_variance, rel=EXACT)
    assert 0.05 < e.variance_reduction < 0.9
    # Fieller's interval on the adjusted arms, with the adjusted test's Welch df, solved by hand
    n_c, n_t = (g.size for g, _, _, _ in linearized)
    df = sum(variances) ** 2 / (variances[0] ** 2 / (n_c - 1) + variances[1] ** 2 / (n_t - 1))
    low, high = fieller_by_hand(adjusted[0], variances[0], adjusted[1], variances[1], stats.t.ppf(0.95, df))
    assert e.relative_effect == pytest.approx(adjusted[1] / adjusted[0] - 1, rel=EXACT)
    assert e.relative_status == "ok"
    assert (e.relative_ci_low, e.relative_ci_high) == (pytest.approx(low, rel=EXACT),
                                                      pytest.approx(high, rel=EXACT))


def test_unadjusted_is_the_delta_method_on_the_metric() -> None:
    rng = np.random.default_rng(5)
    arms = [ratio_arm(rng, 400, 0.2), ratio_arm(rng, 450, 0.2)]
    c, t = (JointMoments.from_values(y, x, y0=y0, x0=x0) for y, x, y0, x0 in arms)
    for alternative in ALTERNATIVES:
        e = cuped_test(c, t, alternative=alternative, alpha=0.1)  # type: ignore[arg-type]
        assert e.unadjusted == delta_method_test(
            c.metric, t.metric, alternative=alternative, alpha=0.1  # type: ignore[arg-type]
        )
        reference = delta_method_test(
            RatioMoments.from_values(*arms[0][:2]), RatioMoments.from_values(*arms[1][:2]),
            alternative=alternative, alpha=0.1,  # type: ignore[arg-type]
        )
        for name, value in estimate_fields(reference).items():
            assert getattr(e.unadjusted, name) == (
                value if isinstance(value, str) else pytest.approx(value, rel=1e-9)
            ), name


def _uncorrelated(arm: JointMoments) -> JointMoments:
    s = np.array(arm.covariance)
    s[:2, 2:] = 0.0
    s[2:, :2] = 0.0
    return JointMoments(arm.n, arm.means, s)  # type: ignore[arg-type]


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_theta_zero_gives_the_unadjusted_delta_method_exactly(alternative: str) -> None:
    rng = np.random.default_rng(6)
    c, t = (_uncorrelated(JointMoments.from_values(y, x, y0=y0, x0=x0))
            for y, x, y0, x0 in (ratio_arm(rng, 300, 0.2), ratio_arm(rng, 350, 0.25)))
    e = cuped_test(c, t, alternative=alternative)  # type: ignore[arg-type]
    assert e.theta == 0.0 and e.adjusted and e.variance_reduction == 0.0
    assert dataclasses.replace(e.unadjusted, method="cuped") == Estimate(**estimate_fields(e))
    assert e.unadjusted == delta_method_test(c.metric, t.metric, alternative=alternative)  # type: ignore[arg-type]


def test_variance_reduction_is_rho_squared_for_a_mean_metric() -> None:
    rng = np.random.default_rng(7)
    rho, n = 0.6, 200_000
    arms = []
    for shift in (0.0, 0.1):
        y0 = rng.normal(5.0, 2.0, n)
        y = shift + rho * (y0 - 5.0) / 2.0 + math.sqrt(1 - rho**2) * rng.normal(0.0, 1.0, n)
        arms.append(JointMoments.from_values(y, y0=y0))
    e = cuped_test(*arms)
    assert e.variance_reduction == pytest.approx(rho**2, abs=0.01)
    assert e.theta == pytest.approx(rho / 2.0, rel=0.02)


def test_zero_covariate_variance_is_not_adjusted() -> None:
    rng = np.random.default_rng(8)
    y_c, y_t = rng.poisson(3.0, 200).astype(float), rng.poisson(3.3, 220).astype(float)
    c = JointMoments.from_values(y_c, y0=np.zeros_like(y_c))  # nobody active before exposure
    t = JointMoments.from_values(y_t, y0=np.zeros_like(y_t))
    e = cuped_test(c, t)
    assert isinstance(e, CupedEstimate)
    assert not e.adjusted and e.covariate_status == "zero_variance" and e.theta == 0.0
    assert e.variance_reduction == 0.0
    assert Estimate(**estimate_fields(e)) == e.unadjusted == delta_method_test(c.metric, t.metric)
    # The same constant ratio for every unit: linearized covariate variance is cancellation noise.
    x0 = rng.integers(1, 9, 200).astype(float)
    x0_t = rng.integers(1, 9, 220).astype(float)
    e = cuped_test(JointMoments.from_values(y_c, y0=0.3 * x0, x0=x0),
                   JointMoments.from_values(y_t, y0=0.3 * x0_t, x0=x0_t))
    assert not e.adjusted and e.covariate_status == "zero_variance"


def test_zero_covariate_denominator_is_not_adjusted() -> None:
    rng = np.random.default_rng(9)
    (y, x, y0, x0), (yt, xt, y0t, x0t) = ratio_arm(rng, 100, 0.2), ratio_arm(rng, 100, 0.2)
    c = JointMoments.from_values(y, x, y0=np.zeros_like(y0), x0=np.zeros_like(x0))
    e = cuped_test(c, JointMoments.from_values(yt, xt, y0=y0t, x0=x0t))
    assert not e.adjusted and e.covariate_status == "zero_denominator"
    assert e.status == "ok" and e.theta == 0.0 and e.method == "delta_ratio"


def test_untestable_metric_is_not_adjusted() -> None:
    one = JointMoments.from_values([2.0], y0=[1.0])
    other = JointMoments.from_values([1.0, 2.0, 3.0], y0=[1.0, 3.0, 2.0])
    e = cuped_test(one, other)
    assert e.status == "too_few_units" and e.covariate_status == "not_tested" and not e.adjusted
    assert e.p_value is None and e.variance_reduction is None and e.effect == pytest.approx(0.0)
    no_views = JointMoments.from_values([0.0, 0.0], [0.0, 0.0], y0=[1.0, 2.0])
    e = cuped_test(no_views, other)
    assert e.status == "zero_denominator" and e.covariate_status == "not_tested"


def test_covariate_explaining_everything_gives_zero_variance_status() -> None:
    rng = np.random.default_rng(10)
    y0_c, y0_t = rng.gamma(2.0, 2.0, 50), rng.gamma(2.0, 2.0, 60)
    e = cuped_test(JointMoments.from_values(y0_c + 1.0, y0=y0_c),
                   JointMoments.from_values(y0_t + 3.0, y0=y0_t))
    assert e.adjusted and e.theta == pytest.approx(1.0, rel=1e-12)
    assert e.status == "zero_variance" and e.std_error == 0.0
    assert e.effect == pytest.approx(2.0, rel=1e-12)
    assert e.p_value is None and e.ci_low is None and e.df is None
    assert e.variance_reduction == 1.0
    assert e.relative_effect is not None and e.relative_ci_low is None


def test_swapping_arms_flips_sign_and_one_sided_tests_mirror() -> None:
    rng = np.random.default_rng(11)
    a, b = (JointMoments.from_values(y, x, y0=y0, x0=x0)
            for y, x, y0, x0 in (ratio_arm(rng, 500, 0.2), ratio_arm(rng, 400, 0.23)))
    forward, backward = cuped_test(a, b), cuped_test(b, a)
    assert backward.theta == pytest.approx(forward.theta, rel=1e-12)
    assert backward.effect == pytest.approx(-forward.effect, rel=1e-12)
    assert (backward.ci_low, backward.ci_high) == (pytest.approx(-forward.ci_high, rel=1e-12),
                                                  pytest.approx(-forward.ci_low, rel=1e-12))
    assert backward.p_value == pytest.approx(forward.p_value, rel=1e-12)
    greater, less = cuped_test(a, b, alternative="greater"), cuped_test(b, a, alternative="less")
    assert less.p_value == pytest.approx(greater.p_value, rel=1e-12)
    assert greater.ci_high == math.inf and less.ci_low == -math.inf


def test_values_near_1e8_give_the_same_adjustment_as_centred_values() -> None:
    rng = np.random.default_rng(12)
    arms = []
    for shift in (0.0, 0.3):
        y0 = rng.normal(0.0, 1.0, 5_000)
        arms.append((shift + 0.5 * y0 + rng.normal(0.0, 1.0, y0.size), y0))
    centred = cuped_test(*(JointMoments.from_values(y, y0=y0) for y, y0 in arms))
    far = cuped_test(*(JointMoments.from_values(y + 1e8, y0=y0 + 1e8) for y, y0 in arms))
    assert far.theta == pytest.approx(centred.theta, rel=1e-6)
    assert far.effect == pytest.approx(centred.effect, rel=1e-6)
    assert far.std_error == pytest.approx(centred.std_error, rel=1e-6)


def test_merging_shards_equals_from_values_on_all_units() -> None:
    rng = np.random.default_rng(13)
    y, x, y0, x0 = ratio_arm(rng, 3_000, 0.2)
    y, x, y0, x0 = y + 1e6, x + 5e5, y0 + 2e6, x0 + 1e5  # far from 0, where naive formulas fail
    cuts = [0, 1, 3, 700, 701, 1_900, 3_000]
    shards = [JointMoments.from_values(y[a:b], x[a:b], y0=y0[a:b], x0=x0[a:b])
              for a, b in zip(cuts, cuts[1:])]
    merged = sum(shards + [JointMoments.from_values([], [], y0=[], x0=[])])
    whole = JointMoments.from_values(y, x, y0=y0, x0=x0)
    assert isinstance(merged, JointMoments) and merged.n == whole.n
    assert merged.means == pytest.approx(whole.means, rel=1e-12)
    assert np.array(merged.covariance) == pytest.approx(np.array(whole.covariance), rel=1e-9)


def test_merged_arms_give_the_same_test() -> None:
    rng = np.random.default_rng(14)
    (y_c, y0_c), (y_t, y0_t) = mean_arms(rng)
    days = lambda y, y0: sum(JointMoments.from_values(a, y0=b)  # noqa: E731
                             for a, b in zip(np.array_split(y, 7), np.array_split(y0, 7)))
    merged = cuped_test(days(y_c, y0_c), days(y_t, y0_t))
    whole = cuped_test(JointMoments.from_values(y_c, y0=y0_c), JointMoments.from_values(y_t, y0=y0_t))
    for name in ("effect", "std_error", "theta", "p_value", "df", "variance_reduction"):
        assert getattr(merged, name) == pytest.approx(getattr(whole, name), rel=1e-9), name


def test_covariance_is_stored_symmetric_and_tiny_negative_variance_clamped() -> None:
    s = [[1.0, 0.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0],
         [0.5 + 1e-13, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, -1e-15]]
    m = JointMoments(10, (1.0, 1.0, 2.0, 1.0), s)  # type: ignore[arg-type]
    assert m.covariance[0][2] == m.covariance[2][0] and m.covariance[3][3] == 0.0
    assert isinstance(m.covariance, tuple) and isinstance(m.covariance[0], tuple)
    assert s[3][3] == -1e-15  # the caller's object is untouched


IDENTITY = tuple(tuple(float(i == j) for j in range(4)) for i in range(4))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, (0.0,) * 4, IDENTITY), "n == -1"),
        ((2.5, (0.0,) * 4, IDENTITY), "n == 2.5, must be an integer"),
        ((3, (0.0,) * 3, IDENTITY), r"means has shape \(3,\), must be \(4,\)"),
        ((3, (0.0, math.nan, 0.0, 0.0), IDENTITY), "means == .*must be finite"),
        ((3, (0.0,) * 4, IDENTITY[:3]), r"covariance has shape \(3, 4\)"),
        ((3, (0.0,) * 4, ((1.0, 2.0, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0)) + IDENTITY[2:]),
         r"covariance\[0\]\[1\] == 2.0 but covariance\[1\]\[0\] == 0.0, must be symmetric"),
        ((3, (0.0,) * 4, IDENTITY[:2] + ((0.0, 0.0, -0.5, 0.0),) + IDENTITY[3:]),
         r"variance of y0\) == -0.5, must be >= 0"),
        ((3, (0.0,) * 4, ((math.inf, 0.0, 0.0, 0.0),) + IDENTITY[1:]), "non-finite"),
    ],
)
def test_invalid_joint_moments_raise(args: tuple, message: str) -> None:
    with pytest.raises(StatsError, match=message):
        JointMoments(*args)


def test_every_problem_is_listed() -> None:
    with pytest.raises(StatsError) as error:
        JointMoments(-2, (0.0, math.nan, 0.0, 0.0), ((1.0, 3.0, 0.0, 0.0),) + IDENTITY[1:])
    assert len(error.value.problems) == 3


def test_mismatched_lengths_raise() -> None:
    with pytest.raises(StatsError, match="3 y, 3 x, 2 y0, 2 x0 values, must be one of each per unit"):
        JointMoments.from_values([1, 2, 3], y0=[1, 2])


def test_bad_arguments_raise() -> None:
    m = JointMoments.from_values([1.0, 2.0, 4.0], y0=[1.0, 3.0, 3.0])
    with pytest.raises(StatsError, match="alpha == 2"):
        cuped_test(m, m, alpha=2)
    with pytest.raises(StatsError, match="alternative == 'both'"):
        cuped_test(m, m, alternative="both")  # type: ignore[arg-type]
    with pytest.raises(StatsError, match="treatment of type RatioMoments, must be JointMoments"):
        cuped_test(m, m.metric)  # type: ignore[arg-type]


def test_cuped_correlation_is_the_correlation_of_the_linearized_values() -> None:
    """Planning shrinks variances by 1 - rho^2: rho must be the correlation of the linearized metric
    (y - r x) / mean(x) with the linearized covariate (y0 - c x0) / mean(x0), or of y with y0 for means."""
    from iterate.stats.cuped import cuped_correlation

    rng = np.random.default_rng(11)
    y0 = rng.normal(size=800)
    y = 0.6 * y0 + rng.normal(size=800)
    assert cuped_correlation(JointMoments.from_values(y, y0=y0)) == pytest.approx(np.corrcoef(y, y0)[0, 1], rel=1e-9)
    x, x0 = rng.poisson(5, 800) + 1.0, rng.poisson(5, 800) + 1.0
    num, num0 = y + 5 + x, y0 + 5 + x0
    r, c = num.mean() / x.mean(), num0.mean() / x0.mean()
    expected = np.corrcoef((num - r * x) / x.mean(), (num0 - c * x0) / x0.mean())[0, 1]
    assert cuped_correlation(JointMoments.from_values(num, x=x, y0=num0, x0=x0)) == pytest.approx(expected, rel=1e-9)
    assert cuped_correlation(JointMoments.from_values(y, y0=np.zeros(800))) == 0.0
