"""Relative intervals: Fieller's (1954) interval with the absolute test's variance and reference.

References are independent of ``iterate.stats``: the quadratic in ``rho = mu_t / mu_c`` solved with
``numpy.roots`` (``helpers.fieller_by_hand``), SciPy's quantiles, the definition of a confidence set
(the ``rho`` that the test of ``mu_t - rho mu_c == 0`` does not reject) evaluated directly, and
simulated coverage. The central property, on random inputs of every test: the relative interval
excludes 0 exactly when the absolute interval does (for the t tests, exactly when p < alpha).
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from scipy import stats

from helpers import fieller_by_hand
from iterate.errors import StatsError
from iterate.stats import (
    Moments,
    QuantileSummary,
    RatioMoments,
    RelativeInterval,
    delta_method_test,
    interval_and_p_value,
    quantile_test,
    relative_difference,
    relative_lift,
    two_proportion_z_test,
    welch_t_test,
)
from iterate.stats.cuped import JointMoments, cuped_test

ALTERNATIVES = ["two-sided", "greater", "less"]


def welch_df(var_c: float, n_c: int, var_t: float, n_t: int) -> float:
    return (var_c + var_t) ** 2 / (var_c**2 / (n_c - 1) + var_t**2 / (n_t - 1))


def statistic_at(rho: float, mc: float, vc: float, mt: float, vt: float) -> float:
    """The test statistic of ``mu_t - rho mu_c == 0``."""
    return (mt - rho * mc) / math.sqrt(vt + rho * rho * vc)


# -- the interval against the quadratic solved by hand -----------------------------------------------


@pytest.mark.parametrize(
    ("mc", "vc", "mt", "vt", "df"),
    [(10.0, 0.004, 10.3, 0.0042, None), (2.0, 0.09, 3.1, 0.2, 35.5), (-4.0, 0.5, -3.0, 0.4, None),
     (0.8, 0.04, 0.1, 0.01, 12.0), (1.0, 0.05, 1.0, 0.2, 7.3), (150.0, 400.0, 90.0, 100.0, 60.0)],
)
def test_two_sided_interval_solves_fiellers_quadratic(mc, vc, mt, vt, df) -> None:
    for alpha in (0.01, 0.05, 0.2):
        q = stats.norm.ppf(1 - alpha / 2) if df is None else stats.t.ppf(1 - alpha / 2, df)
        r = relative_difference(mc, vc, mt, vt, alternative="two-sided", alpha=alpha, df=df)
        assert r.status == "ok" and r.effect == pytest.approx(mt / mc - 1, rel=1e-14)
        low, high = fieller_by_hand(mc, vc, mt, vt, q)
        assert (r.ci_low, r.ci_high) == (pytest.approx(low, rel=1e-9, abs=1e-12),
                                         pytest.approx(high, rel=1e-9, abs=1e-12))
        # the bounds are where the test of mu_t - rho mu_c just rejects
        for bound in (r.ci_low, r.ci_high):
            assert abs(statistic_at(1 + bound, mc, vc, mt, vt)) == pytest.approx(q, rel=1e-9)


@pytest.mark.parametrize(("mc", "mt"), [(2.0, 2.6), (2.0, 1.5), (-2.0, -2.6), (-2.0, -1.5)])
@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_one_sided_interval_is_the_set_the_one_sided_test_keeps(mc, mt, alternative) -> None:
    vc, vt, df, alpha = 0.04, 0.09, 40.0, 0.05
    r = relative_difference(mc, vc, mt, vt, alternative=alternative, alpha=alpha, df=df)
    q = stats.t.ppf(1 - alpha, df)
    low, high = fieller_by_hand(mc, vc, mt, vt, q)  # the one-sided bound is a root at q(1 - alpha)
    # "greater" keeps rho with statistic <= q: rho >= root for a positive control, <= root for a
    # negative one (a larger effect is then a smaller ratio); "less" mirrors it
    lower_bound = (alternative == "greater") == (mc > 0)
    expected = (low, math.inf) if lower_bound else (-math.inf, high)
    assert (r.ci_low, r.ci_high) == (pytest.approx(expected[0], rel=1e-9), pytest.approx(expected[1], rel=1e-9))
    kept = (lambda s: s <= q) if alternative == "greater" else (lambda s: s >= -q)
    for rho in np.linspace(-30, 30, 6001):
        inside = r.ci_low <= rho - 1 <= r.ci_high
        assert kept(statistic_at(rho, mc, vc, mt, vt)) == inside or abs(rho - 1 - low) < 1e-6 or abs(rho - 1 - high) < 1e-6
    two_sided = relative_difference(mc, vc, mt, vt, alternative="two-sided", alpha=2 * alpha, df=df)
    assert (two_sided.ci_low, two_sided.ci_high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))


def test_unbounded_when_the_control_is_not_significantly_different_from_zero() -> None:
    # m_c**2 <= q**2 v_c: the quadratic's leading coefficient is <= 0
    q = stats.norm.ppf(0.975)
    for mc, vc in ((0.1, 0.01), (-0.3, 0.05), (0.0, 0.01), (0.19, 0.01)):
        assert mc**2 <= q**2 * vc
        r = relative_difference(mc, vc, 0.5, 0.01, alternative="two-sided", alpha=0.05)
        assert (r.ci_low, r.ci_high, r.status) == (None, None, "unbounded")
        assert r.effect == (None if mc == 0 else pytest.approx(0.5 / mc - 1))
    # the same control, tested at a looser level, is significant and bounded
    assert relative_difference(0.3, 0.01, 0.5, 0.01, alternative="two-sided", alpha=0.2).status == "ok"
    assert relative_difference(0.3, 0.01, 0.5, 0.01, alternative="greater", alpha=0.05).status == "ok"
    assert relative_difference(0.3, 0.01, 0.5, 0.01, alternative="two-sided", alpha=0.001).status == "unbounded"


def test_no_variance_means_no_test_and_zero_variance_means_a_point() -> None:
    assert relative_difference(2.0, None, 3.0, 0.1, alternative="two-sided", alpha=0.05) == RelativeInterval(
        0.5, None, None, "not_tested")
    assert relative_difference(2.0, 0.0, 3.0, 0.0, alternative="two-sided", alpha=0.05) == RelativeInterval(
        0.5, 0.5, 0.5, "ok")
    assert relative_difference(2.0, 0.0, 2.0, 0.0, alternative="less", alpha=0.05) == RelativeInterval(
        0.0, -math.inf, 0.0, "ok")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"alpha": 1.5}, "alpha == 1.5"), ({"alternative": "up"}, "alternative == 'up'"), ({"df": 0}, "df == 0"),
     ({"control_variance": -1.0}, "control_variance == -1.0"), ({"treatment_variance": math.nan}, "treatment_variance == nan")],
)
def test_bad_arguments_raise(kwargs: dict, message: str) -> None:
    arguments = {"control": 1.0, "control_variance": 0.1, "treatment": 1.2, "treatment_variance": 0.1,
                 "alternative": "two-sided", "alpha": 0.05} | kwargs
    with pytest.raises(StatsError, match=message):
        relative_difference(**arguments)


# -- each test's relative interval uses its own variance and reference ---------------------------------


def test_means_use_welch_variances_and_degrees_of_freedom() -> None:
    rng = np.random.default_rng(11)
    c, t = rng.exponential(4.0, size=40), rng.exponential(5.4, size=25)
    var_c, var_t = c.var(ddof=1) / c.size, t.var(ddof=1) / t.size
    q = stats.t.ppf(0.975, welch_df(var_c, c.size, var_t, t.size))
    e = welch_t_test(Moments.from_values(c), Moments.from_values(t))
    low, high = fieller_by_hand(c.mean(), var_c, t.mean(), var_t, q)
    assert e.relative_status == "ok" and e.relative_effect == pytest.approx(t.mean() / c.mean() - 1, rel=1e-12)
    assert (e.relative_ci_low, e.relative_ci_high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))
    assert relative_lift(Moments.from_values(c), Moments.from_values(t)) == RelativeInterval(
        e.relative_effect, e.relative_ci_low, e.relative_ci_high, "ok")


def test_relative_fields_of_estimate_use_the_same_lift() -> None:
    control, treatment = Moments(400, 3.0, 2.0), Moments(420, 3.3, 2.5)
    for alternative in ALTERNATIVES:
        e = welch_t_test(control, treatment, alternative=alternative, alpha=0.1)
        assert (e.relative_effect, e.relative_ci_low, e.relative_ci_high, e.relative_status) == tuple(
            getattr(relative_lift(control, treatment, alternative=alternative, alpha=0.1), name)
            for name in ("effect", "ci_low", "ci_high", "status"))


def test_proportions_use_the_wald_variances_and_the_normal() -> None:
    e = two_proportion_z_test(Moments.from_proportion(100, 1000), Moments.from_proportion(130, 1000))
    var_c, var_t = 0.1 * 0.9 / 1000, 0.13 * 0.87 / 1000
    low, high = fieller_by_hand(0.1, var_c, 0.13, var_t, stats.norm.ppf(0.975))
    assert (e.relative_ci_low, e.relative_ci_high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))
    assert e.ci_low > 0 and e.relative_ci_low > 0


def test_degenerate_relative_lift() -> None:
    def lift(c: Moments, t: Moments) -> tuple:
        r = relative_lift(c, t)
        return r.effect, r.ci_low, r.ci_high, r.status

    assert lift(Moments(10, 0.0, 1.0), Moments(10, 1.0, 1.0)) == (None, None, None, "unbounded")
    assert lift(Moments(0, 0.0, 0.0), Moments(10, 1.0, 1.0)) == (None, None, None, "not_tested")
    assert lift(Moments(1, 2.0, 0.0), Moments(10, 3.0, 1.0)) == (0.5, None, None, "not_tested")
    assert lift(Moments(5, 2.0, 0.0), Moments(5, 3.0, 0.0)) == (0.5, None, None, "not_tested")
    assert welch_t_test(Moments(5, 2.0, 0.0), Moments(5, 3.0, 0.0)).relative_status == "not_tested"


# -- coverage ---------------------------------------------------------------------------------------------


def test_fieller_interval_covers_at_the_nominal_rate_where_the_delta_method_does_not() -> None:
    # Small normal arms with a noisy control (8 units, its mean about 4.7 standard errors from 0),
    # the case Fieller (1954) was written for: the symmetric delta-method interval with a normal
    # quantile undercovers (about 93% here), the Fieller interval with Welch's df is near 95%.
    rng = np.random.default_rng(1954)
    replications, n_c, n_t = 4_000, 8, 25
    mu_c, mu_t, sd_c, sd_t = 1.0, 1.3, 0.6, 1.4
    rho = mu_t / mu_c
    c = rng.normal(mu_c, sd_c, size=(replications, n_c))
    t = rng.normal(mu_t, sd_t, size=(replications, n_t))
    fieller = delta = unbounded = 0
    z = stats.norm.ppf(0.975)
    for i in range(replications):
        control, treatment = Moments.from_values(c[i]), Moments.from_values(t[i])
        e = welch_t_test(control, treatment)
        mc, mt, vc, vt = control.mean, treatment.mean, control.variance / n_c, treatment.variance / n_t
        if e.relative_status == "unbounded":  # no bounds: is rho in the set, by its definition?
            unbounded += 1
            fieller += (mt - rho * mc) ** 2 <= stats.t.ppf(0.975, e.df) ** 2 * (vt + rho**2 * vc)
        else:
            fieller += e.relative_ci_low <= rho - 1 <= e.relative_ci_high
        se = math.sqrt(vt / mc**2 + mt**2 * vc / mc**4)
        delta += abs(mt / mc - rho) <= z * se
    tolerance = 3 * math.sqrt(0.95 * 0.05 / replications)
    assert 0 < unbounded < 0.02 * replications
    assert abs(fieller / replications - 0.95) < tolerance
    assert delta / replications < 0.95 - tolerance


def test_relative_interval_covers_truth_at_nominal_rate() -> None:
    rng = np.random.default_rng(2024)
    replications, n = 2_000, 400
    true_lift = 5.5 / 5.0 - 1
    c = rng.exponential(5.0, size=(replications, n))
    t = rng.exponential(5.5, size=(replications, n))
    covered = 0
    for i in range(replications):
        r = relative_lift(Moments.from_values(c[i]), Moments.from_values(t[i]))
        covered += r.ci_low <= true_lift <= r.ci_high
    tolerance = 3 * math.sqrt(0.95 * 0.05 / replications)
    assert abs(covered / replications - 0.95) < tolerance


# -- the property: relative excludes 0 iff absolute excludes 0 (iff p < alpha), on random inputs -------


def _excludes_zero(low: float, high: float) -> bool:
    return low > 0 or high < 0


def _random_means(rng: np.random.Generator) -> tuple[Moments, Moments]:
    n_c, n_t = (int(n) for n in rng.integers(3, 300, 2))
    mean_c = float(rng.normal(0, 1) * 10 ** rng.uniform(-2, 1))  # often near 0, sometimes negative
    sd_c, sd_t = 10 ** rng.uniform(-1.5, 1, 2)
    mean_t = mean_c + float(rng.normal(0, 1) * (sd_c + sd_t) / math.sqrt(min(n_c, n_t)) * rng.uniform(0, 4))
    return Moments(n_c, mean_c, sd_c**2), Moments(n_t, mean_t, sd_t**2)


def _random_ratios(rng: np.random.Generator) -> tuple[RatioMoments, RatioMoments]:
    arms = []
    for shift in (0.0, float(rng.normal(0, 0.5))):
        n = int(rng.integers(4, 60))
        x = 1.0 + rng.poisson(5.0, n)
        y = rng.normal(0.3 + shift, 2.0, n) * x
        arms.append(RatioMoments.from_values(y, x))
    return arms[0], arms[1]


def _random_proportions(rng: np.random.Generator) -> tuple[Moments, Moments]:
    n_c, n_t = (int(n) for n in rng.integers(10, 3000, 2))
    p = 10 ** rng.uniform(-3, -0.3)
    p_t = min(0.999, p * rng.uniform(0.5, 2.0))
    return (Moments.from_proportion(int(rng.binomial(n_c, p)), n_c),
            Moments.from_proportion(int(rng.binomial(n_t, p_t)), n_t))


def _random_cuped(rng: np.random.Generator) -> tuple[JointMoments, JointMoments]:
    arms = []
    level = float(rng.normal(0, 1))
    for effect in (0.0, float(rng.normal(0, 0.6))):
        n = int(rng.integers(5, 80))
        y0 = rng.gamma(2.0, 1.0, n)
        y = level + effect + 0.8 * y0 + rng.normal(0.0, 1.5, n)
        arms.append(JointMoments.from_values(y, y0=y0))
    return arms[0], arms[1]


def _random_quantiles(rng: np.random.Generator) -> tuple[QuantileSummary, QuantileSummary]:
    summaries = []
    center = float(rng.normal(0, 1) * 10 ** rng.uniform(0, 2))
    for shift in (0.0, float(rng.normal(0, 3))):
        estimate = center + shift
        below, above = rng.uniform(0.5, 8, 2)
        summaries.append(QuantileSummary(int(rng.integers(2, 500)), 3000, 0.9, estimate, estimate - below,
                                         estimate + above, alpha=0.05))
    return summaries[0], summaries[1]


CASES = {
    "welch_t": (_random_means, welch_t_test, True),
    "two_proportion_z": (_random_proportions, two_proportion_z_test, False),  # p-value: pooled se
    "delta_ratio": (_random_ratios, delta_method_test, True),
    "cuped": (_random_cuped, cuped_test, True),
    "clustered_quantile": (_random_quantiles, quantile_test, True),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_relative_interval_excludes_zero_iff_the_absolute_one_does(name: str, alternative: str) -> None:
    draw, test, interval_and_test_share_the_se = CASES[name]
    rng = np.random.default_rng(zlib.crc32(f"{name}/{alternative}".encode()))
    seen = {"significant": 0, "not_significant": 0, "unbounded": 0}
    for _ in range(400):
        control, treatment = draw(rng)
        for alpha in (0.05, 0.01):
            e = test(control, treatment, alternative=alternative, alpha=alpha)
            if e.status != "ok":
                assert e.relative_status == "not_tested" and e.relative_ci_low is None
                continue
            absolute = _excludes_zero(e.ci_low, e.ci_high)
            if interval_and_test_share_the_se:
                assert absolute == (e.p_value < alpha), (e.p_value, e.ci_low, e.ci_high)
            if e.relative_status == "unbounded":
                assert e.relative_ci_low is None and e.relative_ci_high is None
                seen["unbounded"] += 1
                continue
            assert e.relative_status == "ok"
            assert _excludes_zero(e.relative_ci_low, e.relative_ci_high) == absolute, e
            assert e.relative_ci_low <= e.relative_effect <= e.relative_ci_high
            seen["significant" if absolute else "not_significant"] += 1
    assert min(seen.values()) > 0, seen


def test_unbounded_exactly_when_the_control_is_not_significant_welch() -> None:
    rng = np.random.default_rng(3)
    for _ in range(500):
        control, treatment = _random_means(rng)
        e = welch_t_test(control, treatment)
        var_c, var_t = control.variance / control.n, treatment.variance / treatment.n
        q = stats.t.ppf(0.975, welch_df(var_c, control.n, var_t, treatment.n))
        hand = fieller_by_hand(control.mean, var_c, treatment.mean, var_t, q)
        if hand is None:
            assert e.relative_status == "unbounded"
        else:
            assert e.relative_status == "ok"
            assert (e.relative_ci_low, e.relative_ci_high) == (pytest.approx(hand[0], rel=1e-7, abs=1e-9),
                                                               pytest.approx(hand[1], rel=1e-7, abs=1e-9))


def test_shared_helper_normal_and_t() -> None:
    low, high, z, p = interval_and_p_value(0.4, 0.2, alternative="two-sided", alpha=0.05)
    assert z == pytest.approx(2.0) and p == pytest.approx(2 * stats.norm.sf(2.0), rel=1e-12)
    assert (low, high) == (pytest.approx(0.4 - 0.2 * stats.norm.ppf(0.975), rel=1e-12),
                           pytest.approx(0.4 + 0.2 * stats.norm.ppf(0.975), rel=1e-12))
    low, high, t, p = interval_and_p_value(0.4, 0.2, alternative="less", alpha=0.05, df=7.5)
    assert p == pytest.approx(stats.t.cdf(2.0, 7.5), rel=1e-12)
    assert (low, high) == (-math.inf, pytest.approx(0.4 + 0.2 * stats.t.ppf(0.95, 7.5), rel=1e-12))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 2}, "alpha == 2, must be in"),
        ({"alternative": "both"}, "alternative == 'both'"),
        ({"std_error": 0.0}, "std_error == 0.0"),
        ({"df": 0}, "df == 0"),
    ],
)
def test_shared_helper_validates(kwargs: dict, message: str) -> None:
    arguments = {"effect": 1.0, "std_error": 1.0, "alternative": "two-sided", "alpha": 0.05} | kwargs
    with pytest.raises(StatsError, match=message):
        interval_and_p_value(**arguments)
