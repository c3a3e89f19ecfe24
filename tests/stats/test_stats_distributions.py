"""The scalar (pure Python) distribution functions against ``scipy.special``, the reference at test time."""

from __future__ import annotations

import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import scipy.special as sc

from iterate.stats import distributions
from iterate.stats.distributions import chdtrc, ndtr, ndtri, stdtr, stdtrit

ROOT = Path(__file__).resolve().parents[2]
INF = math.inf
NAN = math.nan
TINY = 1e-300

DFS = [0.5, 1, 1.5, 2, 3, 4.7, 10, 29.3, 100, 1e3, 12345.6, 1e5, 2.5e6, 1e7, 1e8, INF]
TS = [0.0, 1e-8, 1e-3, 0.5, 1.0, 1.96, 2.5, 4.0, 8.0, 40.0, 1e3]
PS = [1e-15, 1e-10, 1e-6, 0.001, 0.025, 0.05, 0.3, 0.5, 0.7, 0.975, 0.999999]
CHI_SQUARE_XS = [0.0, 1e-6, 0.5, 1.0, 3.84, 10.0, 50.0, 200.0, 1000.0]


def assert_close(value: float, reference: float, rel: float) -> None:
    assert type(value) is float
    if reference == value:
        return
    assert abs(value - reference) <= rel * abs(reference), (value, reference, abs(value / reference - 1))


def t_lower_tail(df: float, w: float) -> float:
    """Reference F(−w), w >= 0; for ν = 1 the Cauchy closed form (scipy 1.17's stdtr(1, −1e-8) is off by 3e-9)."""
    if df == 1:
        return math.atan2(1.0, w) / math.pi
    return float(sc.stdtr(df, -w))


def test_ndtr_matches_scipy_over_the_whole_range() -> None:
    for x in np.concatenate([np.linspace(-38.0, 8.5, 9201), [-1e-12, 0.0, 1e-12]]):
        value, reference = ndtr(float(x)), float(sc.ndtr(x))
        if reference > TINY:
            assert_close(value, reference, 1e-13)
        else:
            assert abs(value - reference) <= TINY


def test_ndtri_matches_scipy_from_1e_300_to_1_minus_1e_16() -> None:
    ps = np.concatenate([np.logspace(-300, math.log10(0.5), 3001), np.linspace(0.01, 0.99, 99),
                         1 - np.logspace(-16, -1, 301)])
    for p in ps:
        assert_close(ndtri(float(p)), float(sc.ndtri(p)), 1e-13)


def test_normal_edge_cases() -> None:
    assert ndtr(-INF) == 0.0 and ndtr(INF) == 1.0 and ndtr(0.0) == 0.5
    assert math.isnan(ndtr(NAN))
    assert ndtri(0.0) == -INF and ndtri(1.0) == INF and ndtri(0.5) == 0.0
    for p in (-0.1, 1.1, -INF, INF, NAN):
        assert math.isnan(ndtri(p))


@pytest.mark.parametrize("df", DFS)
def test_stdtr_matches_scipy_and_keeps_the_tails(df: float) -> None:
    for w in TS:
        tail = t_lower_tail(df, w)
        lower = stdtr(df, -w)
        if tail > TINY:
            assert_close(lower, tail, 1e-12)
        else:
            assert abs(lower - tail) <= TINY
        upper = stdtr(df, w)
        assert_close(upper, 1.0 - tail if df == 1 else float(sc.stdtr(df, w)), 1e-12)
        assert abs((1.0 - upper) - tail) <= 1e-12 * tail + 2.3e-16


def test_stdtr_edge_cases() -> None:
    for df in (0.5, 3.0, 1e8, INF):
        assert stdtr(df, -INF) == 0.0 and stdtr(df, INF) == 1.0
        assert stdtr(df, 0.0) == 0.5 and stdtr(df, -0.0) == 0.5
        assert math.isnan(stdtr(df, NAN))
    for df in (0.0, -1.0, -INF, NAN):
        assert math.isnan(stdtr(df, 1.0))
    for t in (-40.0, -1.96, 0.3, 5.0):
        assert stdtr(INF, t) == ndtr(t)


def test_stdtr_is_at_most_one_half_below_zero_and_at_least_above() -> None:
    # regression: stdtr(1175, -1e-20) was 0.5000000000000001, so a Welch two-sided p-value
    # 2 * stdtr(df, -|t|) of two arms whose means differ by one ulp was 1.0000000000000002
    for df in [*DFS, 50.0, 51.0, 1175.0, 1998.0]:
        for w in (1e-300, 1e-106, 1e-20, 1e-16, 4.8e-18, 1e-12):
            assert stdtr(df, -w) <= 0.5 <= stdtr(df, w), (df, w)


@pytest.mark.parametrize("df", DFS)
def test_stdtrit_matches_scipy_and_inverts_stdtr(df: float) -> None:
    for p in PS:
        t = stdtrit(df, p)
        assert_close(t, float(sc.stdtrit(df, p)), 1e-12)
        if p != 0.5:
            assert_close(stdtr(df, t), p, 1e-12)


