from __future__ import annotations

import doctest
import itertools
import math

import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower, zt_ind_solve_power
from statsmodels.stats.proportion import (
    power_proportions_2indep,
    proportion_effectsize,
    samplesize_proportions_2indep_onetail,
)

import iterate.stats.power as power_module
from iterate.errors import StatsError
from iterate.stats.power import (
    achieved_power,
    duration_days,
    guardrail_power,
    minimum_detectable_effect,
    non_inferiority_sample_size,
    sample_size_per_arm,
    unrounded_sample_size_per_arm,
)

SOLVER = 1e-6  # statsmodels' solve_power is a root finder; ours is bisected to machine precision
EXACT = 1e-10
SM_ALTERNATIVE = {"two-sided": "two-sided", "one-sided": "larger"}
TEST_LEVELS = [(0.05, 0.8), (0.01, 0.9), (0.1, 0.95)]
RATIOS = [1.0, 0.5, 2.5]
ALTERNATIVES = ["two-sided", "one-sided"]


def z(q: float) -> float:
    return float(stats.norm.ppf(q))


# -- means ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("alpha", "power"), TEST_LEVELS)
@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_means_match_statsmodels_normal_ind_power(alpha: float, power: float, ratio: float,
                                                  alternative: str) -> None:
    for effect_size in (0.02, 0.1, 0.3):
        variance = 4.0
        ours = unrounded_sample_size_per_arm(variance=variance, mde=effect_size * 2.0, alpha=alpha,
                                             power=power, alternative=alternative, ratio=ratio)
        reference = NormalIndPower().solve_power(effect_size=effect_size, alpha=alpha, power=power,
                                                 ratio=ratio, alternative=SM_ALTERNATIVE[alternative])
        assert ours == pytest.approx(reference, rel=SOLVER)
        assert sample_size_per_arm(variance=variance, mde=effect_size * 2.0, alpha=alpha, power=power,
                                   alternative=alternative, ratio=ratio) == math.ceil(ours)
        assert achieved_power(ours, effect_size * 2.0, variance=variance, alpha=alpha,
                              alternative=alternative, ratio=ratio) == pytest.approx(power, abs=EXACT)
        assert achieved_power(ours, effect_size * 2.0, variance=variance, alpha=alpha, ratio=ratio,
                              alternative=alternative) == pytest.approx(
            NormalIndPower().power(effect_size, ours, alpha, ratio=ratio,
                                   alternative=SM_ALTERNATIVE[alternative]), abs=EXACT)


def test_one_sided_equals_the_closed_form_of_chow_shao_wang() -> None:
    # §3.2.1: n = (z_{1-alpha} + z_{1-beta})**2 * sigma**2 * (1 + 1/kappa) / delta**2, no far tail
    for ratio, (alpha, power) in itertools.product(RATIOS, TEST_LEVELS):
        closed_form = (z(1 - alpha) + z(power)) ** 2 * 9.0 * (1 + 1 / ratio) / 0.25**2
        assert unrounded_sample_size_per_arm(variance=9.0, mde=0.25, alpha=alpha, power=power,
                                             alternative="one-sided", ratio=ratio) == pytest.approx(closed_form, rel=1e-12)


def test_two_sided_is_the_closed_form_less_the_far_tail() -> None:
    closed_form = (z(0.975) + z(0.8)) ** 2 * 8.0 / 0.1**2
    exact = unrounded_sample_size_per_arm(variance=4.0, mde=0.1)
    assert exact < closed_form and exact == pytest.approx(closed_form, rel=1e-5)


def test_normal_approximation_is_close_to_the_t_test() -> None:
    for effect_size, (alpha, power) in itertools.product((0.05, 0.1, 0.2), TEST_LEVELS):
        ours = sample_size_per_arm(variance=1.0, mde=effect_size, alpha=alpha, power=power)
        t_test = math.ceil(TTestIndPower().solve_power(effect_size=effect_size, alpha=alpha, power=power))
        assert 0 <= t_test - ours <= 3  # the t test needs about z**2 / 4 more units per arm
        assert ours == pytest.approx(t_test, rel=3e-3)


def test_sample_size_does_not_depend_on_the_sign_of_the_effect_for_means() -> None:
    for alternative in ALTERNATIVES:
        assert sample_size_per_arm(variance=2.0, mde=-0.05, alternative=alternative) == \
            sample_size_per_arm(variance=2.0, mde=0.05, alternative=alternative)


