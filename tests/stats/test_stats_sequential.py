"""Mixture SPRT and asymptotic confidence sequences: closed forms against direct numerical evaluation.

References used here, independent of the implementation:

- the mixture likelihood ratio integrated numerically (``scipy.integrate.quad``) over the
  ``N(0, tau**2)`` mixing density, and the interval ends found by root search on it;
- Johari et al.'s formula in their own parametrization (``sigma``, ``n`` per arm);
- Waudby-Smith et al.'s boundary typed out with ``sigma_hat`` and ``n``;
- the optimal tuning from ``scipy.special.lambertw`` and ``scipy.optimize.minimize_scalar``;
- the fixed-horizon interval and p-value of ``iterate.stats.interval_and_p_value``.

The simulations (A/A false-positive rate, power) are in ``tests/test_calibration_sequential.py``.
"""

from __future__ import annotations

import doctest
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, optimize, special

import iterate.stats.sequential as sequential
from iterate.errors import StatsError
from iterate.stats import interval_and_p_value
from iterate.stats.sequential import (
    SequentialResult,
    confidence_sequence,
    confidence_sequence_path,
    default_mixing_variance,
    msprt,
    msprt_path,
    optimal_mixing_ratio,
    optimal_rho,
)

ROOT = Path(__file__).resolve().parents[2]

# (effect, std_error, tau**2): small, moderate and large z; tau**2 below, at and above V.
CASES = [
    (0.0, 0.1, 0.01),
    (0.05, 0.1, 0.01),
    (0.3, 0.1, 0.08),
    (-0.3, 0.1, 0.08),
    (0.02, 0.01, 1e-4),
    (0.7, 0.2, 0.004),
    (1.2, 0.3, 2.5),
]


def _likelihood_ratio(effect: float, se: float, tau2: float, null: float) -> float:
    """Mixture likelihood ratio of ``N(theta, V)`` data, ``theta ~ N(null, tau2)`` against ``theta = null``."""
    v = se * se

    def integrand(theta: float) -> float:
        log_ratio = ((effect - null) ** 2 - (effect - theta) ** 2) / (2 * v)
        log_density = -((theta - null) ** 2) / (2 * tau2) - 0.5 * math.log(2 * math.pi * tau2)
        return math.exp(log_ratio + log_density)

    # The integrand is a Gaussian bump at the posterior mean with the posterior sd:
    # integrate over +-40 of those sds (the rest is below 1e-300).
    centre = null + (effect - null) * tau2 / (v + tau2)
    width = math.sqrt(v * tau2 / (v + tau2))
    value, _ = integrate.quad(
        lambda u: integrand(centre + width * u) * width, -40, 40, points=[0], epsabs=0, epsrel=1e-12, limit=400
    )
    return value


@pytest.mark.parametrize(("effect", "se", "tau2"), CASES)
def test_msprt_p_value_is_one_over_the_integrated_mixture_likelihood_ratio(
    effect: float, se: float, tau2: float
) -> None:
    r = msprt(effect, se, alpha=0.05, mixing_variance=tau2)
    reference = min(1.0, 1.0 / _likelihood_ratio(effect, se, tau2, 0.0))
    assert r.method == "msprt" and r.status == "ok"
    assert r.p_value == pytest.approx(reference, rel=1e-8)


@pytest.mark.parametrize(("effect", "se", "tau2"), CASES)
@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_msprt_interval_ends_are_where_the_integrated_ratio_reaches_one_over_alpha(
    effect: float, se: float, tau2: float, alpha: float
) -> None:
    r = msprt(effect, se, alpha=alpha, mixing_variance=tau2)

    def excess(null: float) -> float:
        return math.log(_likelihood_ratio(effect, se, tau2, null)) + math.log(alpha)

    # The ratio is below 1/alpha at the estimate and far above it 20 standard errors away.
    high = optimize.brentq(excess, effect, effect + 20 * se, xtol=1e-14, rtol=1e-13)
    low = optimize.brentq(excess, effect - 20 * se, effect, xtol=1e-14, rtol=1e-13)
    assert r.ci_low == pytest.approx(low, rel=1e-7, abs=1e-12)
    assert r.ci_high == pytest.approx(high, rel=1e-7, abs=1e-12)


