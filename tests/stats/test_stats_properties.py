"""Properties of ``iterate.stats`` on generated inputs (hypothesis).

Each test states something that must hold whatever the numbers, for every two-arm test (Welch,
two-proportion z, delta method, CUPED, clustered quantile) where it applies:

- swapping the arms negates the effect and mirrors the interval, and keeps the two-sided p-value;
- the order of the units changes nothing, and merging moments (``a + b``) is commutative,
  associative and equal to the moments of the concatenated sample;
- p-values are in [0, 1], an interval contains its estimate, a larger alpha gives a nested (narrower)
  interval and the same p-value, and "greater" mirrors "less";
- the relative (Fieller) interval excludes 0 exactly when the absolute interval does;
- multiplicity corrections, shifted covariances and sample-ratio checks keep their defining
  properties and agree with statsmodels, NumPy and SciPy.

Inputs stay in realistic ranges (finite numbers, unit counts up to 100,000), and include the
degenerate ones (empty or one-unit arms, zero variances, zero denominators), which must report their
documented status instead of numbers. Every test runs derandomized and without an example database,
so CI sees the same examples on every run; a failure prints the shrunk example to turn into a
regression test.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests

from iterate.stats import (
    Estimate,
    Moments,
    QuantileSummary,
    RatioMoments,
    adjust_p_values,
    delta_method_test,
    quantile_test,
    sample_ratio_mismatch,
    sequential_sample_ratio_mismatch,
    shifted_covariance,
    two_proportion_z_test,
    welch_t_test,
)
from iterate.stats.cuped import JointMoments, cuped_test

PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=100)
"""Reproducible (examples derived from each test's source) and fast; nothing written to disk."""

ALTERNATIVES = ("two-sided", "greater", "less")
MIRROR = {"two-sided": "two-sided", "greater": "less", "less": "greater"}
STATUSES = {"ok", "too_few_units", "zero_variance", "zero_denominator"}
ULPS = 4 * 2.0**-52  # a few units in the last place, relative


def finite(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def magnitudes(high: float, smallest: float) -> st.SearchStrategy[float]:
    """Numbers in [smallest, high] (realistic scales, whose squares do not underflow), and one time
    in twenty an exact 0 (the degenerate cases)."""
    return st.tuples(st.integers(0, 19), finite(smallest, high)).map(lambda z: z[1] if z[0] else 0.0)


SIZES = st.integers(0, 100_000)  # 0 and 1 included: "too_few_units"
SDS = magnitudes(1e3, 1e-6)  # 0 included: "zero_variance"
Z = finite(-8.0, 8.0)  # an offset in standard errors: significant and not, near the boundary
Z_WIDE = st.one_of(finite(-10.0, 10.0), finite(-1e6, 1e6))  # a control near 0 (Fieller unbounded) or far
ALPHAS = finite(0.001, 0.4)  # 2 * alpha < 1, for the one-sided / two-sided comparison


# -- arms of every two-arm test -----------------------------------------------------------------------


@st.composite
def mean_arms(draw: st.DrawFn) -> tuple[Moments, Moments]:
    n_c, n_t, sd_c, sd_t = draw(SIZES), draw(SIZES), draw(SDS), draw(SDS)
    se_c, se_t = sd_c / math.sqrt(max(n_c, 1)), sd_t / math.sqrt(max(n_t, 1))
    mean_c = draw(Z_WIDE) * se_c
    mean_t = mean_c + draw(Z) * math.hypot(se_c, se_t)
    return Moments(n_c, mean_c, sd_c**2), Moments(n_t, mean_t, sd_t**2)


@st.composite
def proportion_arms(draw: st.DrawFn) -> tuple[Moments, Moments]:
    arms = []
    for _ in range(2):
        n = draw(SIZES)
        arms.append(Moments.from_proportion(draw(st.integers(0, n)), n))
    return arms[0], arms[1]


@st.composite
def ratio_arms(draw: st.DrawFn) -> tuple[RatioMoments, RatioMoments]:
    """Per-unit (numerator, denominator) moments, e.g. (revenue, sessions), with a valid covariance;
    the treatment ratio a few standard errors from the control's."""
    ratio = draw(finite(-100.0, 100.0).map(lambda r: r if abs(r) >= 1e-6 else 0.0))
    shapes = [(draw(SIZES), draw(magnitudes(100.0, 1e-3)), draw(SDS), draw(magnitudes(100.0, 1e-6)),
               draw(finite(-1.0, 1.0))) for _ in range(2)]  # a denominator mean of 0: "zero_denominator"

    def arm(n: int, denominator: float, sd_y: float, sd_x: float, rho: float, r: float) -> RatioMoments:
        return RatioMoments(n, r * denominator, denominator, sd_y**2, sd_x**2, rho * sd_y * sd_x)

    control = arm(*shapes[0], ratio)
    variances = [arm(*shape, ratio).ratio_variance if shape[0] and shape[1] else 0.0 for shape in shapes]
    return control, arm(*shapes[1], ratio + draw(Z) * math.sqrt(sum(variances)))


@st.composite
def cuped_arms(draw: st.DrawFn) -> tuple[JointMoments, JointMoments]:
    """Raw units ``y = level * x + slope * y0 + noise`` of a mean metric with a plain covariate, or
    of a ratio metric with a ratio covariate (``x``, ``x0`` counts; ``x0`` may be all 0)."""
    is_ratio, slope, level = draw(st.booleans()), draw(finite(-3.0, 3.0)), draw(finite(-50.0, 50.0))
    effect = draw(finite(-20.0, 20.0))
    unit = st.tuples(finite(0.0, 100.0), finite(-10.0, 10.0), st.integers(1, 10), st.integers(0, 10))
    arms = []
    for shift in (0.0, effect):
        units = st.lists(unit, min_size=2, max_size=25) if draw(st.integers(0, 19)) else st.lists(unit, max_size=1)
        rows = np.array(draw(units), dtype=float).reshape(-1, 4)
        y0, noise, x, x0 = rows.T
        if not is_ratio:
            x, x0 = np.ones_like(x), np.ones_like(x0)
        y = (level + shift) * x + slope * y0 + noise
        arms.append(JointMoments.from_values(y, x if is_ratio else None, y0=y0, x0=x0 if is_ratio else None))
    return arms[0], arms[1]


@st.composite
def quantile_arms(draw: st.DrawFn) -> tuple[QuantileSummary, QuantileSummary]:
    """Two arms' sample quantiles with their (asymmetric) clustered intervals, at the same level."""
    p, width = draw(finite(0.01, 0.99)), draw(magnitudes(1e3, 1e-6))
    estimate = draw(Z_WIDE) * width
    arms = []
    for _ in range(2):
        n_units, n_events = draw(SIZES), draw(st.integers(0, 1_000_000))
        below, above = width * draw(finite(0.0, 2.0)), width * draw(finite(0.0, 2.0))
        estimate += draw(Z) * width
        bounds = (estimate, estimate - below, estimate + above) if n_events else (None, None, None)
        arms.append(QuantileSummary(n_units, n_events, p, *bounds, alpha=draw(finite(0.01, 0.2))))
    return arms[0], arms[1]


KINDS = {
    "welch_t": (mean_arms(), welch_t_test),
    "two_proportion_z": (proportion_arms(), two_proportion_z_test),
    "delta_ratio": (ratio_arms(), delta_method_test),
    "cuped": (cuped_arms(), cuped_test),
    "clustered_quantile": (quantile_arms(), quantile_test),
}
"""Each test with a strategy drawing its (control, treatment)."""

SAME_SE_FOR_TEST_AND_INTERVAL = {"welch_t", "delta_ratio", "cuped", "clustered_quantile"}
"""The z test's p-value uses the pooled standard error, its interval the unpooled one."""


def close(a: float | None, b: float | None, rel: float = 1e-12) -> bool:
    """Both None, or equal to ``rel`` (infinities equal exactly)."""
    if a is None or b is None:
        return a is None and b is None
    return a == pytest.approx(b, rel=rel, abs=1e-300)


def negated(x: float | None) -> float | None:
    return None if x is None else -x


def at_most(a: float, b: float) -> bool:
    """``a <= b`` to a few units in the last place of ``b``."""
    return a <= b or math.isfinite(b) and a <= b + ULPS * abs(b)


def excludes_zero(low: float, high: float) -> bool:
    return low > 0 or high < 0


def check_documented_fields(e: Estimate) -> None:
    """The numbers of an ``ok`` estimate are sane; any other status gives None, not numbers."""
    assert e.status in STATUSES
    if e.status == "ok":
        assert e.std_error is not None and math.isfinite(e.std_error) and e.std_error >= 0
        assert 0.0 <= e.p_value <= 1.0, e
        assert e.ci_low <= e.effect <= e.ci_high, e
        assert (e.ci_high == math.inf) == (e.alternative == "greater")
        assert (e.ci_low == -math.inf) == (e.alternative == "less")
        return
    assert (e.ci_low, e.ci_high, e.statistic, e.p_value) == (None, None, None, None), e
    assert (e.relative_ci_low, e.relative_ci_high, e.relative_status) == (None, None, "not_tested"), e
    if e.status == "zero_variance":
        assert e.std_error == 0.0 and e.effect is not None


# -- two-arm tests: symmetries, ranges, nesting --------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
@PROPERTY
@given(data=st.data())
def test_swapping_arms_negates_effect_and_interval_and_keeps_p(kind: str, data: st.DataObject) -> None:
    arms, test = KINDS[kind]
    control, treatment = data.draw(arms)
    alternative, alpha = data.draw(st.sampled_from(ALTERNATIVES)), data.draw(ALPHAS)
    e = test(control, treatment, alternative=alternative, alpha=alpha)
    s = test(treatment, control, alternative=MIRROR[alternative], alpha=alpha)
    assert s.status == e.status
    assert (s.control_mean, s.treatment_mean) == (e.treatment_mean, e.control_mean)
    assert close(s.effect, negated(e.effect))
    assert close(s.ci_low, negated(e.ci_high)) and close(s.ci_high, negated(e.ci_low)), (e, s)
    assert close(s.statistic, negated(e.statistic))
    assert close(s.p_value, e.p_value) and close(s.std_error, e.std_error) and close(s.df, e.df)
    if kind == "cuped":
        assert (s.adjusted, s.covariate_status) == (e.adjusted, e.covariate_status)
        assert close(s.theta, e.theta) and close(s.variance_reduction, e.variance_reduction)
    if alternative != "two-sided":  # the same arms' two-sided p-value is kept by the swap too
        two_sided = test(control, treatment, alternative="two-sided", alpha=alpha)
        assert close(test(treatment, control, alternative="two-sided", alpha=alpha).p_value, two_sided.p_value)


@pytest.mark.parametrize("kind", sorted(KINDS))
@PROPERTY
@given(data=st.data())
def test_p_in_unit_interval_interval_contains_effect_or_documented_status(kind: str, data: st.DataObject) -> None:
    arms, test = KINDS[kind]
    control, treatment = data.draw(arms)
    alpha = data.draw(ALPHAS)
    for alternative in ALTERNATIVES:
        check_documented_fields(test(control, treatment, alternative=alternative, alpha=alpha))


@pytest.mark.parametrize("kind", sorted(KINDS))
@PROPERTY
@given(data=st.data())
def test_larger_alpha_gives_a_nested_interval_and_the_same_p(kind: str, data: st.DataObject) -> None:
    arms, test = KINDS[kind]
    control, treatment = data.draw(arms)
    alphas = sorted((data.draw(ALPHAS), data.draw(ALPHAS)))
    assume(alphas[0] < alphas[1])
    for alternative in ALTERNATIVES:
        wide, narrow = (test(control, treatment, alternative=alternative, alpha=a) for a in alphas)
        assert narrow.status == wide.status
        if wide.status != "ok":
            continue
        assert narrow.p_value == wide.p_value
        assert wide.ci_low <= narrow.ci_low and narrow.ci_high <= wide.ci_high, (wide, narrow)
        if wide.relative_status == "ok":  # a smaller critical value keeps the control significant
            assert narrow.relative_status == "ok"
            # to rounding: the set {-1} of a treatment with value 0 and variance 0 comes out as
            # -1.0 at one alpha and -1.0000000000000002 at another (the roots' two formulas)
            assert at_most(wide.relative_ci_low, narrow.relative_ci_low), (wide, narrow)
            assert at_most(narrow.relative_ci_high, wide.relative_ci_high), (wide, narrow)


@pytest.mark.parametrize("kind", sorted(KINDS))
@PROPERTY
@given(data=st.data())
def test_greater_mirrors_less(kind: str, data: st.DataObject) -> None:
    arms, test = KINDS[kind]
    control, treatment = data.draw(arms)
    alpha = data.draw(ALPHAS)
    greater, less = (test(control, treatment, alternative=a, alpha=alpha) for a in ("greater", "less"))
    two_sided = test(control, treatment, alternative="two-sided", alpha=2 * alpha)  # same quantile
    assert greater.status == less.status == two_sided.status
    if greater.status != "ok":
        return
    assert greater.p_value + less.p_value == pytest.approx(1.0, abs=1e-12)
    assert close(two_sided.p_value, 2 * min(greater.p_value, less.p_value))
    assert (greater.ci_low, greater.ci_high) == (two_sided.ci_low, math.inf)
    assert (less.ci_low, less.ci_high) == (-math.inf, two_sided.ci_high)
    assert greater.relative_status == less.relative_status == two_sided.relative_status
    if two_sided.relative_status == "ok":  # a larger effect is a smaller ratio when the control is < 0
        low, high = two_sided.relative_ci_low, two_sided.relative_ci_high
        upward, downward = (low, math.inf), (-math.inf, high)
        positive = two_sided.control_mean > 0
        assert (greater.relative_ci_low, greater.relative_ci_high) == (upward if positive else downward)
        assert (less.relative_ci_low, less.relative_ci_high) == (downward if positive else upward)


@pytest.mark.parametrize("kind", sorted(KINDS))
@PROPERTY
@given(data=st.data())
def test_relative_interval_excludes_zero_iff_the_absolute_one_does(kind: str, data: st.DataObject) -> None:
    arms, test = KINDS[kind]
    control, treatment = data.draw(arms)
    alternative, alpha = data.draw(st.sampled_from(ALTERNATIVES)), data.draw(ALPHAS)
    e = test(control, treatment, alternative=alternative, alpha=alpha)
    event(f"status {e.status}, relative {e.relative_status}")  # the mix: --hypothesis-show-statistics
    if e.status != "ok":
        assert (e.relative_ci_low, e.relative_ci_high, e.relative_status) == (None, None, "not_tested")
        return
    absolute = excludes_zero(e.ci_low, e.ci_high)
    event(f"absolute interval {'excludes' if absolute else 'contains'} 0")
    if kind in SAME_SE_FOR_TEST_AND_INTERVAL:
        assert absolute == (e.p_value < alpha), e
    if e.relative_status == "unbounded":
        assert e.relative_ci_low is None and e.relative_ci_high is None
        return
    assert e.relative_status == "ok"
    assert excludes_zero(e.relative_ci_low, e.relative_ci_high) == absolute, e
    assert e.relative_ci_low <= e.relative_effect <= e.relative_ci_high, e


@PROPERTY
@given(arms=mean_arms(), alternative=st.sampled_from(ALTERNATIVES))
def test_welch_equals_scipy(arms: tuple[Moments, Moments], alternative: str) -> None:
    control, treatment = arms
    e = welch_t_test(control, treatment, alternative=alternative)  # type: ignore[arg-type]
    assume(e.status == "ok")
    reference = stats.ttest_ind_from_stats(
        treatment.mean, math.sqrt(treatment.variance), treatment.n,
        control.mean, math.sqrt(control.variance), control.n, equal_var=False, alternative=alternative,
    )
    assert e.statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert e.p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-300)


# -- units: order, merging ----------------------------------------------------------------------------


def _conditioned(values: list[float]) -> bool:
    """Spread enough to be measured to 1e-12: ``max |value| <= 1e3 sd``, so the condition number of
    the variance, about ``|mean| / sd`` (Chan, Golub & LeVeque 1983), is at most 1e3, as for
    realistic metrics; values near 1e8 with sd 1 are tested separately, with the tolerance their
    conditioning allows."""
    array = np.asarray(values)
    sd = float(array.std())
    return sd > 0 and float(np.abs(array).max()) <= 1e3 * sd


VALUES = finite(-1e3, 1e3)
SAMPLES = st.lists(VALUES, min_size=2, max_size=40).filter(_conditioned)


def assert_moments_close(a: Moments, b: Moments, scale: float, rel: float = 1e-12) -> None:
    assert a.n == b.n
    assert a.mean == pytest.approx(b.mean, rel=rel, abs=rel * scale)
    assert a.variance == pytest.approx(b.variance, rel=rel)


def assert_ratio_moments_close(a: RatioMoments, b: RatioMoments, scale: float) -> None:
    assert a.n == b.n
    for name in ("numerator_mean", "denominator_mean"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-12, abs=1e-12 * scale)
    for name in ("numerator_variance", "denominator_variance"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-12)
    spread = math.sqrt(b.numerator_variance * b.denominator_variance)
    assert a.covariance == pytest.approx(b.covariance, rel=1e-12, abs=1e-12 * spread)


def assert_joint_moments_close(a: JointMoments, b: JointMoments, scale: float) -> None:
    assert a.n == b.n
    assert a.means == pytest.approx(b.means, rel=1e-12, abs=1e-12 * scale)
    spread = np.sqrt(np.diag(b.covariance))  # 0 for the constant x == 1 and x0 == 1: exact there
    difference = np.abs(np.array(a.covariance) - np.array(b.covariance))
    assert np.all(difference <= 1e-12 * np.outer(spread, spread)), (a.covariance, b.covariance)


def _estimates_close(a: Estimate, b: Estimate, scale: float) -> None:
    assert a.status == b.status
    for name in ("effect", "ci_low", "ci_high"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-9, abs=1e-9 * scale)
    assert a.p_value == pytest.approx(b.p_value, rel=1e-9, abs=1e-12)


@PROPERTY
@given(data=st.data())
def test_moments_do_not_depend_on_the_order_of_the_units(data: st.DataObject) -> None:
    c, t = data.draw(SAMPLES), data.draw(SAMPLES)
    pc, pt = data.draw(st.permutations(c)), data.draw(st.permutations(t))
    scale = max(map(abs, c + t))
    assert_moments_close(Moments.from_values(pc), Moments.from_values(c), scale)
    _estimates_close(welch_t_test(Moments.from_values(pc), Moments.from_values(pt)),
                     welch_t_test(Moments.from_values(c), Moments.from_values(t)), scale)


UNITS = st.lists(st.tuples(VALUES, finite(0.0, 50.0), VALUES), min_size=2, max_size=40).filter(
    lambda rows: all(_conditioned(column) for column in zip(*rows))
)
"""Per-unit (numerator, denominator, covariate) rows."""


@PROPERTY
@given(data=st.data())
def test_ratio_and_joint_moments_do_not_depend_on_the_order_of_the_units(data: st.DataObject) -> None:
    rows = data.draw(UNITS)
    permuted = data.draw(st.permutations(rows))
    (y, x, y0), (py, px, py0) = zip(*rows), zip(*permuted)
    scale = max(abs(v) for row in rows for v in row)
    assert_ratio_moments_close(RatioMoments.from_values(py, px), RatioMoments.from_values(y, x), scale)
    assert_joint_moments_close(JointMoments.from_values(py, px, y0=py0), JointMoments.from_values(y, x, y0=y0), scale)


@PROPERTY
@given(a=SAMPLES, b=SAMPLES, c=SAMPLES)
def test_merging_moments_is_commutative_associative_and_equals_the_concatenation(
    a: list[float], b: list[float], c: list[float]
) -> None:
    ma, mb, mc = (Moments.from_values(v) for v in (a, b, c))
    whole = Moments.from_values(a + b + c)
    assume(_conditioned(a + b + c))
    scale = max(map(abs, a + b + c))
    assert_moments_close(ma + mb, mb + ma, scale)
    assert_moments_close(ma + mb, Moments.from_values(a + b), scale)
    assert_moments_close((ma + mb) + mc, ma + (mb + mc), scale)
    assert_moments_close((ma + mb) + mc, whole, scale)
    assert_moments_close(sum([mc, ma, mb]), whole, scale)
    assert ma + Moments(0, 0.0, 0.0) == ma


@settings(PROPERTY, max_examples=50)  # 12 NumPy moment computations per example
@given(a=UNITS, b=UNITS, c=UNITS)
def test_merging_ratio_and_joint_moments_is_commutative_associative_and_equals_the_concatenation(
    a: list[tuple[float, float, float]], b: list[tuple[float, float, float]], c: list[tuple[float, float, float]]
) -> None:
    rows = a + b + c
    assume(all(_conditioned(column) for column in zip(*rows)))
    scale = max(abs(v) for row in rows for v in row)

    def ratio(r: list) -> RatioMoments:
        y, x, _ = zip(*r)
        return RatioMoments.from_values(y, x)

    def joint(r: list) -> JointMoments:
        y, x, y0 = zip(*r)
        return JointMoments.from_values(y, x, y0=y0)

    for build, check in ((ratio, assert_ratio_moments_close), (joint, assert_joint_moments_close)):
        ma, mb, mc = build(a), build(b), build(c)
        check(ma + mb, mb + ma, scale)
        check((ma + mb) + mc, ma + (mb + mc), scale)
        check((ma + mb) + mc, build(rows), scale)
        check(sum([mc, mb, ma]), build(rows), scale)


@PROPERTY
@given(deviations=st.lists(finite(-5.0, 5.0), min_size=4, max_size=60), data=st.data())
def test_merging_shards_of_values_near_1e8_stays_accurate(deviations: list[float], data: st.DataObject) -> None:
    values = np.array([1e8 + d for d in deviations])
    assume(values.var() > 0.01)
    cuts = sorted(data.draw(st.lists(st.integers(1, values.size - 1), max_size=5)))
    merged = sum(Moments.from_values(shard) for shard in np.split(values, cuts))
    assert merged.n == values.size
    assert merged.mean == pytest.approx(values.mean(), rel=1e-15)
    # |mean| / sd is about 1e8: the merge keeps about 1e-16 * 1e8 of relative accuracy, not 1e-12
    assert merged.variance == pytest.approx(values.var(ddof=1), rel=1e-7)


# -- shifted covariance --------------------------------------------------------------------------------


def _shifted_variance(values: np.ndarray, shift: float) -> float | None:
    d = [float(v) - shift for v in values]
    return shifted_covariance(len(d), math.fsum(d), math.fsum(d), math.fsum(x * x for x in d))


@PROPERTY
@given(
    values=st.one_of(
        SAMPLES.map(np.array),
        # near 1e8 with sd about 1, distinct values (the hard case of the textbook formula)
        st.lists(st.integers(-400, 400), min_size=2, max_size=60, unique=True).map(lambda k: 1e8 + np.array(k) / 100),
    ),
    data=st.data(),
)
def test_shifted_covariance_does_not_depend_on_the_shift(values: np.ndarray, data: st.DataObject) -> None:
    reference = float(values.var(ddof=1))
    sd = math.sqrt(reference)
    # shifts "close to the means": a value of the sample, or the mean moved by up to 3 sd
    shifts = [float(data.draw(st.sampled_from(values))), float(values.mean()) + data.draw(finite(-3.0, 3.0)) * sd]
    for shift in shifts:
        assert _shifted_variance(values, shift) == pytest.approx(reference, rel=1e-9)
    other = values[::-1] * 0.5 + 3.0  # a second, correlated column: the covariance of (a, b)
    s, t = shifts[0], float(other[0])
    da, db = [float(v) - s for v in values], [float(v) - t for v in other]
    covariance = shifted_covariance(len(da), math.fsum(da), math.fsum(db), math.fsum(x * y for x, y in zip(da, db)))
    assert covariance == pytest.approx(float(np.cov(values, other)[0, 1]), rel=1e-9, abs=1e-9 * sd * float(other.std()))
    assert shifted_covariance(1, 0.0, 0.0, 0.0) is None


# -- multiplicity --------------------------------------------------------------------------------------

STATSMODELS = {"holm": "holm", "bonferroni": "bonferroni", "benjamini-hochberg": "fdr_bh"}
P_VALUES = st.lists(
    st.one_of(st.none(), finite(0.0, 1.0), st.sampled_from([0.0, 0.001, 0.01, 0.04, 0.05, 0.35, 1.0])),
    max_size=30,
)


@pytest.mark.parametrize("method", sorted(STATSMODELS))
@PROPERTY
@given(p_values=P_VALUES, data=st.data())
def test_adjusted_p_values_are_at_least_raw_monotone_and_follow_their_hypotheses(
    method: str, p_values: list[float | None], data: st.DataObject
) -> None:
    adjusted = adjust_p_values(p_values, method=method)  # type: ignore[arg-type]
    assert [a is None for a in adjusted] == [p is None for p in p_values]
    pairs = [(p, a) for p, a in zip(p_values, adjusted) if p is not None]
    for p, a in pairs:
        assert p <= a <= 1.0, (p, a)
    for p, a in pairs:  # monotone in the raw order, ties adjusted alike
        for q, b in pairs:
            if p <= q:
                assert a <= b, ((p, a), (q, b))
    order = data.draw(st.permutations(range(len(p_values))))  # relabeling the hypotheses
    assert adjust_p_values([p_values[i] for i in order], method=method) == [adjusted[i] for i in order]


@pytest.mark.parametrize("method", sorted(STATSMODELS))
@settings(PROPERTY, max_examples=20)  # statsmodels' holm runs gc.collect() on every call (~80 ms)
@given(p_values=P_VALUES.filter(lambda p: any(v is not None for v in p)))
def test_adjusted_p_values_equal_statsmodels(method: str, p_values: list[float | None]) -> None:
    given_p = [p for p in p_values if p is not None]
    adjusted = [a for a in adjust_p_values(p_values, method=method) if a is not None]  # type: ignore[arg-type]
    assert adjusted == pytest.approx(list(multipletests(given_p, method=STATSMODELS[method])[1]), rel=1e-12, abs=1e-15)


# -- sample ratio mismatch -----------------------------------------------------------------------------


@st.composite
def splits(draw: st.DrawFn) -> tuple[dict[str, int], dict[str, float]]:
    k = draw(st.integers(2, 5))
    names = [f"v{i}" for i in range(k)]
    counts = draw(st.lists(st.integers(0, 10_000_000), min_size=k, max_size=k).filter(any))
    shares = draw(st.lists(finite(0.01, 100.0), min_size=k, max_size=k))
    return dict(zip(names, counts)), dict(zip(names, shares))


@PROPERTY
@given(split=splits(), data=st.data())
def test_chi_square_srm_equals_scipy_and_ignores_the_order_of_variants(
    split: tuple[dict[str, int], dict[str, float]], data: st.DataObject
) -> None:
    observed, shares = split
    r = sample_ratio_mismatch(observed, shares)
    total, share_sum = sum(observed.values()), math.fsum(shares.values())
    reference = stats.chisquare(list(observed.values()), f_exp=[total * s / share_sum for s in shares.values()])
    assert r.statistic == pytest.approx(reference.statistic, rel=1e-9, abs=1e-12)
    assert r.p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-300)
    assert r.df == len(observed) - 1 and r.mismatch == (r.p_value < r.threshold)
    names = data.draw(st.permutations(list(observed)))
    for check in (sample_ratio_mismatch, sequential_sample_ratio_mismatch):
        reordered = check({n: observed[n] for n in names}, {n: shares[n] for n in reversed(names)})
        original = check(observed, shares)
        assert (reordered.statistic, reordered.p_value) == (original.statistic, original.p_value)