def test_relative_mde_of_a_mean_scales_by_the_baseline() -> None:
    assert unrounded_sample_size_per_arm(variance=4.0, baseline=20.0, mde=0.05, relative=True) == \
        pytest.approx(unrounded_sample_size_per_arm(variance=4.0, mde=1.0), rel=1e-15)
    assert minimum_detectable_effect(500, variance=4.0, baseline=-20.0, relative=True) == \
        pytest.approx(minimum_detectable_effect(500, variance=4.0) / 20.0, rel=1e-15)


# -- proportions ---------------------------------------------------------------------------------

PROPORTION_GRID = [(0.05, 0.01), (0.1, 0.02), (0.2, -0.03), (0.5, 0.05), (0.8, 0.04), (0.03, 0.003)]


@pytest.mark.parametrize(("alpha", "power"), TEST_LEVELS)
@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_arcsine_matches_statsmodels_proportion_effectsize(alpha: float, power: float, ratio: float,
                                                           alternative: str) -> None:
    for baseline, mde in PROPORTION_GRID:
        h = abs(proportion_effectsize(baseline + mde, baseline))
        reference = zt_ind_solve_power(effect_size=h, alpha=alpha, power=power, ratio=ratio,
                                       alternative=SM_ALTERNATIVE[alternative])
        ours = unrounded_sample_size_per_arm(baseline=baseline, mde=mde, alpha=alpha, power=power, ratio=ratio,
                                             alternative=alternative, proportion_variance="arcsine")
        assert ours == pytest.approx(reference, rel=SOLVER)
        assert NormalIndPower().solve_power(effect_size=h, alpha=alpha, power=power, ratio=ratio,
                                            alternative=SM_ALTERNATIVE[alternative]) == pytest.approx(ours, rel=SOLVER)


@pytest.mark.parametrize(("alpha", "power"), TEST_LEVELS)
@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_pooled_matches_statsmodels_power_proportions_2indep(alpha: float, power: float, ratio: float,
                                                            alternative: str) -> None:
    # statsmodels' sample 1 is the treatment (prop1 = prop2 + diff), sample 2 the control,
    # nobs2 = ratio_sm * nobs1: so nobs1 = ratio * n_control and ratio_sm = 1 / ratio.
    for baseline, mde in PROPORTION_GRID:
        n = unrounded_sample_size_per_arm(baseline=baseline, mde=mde, alpha=alpha, power=power, ratio=ratio,
                                          alternative=alternative)
        sm_alternative = "two-sided" if alternative == "two-sided" else ("larger" if mde > 0 else "smaller")
        reference = power_proportions_2indep(mde, baseline, ratio * n, ratio=1 / ratio, alpha=alpha,
                                             alternative=sm_alternative, return_results=False)
        assert reference == pytest.approx(power, abs=EXACT)
        for other_n in (n / 3, 2 * n):
            assert achieved_power(other_n, mde, baseline=baseline, alpha=alpha, ratio=ratio,
                                  alternative=alternative) == pytest.approx(
                power_proportions_2indep(mde, baseline, ratio * other_n, ratio=1 / ratio, alpha=alpha,
                                         alternative=sm_alternative, return_results=False), abs=EXACT)


@pytest.mark.parametrize(("baseline", "mde"), PROPORTION_GRID)
def test_pooled_one_sided_equals_statsmodels_one_tail_formula(baseline: float, mde: float) -> None:
    # One-sided there is no far tail, so Fleiss' closed form is exact.
    for ratio, (alpha, power) in itertools.product(RATIOS, TEST_LEVELS):
        reference = samplesize_proportions_2indep_onetail(mde, baseline, power, ratio=1 / ratio, alpha=alpha,
                                                          alternative="larger")
        ours = unrounded_sample_size_per_arm(baseline=baseline, mde=mde, alpha=alpha, power=power,
                                             ratio=ratio, alternative="one-sided")
        assert ratio * ours == pytest.approx(reference, rel=1e-9)


def test_unpooled_one_sided_is_the_closed_form_of_chow_shao_wang() -> None:
    # §4.2.1 with kappa = ratio: n_c = (z_a + z_b)**2 (p_c q_c + p_t q_t / kappa) / d**2
    for (baseline, mde), ratio in itertools.product(PROPORTION_GRID, RATIOS):
        p_t = baseline + mde
        variance = baseline * (1 - baseline) + p_t * (1 - p_t) / ratio
        closed_form = (z(0.95) + z(0.8)) ** 2 * variance / mde**2
        assert unrounded_sample_size_per_arm(baseline=baseline, mde=mde, ratio=ratio, alternative="one-sided",
                                             proportion_variance="unpooled") == pytest.approx(closed_form, rel=1e-12)


