from __future__ import annotations

import doctest
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import betaln

import iterate.stats.bayes as bayes_module
from iterate.errors import StatsError
from iterate.stats import (
    Moments,
    RatioMoments,
    delta_method_test,
    interval_and_p_value,
    two_proportion_z_test,
    welch_t_test,
)
from iterate.stats.bayes import bayesian_comparison, bayesian_summary, expected_positive_part

ROOT = Path(__file__).resolve().parents[2]
MC_DRAWS = 1_000_000
MC_SIGMAS = 4.0  # a seeded Monte Carlo mean lies within 4 standard errors

# (control successes, control n, treatment successes, treatment n), n >= 1000 per arm
PROPORTION_CASES = [
    (8502, 44700, 8279, 45489),  # Cookie Cats 7-day retention, gate_30 (control) vs gate_40
    (20034, 44700, 20119, 45489),  # Cookie Cats 1-day retention
    (3785, 17293, 3423, 17260),  # Udacity gross conversion
    (100, 1000, 130, 1000),
    (410, 5000, 468, 5100),
    (50, 2000, 45, 2000),  # rare event: the normal approximation's worst case here
]


def beta_binomial_chance(sc: int, nc: int, st: int, nt: int) -> float:
    """Exact P(p_t > p_c) with uniform priors, p ~ Beta(1 + successes, 1 + failures).

    Evan Miller's closed form ("Formulas for Bayesian A/B Testing", 2015): with
    p_t ~ Beta(a_t, b_t), p_c ~ Beta(a_c, b_c),
    P(p_t > p_c) = sum_{i=0}^{a_t - 1} B(a_c + i, b_c + b_t) / ((b_t + i) B(1 + i, b_t) B(a_c, b_c)).
    """
    a_c, b_c, a_t, b_t = 1 + sc, 1 + nc - sc, 1 + st, 1 + nt - st
    i = np.arange(a_t)
    log_terms = betaln(a_c + i, b_c + b_t) - np.log(b_t + i) - betaln(1 + i, b_t) - betaln(a_c, b_c)
    return float(np.exp(log_terms).sum())


def beta_binomial_chance_by_quadrature(sc: int, nc: int, st: int, nt: int) -> float:
    """The same probability as the integral of pdf_t(x) * cdf_c(x)."""
    control, treatment = stats.beta(1 + sc, 1 + nc - sc), stats.beta(1 + st, 1 + nt - st)
    low = min(control.ppf(1e-12), treatment.ppf(1e-12))
    high = max(control.isf(1e-12), treatment.isf(1e-12))
    value, _ = integrate.quad(lambda x: treatment.pdf(x) * control.cdf(x), low, high,
                              points=[control.mean(), treatment.mean()], limit=200, epsabs=1e-13)
    return value


def proportions(sc: int, nc: int, st: int, nt: int) -> tuple[Moments, Moments]:
    return Moments.from_proportion(sc, nc), Moments.from_proportion(st, nt)


# -- chance to beat control against the exact Beta-Binomial answer ----------------------------


@pytest.mark.parametrize("case", PROPORTION_CASES)
def test_chance_to_beat_matches_exact_beta_binomial(case: tuple[int, int, int, int]) -> None:
    result = bayesian_comparison(*proportions(*case), binary=True)
    assert result.status == "ok" and result.method == "normal_flat_prior"
    assert result.chance_to_beat_control == pytest.approx(beta_binomial_chance(*case), abs=2e-3)


def test_closed_form_beta_binomial_reference_matches_quadrature() -> None:
    for case in PROPORTION_CASES[:4]:
        assert beta_binomial_chance(*case) == pytest.approx(
            beta_binomial_chance_by_quadrature(*case), rel=1e-8, abs=1e-12)


def test_cookie_cats_chance_that_gate_30_is_better() -> None:
    # README of shared/datasets/cookie_cats: about 99.8% (7-day) and 96% (1-day) that gate_30 is better.
    seven_day = bayesian_comparison(*proportions(8502, 44700, 8279, 45489), binary=True)
    one_day = bayesian_comparison(*proportions(20034, 44700, 20119, 45489), binary=True)
    assert 1 - seven_day.chance_to_beat_control == pytest.approx(0.998, abs=2e-3)
    assert 1 - one_day.chance_to_beat_control == pytest.approx(0.96, abs=5e-3)
    assert 1 - seven_day.chance_to_beat_control == pytest.approx(
        1 - beta_binomial_chance(8502, 44700, 8279, 45489), abs=1e-5)