@pytest.mark.parametrize(("sigma", "n", "tau", "difference"), [(1.0, 100, 0.3, 0.25), (2.5, 5000, 0.05, 0.11),
                                                               (0.3, 40, 0.5, -0.2)])
def test_msprt_matches_johari_formula_in_its_own_parametrization(
    sigma: float, n: int, tau: float, difference: float
) -> None:
    # Johari et al.: n observations per arm, common variance sigma**2, mixture N(0, tau**2):
    # Lambda_n = sqrt(2 s2 / (2 s2 + n tau2)) exp(n**2 tau2 d**2 / (4 s2 (2 s2 + n tau2))).
    s2, tau2 = sigma**2, tau**2
    lr = math.sqrt(2 * s2 / (2 * s2 + n * tau2)) * math.exp(
        n**2 * tau2 * difference**2 / (4 * s2 * (2 * s2 + n * tau2))
    )
    r = msprt(difference, math.sqrt(2 * s2 / n), alpha=0.05, mixing_variance=tau2)
    assert r.p_value == pytest.approx(min(1.0, 1 / lr), rel=1e-12)


@pytest.mark.parametrize(("effect", "se", "n", "n_star", "alpha"), [
    (0.3, 0.1, 1000, 1000, 0.05), (0.3, 0.1, 1000, 50_000, 0.05), (-0.01, 0.004, 90_000, 10_000, 0.1),
    (2.0, 1.5, 12, 400, 0.01),
])
def test_confidence_sequence_matches_waudby_smith_boundary(
    effect: float, se: float, n: int, n_star: int, alpha: float
) -> None:
    rho = optimal_rho(n_star, alpha=alpha)
    sigma_hat = se * math.sqrt(n)
    radius = sigma_hat * math.sqrt(
        2 * (n * rho**2 + 1) / (n**2 * rho**2) * math.log(math.sqrt(n * rho**2 + 1) / alpha)
    )
    r = confidence_sequence(effect, se, n, alpha=alpha, tuning_n=n_star)
    assert r.method == "confidence_sequence" and r.status == "ok"
    assert r.ci_low == pytest.approx(effect - radius, rel=1e-12)
    assert r.ci_high == pytest.approx(effect + radius, rel=1e-12)
    # The p-value is the alpha' at which 0 is on the boundary (same rho).
    if r.p_value < 1:
        edge = sigma_hat * math.sqrt(
            2 * (n * rho**2 + 1) / (n**2 * rho**2) * math.log(math.sqrt(n * rho**2 + 1) / r.p_value)
        )
        assert edge == pytest.approx(abs(effect), rel=1e-10)
    # Same boundary as the mSPRT with tau**2 = sigma**2 rho**2.
    m = msprt(effect, se, alpha=alpha, mixing_variance=sigma_hat**2 * rho**2)
    assert (m.ci_low, m.ci_high, m.p_value) == pytest.approx((r.ci_low, r.ci_high, r.p_value), rel=1e-12)


@pytest.mark.parametrize("alpha", [0.001, 0.01, 0.05, 0.1, 0.3, 0.9, 0.999])
def test_optimal_mixing_ratio_matches_lambert_w_and_numerical_minimum(alpha: float) -> None:
    ratio = optimal_mixing_ratio(alpha)
    lambert = -special.lambertw(-alpha**2 / math.e, k=-1).real - 1
    assert ratio == pytest.approx(lambert, rel=1e-10)

    def half_width(r: float) -> float:
        return (1 + r) / r * (math.log1p(r) - 2 * math.log(alpha))

    best = optimize.minimize_scalar(half_width, bounds=(1e-6, 1e4), method="bounded",
                                    options={"xatol": 1e-10})
    assert ratio == pytest.approx(best.x, rel=1e-4)
    assert half_width(ratio) == pytest.approx(1 + ratio, rel=1e-12)