def test_unpooled_with_equal_arms_matches_normal_ind_power() -> None:
    for baseline, mde in PROPORTION_GRID:
        p_t = baseline + mde
        sigma = math.sqrt((baseline * (1 - baseline) + p_t * (1 - p_t)) / 2)
        reference = NormalIndPower().solve_power(effect_size=abs(mde) / sigma, alpha=0.05, power=0.8)
        assert unrounded_sample_size_per_arm(baseline=baseline, mde=mde, proportion_variance="unpooled") == \
            pytest.approx(reference, rel=SOLVER)


@pytest.mark.parametrize("method", ["pooled", "unpooled", "evan_miller", "arcsine"])
def test_proportions_are_symmetric_in_success_and_failure(method: str) -> None:
    for baseline, mde in PROPORTION_GRID:
        assert unrounded_sample_size_per_arm(baseline=baseline, mde=mde, proportion_variance=method) == \
            pytest.approx(unrounded_sample_size_per_arm(baseline=1 - baseline, mde=-mde,
                                                        proportion_variance=method), rel=1e-12)


def test_evan_miller_takes_the_harder_side() -> None:
    # Null variance 2 p q at the baseline, alternative p q + p2 q2, with p2 = p +/- d nearer 1/2.
    for baseline, d in ((0.2, 0.01), (0.53, 0.01), (0.9, 0.02)):
        sides = []
        for p2 in (baseline + d, baseline - d):
            one_tail = (z(0.975) * math.sqrt(2 * baseline * (1 - baseline))
                        + z(0.8) * math.sqrt(baseline * (1 - baseline) + p2 * (1 - p2))) ** 2 / d**2
            sides.append(one_tail)
        ours = unrounded_sample_size_per_arm(baseline=baseline, mde=d, proportion_variance="evan_miller")
        assert ours == pytest.approx(max(sides), rel=1e-5)  # the far tail aside
        assert ours == unrounded_sample_size_per_arm(baseline=baseline, mde=-d, proportion_variance="evan_miller")


def test_evan_miller_reproduces_the_published_udacity_sizes() -> None:
    # Udacity A/B testing course, Evan Miller's calculator, alpha 0.05, power 0.8 (nearest integer).
    for baseline, d, published in ((0.20625, 0.01, 25835), (0.1093125, 0.0075, 27413), (0.53, 0.01, 39115)):
        assert round(unrounded_sample_size_per_arm(baseline=baseline, mde=d,
                                                   proportion_variance="evan_miller")) == published


@pytest.mark.parametrize("method", ["pooled", "unpooled", "evan_miller", "arcsine"])
@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_power_and_mde_invert_the_sample_size(method: str, alternative: str) -> None:
    for baseline, mde in [(0.1, 0.02), (0.6, 0.03)]:
        n = unrounded_sample_size_per_arm(baseline=baseline, mde=mde, power=0.85, ratio=1.5,
                                          alternative=alternative, proportion_variance=method)
        assert achieved_power(n, mde, baseline=baseline, ratio=1.5, alternative=alternative,
                              proportion_variance=method) == pytest.approx(0.85, abs=EXACT)
        assert minimum_detectable_effect(n, baseline=baseline, power=0.85, ratio=1.5, alternative=alternative,
                                         proportion_variance=method) == pytest.approx(mde, rel=1e-8)
        rounded = sample_size_per_arm(baseline=baseline, mde=mde, power=0.85, ratio=1.5,
                                      alternative=alternative, proportion_variance=method)
        assert rounded == math.ceil(n)
        assert achieved_power(rounded, mde, baseline=baseline, ratio=1.5, alternative=alternative,
                              proportion_variance=method) >= 0.85
        assert achieved_power(rounded - 1, mde, baseline=baseline, ratio=1.5, alternative=alternative,
                              proportion_variance=method) < 0.85


def test_relative_mde_of_a_proportion() -> None:
    assert sample_size_per_arm(baseline=0.04, mde=0.1, relative=True) == sample_size_per_arm(baseline=0.04, mde=0.004)
    absolute = minimum_detectable_effect(20000, baseline=0.04)
    assert minimum_detectable_effect(20000, baseline=0.04, relative=True) == pytest.approx(absolute / 0.04, rel=1e-14)


