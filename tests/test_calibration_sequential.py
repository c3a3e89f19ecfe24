"""Calibration by simulation: peeking at a fixed-horizon test vs the always-valid methods.

Each simulated experiment runs 30 days; every day a Poisson number of new units arrives
in each arm and the analysis looks at the cumulative per-arm moments (mean, sample
variance, count), exactly what the engine would send to ``iterate.stats``. Outcomes
are normal (mean 10, sd 4) or Bernoulli (p = 0.1). Per-day moments are drawn from
their exact sampling distributions (normal: day mean ~ N(mu, sd**2 / n) independent of
the day's sum of squared deviations ~ sd**2 chi2(n - 1); Bernoulli: successes ~
Binomial(n, p)) and merged day by day with the pooled-variance update, vectorized
over experiments.

Decision rules, all at alpha = 0.05, two-sided:

- fixed-horizon z test with daily peeking: stop at the first day with p < 0.05;
- mSPRT (:func:`msprt_path`), tau**2 tuned for the planned 30-day standard error;
- confidence sequence (:func:`confidence_sequence_path`), rho tuned for the planned 30-day size;
- sequential rejection: the always-valid p-value (running minimum) <= 0.05 at some day.

Measured with the seeds below: A/A over 30 days, 4000 experiments per outcome type
(share rejecting at some day, 99% Clopper-Pearson interval); power with a true effect of
3 standard errors of the planned day-30 analysis, 2000 experiments per outcome type,
observed up to day 90 (share rejecting by day 30 and by day 90):

==========  ===================  =====================  ============  ============
outcome     rule                 A/A rate [99% CI]      power day 30  power day 90
==========  ===================  =====================  ============  ============
normal      fixed, daily peeking 0.2960 [0.278, 0.315]  --            --
normal      fixed, day 30 only   0.0592 [0.050, 0.070]  0.8545        --
normal      mSPRT                0.0127 [0.009, 0.018]  0.5565        0.9885
normal      confidence sequence  0.0127 [0.009, 0.018]  0.5570        0.9885
Bernoulli   fixed, daily peeking 0.2840 [0.266, 0.303]  --            --
Bernoulli   fixed, day 30 only   0.0560 [0.047, 0.066]  0.8280        --
Bernoulli   mSPRT                0.0165 [0.012, 0.022]  0.5395        0.9835
Bernoulli   confidence sequence  0.0162 [0.012, 0.022]  0.5425        0.9830
==========  ===================  =====================  ============  ============

(The generator is calibrated: on 40,000 A/A experiments a single z test at day 1 or day
30 rejects 0.0500-0.0503 of them; the 0.059 above is sampling noise, p ~ 0.01.)
Miscoverage of the true effect by the running confidence-sequence intersection:
0.0127 / 0.0162 (A/A) and 0.0200 / 0.0250 (with the effect), normal / Bernoulli.
The two sequential rules nearly coincide: they are the same normal-mixture boundary,
tuned for the same planned size (see :mod:`iterate.stats.sequential`); the mSPRT uses
the planned per-unit variance, the confidence sequence the estimated one. Anytime
validity costs power at the planned size (0.55 vs 0.85) and buys the right to stop
early or keep collecting.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from iterate.stats.sequential import (
    confidence_sequence_path,
    default_mixing_variance,
    msprt_path,
)

pytestmark = pytest.mark.slow

ALPHA = 0.05
DAYS = 30
ARRIVALS_PER_ARM_PER_DAY = 150
NORMAL_MEAN, NORMAL_SD = 10.0, 4.0
BERNOULLI_P = 0.1
A_A_EXPERIMENTS = 4000
POWER_EXPERIMENTS = 2000
CALIBRATION_EXPERIMENTS = 40_000
PLANNED_UNITS = 2 * DAYS * ARRIVALS_PER_ARM_PER_DAY


def _cumulative_arm(rng: np.random.Generator, outcome: str, mean: float, experiments: int, days: int):
    """Cumulative (n, mean, sample variance) per experiment and day, shape (experiments, days)."""
    n_day = rng.poisson(ARRIVALS_PER_ARM_PER_DAY, size=(experiments, days))
    n_day = np.maximum(n_day, 2)
    if outcome == "normal":
        day_mean = rng.normal(mean, NORMAL_SD / np.sqrt(n_day))
        day_m2 = NORMAL_SD**2 * rng.chisquare(n_day - 1)
    else:
        successes = rng.binomial(n_day, mean)
        day_mean = successes / n_day
        day_m2 = successes * (1 - day_mean)  # sum of (x - mean)**2 over 0/1 values
    n = np.empty_like(n_day)
    mu = np.empty(n_day.shape)
    m2 = np.empty(n_day.shape)
    n[:, 0], mu[:, 0], m2[:, 0] = n_day[:, 0], day_mean[:, 0], day_m2[:, 0]
    for d in range(1, days):
        # Pooled update of (n, mean, M2): Chan, Golub & LeVeque (1979), eq. (2.1).
        total = n[:, d - 1] + n_day[:, d]
        delta = day_mean[:, d] - mu[:, d - 1]
        n[:, d] = total
        mu[:, d] = mu[:, d - 1] + delta * n_day[:, d] / total
        m2[:, d] = m2[:, d - 1] + day_m2[:, d] + delta**2 * n[:, d - 1] * n_day[:, d] / total
    return n, mu, m2 / (n - 1)


def _simulate(outcome: str, effect: float, experiments: int, seed: int, days: int = DAYS) -> dict[str, np.ndarray]:
    """Per-experiment rejection flags of every rule by the last day; ``*_by_planned_day`` by day 30."""
    rng = np.random.default_rng(seed)
    base = NORMAL_MEAN if outcome == "normal" else BERNOULLI_P
    n_c, mean_c, var_c = _cumulative_arm(rng, outcome, base, experiments, days)
    n_t, mean_t, var_t = _cumulative_arm(rng, outcome, base + effect, experiments, days)
    effects = mean_t - mean_c
    std_errors = np.sqrt(var_c / n_c + var_t / n_t)
    fixed_p = 2 * stats.norm.sf(np.abs(effects / std_errors))

    sd = NORMAL_SD if outcome == "normal" else math.sqrt(BERNOULLI_P * (1 - BERNOULLI_P))
    planned_se = sd * math.sqrt(2 / (DAYS * ARRIVALS_PER_ARM_PER_DAY))
    tau2 = default_mixing_variance(alpha=ALPHA, std_error_at_planned_n=planned_se)
    msprt_reject = np.empty(experiments, dtype=bool)
    msprt_by_planned_day = np.empty(experiments, dtype=bool)
    cs_by_planned_day = np.empty(experiments, dtype=bool)
    cs_reject = np.empty(experiments, dtype=bool)
    cs_miss = np.empty(experiments, dtype=bool)
    for i in range(experiments):
        m_path = msprt_path(list(effects[i]), list(std_errors[i]), alpha=ALPHA, mixing_variance=tau2)
        c_path = confidence_sequence_path(
            list(effects[i]), list(std_errors[i]), [int(x) for x in n_c[i] + n_t[i]],
            alpha=ALPHA, tuning_n=PLANNED_UNITS,
        )
        assert all(r.status in ("ok", "empty_interval") for r in m_path + c_path)
        msprt_reject[i] = m_path[-1].p_value <= ALPHA
        cs_reject[i] = c_path[-1].p_value <= ALPHA
        msprt_by_planned_day[i] = m_path[DAYS - 1].p_value <= ALPHA
        cs_by_planned_day[i] = c_path[DAYS - 1].p_value <= ALPHA
        # The running intersection excludes the true effect (or became empty) at some day.
        last = c_path[-1]
        cs_miss[i] = last.status == "empty_interval" or not last.ci_low <= effect <= last.ci_high
        # Rejection agrees with 0 being outside the running interval.
        assert cs_reject[i] == (last.status == "empty_interval" or not last.ci_low <= 0 <= last.ci_high)
    return {
        "peeking": (fixed_p < ALPHA).any(axis=1),
        "fixed_planned_day": fixed_p[:, DAYS - 1] < ALPHA,
        "msprt": msprt_reject,
        "confidence_sequence": cs_reject,
        "msprt_by_planned_day": msprt_by_planned_day,
        "confidence_sequence_by_planned_day": cs_by_planned_day,
        "cs_miscoverage": cs_miss,
    }


def _interval_99(flags: np.ndarray) -> tuple[float, float]:
    """Clopper-Pearson 99% interval of a rejection rate."""
    ci = stats.binomtest(int(flags.sum()), flags.size).proportion_ci(confidence_level=0.99, method="exact")
    return ci.low, ci.high


@pytest.mark.parametrize(("outcome", "seed"), [("normal", 20240601), ("bernoulli", 20240602)])
def test_peeking_inflates_false_positives_and_sequential_methods_do_not(outcome: str, seed: int) -> None:
    flags = _simulate(outcome, 0.0, A_A_EXPERIMENTS, seed)
    peeking_low, _ = _interval_99(flags["peeking"])
    assert peeking_low > 2 * ALPHA, f"peeking rate {flags['peeking'].mean():.4f}"
    for rule in ("msprt", "confidence_sequence", "cs_miscoverage"):
        _, high = _interval_99(flags[rule])
        assert high <= ALPHA, f"{rule} rate {flags[rule].mean():.4f}, 99% upper bound {high:.4f}"


@pytest.mark.parametrize(("outcome", "seed"), [("normal", 31), ("bernoulli", 32)])
def test_simulation_is_calibrated_at_a_single_look(outcome: str, seed: int) -> None:
    # The generator itself: one z test at a fixed day rejects 5% of A/A experiments.
    rng = np.random.default_rng(seed)
    base = NORMAL_MEAN if outcome == "normal" else BERNOULLI_P
    n_c, mean_c, var_c = _cumulative_arm(rng, outcome, base, CALIBRATION_EXPERIMENTS, DAYS)
    n_t, mean_t, var_t = _cumulative_arm(rng, outcome, base, CALIBRATION_EXPERIMENTS, DAYS)
    z = (mean_t - mean_c) / np.sqrt(var_c / n_c + var_t / n_t)
    for day in (1, DAYS):
        low, high = _interval_99(2 * stats.norm.sf(np.abs(z[:, day - 1])) < ALPHA)
        assert low <= ALPHA <= high, f"day {day}"


@pytest.mark.parametrize(("outcome", "seed"), [("normal", 7), ("bernoulli", 8)])
def test_sequential_methods_eventually_detect_a_true_effect(outcome: str, seed: int) -> None:
    # The effect is 3 standard errors of the planned day-30 analysis (fixed-horizon power 0.85);
    # the sequential methods are tuned for day 30 but may keep collecting, here up to day 90.
    sd = NORMAL_SD if outcome == "normal" else math.sqrt(BERNOULLI_P * (1 - BERNOULLI_P))
    effect = 3.0 * sd * math.sqrt(2 / (DAYS * ARRIVALS_PER_ARM_PER_DAY))
    flags = _simulate(outcome, effect, POWER_EXPERIMENTS, seed, days=3 * DAYS)
    for rule in ("msprt", "confidence_sequence"):
        low, _ = _interval_99(flags[rule])
        assert low >= 0.9, f"{rule} power by day 90 {flags[rule].mean():.4f}"
        low, _ = _interval_99(flags[f"{rule}_by_planned_day"])
        assert low >= 0.45, f"{rule} power by day 30 {flags[f'{rule}_by_planned_day'].mean():.4f}"
    # Coverage of the true effect by the running intersection still holds under the alternative.
    _, high = _interval_99(flags["cs_miscoverage"])
    assert high <= ALPHA
