from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from iterate.errors import StatsError
from iterate.stats import Moments, welch_t_test

CONTROL = Moments(120, 10.0, 9.0)
TREATMENT = Moments(80, 11.2, 16.0)
ALTERNATIVES = ["two-sided", "greater", "less"]


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_statistic_and_p_value_match_scipy(alternative: str) -> None:
    e = welch_t_test(CONTROL, TREATMENT, alternative=alternative)  # type: ignore[arg-type]
    ref = stats.ttest_ind_from_stats(
        TREATMENT.mean, math.sqrt(TREATMENT.variance), TREATMENT.n,
        CONTROL.mean, math.sqrt(CONTROL.variance), CONTROL.n,
        equal_var=False, alternative=alternative,
    )
    assert e.method == "welch_t" and e.status == "ok"
    assert e.effect == pytest.approx(1.2, rel=1e-12)
    assert e.statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert e.p_value == pytest.approx(ref.pvalue, rel=1e-9)


@pytest.mark.parametrize("alternative", ALTERNATIVES)
@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_interval_and_df_match_scipy_on_raw_data(alternative: str, alpha: float) -> None:
    rng = np.random.default_rng(7)
    c, t = rng.lognormal(1.0, 0.8, size=300), rng.lognormal(1.1, 0.9, size=170)
    e = welch_t_test(
        Moments.from_values(c), Moments.from_values(t),
        alternative=alternative, alpha=alpha,  # type: ignore[arg-type]
    )
    ref = stats.ttest_ind(t, c, equal_var=False, alternative=alternative)
    ci = ref.confidence_interval(1 - alpha)
    assert e.df == pytest.approx(ref.df, rel=1e-9)
    assert e.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    for ours, theirs in [(e.ci_low, ci.low), (e.ci_high, ci.high)]:
        if math.isinf(theirs):
            assert ours == theirs
        else:
            assert ours == pytest.approx(theirs, rel=1e-9)


def test_one_sided_intervals_are_open_on_the_right_side() -> None:
    greater = welch_t_test(CONTROL, TREATMENT, alternative="greater")
    less = welch_t_test(CONTROL, TREATMENT, alternative="less")
    assert greater.ci_high == math.inf and greater.ci_low < greater.effect
    assert less.ci_low == -math.inf and less.ci_high > less.effect


def test_swapping_arms_flips_effect_and_interval() -> None:
    forward = welch_t_test(CONTROL, TREATMENT)
    backward = welch_t_test(TREATMENT, CONTROL)
    assert backward.effect == pytest.approx(-forward.effect, rel=1e-12)
    assert backward.ci_low == pytest.approx(-forward.ci_high, rel=1e-12)
    assert backward.ci_high == pytest.approx(-forward.ci_low, rel=1e-12)
    assert backward.p_value == pytest.approx(forward.p_value, rel=1e-12)
    assert welch_t_test(TREATMENT, CONTROL, alternative="less").p_value == pytest.approx(
        welch_t_test(CONTROL, TREATMENT, alternative="greater").p_value, rel=1e-12
    )


def test_greater_and_less_p_values_sum_to_one() -> None:
    greater = welch_t_test(CONTROL, TREATMENT, alternative="greater").p_value
    less = welch_t_test(CONTROL, TREATMENT, alternative="less").p_value
    assert greater + less == pytest.approx(1.0, rel=1e-12)


def test_one_arm_with_one_unit_is_too_few_units() -> None:
    e = welch_t_test(Moments(1, 4.0, 0.0), Moments(50, 5.0, 1.0))
    assert e.status == "too_few_units"
    assert e.effect == pytest.approx(1.0)
    assert e.control_mean == 4.0 and e.treatment_mean == 5.0
    assert e.p_value is None and e.statistic is None and e.ci_low is None and e.df is None
    assert e.relative_effect == pytest.approx(0.25)
    assert e.relative_ci_low is None


def test_empty_arm_has_no_means_or_effect() -> None:
    e = welch_t_test(Moments(0, 0.0, 0.0), Moments(50, 5.0, 1.0))
    assert e.status == "too_few_units"
    assert e.control_mean is None and e.effect is None and e.relative_effect is None
    assert e.treatment_mean == 5.0


def test_both_arms_constant_is_zero_variance() -> None:
    e = welch_t_test(Moments(10, 1.0, 0.0), Moments(10, 2.0, 0.0))
    assert e.status == "zero_variance"
    assert e.effect == 1.0 and e.std_error == 0.0
    assert e.statistic is None and e.p_value is None and e.ci_low is None and e.ci_high is None
    assert e.relative_effect == pytest.approx(1.0) and e.relative_ci_low is None


def test_one_constant_arm_is_still_testable() -> None:
    e = welch_t_test(Moments(10, 1.0, 0.0), Moments(10, 2.0, 4.0))
    ref = stats.ttest_ind_from_stats(2.0, 2.0, 10, 1.0, 0.0, 10, equal_var=False)
    assert e.status == "ok"
    assert e.p_value == pytest.approx(ref.pvalue, rel=1e-9)


def test_control_mean_zero_has_no_relative_effect() -> None:
    e = welch_t_test(Moments(100, 0.0, 1.0), Moments(100, 0.5, 1.0))
    assert e.status == "ok" and e.p_value is not None
    assert e.relative_effect is None and e.relative_ci_low is None and e.relative_ci_high is None


@pytest.mark.parametrize("alpha", [2, 0, 1, -0.1, math.nan])
def test_bad_alpha_raises(alpha: float) -> None:
    with pytest.raises(StatsError, match="alpha"):
        welch_t_test(CONTROL, TREATMENT, alpha=alpha)


def test_bad_alternative_raises() -> None:
    with pytest.raises(StatsError, match="alternative == 'larger'"):
        welch_t_test(CONTROL, TREATMENT, alternative="larger")  # type: ignore[arg-type]


def test_means_one_ulp_apart_give_a_p_value_of_at_most_1() -> None:
    # regression (found by tests/stats/test_stats_properties.py): the t tail rounded to
    # 0.5000000000000001, the p-value was 1.0000000000000002, and adjust_p_values rejected it
    from iterate.stats import adjust_p_values

    e = welch_t_test(Moments(1000, 0.001, 1.0), Moments(1000, math.nextafter(0.001, 1.0), 1.0))
    assert e.status == "ok" and 0.0 < e.statistic < 1e-17
    assert e.p_value == 1.0
    assert adjust_p_values([e.p_value, 0.01]) == [1.0, 0.02]
