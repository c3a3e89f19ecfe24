from __future__ import annotations

import math

import pytest
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from iterate.errors import StatsError
from iterate.stats import Moments, two_proportion_z_test

X_C, N_C, X_T, N_T = 410, 5_000, 468, 5_100
SM_ALTERNATIVE = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_statistic_and_p_value_match_statsmodels_pooled(alternative: str) -> None:
    e = two_proportion_z_test(
        Moments.from_proportion(X_C, N_C), Moments.from_proportion(X_T, N_T),
        alternative=alternative,  # type: ignore[arg-type]
    )
    z, p = proportions_ztest([X_T, X_C], [N_T, N_C], alternative=SM_ALTERNATIVE[alternative])
    assert e.method == "two_proportion_z" and e.status == "ok" and e.df is None
    assert e.statistic == pytest.approx(z, rel=1e-9)
    assert e.p_value == pytest.approx(p, rel=1e-9)


@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_interval_matches_statsmodels_wald(alpha: float) -> None:
    control, treatment = Moments.from_proportion(X_C, N_C), Moments.from_proportion(X_T, N_T)
    e = two_proportion_z_test(control, treatment, alpha=alpha)
    low, high = confint_proportions_2indep(X_T, N_T, X_C, N_C, method="wald", compare="diff", alpha=alpha)
    assert e.ci_low == pytest.approx(low, rel=1e-9)
    assert e.ci_high == pytest.approx(high, rel=1e-9)
    p_c, p_t = X_C / N_C, X_T / N_T
    assert e.std_error == pytest.approx(math.sqrt(p_c * (1 - p_c) / N_C + p_t * (1 - p_t) / N_T), rel=1e-12)


def test_one_sided_bounds_are_two_sided_bounds_at_double_alpha() -> None:
    control, treatment = Moments.from_proportion(X_C, N_C), Moments.from_proportion(X_T, N_T)
    low, high = confint_proportions_2indep(X_T, N_T, X_C, N_C, method="wald", compare="diff", alpha=0.1)
    greater = two_proportion_z_test(control, treatment, alternative="greater", alpha=0.05)
    less = two_proportion_z_test(control, treatment, alternative="less", alpha=0.05)
    assert (greater.ci_low, greater.ci_high) == (pytest.approx(low, rel=1e-9), math.inf)
    assert (less.ci_low, less.ci_high) == (-math.inf, pytest.approx(high, rel=1e-9))
    assert greater.p_value + less.p_value == pytest.approx(1.0, rel=1e-12)


def test_swapping_arms_flips_sign() -> None:
    a, b = Moments.from_proportion(X_C, N_C), Moments.from_proportion(X_T, N_T)
    forward, backward = two_proportion_z_test(a, b), two_proportion_z_test(b, a)
    assert backward.statistic == pytest.approx(-forward.statistic, rel=1e-12)
    assert backward.ci_low == pytest.approx(-forward.ci_high, rel=1e-12)
    assert backward.p_value == pytest.approx(forward.p_value, rel=1e-12)


def test_cookie_cats_seven_day_retention() -> None:
    # Published Cookie Cats A/B test: gate_30 (control) vs gate_40, 7-day retention.
    e = two_proportion_z_test(Moments.from_proportion(8502, 44700), Moments.from_proportion(8279, 45489))
    assert round(e.effect * 100, 2) == -0.82
    assert round(e.statistic, 3) == -3.164
    assert e.p_value == pytest.approx(0.00155, rel=1e-2)
    assert (round(e.ci_low * 100, 2), round(e.ci_high * 100, 2)) == (-1.33, -0.31)


def test_cookie_cats_one_day_retention() -> None:
    e = two_proportion_z_test(Moments.from_proportion(20034, 44700), Moments.from_proportion(20119, 45489))
    assert round(e.statistic, 3) == -1.784
    assert round(e.p_value, 4) == 0.0744


def test_variance_field_is_ignored() -> None:
    exact = two_proportion_z_test(Moments.from_proportion(X_C, N_C), Moments.from_proportion(X_T, N_T))
    sloppy = two_proportion_z_test(Moments(N_C, X_C / N_C, 0.0), Moments(N_T, X_T / N_T, 123.0))
    assert sloppy == exact


def test_pooled_zero_or_one_is_zero_variance() -> None:
    for successes in (0, 1):
        e = two_proportion_z_test(Moments(50, float(successes), 0.0), Moments(70, float(successes), 0.0))
        assert e.status == "zero_variance"
        assert e.effect == 0.0 and e.statistic is None and e.p_value is None and e.ci_low is None


def test_opposite_certain_arms_keep_the_pooled_test() -> None:
    e = two_proportion_z_test(Moments.from_proportion(0, 100), Moments.from_proportion(100, 100))
    z, p = proportions_ztest([100, 0], [100, 100])
    assert e.status == "ok"
    assert e.statistic == pytest.approx(z, rel=1e-9) and e.p_value == pytest.approx(p, rel=1e-9)
    assert (e.ci_low, e.ci_high, e.std_error) == (1.0, 1.0, 0.0)
    assert e.relative_effect is None


def test_single_unit_arm_is_too_few_units() -> None:
    e = two_proportion_z_test(Moments.from_proportion(1, 1), Moments.from_proportion(30, 100))
    assert e.status == "too_few_units" and e.p_value is None
    assert e.effect == pytest.approx(-0.7)


@pytest.mark.parametrize("mean", [1.5, -0.2])
def test_mean_outside_unit_interval_raises(mean: float) -> None:
    with pytest.raises(StatsError, match=f"treatment mean == {mean}"):
        two_proportion_z_test(Moments(100, 0.5, 0.25), Moments(100, mean, 0.25))


def test_bad_alpha_raises() -> None:
    with pytest.raises(StatsError, match="alpha == 2"):
        two_proportion_z_test(Moments(100, 0.5, 0.25), Moments(100, 0.4, 0.24), alpha=2)
