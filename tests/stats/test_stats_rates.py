"""Anytime-valid event-rate test (iterate/stats/rates.py), against independent references:
numerical integration of the mixture, SciPy's Beta-binomial and binomial distributions, the
sample-ratio-mismatch Bayes factor, and simulated rollouts under continuous monitoring."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from scipy import integrate, stats

from iterate.errors import StatsError
from iterate.stats import (
    RatePath,
    RateTest,
    sequential_rate_path,
    sequential_rate_test,
    sequential_sample_ratio_mismatch,
)
from iterate.stats import rates

ALPHA = 0.05
CASES = [  # control events, control exposure, treatment events, treatment exposure
    (40, 10_000.0, 75, 10_000.0),
    (120, 9_500.0, 14, 500.0),
    (3, 200.0, 9, 180.0),
    (900, 50_000.0, 260, 12_000.0),
    (7, 1_000.0, 0, 1_000.0),
]


def _integrated_log_bayes_factor(x_c: int, t_c: float, x_t: int, t_t: float, *, concentration: float = 100.0,
                                 side: str = "two-sided", null_ratio: float = 1.0) -> float:
    """``log`` of the integral of the binomial likelihood ratio under the (truncated) Beta prior, by quadrature."""
    p0 = null_ratio * t_t / (null_ratio * t_t + t_c)
    prior = stats.beta(concentration * p0, concentration * (1 - p0))
    n = x_c + x_t
    peak = min(max(x_t / n, 1e-9), 1 - 1e-9)
    log_null = stats.binom.logpmf(x_t, n, p0)

    def integrand(p: float) -> float:
        return math.exp(prior.logpdf(p) + stats.binom.logpmf(x_t, n, p) - log_null)

    low, high = {"two-sided": (0.0, 1.0), "greater": (p0, 1.0), "less": (0.0, p0)}[side]
    points = [peak, p0] if low < peak < high else [p0]
    value, _ = integrate.quad(integrand, low, high, points=[q for q in points if low < q < high] or None,
                              epsabs=0, epsrel=1e-12, limit=500)
    mass = prior.cdf(high) - prior.cdf(low)
    return math.log(value / mass)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_bayes_factor_equals_the_integrated_mixture(case: tuple, alternative: str) -> None:
    result = sequential_rate_test(*case, alternative=alternative)
    expected = _integrated_log_bayes_factor(*case, side=alternative)
    assert result.log_bayes_factor == pytest.approx(expected, rel=1e-7, abs=1e-9)
    assert result.p_value == pytest.approx(min(1.0, math.exp(-expected)), rel=1e-7)


@pytest.mark.parametrize("case", CASES[:4])
def test_tolerance_shifts_the_null_and_its_prior(case: tuple) -> None:
    result = sequential_rate_test(*case, tolerance=0.1, concentration=40.0)
    expected = _integrated_log_bayes_factor(*case, concentration=40.0, side="greater", null_ratio=1.1)
    assert result.log_bayes_factor == pytest.approx(expected, rel=1e-7, abs=1e-9)
    assert result.null_share == pytest.approx(1.1 * case[3] / (1.1 * case[3] + case[1]))
    assert sequential_rate_test(*case, tolerance=0.1).p_value >= sequential_rate_test(*case).p_value


@pytest.mark.parametrize("case", CASES)
def test_two_sided_bayes_factor_is_the_dirichlet_multinomial_one_of_the_srm_check(case: tuple) -> None:
    x_c, t_c, x_t, t_t = case
    srm = sequential_sample_ratio_mismatch({"control": x_c, "treatment": x_t}, {"control": t_c, "treatment": t_t},
                                           concentration=60.0)
    result = sequential_rate_test(*case, alternative="two-sided", concentration=60.0)
    assert result.log_bayes_factor == pytest.approx(srm.statistic, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_confidence_sequence_ends_are_where_the_bayes_factor_reaches_one_over_alpha(case: tuple) -> None:
    x_c, t_c, x_t, t_t = case
    result = sequential_rate_test(*case, alternative="two-sided", alpha=0.1)
    p0 = t_t / (t_t + t_c)
    a, b = 100.0 * p0, 100.0 * (1 - p0)
    n = x_c + x_t

    def log_bayes_factor(theta: float) -> float:  # fixed prior, null ratio theta
        p = theta * t_t / (theta * t_t + t_c)
        return stats.betabinom.logpmf(x_t, n, a, b) - stats.binom.logpmf(x_t, n, p)

    for end in (result.ci_low, result.ci_high):
        if 0 < end < math.inf:
            assert log_bayes_factor(end) == pytest.approx(math.log(1 / 0.1), abs=1e-8)
    assert result.ci_low < max(result.rate_ratio or 0.0, 1e-300) < result.ci_high or result.rate_ratio is None
    assert (result.ci_low > 1 or result.ci_high < 1) == (result.p_value <= 0.1)
    if x_t == 0:
        assert result.ci_low == 0.0
    if x_c == 0:
        assert result.ci_high == math.inf


def test_swapping_the_arms_mirrors_greater_and_less() -> None:
    for x_c, t_c, x_t, t_t in CASES:
        up = sequential_rate_test(x_c, t_c, x_t, t_t, alternative="greater", tolerance=0.2)
        down = sequential_rate_test(x_t, t_t, x_c, t_c, alternative="less", tolerance=1 - 1 / 1.2)
        assert up.log_bayes_factor == pytest.approx(down.log_bayes_factor, rel=1e-9, abs=1e-12)
        both = sequential_rate_test(x_c, t_c, x_t, t_t, alternative="two-sided")
        swapped = sequential_rate_test(x_t, t_t, x_c, t_c, alternative="two-sided")
        assert both.p_value == pytest.approx(swapped.p_value, rel=1e-9)
        assert swapped.ci_low == pytest.approx(1 / both.ci_high, rel=1e-9)


def test_regression_direction_and_verdicts() -> None:
    worse = sequential_rate_test(40, 10_000.0, 90, 10_000.0)
    assert worse.status == "ok" and worse.rejected and worse.regression
    assert worse.rate_ratio == pytest.approx(2.25) and worse.control_rate == pytest.approx(0.004)
    better = sequential_rate_test(90, 10_000.0, 40, 10_000.0, alternative="two-sided")
    assert better.rejected and not better.regression
    assert sequential_rate_test(90, 10_000.0, 40, 10_000.0).p_value == 1.0
    assert sequential_rate_test(90, 10_000.0, 40, 10_000.0, alternative="less").regression


def test_huge_counts_stay_finite_and_wider_than_the_fixed_horizon_interval() -> None:
    result = sequential_rate_test(10**8, 1e9, 10**8 + 30_000, 1e9, alternative="two-sided")
    fixed_half_width = 1.959963984540054 * math.sqrt(1 / 1e8 + 1 / (1e8 + 30_000))  # Wald, log ratio
    assert result.p_value == 1.0 and result.ci_low < 1.0003 < result.ci_high
    for half_width in (math.log(1.0003 / result.ci_low), math.log(result.ci_high / 1.0003)):
        assert fixed_half_width < half_width < 3 * fixed_half_width  # the price of anytime validity: 2.3x


def test_no_events_and_no_exposure_have_a_status_and_no_p_value() -> None:
    quiet = sequential_rate_test(0, 1_000.0, 0, 50.0)
    assert (quiet.status, quiet.p_value, quiet.ci_low, quiet.rejected, quiet.regression) == (
        "no_events", None, None, False, False)
    assert quiet.log_bayes_factor == 0.0 and "no event" in quiet.message
    unexposed = sequential_rate_test(12, 1_000.0, 0, 0.0)
    assert unexposed.status == "no_exposure" and unexposed.p_value is None and not unexposed.regression
    assert unexposed.treatment_rate is None and "treatment arm has no exposure" in unexposed.message


@pytest.mark.parametrize(("arguments", "options", "message"), [
    ((-1, 10.0, 0, 10.0), {}, "control_events == -1, must be an integer >= 0"),
    ((1.5, 10.0, 0, 10.0), {}, "control_events == 1.5"),
    ((1, -10.0, 0, 10.0), {}, "control_exposure == -10.0, must be a finite number >= 0"),
    ((1, 10.0, 0, math.nan), {}, "treatment_exposure == nan"),
    ((1, 10.0, 3, 0.0), {}, "treatment_events == 3 with treatment_exposure == 0"),
    ((1, 10.0, 3, 10.0), {"alpha": 1.5}, "alpha == 1.5"),
    ((1, 10.0, 3, 10.0), {"alternative": "up"}, "alternative == 'up'"),
    ((1, 10.0, 3, 10.0), {"tolerance": -0.1}, "tolerance == -0.1"),
    ((1, 10.0, 3, 10.0), {"tolerance": 0.1, "alternative": "two-sided"}, "needs a one-sided test"),
    ((1, 10.0, 3, 10.0), {"tolerance": 1.0, "alternative": "less"}, "must be < 1"),
    ((1, 10.0, 3, 10.0), {"concentration": 0}, "concentration == 0"),
])
def test_bad_input_is_a_stats_error_naming_the_problem(arguments: tuple, options: dict, message: str) -> None:
    with pytest.raises(StatsError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        sequential_rate_test(*arguments, **options)


def test_bad_paths_are_stats_errors() -> None:
    with pytest.raises(StatsError, match="lengths 2, 2, 1, 2"):
        sequential_rate_path([1, 2], [1.0, 2.0], [1], [1.0, 2.0])
    with pytest.raises(StatsError, match="look 1: treatment_events == 1 is below the previous look's 4"):
        sequential_rate_path([1, 2], [1.0, 2.0], [4, 1], [1.0, 2.0])
    with pytest.raises(StatsError, match="stages must not decrease"):
        sequential_rate_path([1, 2], [1.0, 2.0], [1, 2], [1.0, 2.0], stages=[1, 0])
    with pytest.raises(StatsError, match="look 1: the treatment arm has 2 events in its stage but no exposure"):
        sequential_rate_path([1, 2], [1.0, 2.0], [1, 3], [1.0, 1.0], stages=[0, 1])


def test_path_is_the_running_minimum_of_the_looks_within_a_stage() -> None:
    looks = ([3, 9, 15, 20], [100.0, 200.0, 300.0, 400.0], [5, 20, 30, 60], [100.0, 200.0, 300.0, 400.0])
    path = sequential_rate_path(*looks, alternative="two-sided")
    singles = [sequential_rate_test(*look, alternative="two-sided") for look in zip(*looks, strict=True)]
    assert path.log_bayes_factors == pytest.approx([s.log_bayes_factor for s in singles])
    assert path.p_values == pytest.approx(np.minimum.accumulate([s.p_value for s in singles]).tolist())
    assert path.stopped_at == next(i for i, p in enumerate(path.p_values) if p <= ALPHA)
    assert path.regression and isinstance(path, RatePath) and isinstance(singles[0], RateTest)


def test_stages_multiply_their_bayes_factors() -> None:
    control_events, control_exposure = [10, 30, 50, 90], [1e4, 3e4, 5e4, 7e4]
    treatment_events, treatment_exposure = [0, 3, 20, 45], [0.0, 1e3, 1e4, 3e4]
    path = sequential_rate_path(control_events, control_exposure, treatment_events, treatment_exposure,
                                stages=[0, 0, 1, 1])
    first = sequential_rate_test(30, 3e4, 3, 1e3)
    second = sequential_rate_test(90 - 30, 7e4 - 3e4, 45 - 3, 3e4 - 1e3)
    assert path.p_values[0] is None  # the treatment arm was not exposed yet: no evidence
    assert path.log_bayes_factors[-1] == pytest.approx(first.log_bayes_factor + second.log_bayes_factor)


def test_docstring_examples_run() -> None:
    outcome = doctest.testmod(rates)
    assert outcome.attempted > 0 and outcome.failed == 0


# Simulated rollouts: a look every hour, a daily cycle in the crash rate common to both arms.

RUNS, LOOKS = 2000, 50
MONTE_CARLO_MARGIN = 2.58 * math.sqrt(ALPHA * (1 - ALPHA) / RUNS)  # 99% one-sided margin of a share of RUNS


def _simulate(ratio: float, shares: np.ndarray, *, seed: int, events_per_hour: float = 20.0,
              trend: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative (control events, control exposure, treatment events, treatment exposure) per run and hour:
    1000 user-hours an hour split by ``shares``, crash rate ``events_per_hour / 1000`` per user-hour times
    a daily cycle (and a linear ``trend``), multiplied by ``ratio`` in the treatment arm."""
    rng = np.random.default_rng(seed)
    hours = np.arange(len(shares))
    baseline = events_per_hour / 1000.0 * (1 + 0.8 * np.sin(2 * np.pi * hours / 24)) * (1 + trend * hours)
    exposure_t, exposure_c = 1000.0 * shares, 1000.0 * (1 - shares)
    x_c = rng.poisson(baseline * exposure_c, size=(RUNS, len(shares))).cumsum(axis=1)
    x_t = rng.poisson(baseline * ratio * exposure_t, size=(RUNS, len(shares))).cumsum(axis=1)
    return x_c, exposure_c.cumsum(), x_t, exposure_t.cumsum()