CONCENTRATIONS = st.one_of(st.just(100.0), finite(1.0, 1e4))


@PROPERTY
@given(split=splits(), concentration=CONCENTRATIONS)
def test_anytime_valid_srm_p_value_is_in_0_1(split: tuple[dict[str, int], dict[str, float]], concentration: float) -> None:
    r = sequential_sample_ratio_mismatch(*split, concentration=concentration)
    assert 0.0 <= r.p_value <= 1.0
    if r.statistic < 700:  # exp(-log BF) is a normal float: the p-value is not rounded to 0
        assert 0.0 < r.p_value == pytest.approx(min(1.0, math.exp(-r.statistic)), rel=1e-12)
    assert r.mismatch == (r.p_value < r.threshold)


@PROPERTY
@given(
    weights=st.lists(st.integers(1, 9), min_size=2, max_size=5),
    units=st.integers(1, 200_000),
    concentration=CONCENTRATIONS,
)
def test_anytime_valid_srm_p_value_is_1_on_the_planned_split(weights: list[int], units: int, concentration: float) -> None:
    observed = {f"v{i}": units * w for i, w in enumerate(weights)}
    shares = {f"v{i}": float(w) for i, w in enumerate(weights)}
    assert sequential_sample_ratio_mismatch(observed, shares, concentration=concentration).p_value == 1.0


@PROPERTY
@given(
    n=st.integers(2, 1_000_000),
    weights=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    steps=st.integers(1, 100_000),
    concentration=CONCENTRATIONS,
)
def test_anytime_valid_srm_p_value_decreases_as_the_imbalance_grows(
    n: int, weights: tuple[int, int], steps: int, concentration: float
) -> None:
    # log BF is convex in the first arm's count x with its minimum in [(n - 1) s, n s], s the planned
    # share of that arm: from the planned count outwards, in either direction, p can only decrease
    expected = Fraction(n * weights[0], sum(weights))
    step = max(steps, math.ceil(n / 30))
    shares = {"a": weights[0], "b": weights[1]}
    for start, direction in ((math.ceil(expected), 1), (math.floor(expected), -1)):
        counts = range(start, n + 1 if direction > 0 else -1, direction * step)
        p = [sequential_sample_ratio_mismatch({"a": x, "b": n - x}, shares, concentration=concentration).p_value
             for x in counts]
        for before, after, x in zip(p, p[1:], counts[1:]):
            assert after <= before, (x, before, after)
            if 0 < after and before < 1:
                assert after < before, (x, before, after)