# -- one variance convention for both entry points ----------------------------------------------


@pytest.mark.parametrize("case", PROPORTION_CASES)
def test_proportions_use_the_bernoulli_variance_in_both_entry_points(case: tuple[int, int, int, int]) -> None:
    # bayesian_summary of the z test's estimate (the analysis path) and bayesian_comparison of the
    # same counts (the notebook path) use p (1 - p) / n per arm, so they give the same answers.
    sc, nc, st, nt = case
    control, treatment = proportions(*case)
    estimate = two_proportion_z_test(control, treatment)
    summary = bayesian_summary(estimate.effect, estimate.std_error, control_mean=estimate.control_mean)
    comparison = bayesian_comparison(control, treatment, binary=True)
    pc, pt = sc / nc, st / nt
    se = math.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt)  # by hand
    assert comparison.std_error == pytest.approx(se, rel=1e-12)
    assert summary.std_error == pytest.approx(se, rel=1e-12)
    assert comparison.chance_to_beat_control == pytest.approx(summary.chance_to_beat_control, rel=1e-12, abs=1e-15)
    assert comparison.chance_to_beat_control == pytest.approx(stats.norm.cdf((pt - pc) / se), rel=1e-9, abs=1e-15)
    assert comparison.expected_loss_ship == pytest.approx(summary.expected_loss_ship, rel=1e-12, abs=1e-300)
    for prior_std in (0.05, 0.5):
        shrunk = bayesian_comparison(control, treatment, binary=True, prior_std=prior_std, relative_prior=True)
        summarized = bayesian_summary(estimate.effect, estimate.std_error, control_mean=estimate.control_mean,
                                      prior_std=prior_std, relative_prior=True)
        assert shrunk.chance_to_beat_control == pytest.approx(summarized.chance_to_beat_control, rel=1e-12)


def test_means_use_the_sample_variance_in_both_entry_points() -> None:
    control, treatment = Moments(300, 4.0, 9.0), Moments(280, 4.6, 11.0)
    estimate = welch_t_test(control, treatment)
    summary = bayesian_summary(estimate.effect, estimate.std_error, control_mean=estimate.control_mean)
    comparison = bayesian_comparison(control, treatment)
    assert comparison.std_error == pytest.approx(math.sqrt(9.0 / 300 + 11.0 / 280), rel=1e-14)
    assert comparison.chance_to_beat_control == pytest.approx(summary.chance_to_beat_control, rel=1e-14)


def test_binary_needs_proportions() -> None:
    with pytest.raises(StatsError, match="control mean == 1.5"):
        bayesian_comparison(Moments(10, 1.5, 1.0), Moments(10, 0.5, 0.25), binary=True)
    with pytest.raises(StatsError, match="RatioMoments with binary=True"):
        bayesian_comparison(RatioMoments(10, 1.0, 2.0, 1.0, 1.0, 0.5), Moments(10, 0.5, 0.25), binary=True)


# -- expected loss -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("effect", "std_error", "direction", "prior_std"),
    [(0.3, 0.2, "increase", None), (-0.05, 0.1, "increase", None), (0.02, 0.01, "decrease", None),
     (1.5, 1.0, "increase", 0.5), (0.0, 3.0, "decrease", 1.0)],
)
def test_expected_losses_match_monte_carlo(effect: float, std_error: float, direction: str,
                                           prior_std: float | None) -> None:
    result = bayesian_summary(effect, std_error, control_mean=10.0, direction=direction,
                              prior_mean=0.1, prior_std=prior_std)
    draws = np.random.default_rng(20150902).normal(result.posterior_mean, result.posterior_std, MC_DRAWS)
    good = draws if direction == "increase" else -draws
    for closed_form, losses in ((result.expected_loss_ship, np.maximum(0.0, -good)),
                                (result.expected_loss_keep, np.maximum(0.0, good))):
        mc_error = losses.std() / math.sqrt(MC_DRAWS)
        assert abs(closed_form - losses.mean()) <= MC_SIGMAS * mc_error
    chance_error = math.sqrt(result.chance_to_beat_control * (1 - result.chance_to_beat_control) / MC_DRAWS)
    assert abs(result.chance_to_beat_control - (good > 0).mean()) <= MC_SIGMAS * chance_error