def test_mde_of_a_mean_matches_statsmodels() -> None:
    # statsmodels solves for the effect size less tightly (power off by up to 1e-5), so its
    # power function is the exact reference and solve_power a loose one.
    for ratio, (alpha, power), alternative in itertools.product(RATIOS, TEST_LEVELS, ALTERNATIVES):
        sm_alternative = SM_ALTERNATIVE[alternative]
        ours = minimum_detectable_effect(800, variance=2.25, alpha=alpha, power=power, ratio=ratio,
                                         alternative=alternative)
        assert NormalIndPower().power(ours / 1.5, 800, alpha, ratio=ratio, alternative=sm_alternative) == \
            pytest.approx(power, abs=1e-12)
        reference = NormalIndPower().solve_power(nobs1=800, alpha=alpha, power=power, ratio=ratio,
                                                 alternative=sm_alternative)
        assert ours == pytest.approx(reference * 1.5, rel=1e-4)


def test_effect_zero_has_power_alpha() -> None:
    assert achieved_power(1000, 0.0, variance=1.0) == pytest.approx(0.05, rel=1e-12)
    assert achieved_power(1000, 0.0, variance=1.0, alpha=0.1, alternative="one-sided") == pytest.approx(0.1, rel=1e-12)


# -- CUPED ---------------------------------------------------------------------------------------


def test_cuped_multiplies_the_variance_by_one_minus_rho_squared() -> None:
    for rho in (0.3, -0.7, 0.95):
        factor = 1 - rho**2
        assert unrounded_sample_size_per_arm(variance=4.0, mde=0.1, cuped_correlation=rho) == \
            pytest.approx(unrounded_sample_size_per_arm(variance=4.0 * factor, mde=0.1), rel=1e-14)
        assert minimum_detectable_effect(1000, variance=4.0, cuped_correlation=rho) == \
            pytest.approx(minimum_detectable_effect(1000, variance=4.0) * math.sqrt(factor), rel=1e-12)
        assert achieved_power(1000, 0.2, variance=4.0, cuped_correlation=rho) == \
            pytest.approx(achieved_power(1000, 0.2, variance=4.0 * factor), rel=1e-14)
        # proportions: both the null and the alternative variance shrink
        assert unrounded_sample_size_per_arm(baseline=0.1, mde=0.01, cuped_correlation=rho) == \
            pytest.approx(factor * unrounded_sample_size_per_arm(baseline=0.1, mde=0.01), rel=1e-12)


# -- non-inferiority -----------------------------------------------------------------------------


@pytest.mark.parametrize(("alpha", "power"), TEST_LEVELS)
@pytest.mark.parametrize("ratio", RATIOS)
def test_non_inferiority_of_a_mean_matches_a_one_sided_normal_test(alpha: float, power: float, ratio: float) -> None:
    # True effect 0, margin 0.1, sigma 2: a one-sided test of an effect of size 0.1 / 2.
    reference = NormalIndPower().solve_power(effect_size=0.05, alpha=alpha, power=power, ratio=ratio,
                                             alternative="larger")
    assert non_inferiority_sample_size(0.1, variance=4.0, alpha=alpha, power=power, ratio=ratio) == \
        math.ceil(reference - 1e-6)
    assert unrounded_sample_size_per_arm(variance=4.0, mde=0.0, margin=0.1, alpha=alpha, power=power,
                                         ratio=ratio) == pytest.approx(reference, rel=SOLVER)
    assert guardrail_power(reference, 0.1, variance=4.0, alpha=alpha, ratio=ratio) == pytest.approx(power, abs=EXACT)


def test_non_inferiority_formula_by_hand_with_a_true_effect() -> None:
    # Chow, Shao & Wang §4.2.2: n = (z_a + z_b)**2 (p_c q_c + p_t q_t / kappa) / (margin + effect_good)**2
    p_c, margin, effect, ratio = 0.05, 0.004, -0.001, 2.0  # crash rate: lower is better, true effect -0.001 (good)
    p_t = p_c + effect
    expected = (z(0.95) + z(0.8)) ** 2 * (p_c * (1 - p_c) + p_t * (1 - p_t) / ratio) / (margin - effect) ** 2
    n = non_inferiority_sample_size(margin, baseline=p_c, true_effect=effect, direction="decrease", ratio=ratio)
    assert n == math.ceil(expected)
    assert guardrail_power(n, margin, baseline=p_c, true_effect=effect, direction="decrease", ratio=ratio) >= 0.8
    assert guardrail_power(n - 1, margin, baseline=p_c, true_effect=effect, direction="decrease", ratio=ratio) < 0.8
    # the same guardrail where higher is better: the effect now goes the bad way, so more units
    assert non_inferiority_sample_size(margin, baseline=p_c, true_effect=effect, ratio=ratio) > n