def test_stdtrit_is_accurate_near_one_half_and_far_in_heavy_tails() -> None:
    assert stdtrit(4.3e9, 0.5000189199179464) == pytest.approx(4.742520129880159e-05, rel=1e-14)
    for df, p in [(0.5, 1e-100), (3.0, 1e-200), (30.0, 1e-300), (2.5e6, 1e-300)]:
        assert_close(stdtr(df, stdtrit(df, p)), p, 1e-12)


def test_stdtrit_edge_cases() -> None:
    for df in (0.5, 1.0, 2.0, 3.0, 1e8, INF):
        assert stdtrit(df, 0.0) == -INF
        assert stdtrit(df, 1.0) == INF
        assert stdtrit(df, 0.5) == 0.0
        for p in (-0.1, 1.1, NAN):
            assert math.isnan(stdtrit(df, p))
    for df in (0.0, -1.0, NAN):
        assert math.isnan(stdtrit(df, 0.3))
    for p in PS:
        assert stdtrit(INF, p) == ndtri(p)
        if p >= 0.5:
            assert stdtrit(7.5, p) == -stdtrit(7.5, 1 - p)


@pytest.mark.parametrize("df", range(1, 61))
def test_chdtrc_matches_scipy(df: int) -> None:
    for x in CHI_SQUARE_XS:
        reference = float(sc.chdtrc(df, x))
        if reference > TINY:
            assert_close(chdtrc(df, x), reference, 1e-12)
    assert chdtrc(df, -1.0) == 1.0 and chdtrc(df, -INF) == 1.0 and chdtrc(df, 0.0) == 1.0
    assert chdtrc(df, INF) == 0.0
    assert math.isnan(chdtrc(df, NAN))


def test_chdtrc_large_integer_df_and_fallback_to_scipy() -> None:
    for df in (500, 999, 10_000):
        for x in (0.5 * df, 0.98 * df, df, 1.1 * df, 3.0 * df):
            reference = float(sc.chdtrc(df, x))
            if reference > TINY:
                assert_close(chdtrc(df, x), reference, 1e-12)
    for df, x in [(2.5, 3.0), (0.0, 1.0), (20_001.0, 20_000.0), (INF, 3.0)]:
        assert_close(chdtrc(df, x), float(sc.chdtrc(df, x)), 0.0)
    assert math.isnan(chdtrc(NAN, 1.0))


def test_numpy_scalars_are_computed_as_python_floats() -> None:
    assert ndtr(np.float64(1.5)) == ndtr(1.5)
    assert ndtri(np.float32(0.25)) == ndtri(0.25)
    assert stdtr(np.int64(12), np.float64(-2.0)) == stdtr(12.0, -2.0)
    assert stdtrit(np.float64(12.5), np.float64(0.025)) == stdtrit(12.5, 0.025)
    assert chdtrc(np.int64(3), np.float64(2.0)) == chdtrc(3, 2.0)
    assert all(type(v) is float for v in (ndtr(1), ndtri(0.3), stdtr(3, 1), stdtrit(3, 0.3), chdtrc(3, 2)))


def test_arrays_go_to_scipy() -> None:
    x = np.array([-3.0, -0.5, 0.0, 2.0])
    df = np.array([1.0, 3.5, 30.0, 2.5e6])
    p = np.array([1e-10, 0.025, 0.5, 0.975])
    np.testing.assert_array_equal(ndtr(x), sc.ndtr(x))
    np.testing.assert_array_equal(ndtri(p), sc.ndtri(p))
    np.testing.assert_array_equal(stdtr(df, x), sc.stdtr(df, x))
    np.testing.assert_array_equal(stdtr(3.0, x), sc.stdtr(3.0, x))
    np.testing.assert_array_equal(stdtrit(df, p), sc.stdtrit(df, p))
    k = np.array([1, 2, 3, 4])
    np.testing.assert_array_equal(chdtrc(k, np.abs(x)), sc.chdtrc(k, np.abs(x)))


def test_expansion_coefficients_match_exact_rationals() -> None:
    """g_k of (v / (1 − e^−v))^½, recomputed exactly: h = v/(1 − e^−v) from h·(1 − e^−v)/v = 1, then g² = h."""
    n = len(distributions._expansion_coefficients())
    c = [Fraction((-1) ** k, math.factorial(k + 1)) for k in range(n)]
    h = [Fraction(1)]
    for k in range(1, n):
        h.append(-sum(c[i] * h[k - i] for i in range(1, k + 1)))
    g = [Fraction(1)]
    for k in range(1, n):
        g.append((h[k] - sum(g[i] * g[k - i] for i in range(1, k))) / 2)
    for value, exact in zip(distributions._expansion_coefficients(), g):
        assert value == pytest.approx(float(exact), rel=1e-12)


def test_scalar_functions_do_not_import_scipy() -> None:
    code = (
        "import sys; from iterate.stats.distributions import ndtr, ndtri, stdtr, stdtrit, chdtrc; "
        "ndtr(1.0); ndtri(0.3); stdtr(2.5e6, 1.9); stdtrit(12.5, 0.025); chdtrc(3, 2.0); "
        "print('scipy' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