@pytest.mark.parametrize("case", [PROPORTION_CASES[0], PROPORTION_CASES[3], PROPORTION_CASES[5]])
def test_expected_losses_close_to_beta_posterior_monte_carlo(case: tuple[int, int, int, int]) -> None:
    # The exact model's posterior means are (s + 1) / (n + 2), not s / n: a few percent at most.
    sc, nc, st, nt = case
    result = bayesian_comparison(*proportions(*case), binary=True)
    rng = np.random.default_rng(7)
    difference = rng.beta(1 + st, 1 + nt - st, MC_DRAWS) - rng.beta(1 + sc, 1 + nc - sc, MC_DRAWS)
    for closed_form, losses in ((result.expected_loss_ship, np.maximum(0.0, -difference)),
                                (result.expected_loss_keep, np.maximum(0.0, difference))):
        mc_error = losses.std() / math.sqrt(MC_DRAWS)
        assert abs(closed_form - losses.mean()) <= MC_SIGMAS * mc_error + 0.03 * losses.mean()


def test_expected_positive_part_closed_form() -> None:
    assert expected_positive_part(0.0, 1.0) == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-15)
    assert expected_positive_part(2.0, 0.0) == 2.0 and expected_positive_part(-2.0, 0.0) == 0.0
    # E[max(0, X)] - E[max(0, -X)] = E[X]
    assert expected_positive_part(0.7, 0.3) - expected_positive_part(-0.7, 0.3) == pytest.approx(0.7, rel=1e-14)
    # far in the tail it stays >= 0 and tiny
    assert 0.0 <= expected_positive_part(-40.0, 1.0) < 1e-300
    with pytest.raises(StatsError, match="std == -1"):
        expected_positive_part(0.0, -1.0)


def test_losses_differ_by_the_posterior_mean_in_the_good_direction() -> None:
    up = bayesian_summary(0.4, 0.3, control_mean=2.0)
    down = bayesian_summary(0.4, 0.3, control_mean=2.0, direction="decrease")
    assert up.expected_loss_keep - up.expected_loss_ship == pytest.approx(0.4, rel=1e-12)
    assert down.expected_loss_keep - down.expected_loss_ship == pytest.approx(-0.4, rel=1e-12)


# -- prior shrinkage and the flat prior ----------------------------------------------------------


def test_prior_shrinkage_matches_normal_normal_posterior_by_hand() -> None:
    # Data precision 1/0.1**2 = 100, prior precision 1/0.2**2 = 25:
    # mean = (0.3 * 100 + 0.1 * 25) / 125 = 0.26, std = 1/sqrt(125).
    result = bayesian_summary(0.3, 0.1, control_mean=10.0, prior_mean=0.1, prior_std=0.2)
    std = 1 / math.sqrt(125)
    assert result.method == "normal_normal_prior"
    assert result.posterior_mean == pytest.approx(0.26, rel=1e-14)
    assert result.posterior_std == pytest.approx(std, rel=1e-14)
    z = stats.norm.ppf(0.975)
    assert (result.ci_low, result.ci_high) == (pytest.approx(0.26 - z * std, rel=1e-12),
                                               pytest.approx(0.26 + z * std, rel=1e-12))
    assert result.chance_to_beat_control == pytest.approx(stats.norm.cdf(0.26 / std), rel=1e-12)
    # relative: observed 0.03, prior N(0.01, 0.02**2) after scaling by the control mean 10
    relative = bayesian_summary(0.3, 0.1, control_mean=10.0, prior_mean=0.1, prior_std=0.2,
                                relative_std_error=0.01)
    assert relative.relative_posterior_mean == pytest.approx((0.03 * 1e4 + 0.01 * 2500) / 12500, rel=1e-12)
    assert relative.relative_posterior_std == pytest.approx(1 / math.sqrt(12500), rel=1e-12)


def test_relative_prior_is_scaled_by_the_control_mean() -> None:
    absolute = bayesian_summary(0.3, 0.1, control_mean=-10.0, prior_mean=-0.5, prior_std=0.2)
    relative = bayesian_summary(0.3, 0.1, control_mean=-10.0, prior_mean=0.05, prior_std=0.02,
                                relative_prior=True)
    assert relative.prior_mean == pytest.approx(-0.5) and relative.prior_std == pytest.approx(0.2)
    assert relative.posterior_mean == pytest.approx(absolute.posterior_mean, rel=1e-14)
    with pytest.raises(StatsError, match="relative_prior=True with control_mean == 0"):
        bayesian_summary(0.3, 0.1, control_mean=0.0, prior_std=0.1, relative_prior=True)