def _stops(x_c: np.ndarray, t_c: np.ndarray, x_t: np.ndarray, t_t: np.ndarray, **options: object) -> np.ndarray:
    stops = [sequential_rate_path(x_c[run], t_c, x_t[run], t_t, **options).stopped_at for run in range(RUNS)]
    return np.array([np.nan if stop is None else stop for stop in stops])


def _naive_rejects(x_c: np.ndarray, t_c: np.ndarray, x_t: np.ndarray, t_t: np.ndarray) -> np.ndarray:
    """Per run and look: the fixed-horizon exact conditional test of the rate ratio (one-sided binomial test
    of the treatment's share of events, Przyborowski & Wilenski 1940) rejects at ALPHA."""
    p_values = stats.binom.sf(x_t - 1, x_c + x_t, t_t / (t_t + t_c))
    return p_values <= ALPHA


@pytest.mark.slow
def test_no_regression_checked_every_hour_rejects_at_most_alpha_unlike_a_peeked_fixed_test() -> None:
    x_c, t_c, x_t, t_t = _simulate(1.0, np.full(LOOKS, 0.1), seed=11)
    anytime = np.mean(~np.isnan(_stops(x_c, t_c, x_t, t_t)))
    naive = _naive_rejects(x_c, t_c, x_t, t_t)
    assert anytime <= ALPHA + MONTE_CARLO_MARGIN  # measured: 0.016
    assert naive[:, -1].mean() <= ALPHA + MONTE_CARLO_MARGIN  # one planned look: valid (0.049)
    assert naive.any(axis=1).mean() > 2 * ALPHA  # peeking at it every hour: 0.21