def test_confidence_sequence_is_narrowest_at_the_tuning_size() -> None:
    se_at = lambda n: 2.0 / math.sqrt(n)  # noqa: E731 - per-unit sd 2
    n_star = 5000
    radius = {
        tuning: confidence_sequence(0.0, se_at(n_star), n_star, alpha=0.05, tuning_n=tuning).ci_high
        for tuning in [1000, 4000, 5000, 6000, 25_000]
    }
    assert min(radius, key=radius.get) == n_star
    assert radius[n_star] == pytest.approx(se_at(n_star) * math.sqrt(1 + optimal_mixing_ratio(0.05)), rel=1e-12)
    # default_mixing_variance(std_error_at_planned_n) is the same tuning on the effect scale.
    tau2 = default_mixing_variance(alpha=0.05, std_error_at_planned_n=se_at(n_star))
    assert msprt(0.0, se_at(n_star), mixing_variance=tau2).ci_high == pytest.approx(radius[n_star], rel=1e-12)


@pytest.mark.parametrize("alpha", [0.001, 0.05, 0.2, 0.5, 0.9])
@pytest.mark.parametrize("ratio", [1e-3, 0.1, 1.0, 8.0, 1e3, 1e6])
@pytest.mark.parametrize("z", [0.0, 0.5, 1.96, 3.0, 6.0])
def test_always_valid_interval_contains_the_fixed_horizon_one_and_p_is_larger(
    alpha: float, ratio: float, z: float
) -> None:
    se = 0.05
    r = msprt(z * se, se, alpha=alpha, mixing_variance=ratio * se * se)
    low, high, _, p = interval_and_p_value(z * se, se, alternative="two-sided", alpha=alpha)
    assert r.ci_low < low and r.ci_high > high
    assert r.p_value >= p


def test_swapping_arms_mirrors_the_interval_and_keeps_p() -> None:
    forward = msprt(0.3, 0.1, mixing_variance=0.05)
    backward = msprt(-0.3, 0.1, mixing_variance=0.05)
    assert backward.p_value == forward.p_value
    assert (backward.ci_low, backward.ci_high) == pytest.approx((-forward.ci_high, -forward.ci_low), rel=1e-15)
    cs_forward = confidence_sequence(0.3, 0.1, 400, tuning_n=900)
    cs_backward = confidence_sequence(-0.3, 0.1, 400, tuning_n=900)
    assert cs_backward.p_value == cs_forward.p_value
    assert cs_backward.ci_low == pytest.approx(-cs_forward.ci_high, rel=1e-15)


def test_huge_z_gives_p_zero_without_overflow() -> None:
    r = msprt(1.0, 1e-4, mixing_variance=1e-6)
    assert r.p_value == 0.0 and r.ci_low > 0.99


def test_path_takes_running_minimum_and_intersection() -> None:
    rng = np.random.default_rng(11)
    ns = np.arange(1, 41) * 250
    se = 3.0 / np.sqrt(ns)
    effects = rng.normal(0.1, se)
    path = msprt_path(list(effects), list(se), alpha=0.05, mixing_variance=0.01)
    single = [msprt(e, s, alpha=0.05, mixing_variance=0.01) for e, s in zip(effects, se)]
    assert [r.p_value for r in path] == list(np.minimum.accumulate([r.p_value for r in single]))
    assert [r.ci_low for r in path] == list(np.maximum.accumulate([r.ci_low for r in single]))
    assert [r.ci_high for r in path] == list(np.minimum.accumulate([r.ci_high for r in single]))
    assert [r.effect for r in path] == list(effects)
    for r in path:
        # p <= alpha exactly when 0 is outside the running interval.
        assert (r.p_value <= 0.05) == (not r.ci_low <= 0 <= r.ci_high)
    cs = confidence_sequence_path(list(effects), list(se), [int(n) for n in ns], tuning_n=10_000)
    assert all(a.ci_low <= b.ci_low and a.ci_high >= b.ci_high and a.p_value >= b.p_value
               for a, b in zip(cs, cs[1:]))
    assert all(r.method == "confidence_sequence" and r.status == "ok" for r in cs)


def test_path_skips_degenerate_looks() -> None:
    path = confidence_sequence_path([0.0, 0.5, 0.0, 0.4], [0.0, 0.2, 0.0, 0.1], [1, 100, 150, 400],
                                    tuning_n=400)
    assert [r.status for r in path] == ["too_few_units", "ok", "zero_variance", "ok"]
    assert path[0].p_value is None and path[2].ci_low is None and path[2].effect == 0.0
    second = confidence_sequence(0.5, 0.2, 100, tuning_n=400)
    fourth = confidence_sequence(0.4, 0.1, 400, tuning_n=400)
    assert path[1] == second
    assert path[3].p_value == min(second.p_value, fourth.p_value)
    assert path[3].ci_low == max(second.ci_low, fourth.ci_low)