def test_wide_prior_tends_to_flat_prior_and_narrow_prior_to_prior_mean() -> None:
    flat = bayesian_summary(0.3, 0.1, control_mean=1.0)
    wide = bayesian_summary(0.3, 0.1, control_mean=1.0, prior_std=1e6)
    narrow = bayesian_summary(0.3, 0.1, control_mean=1.0, prior_mean=-0.2, prior_std=1e-6)
    assert wide.posterior_mean == pytest.approx(flat.posterior_mean, rel=1e-9)
    assert narrow.posterior_mean == pytest.approx(-0.2, rel=1e-9)


def test_flat_prior_reproduces_the_frequentist_interval_and_one_sided_p_value() -> None:
    control, treatment = Moments(4000, 10.0, 4.0), Moments(4100, 10.12, 4.3)
    result = bayesian_comparison(control, treatment)
    se = math.sqrt(4.0 / 4000 + 4.3 / 4100)
    low, high, _, p_greater = interval_and_p_value(0.12, se, alternative="greater", alpha=0.05)
    two_low, two_high, _, _ = interval_and_p_value(0.12, se, alternative="two-sided", alpha=0.05)
    assert result.std_error == pytest.approx(welch_t_test(control, treatment).std_error, rel=1e-12)
    assert result.chance_to_beat_control == pytest.approx(1 - p_greater, rel=1e-12)
    assert (result.ci_low, result.ci_high) == (pytest.approx(two_low, rel=1e-12), pytest.approx(two_high, rel=1e-12))
    narrow = bayesian_comparison(control, treatment, credible_level=0.9)
    assert narrow.ci_low == pytest.approx(low, rel=1e-12)


# -- symmetry ------------------------------------------------------------------------------------


@pytest.mark.parametrize("prior_std", [None, 0.05])
def test_swapping_arms_mirrors_everything(prior_std: float | None) -> None:
    a, b = proportions(410, 5000, 468, 5100)
    forward = bayesian_comparison(a, b, prior_std=prior_std)
    backward = bayesian_comparison(b, a, prior_std=prior_std)
    assert backward.posterior_mean == pytest.approx(-forward.posterior_mean, rel=1e-12)
    assert backward.posterior_std == pytest.approx(forward.posterior_std, rel=1e-12)
    assert backward.ci_low == pytest.approx(-forward.ci_high, rel=1e-12)
    assert backward.chance_to_beat_control == pytest.approx(1 - forward.chance_to_beat_control, rel=1e-12)
    assert backward.expected_loss_ship == pytest.approx(forward.expected_loss_keep, rel=1e-12)
    assert backward.expected_loss_keep == pytest.approx(forward.expected_loss_ship, rel=1e-12)


def test_decrease_direction_is_the_mirror_of_increase() -> None:
    up = bayesian_summary(0.02, 0.015, control_mean=0.5)
    down = bayesian_summary(-0.02, 0.015, control_mean=0.5, direction="decrease")
    assert down.chance_to_beat_control == pytest.approx(up.chance_to_beat_control, rel=1e-14)
    assert down.expected_loss_ship == pytest.approx(up.expected_loss_ship, rel=1e-14)
    assert down.expected_loss_keep == pytest.approx(up.expected_loss_keep, rel=1e-14)
    assert down.ci_low == pytest.approx(-up.ci_high, rel=1e-14)


# -- relative effect and ratio metrics -----------------------------------------------------------


def test_ratio_metric_reuses_the_delta_method() -> None:
    control = RatioMoments(500, 0.8, 10.0, 2.0, 30.0, 5.0)
    treatment = RatioMoments(520, 0.9, 10.0, 2.2, 30.0, 5.5)
    result = bayesian_comparison(control, treatment, direction="decrease")
    frequentist = delta_method_test(control, treatment)
    assert result.effect == pytest.approx(frequentist.effect, rel=1e-14)
    assert result.std_error == pytest.approx(frequentist.std_error, rel=1e-14)
    rc, rt = 0.8 / 10.0, 0.9 / 10.0
    # delta-method Var(r) = (var_y - 2 r cov + r**2 var_x) / (n mean_x**2) of each arm, by hand
    var_c = (2.0 - 2 * rc * 5.0 + rc**2 * 30.0) / (500 * 10.0**2)
    var_t = (2.2 - 2 * rt * 5.5 + rt**2 * 30.0) / (520 * 10.0**2)
    rel = rt / rc - 1
    assert result.relative_effect == pytest.approx(rel, rel=1e-14)
    assert result.relative_std_error == pytest.approx(math.sqrt(var_t / rc**2 + rt**2 * var_c / rc**4), rel=1e-12)
    assert result.relative_posterior_mean == pytest.approx(rel, rel=1e-14)
    assert result.relative_chance_to_beat_control == pytest.approx(
        stats.norm.cdf(-rel / result.relative_std_error), rel=1e-12)


