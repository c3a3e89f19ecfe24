"""Group-sequential alpha-spending boundaries: published values, an independent integration, simulation.

References, independent of the implementation:

- published Lan-DeMets boundaries (gsDesign ``gsDesign(k=5, test.type=2, alpha=0.025, sfu=sfLDOF)``,
  rpact ``getDesignGroupSequential(kMax=5, alpha=0.05, sided=2, typeOfDesign="asOF")``);
- ``scipy.stats.multivariate_normal.cdf`` (Genz's algorithm) on the joint normal
  distribution with ``corr(Z_j, Z_k) = sqrt(t_j / t_k)``;
- Monte Carlo draws of the Brownian-motion z statistics (marked slow).
"""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from scipy import stats

import iterate.stats.group_sequential as group_sequential
from iterate.errors import StatsError
from iterate.stats.group_sequential import (
    GroupSequentialDesign,
    alpha_spent,
    group_sequential_test,
    spending_boundaries,
)

EQUAL_5 = [0.2, 0.4, 0.6, 0.8, 1.0]
UNEQUAL = [0.15, 0.3, 0.7, 1.0]
DESIGNS = [
    ("obrien-fleming", 3.0, EQUAL_5),
    ("pocock", 3.0, EQUAL_5),
    ("power", 3.0, EQUAL_5),
    ("power", 1.0, EQUAL_5),
    ("obrien-fleming", 3.0, UNEQUAL),
    ("pocock", 3.0, UNEQUAL),
    ("power", 2.0, UNEQUAL),
]


def test_obrien_fleming_five_equal_looks_matches_published_boundaries() -> None:
    design = spending_boundaries(EQUAL_5, alpha=0.05, spending="obrien-fleming")
    published = (4.8769, 3.3569, 2.6803, 2.2898, 2.0310)
    assert design.z_boundaries == pytest.approx(published, abs=1e-3)
    assert design.cumulative_alpha_spent[-1] == 0.05
    assert design.nominal_alphas == pytest.approx([2 * stats.norm.sf(b) for b in design.z_boundaries], rel=1e-12)


def test_pocock_five_equal_looks_matches_published_boundaries() -> None:
    # gsDesign(k=5, test.type=2, alpha=0.025, sfu=sfLDPocock).
    design = spending_boundaries(EQUAL_5, alpha=0.05, spending="pocock")
    assert design.z_boundaries == pytest.approx((2.4380, 2.4268, 2.4102, 2.3966, 2.3860), abs=1e-3)


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.2])
@pytest.mark.parametrize("spending", ["obrien-fleming", "pocock", "power"])
def test_single_look_is_the_fixed_horizon_test(alpha: float, spending: str) -> None:
    design = spending_boundaries([1.0], alpha=alpha, spending=spending)  # type: ignore[arg-type]
    assert design.z_boundaries[0] == pytest.approx(stats.norm.isf(alpha / 2), rel=1e-12)
    assert design.nominal_alphas[0] == pytest.approx(alpha, rel=1e-12)


def _stay_probability(fractions, boundaries) -> float:
    """``P(|Z_j| < b_j for all j)`` by ``scipy.stats.multivariate_normal`` (Genz), ``corr = sqrt(t_i / t_j)``."""
    t, b = np.asarray(fractions), np.asarray(boundaries)
    correlation = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    joint = stats.multivariate_normal(mean=np.zeros(t.size), cov=correlation, abseps=1e-9, releps=0,
                                      maxpts=1_000_000)
    return float(joint.cdf(b, lower_limit=-b, rng=np.random.default_rng(t.size)))


@pytest.mark.parametrize(("spending", "rho", "fractions"), DESIGNS)
def test_boundaries_spend_alpha_by_the_joint_normal_distribution(spending: str, rho: float, fractions) -> None:
    design = spending_boundaries(fractions, alpha=0.05, spending=spending, rho=rho)  # type: ignore[arg-type]
    # P(no crossing up to k) = 1 - alpha(t_k); Genz's integration is quick and accurate up to 3 looks.
    for k in range(1, 4):
        stay = _stay_probability(fractions[:k], design.z_boundaries[:k])
        assert 1 - stay == pytest.approx(design.cumulative_alpha_spent[k - 1], abs=1e-7)


@pytest.mark.parametrize(("spending", "rho"), [("obrien-fleming", 3.0), ("pocock", 3.0), ("power", 0.5)])
def test_spending_function_values(spending: str, rho: float) -> None:
    t = np.linspace(0.05, 1, 20)
    spent = [alpha_spent(x, alpha=0.05, spending=spending, rho=rho) for x in t]  # type: ignore[arg-type]
    if spending == "obrien-fleming":
        expected = 4 * stats.norm.sf(stats.norm.isf(0.05 / 4) / np.sqrt(t))
    elif spending == "pocock":
        expected = 0.05 * np.log(1 + (math.e - 1) * t)
    else:
        expected = 0.05 * t**rho
    assert spent == pytest.approx(list(expected), rel=1e-12)
    assert all(a < b for a, b in zip(spent, spent[1:]))
    assert alpha_spent(0.0, alpha=0.05, spending=spending, rho=rho) == 0.0  # type: ignore[arg-type]