def test_disjoint_intervals_give_empty_interval_status_with_p_value() -> None:
    path = msprt_path([1.0, -1.0, 0.0], [0.1, 0.1, 0.1], alpha=0.05, mixing_variance=0.1)
    assert [r.status for r in path] == ["ok", "empty_interval", "empty_interval"]
    assert path[1].ci_low is None and path[1].ci_high is None
    assert path[1].p_value == path[0].p_value and path[1].p_value <= 0.05


def test_zero_standard_error_is_zero_variance() -> None:
    r = msprt(0.2, 0.0, mixing_variance=0.1)
    assert r == SequentialResult("msprt", "zero_variance", 0.05, 0.2, 0.0, None, None, None)
    assert confidence_sequence(0.2, 0.0, 50, tuning_n=100).status == "zero_variance"


def test_default_mixing_variance_choices() -> None:
    assert default_mixing_variance(effect_of_interest=0.03) == pytest.approx(0.0009, rel=1e-12)
    assert default_mixing_variance(alpha=0.1, std_error_at_planned_n=2.0) == pytest.approx(
        4 * optimal_mixing_ratio(0.1), rel=1e-12
    )
    with pytest.raises(StatsError, match="exactly one"):
        default_mixing_variance()
    with pytest.raises(StatsError, match="exactly one"):
        default_mixing_variance(std_error_at_planned_n=0.1, effect_of_interest=0.1)
    with pytest.raises(StatsError, match="effect_of_interest == 0"):
        default_mixing_variance(effect_of_interest=0.0)
    with pytest.raises(StatsError, match="std_error_at_planned_n"):
        default_mixing_variance(std_error_at_planned_n=-1.0)


@pytest.mark.parametrize("call", [
    lambda: msprt(0.1, 0.1, alpha=1.0, mixing_variance=0.1),
    lambda: msprt(0.1, 0.1, alpha=0.0, mixing_variance=0.1),
    lambda: confidence_sequence(0.1, 0.1, 10, alpha=math.nan, tuning_n=10),
    lambda: optimal_mixing_ratio(2),
])
def test_bad_alpha_raises(call) -> None:
    with pytest.raises(StatsError, match="alpha"):
        call()


@pytest.mark.parametrize(("call", "message"), [
    (lambda: msprt(0.1, -0.1, mixing_variance=0.1), "std_error == -0.1"),
    (lambda: msprt(0.1, math.inf, mixing_variance=0.1), "std_error"),
    (lambda: msprt(math.nan, 0.1, mixing_variance=0.1), "effect"),
    (lambda: msprt(0.1, 0.1, mixing_variance=0.0), "mixing_variance == 0.0"),
    (lambda: msprt(0.1, 0.1, mixing_variance=None), "mixing_variance"),
    (lambda: confidence_sequence(0.1, 0.1, -3, tuning_n=10), "n == -3"),
    (lambda: confidence_sequence(0.1, 0.1, 10.5, tuning_n=10), "n == 10.5"),
    (lambda: confidence_sequence(0.1, 0.1, 10, tuning_n=0), "tuning_n == 0"),
    (lambda: msprt_path([0.1, 0.2], [0.1], mixing_variance=0.1), "len"),
    (lambda: confidence_sequence_path([0.1], [0.1], [10, 20], tuning_n=10), "len"),
])
def test_bad_input_raises_with_what_was_found(call, message: str) -> None:
    with pytest.raises(StatsError, match=message.replace(".", r"\.").replace("(", r"\(")):
        call()


def test_docstring_examples_run() -> None:
    outcome = doctest.testmod(sequential)
    assert outcome.attempted > 0 and outcome.failed == 0


def test_modules_import_neither_scipy_nor_an_engine() -> None:
    code = (
        "import iterate.stats.sequential, iterate.stats.group_sequential, sys; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'scipy', 'duckdb', 'polars', 'click', 'pandas', 'statsmodels'}]; "
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