def test_relative_fields_need_a_standard_error_and_a_nonzero_control() -> None:
    no_se = bayesian_summary(0.3, 0.1, control_mean=10.0)
    assert no_se.relative_effect == pytest.approx(0.03) and no_se.relative_posterior_mean is None
    zero_control = bayesian_summary(0.3, 0.1, control_mean=0.0, relative_std_error=0.1)
    assert zero_control.relative_effect is None and zero_control.relative_std_error is None
    assert zero_control.relative_chance_to_beat_control is None
    assert zero_control.chance_to_beat_control is not None
    control_zero = bayesian_comparison(Moments.from_proportion(0, 1000), Moments.from_proportion(5, 1000))
    assert control_zero.status == "ok" and control_zero.relative_effect is None


# -- degenerate cases and bad input --------------------------------------------------------------


def test_degenerate_cases_have_a_status_and_no_invented_numbers() -> None:
    too_few = bayesian_comparison(Moments(1, 2.0, 0.0), Moments(50, 2.5, 1.0))
    assert too_few.status == "too_few_units" and too_few.effect == pytest.approx(0.5)
    assert too_few.posterior_mean is None and too_few.chance_to_beat_control is None
    assert too_few.expected_loss_ship is None and too_few.ci_low is None
    flat = bayesian_comparison(Moments(10, 3.0, 0.0), Moments(12, 3.0, 0.0))
    assert flat.status == "zero_variance" and flat.effect == 0.0 and flat.posterior_std is None
    empty = bayesian_comparison(Moments(0, 0.0, 0.0), Moments(10, 1.0, 1.0))
    assert empty.status == "too_few_units" and empty.effect is None
    zero_denominator = bayesian_comparison(RatioMoments(10, 0.0, 0.0, 0.0, 0.0, 0.0),
                                           RatioMoments(10, 1.0, 2.0, 1.0, 1.0, 0.5))
    assert zero_denominator.status == "zero_denominator" and zero_denominator.effect is None
    zero_se = bayesian_summary(0.1, 0.0, control_mean=1.0)
    assert zero_se.status == "zero_variance" and zero_se.chance_to_beat_control is None
    relative_prior_at_zero = bayesian_comparison(Moments.from_proportion(0, 1000), Moments.from_proportion(5, 1000),
                                                 prior_std=0.1, relative_prior=True)
    assert relative_prior_at_zero.status == "zero_denominator" and relative_prior_at_zero.posterior_mean is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"prior_std": 0.0}, "prior_std == 0.0"), ({"prior_std": -1.0}, "prior_std == -1.0"),
     ({"credible_level": 1.0}, "credible_level == 1.0"), ({"direction": "up"}, "direction == 'up'"),
     ({"prior_mean": math.nan}, "prior_mean == nan"), ({"relative_std_error": -0.1}, "relative_std_error == -0.1")],
)
def test_bad_arguments_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(StatsError, match=message):
        bayesian_summary(0.1, 0.05, control_mean=1.0, **kwargs)


def test_bad_effect_or_standard_error_raise() -> None:
    with pytest.raises(StatsError, match="std_error == -0.1"):
        bayesian_summary(0.1, -0.1, control_mean=1.0)
    with pytest.raises(StatsError, match="effect == inf"):
        bayesian_summary(math.inf, 0.1, control_mean=1.0)
    with pytest.raises(StatsError, match="prior_std == 0"):
        bayesian_comparison(Moments(10, 1.0, 1.0), Moments(10, 1.0, 1.0), prior_std=0)


def test_result_is_frozen() -> None:
    result = bayesian_summary(0.1, 0.05, control_mean=1.0)
    with pytest.raises(AttributeError):
        result.effect = 2.0


# -- module hygiene ------------------------------------------------------------------------------


def test_docstring_examples_run() -> None:
    outcome = doctest.testmod(bayes_module)
    assert outcome.attempted > 0 and outcome.failed == 0


def test_importing_bayes_and_power_loads_no_scipy_and_no_engine() -> None:
    code = (
        "import sys, iterate.stats.bayes, iterate.stats.power; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'scipy', 'duckdb', 'polars', 'click', 'pandas', 'statsmodels'}]; "
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