def test_relative_margin_and_the_sample_size_shortcut() -> None:
    assert non_inferiority_sample_size(0.02, baseline=0.05, relative=True, direction="decrease") == \
        non_inferiority_sample_size(0.001, baseline=0.05, direction="decrease")
    assert sample_size_per_arm(baseline=0.05, mde=0.0, margin=0.001) == \
        non_inferiority_sample_size(0.001, baseline=0.05)
    assert sample_size_per_arm(variance=1.0, baseline=10.0, mde=0.0, margin=0.01, relative=True) == \
        non_inferiority_sample_size(0.1, variance=1.0)


def test_guardrail_power_grows_with_n_and_with_the_margin() -> None:
    powers = [guardrail_power(n, 0.05, variance=1.0) for n in (100, 1000, 10000)]
    assert powers == sorted(powers) and powers[0] > 0.05
    assert guardrail_power(1000, 0.1, variance=1.0) > guardrail_power(1000, 0.05, variance=1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"alternative": "two-sided"}, "a non-inferiority test is one-sided"),
     ({"proportion_variance": "pooled"}, "there is no pooled rate"),
     ({"mde": -0.002}, "at or beyond the margin"),
     ({"margin": -0.001}, "margin == -0.001, must be >= 0")],
)
def test_non_inferiority_bad_arguments(kwargs: dict, message: str) -> None:
    arguments = {"baseline": 0.05, "mde": 0.0, "margin": 0.001, **kwargs}
    with pytest.raises(StatsError, match=message):
        sample_size_per_arm(**arguments)


def test_non_inferiority_margin_must_be_positive() -> None:
    with pytest.raises(StatsError, match="margin == 0, must be > 0"):
        non_inferiority_sample_size(0, variance=1.0)
    with pytest.raises(StatsError, match="direction == 'down'"):
        guardrail_power(100, 0.1, variance=1.0, direction="down")


# -- duration ------------------------------------------------------------------------------------


def test_duration_days() -> None:
    assert duration_days(5000, 1000) == 10
    assert duration_days(5001, 1000) == 11
    assert duration_days(5000, 1000, arms=3, traffic_share=0.5) == 30
    assert duration_days(0, 1000) == 0
    for kwargs, message in (({"daily_units": 0}, "daily_units == 0"), ({"arms": 0}, "arms == 0"),
                            ({"traffic_share": 1.5}, "traffic_share == 1.5"), ({"n_per_arm": -1}, "n_per_arm == -1")):
        with pytest.raises(StatsError, match=message):
            duration_days(**{"n_per_arm": 100, "daily_units": 10, **kwargs})


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({}, "neither variance nor baseline"),
     ({"variance": 1.0, "mde": 0.0}, "mde == 0"),
     ({"variance": -1.0}, "variance == -1.0"),
     ({"baseline": 1.2}, "baseline == 1.2"),
     ({"baseline": 0.995, "mde": 0.01}, "treatment rate"),
     ({"variance": 1.0, "alpha": 0.0}, "alpha == 0.0"),
     ({"variance": 1.0, "power": 1.0}, "power == 1.0"),
     ({"variance": 1.0, "power": 0.04}, "power == 0.04, must exceed"),
     ({"variance": 1.0, "ratio": 0.0}, "ratio == 0.0"),
     ({"variance": 1.0, "cuped_correlation": 1.0}, "cuped_correlation == 1.0"),
     ({"variance": 1.0, "relative": True}, "relative=True needs the control mean"),
     ({"variance": 1.0, "alternative": "greater"}, "alternative == 'greater'"),
     ({"baseline": 0.1, "proportion_variance": "wald"}, "proportion_variance == 'wald'")],
)
def test_bad_arguments_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(StatsError, match=message):
        sample_size_per_arm(**{"mde": 0.01, **kwargs})


def test_mde_with_too_few_units_raises() -> None:
    with pytest.raises(StatsError, match="too small"):
        minimum_detectable_effect(3, baseline=0.5, power=0.99, alpha=0.001)
    with pytest.raises(StatsError, match="n_per_arm == 0"):
        achieved_power(0, 0.1, variance=1.0)


def test_docstring_examples_run() -> None:
    outcome = doctest.testmod(power_module)
    assert outcome.attempted > 0 and outcome.failed == 0