@pytest.mark.slow
def test_a_ramp_needs_stages_when_the_split_and_the_baseline_both_change() -> None:
    shares = np.repeat([0.01, 0.05, 0.25, 0.5], LOOKS // 4 + 1)[:LOOKS]
    stages = np.repeat([0, 1, 2, 3], LOOKS // 4 + 1)[:LOOKS].tolist()
    x_c, t_c, x_t, t_t = _simulate(1.0, shares, seed=12, trend=0.1)  # the crash rate grows 6x over the ramp
    staged = np.mean(~np.isnan(_stops(x_c, t_c, x_t, t_t, stages=stages)))
    pooled = np.mean(~np.isnan(_stops(x_c, t_c, x_t, t_t)))
    assert staged <= ALPHA + MONTE_CARLO_MARGIN  # measured: 0.031
    # measured: 1.0; pooled over stages, the early low-rate hours at a small share and the late high-rate
    # hours at a large share make the treatment's share of events look too high (Simpson's paradox)
    assert pooled > 2 * ALPHA


@pytest.mark.slow
def test_a_doubled_crash_rate_stops_the_rollout_within_hours() -> None:
    x_c, t_c, x_t, t_t = _simulate(2.0, np.full(LOOKS, 0.1), seed=13)
    stops = _stops(x_c, t_c, x_t, t_t)
    assert np.mean(~np.isnan(stops)) >= 0.99
    assert np.nanmedian(stops) <= 6  # measured: look 4 (from 0): 5 hours, a median of 31 treatment crashes
    tolerant = _stops(x_c, t_c, x_t, t_t, tolerance=0.1)
    assert np.nanmedian(tolerant) >= np.nanmedian(stops)