def test_design_with_last_fraction_below_one_spends_part_of_alpha() -> None:
    design = spending_boundaries([0.25, 0.5], alpha=0.05, spending="power", rho=1.0)
    assert design.cumulative_alpha_spent == pytest.approx((0.0125, 0.025), rel=1e-12)


def test_negligible_early_spending_gives_an_infinite_boundary() -> None:
    # O'Brien-Fleming spends 2e-307 by t = 1e-3: below double precision after the quantile.
    design = spending_boundaries([1e-4, 0.5, 1.0], alpha=0.05)
    assert design.z_boundaries[0] == math.inf and design.nominal_alphas[0] == 0.0
    reference = spending_boundaries([0.5, 1.0], alpha=0.05)
    assert design.z_boundaries[1:] == pytest.approx(reference.z_boundaries, abs=1e-6)


def test_group_sequential_test_compares_with_the_boundary() -> None:
    design = spending_boundaries(EQUAL_5, alpha=0.05)
    early = group_sequential_test(3.0, 1, design)
    assert not early.crossed and early.look == 1 and early.information_fraction == 0.2
    assert early.nominal_p_value == pytest.approx(2 * stats.norm.sf(3.0), rel=1e-12)
    assert early.nominal_p_value > early.nominal_alpha
    late = group_sequential_test(-2.1, 5, design)
    assert late.crossed and late.z_boundary == design.z_boundaries[4]
    assert late.nominal_p_value <= late.nominal_alpha and late.cumulative_alpha_spent == 0.05
    assert group_sequential_test(design.z_boundaries[2], 3, design).crossed


@pytest.mark.parametrize(("fractions", "message"), [
    ([], "at least one"),
    ([0.5, 0.5], r"information_fractions\[1\] == 0.5 <= 0.5"),
    ([0.6, 0.3, 1.0], "strictly increasing"),
    ([0.0, 1.0], "t == 0.0 at position 0"),
    ([0.5, 1.2], "t == 1.2 at position 1"),
    (["a"], "sequence of numbers"),
])
def test_bad_fractions_raise(fractions, message: str) -> None:
    with pytest.raises(StatsError, match=message):
        spending_boundaries(fractions)


def test_bad_design_arguments_raise() -> None:
    with pytest.raises(StatsError, match="alpha == 1.5"):
        spending_boundaries([1.0], alpha=1.5)
    with pytest.raises(StatsError, match="spending == 'haybittle'"):
        spending_boundaries([1.0], spending="haybittle")  # type: ignore[arg-type]
    with pytest.raises(StatsError, match="rho == 0"):
        spending_boundaries([1.0], spending="power", rho=0)
    with pytest.raises(StatsError, match=r"t == 1.5"):
        alpha_spent(1.5, alpha=0.05)
    design = spending_boundaries([0.5, 1.0])
    with pytest.raises(StatsError, match=r"look == 0, must be an integer in 1..2"):
        group_sequential_test(1.0, 0, design)
    with pytest.raises(StatsError, match="look == 3"):
        group_sequential_test(1.0, 3, design)
    with pytest.raises(StatsError, match="z_statistic == nan"):
        group_sequential_test(math.nan, 1, design)
    with pytest.raises(StatsError, match="design"):
        group_sequential_test(1.0, 1, "design")  # type: ignore[arg-type]


def test_design_is_frozen() -> None:
    design = spending_boundaries([0.5, 1.0])
    assert isinstance(design, GroupSequentialDesign)
    with pytest.raises(AttributeError):
        design.alpha = 0.1  # type: ignore[misc]


def test_docstring_examples_run() -> None:
    outcome = doctest.testmod(group_sequential)
    assert outcome.attempted > 0 and outcome.failed == 0


def _simulated_crossing(fractions, boundaries, draws: int, seed: int) -> np.ndarray:
    """Share of null experiments stopped at or before each look (Brownian motion at the fractions)."""
    rng = np.random.default_rng(seed)
    t = np.asarray(fractions)
    increments = rng.standard_normal((draws, t.size)) * np.sqrt(np.diff(t, prepend=0.0))
    z = np.cumsum(increments, axis=1) / np.sqrt(t)
    crossed = np.logical_or.accumulate(np.abs(z) >= np.asarray(boundaries), axis=1)
    return crossed.mean(axis=0)


@pytest.mark.slow
@pytest.mark.parametrize(("spending", "rho", "fractions"), DESIGNS)
def test_simulated_type_one_error_equals_alpha_spent(spending: str, rho: float, fractions) -> None:
    draws = 400_000
    design = spending_boundaries(fractions, alpha=0.05, spending=spending, rho=rho)  # type: ignore[arg-type]
    simulated = _simulated_crossing(fractions, design.z_boundaries, draws, seed=len(fractions) * 101 + int(rho))
    for observed, spent in zip(simulated, design.cumulative_alpha_spent):
        tolerance = 4.5 * math.sqrt(spent * (1 - spent) / draws) + 1e-5
        assert observed == pytest.approx(spent, abs=tolerance)


@pytest.mark.slow
def test_published_obrien_fleming_boundaries_hold_alpha_by_simulation() -> None:
    draws = 1_000_000
    simulated = _simulated_crossing(EQUAL_5, (4.8769, 3.3569, 2.6803, 2.2898, 2.0310), draws, seed=1983)
    assert simulated[-1] == pytest.approx(0.05, abs=4.5 * math.sqrt(0.05 * 0.95 / draws))
