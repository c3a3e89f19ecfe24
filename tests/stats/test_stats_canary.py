from __future__ import annotations

import doctest
import itertools
import math
import zlib

import numpy as np
import pytest
from scipy import stats

from iterate.errors import StatsError
from iterate.stats import CanaryRule, MannWhitneyResult, canary_score, mann_whitney
from iterate.stats import canary as canary_module


def brute_force_u(canary: np.ndarray, baseline: np.ndarray) -> float:
    """Pairs with canary > baseline, ties counting 1/2 (Mann & Whitney 1947's definition)."""
    return sum(1.0 if c > b else 0.5 if c == b else 0.0 for c in canary for b in baseline)


def permutation_p_value(canary: list[float], baseline: list[float]) -> float:
    """Two-sided p-value by enumerating every split of the pooled values (no ties)."""
    pooled, m, n = canary + baseline, len(canary), len(baseline)
    observed = brute_force_u(np.array(canary), np.array(baseline))
    extreme = max(observed, m * n - observed)
    splits = list(itertools.combinations(range(m + n), m))
    hits = 0
    for chosen in splits:
        x = [pooled[i] for i in chosen]
        y = [pooled[i] for i in range(m + n) if i not in chosen]
        u = brute_force_u(np.array(x), np.array(y))
        hits += u >= extreme
    return min(1.0, 2 * hits / len(splits))


def test_docstring_examples_run() -> None:
    outcome = doctest.testmod(canary_module)
    assert outcome.attempted > 0 and outcome.failed == 0


# --- U and p -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("m", "n", "kind"),
    [(5, 7, "continuous"), (8, 30, "continuous"), (3, 3, "continuous"), (12, 9, "continuous"),
     (60, 45, "continuous"), (6, 6, "tied"), (20, 35, "tied"), (200, 150, "tied"), (4, 40, "tied")],
)
def test_u_and_p_equal_scipy_and_a_pair_count(m: int, n: int, kind: str) -> None:
    rng = np.random.default_rng(m * 1000 + n)
    for _ in range(5):
        if kind == "continuous":
            canary, baseline = rng.normal(0.3, 1, m), rng.normal(0, 1, n)
        else:
            canary, baseline = rng.poisson(2.4, m).astype(float), rng.poisson(2.0, n).astype(float)
        r = mann_whitney(canary, baseline)
        reference = stats.mannwhitneyu(canary, baseline, alternative="two-sided")
        assert r.u_statistic == brute_force_u(canary, baseline)
        assert r.u_statistic == pytest.approx(reference.statistic, abs=1e-9)
        assert r.p_value == pytest.approx(reference.pvalue, rel=1e-10, abs=1e-15)
        assert r.p_value_method == ("exact" if min(m, n) <= 8 and kind == "continuous" else "asymptotic")


def test_exact_p_value_equals_full_enumeration() -> None:
    canary, baseline = [3.1, 2.9, 3.4, 3.8, 3.3, 2.7], [2.2, 2.8, 2.5, 3.0, 2.6]
    r = mann_whitney(canary, baseline)
    assert r.p_value_method == "exact"
    assert r.p_value == pytest.approx(permutation_p_value(canary, baseline), rel=1e-12)


def test_exact_null_distribution_is_the_count_of_arrangements() -> None:
    for m, n in [(3, 4), (5, 5), (2, 7)]:
        counts = canary_module._null_counts(m, n)
        by_u: dict[int, int] = {}
        for chosen in itertools.combinations(range(m + n), m):  # canary's ranks among m + n distinct values
            u = sum(rank - index for index, rank in enumerate(sorted(chosen)))
            by_u[u] = by_u.get(u, 0) + 1
        assert [int(c) for c in counts] == [by_u.get(u, 0) for u in range(m * n + 1)]
    large = canary_module._null_counts(8, 900)  # beyond int64: exact Python integers
    assert large.dtype == object and int(large.sum()) == math.comb(908, 8)


def test_asymptotic_p_value_by_hand_with_ties() -> None:
    canary, baseline = [1, 2, 2, 3, 3, 3, 4, 5, 5, 6], [1, 1, 2, 2, 3, 3, 4, 4]
    r = mann_whitney(canary, baseline)
    u = brute_force_u(np.array(canary, float), np.array(baseline, float))
    m, n, size = 10, 8, 18
    # U by hand: per canary value, baseline values below + half those equal: 1 + 2*3 + 3*5 + 7 + 2*8 + 8 = 53
    ties = [3, 4, 5, 3, 2, 1]  # values 1..6 pooled
    sigma = math.sqrt(m * n / 12 * ((size + 1) - sum(t**3 - t for t in ties) / (size * (size - 1))))
    z = (max(u, m * n - u) - m * n / 2 - 0.5) / sigma
    assert r.u_statistic == u == 53.0
    assert r.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-12)


def test_identical_values_give_p_one_and_zero_shift() -> None:
    r = mann_whitney([4.0] * 12, [4.0] * 10)
    assert (r.u_statistic, r.p_value, r.shift, r.ci_low, r.ci_high, r.classification) == (60.0, 1.0, 0.0, 0.0, 0.0, "pass")
    assert stats.mannwhitneyu([4.0] * 12, [4.0] * 10).pvalue == 1.0


def test_swapping_sides_mirrors_the_result() -> None:
    rng = np.random.default_rng(7)
    canary, baseline = rng.exponential(2.0, 25), rng.exponential(1.0, 30)
    forward, backward = mann_whitney(canary, baseline), mann_whitney(baseline, canary)
    assert forward.u_statistic + backward.u_statistic == 25 * 30
    assert forward.p_value == backward.p_value
    assert forward.shift == pytest.approx(-backward.shift, abs=1e-12)
    assert (forward.ci_low, forward.ci_high) == pytest.approx((-backward.ci_high, -backward.ci_low), abs=1e-12)


# --- Hodges-Lehmann shift and its interval -------------------------------------------------------


@pytest.mark.parametrize(("m", "n"), [(1, 1), (2, 3), (11, 11), (40, 25), (300, 200)])
def test_shift_is_the_median_of_all_pairwise_differences(m: int, n: int) -> None:
    rng = np.random.default_rng(m + n)
    canary, baseline = rng.lognormal(0.2, 1, m), rng.lognormal(0, 1, n)
    r = mann_whitney(canary, baseline, alpha=0.5)
    assert r.shift == pytest.approx(np.median(np.subtract.outer(canary, baseline)), rel=1e-12, abs=1e-15)


def test_hand_computed_interval_with_exact_ranks() -> None:
    # 25 differences (canary_i - baseline_j), sorted:
    # -0.1 0.1 0.1 0.3 0.3 0.3 0.4 0.4 0.5 0.5 0.6 0.6 0.7 0.7 0.8 0.8 0.8 0.9 0.9 1.0 1.1 1.2 1.2 1.3 1.6
    # U null counts for m = n = 5 (of C(10, 5) = 252) start 1, 1, 2, 3, 5: P(U <= 2) = 4/252 = 0.0159 <= 0.025
    # < P(U <= 3) = 7/252 = 0.0278, so k = 3 and the 95% interval is [D_(3), D_(23)] = [0.1, 1.2]
    # (coverage 1 - 2 * 4/252 = 0.968); at alpha = 0.1, P(U <= 4) = 12/252 <= 0.05 < P(U <= 5) = 19/252:
    # k = 5, [D_(5), D_(21)] = [0.3, 1.1].
    canary, baseline = [3.1, 2.9, 3.4, 3.8, 3.3], [2.2, 2.8, 2.5, 3.0, 2.6]
    r = mann_whitney(canary, baseline)
    assert r.interval_method == "exact"
    assert (r.shift, r.ci_low, r.ci_high) == pytest.approx((0.7, 0.1, 1.2), abs=1e-12)
    assert (r.u_statistic, r.p_value) == (24.0, pytest.approx(4 / 252, rel=1e-12))
    wider = mann_whitney(canary, baseline, alpha=0.1)
    assert (wider.ci_low, wider.ci_high) == pytest.approx((0.3, 1.1), abs=1e-12)


def _samples_with_u(u: int, m: int, n: int) -> tuple[list[float], list[float]]:
    """Canary and baseline values (no ties) whose canary U is ``u``: each canary value sits above
    some of the baseline values 0, 1, ..., n - 1, and those counts add up to ``u``."""
    above = [min(n, max(0, u - i * n)) for i in range(m)]
    return [a - 0.5 for a in above], [float(j) for j in range(n)]


@pytest.mark.parametrize(("m", "n", "alpha"), [(30, 30, 0.05), (8, 25, 0.05), (20, 14, 0.01), (6, 6, 0.1)])
def test_exact_interval_rank_against_scipys_exact_distribution(m: int, n: int, alpha: float) -> None:
    k, method = canary_module._interval_rank(m, n, alpha)
    assert method == "exact"
    cdf = lambda u: stats.mannwhitneyu(*_samples_with_u(u, m, n), alternative="less", method="exact").pvalue  # noqa: E731
    assert cdf(k - 1) <= alpha / 2 < cdf(k)


def test_normal_interval_ranks_agree_with_the_exact_ones() -> None:
    # Exact for m = n = 30 (C(60, 30) < 2**62); the normal approximation's k differs by at most 1.
    exact_k, method = canary_module._interval_rank(30, 30, 0.05)
    assert method == "exact"
    sigma = math.sqrt(30 * 30 * 61 / 12)
    normal_k = math.floor(450 + 0.5 - 1.959963984540054 * sigma)
    assert abs(exact_k - normal_k) <= 1
    assert canary_module._interval_rank(40, 40, 0.05) == (math.floor(800.5 - 1.959963984540054 * math.sqrt(1600 * 81 / 12)), "normal")


def test_large_samples_select_order_statistics_without_the_pair_array() -> None:
    rng = np.random.default_rng(11)
    canary, baseline = rng.normal(5.0, 2.0, 2500), rng.normal(4.8, 2.0, 2000)  # 5,000,000 pairs
    assert canary.size * baseline.size > canary_module._MATERIALIZE_LIMIT
    r = mann_whitney(canary, baseline)
    differences = np.sort(np.subtract.outer(canary, baseline).ravel())
    k, method = canary_module._interval_rank(2500, 2000, 0.05)
    assert method == "normal"
    assert r.shift == pytest.approx(np.median(differences), rel=1e-12)
    assert (r.ci_low, r.ci_high) == pytest.approx((differences[k - 1], differences[differences.size - k]), rel=1e-12)


def test_large_tied_samples_find_the_tied_order_statistic() -> None:
    rng = np.random.default_rng(12)
    canary, baseline = rng.poisson(0.3, 2500).astype(float), rng.poisson(0.3, 2000).astype(float)
    r = mann_whitney(canary, baseline)
    differences = np.subtract.outer(canary, baseline).ravel()
    assert r.shift == np.median(differences) == 0.0
    k, _ = canary_module._interval_rank(2500, 2000, 0.05)
    ordered = np.sort(differences)
    assert (r.ci_low, r.ci_high) == (ordered[k - 1], ordered[ordered.size - k])


def _coverage(m: int, n: int, draw, shift: float, replicates: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(replicates):
        r = mann_whitney(draw(rng, m) + shift, draw(rng, n))
        hits += r.ci_low <= shift <= r.ci_high
    return hits / replicates


@pytest.mark.parametrize(
    ("m", "n", "distribution", "interval_method"),
    [(12, 12, "normal", "exact"), (12, 12, "exponential", "exact"),
     (40, 50, "normal", "normal"), (40, 50, "exponential", "normal")],
)
def test_interval_covers_the_true_shift_at_its_level(m: int, n: int, distribution: str, interval_method: str) -> None:
    draws = {"normal": lambda rng, size: rng.normal(0, 1, size), "exponential": lambda rng, size: rng.exponential(1, size)}
    replicates = 4000
    coverage = _coverage(m, n, draws[distribution], 0.7, replicates, seed=zlib.crc32(f"{m}-{n}-{distribution}".encode()))
    k, method = canary_module._interval_rank(m, n, 0.05)
    assert method == interval_method
    if method == "exact":  # the exact level is 1 - 2 P(U <= k - 1), just above 95%
        counts = canary_module._null_counts(m, n)
        target = 1 - 2 * int(counts[:k].sum()) / int(counts.sum())
        assert 0.95 <= target < 0.96
    else:
        target = 0.95
    margin = 3.5 * math.sqrt(target * (1 - target) / replicates)  # about 0.012
    assert abs(coverage - target) <= margin, (coverage, target)


# --- classification ------------------------------------------------------------------------------


def test_clear_shifts_beyond_the_tolerance_are_high_or_low() -> None:
    rng = np.random.default_rng(3)
    baseline = rng.normal(100, 5, 60)
    high = mann_whitney(rng.normal(120, 5, 60), baseline, tolerance=0.1)
    low = mann_whitney(rng.normal(80, 5, 60), baseline, tolerance=0.1)
    assert high.classification == "high" and high.ci_low > high.tolerance_band == pytest.approx(0.1 * np.median(baseline))
    assert low.classification == "low" and low.ci_high < -low.tolerance_band


def test_a_significant_shift_inside_the_band_passes() -> None:
    rng = np.random.default_rng(4)
    baseline = rng.normal(100, 1, 400)
    r = mann_whitney(rng.normal(102, 1, 400), baseline, tolerance=0.05)  # +2 vs a band of +/-5
    assert r.p_value < 1e-50 and 1.5 < r.ci_low < r.ci_high < 5
    assert r.classification == "pass" and r.outcome == "pass"
    assert mann_whitney(rng.normal(102, 1, 400), baseline, tolerance=0.0).classification == "high"


def test_absolute_tolerance() -> None:
    canary, baseline = [3.1, 2.9, 3.4, 3.8, 3.3], [2.2, 2.8, 2.5, 3.0, 2.6]  # interval [0.1, 1.2]
    assert mann_whitney(canary, baseline, tolerance=0.09, tolerance_type="absolute").classification == "high"
    inside = mann_whitney(canary, baseline, tolerance=0.11, tolerance_type="absolute")
    assert inside.tolerance_band == 0.11 and inside.classification == "pass"
    lower_bound = mann_whitney(canary, baseline).ci_low
    assert mann_whitney(canary, baseline, tolerance=lower_bound, tolerance_type="absolute").classification == "pass"  # strict


def test_bad_direction_decides_the_outcome() -> None:
    canary, baseline = [13.0, 14.0, 15.0, 16.0, 17.0, 18.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    outcomes = {d: mann_whitney(canary, baseline, bad_direction=d).outcome for d in ("increase", "decrease", "either")}
    assert outcomes == {"increase": "fail", "decrease": "pass", "either": "fail"}
    low = mann_whitney(baseline, canary, bad_direction="increase")
    assert (low.classification, low.outcome) == ("low", "pass")


def test_empty_sides_are_nodata_never_pass() -> None:
    for canary, baseline in [([], [1.0, 2.0]), ([1.0, 2.0], []), ([], []), ([float("nan")] * 3, [1.0, 2.0, 3.0])]:
        r = mann_whitney(canary, baseline)
        assert (r.classification, r.status, r.outcome) == ("nodata", "no_data", "nodata")
        assert r.p_value is r.shift is r.ci_low is None


def test_too_few_values_to_bound_the_shift_are_nodata() -> None:
    r = mann_whitney([10.0, 11.0, 12.0], [1.0, 2.0, 3.0])  # P(U = 0) = 1/20 > 0.025: no 95% interval
    assert (r.classification, r.status, r.ci_low, r.ci_high) == ("nodata", "too_few", None, None)
    assert r.shift == 9.0 and r.p_value == pytest.approx(0.1)
    assert mann_whitney([10.0, 11.0, 12.0], [1.0, 2.0, 3.0], alpha=0.1).classification == "high"


def test_nan_policies() -> None:
    nan = float("nan")
    removed = mann_whitney([1.0, nan, 3.0, 4.0], [2.0, nan, nan, 5.0, 6.0])
    assert (removed.n_canary, removed.n_baseline, removed.missing_canary, removed.missing_baseline) == (3, 3, 1, 2)
    assert removed.u_statistic == brute_force_u(np.array([1.0, 3.0, 4.0]), np.array([2.0, 5.0, 6.0]))
    zeroed = mann_whitney([1.0, nan, 3.0, 4.0], [2.0, nan, nan, 5.0, 6.0], nan_policy="zero")
    assert (zeroed.n_canary, zeroed.n_baseline) == (4, 5)
    assert zeroed.u_statistic == brute_force_u(np.array([1.0, 0.0, 3.0, 4.0]), np.array([2.0, 0.0, 0.0, 5.0, 6.0]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"alpha": 1.5}, "alpha == 1.5"), ({"tolerance": -0.1}, "tolerance == -0.1"),
     ({"tolerance_type": "percent"}, "tolerance_type == 'percent'"),
     ({"bad_direction": "up"}, "bad_direction == 'up'"), ({"nan_policy": "drop"}, "nan_policy == 'drop'")],
)
def test_bad_options_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(StatsError, match=message):
        mann_whitney([1.0, 2.0], [3.0, 4.0], **kwargs)


def test_bad_values_raise() -> None:
    with pytest.raises(StatsError, match="canary has an infinite value at position 1"):
        mann_whitney([1.0, float("inf")], [1.0])
    with pytest.raises(StatsError, match="baseline values must be one-dimensional"):
        mann_whitney([1.0], [[1.0, 2.0]])
    with pytest.raises(StatsError, match="canary values must be numbers"):
        mann_whitney(["fast"], [1.0])


# --- scores --------------------------------------------------------------------------------------


def _fixed(classification: str, bad_direction: str = "either") -> MannWhitneyResult:
    """A comparison with a given classification (its numbers are illustrative)."""
    shift = {"pass": 0.1, "high": 5.0, "low": -5.0, "nodata": None}[classification]
    return MannWhitneyResult(
        classification=classification, status="no_data" if classification == "nodata" else "ok",
        bad_direction=bad_direction, n_canary=30, n_baseline=30, missing_canary=0, missing_baseline=0,
        u_statistic=None if shift is None else 450.0, p_value=None if shift is None else 0.01,
        p_value_method=None if shift is None else "asymptotic", shift=shift,
        ci_low=None if shift is None else shift - 1, ci_high=None if shift is None else shift + 1,
        interval_method=None if shift is None else "exact", alpha=0.05, tolerance=0.1, tolerance_type="relative",
        tolerance_band=None if shift is None else 1.0, canary_median=None, baseline_median=None,
    )


def test_hand_computed_group_weighted_score() -> None:
    # latency group (weight 50): 2 of 3 pass -> 66.67; errors (30): 1 of 2 -> 50; system (20): 1 of 1 -> 100.
    # score = 0.5 * 200/3 + 0.3 * 50 + 0.2 * 100 = 33.33 + 15 + 20 = 68.33 -> fail (< 75).
    results = {
        "p50": _fixed("pass"), "p99": _fixed("high", "increase"), "p90": _fixed("low", "increase"),
        "errors_5xx": _fixed("high"), "errors_4xx": _fixed("pass"), "cpu": _fixed("pass"),
    }
    groups = {"p50": "latency", "p99": "latency", "p90": "latency", "errors_5xx": "errors",
              "errors_4xx": "errors", "cpu": "system"}
    s = canary_score(results, groups=groups, group_weights={"latency": 50, "errors": 30, "system": 20})
    assert s.score == pytest.approx(100 / 3 + 15 + 20, rel=1e-15) and s.verdict == "fail"
    assert [(g.group, g.weight, g.metrics, g.passed) for g in s.groups] == [
        ("errors", 30.0, 2, 1), ("latency", 50.0, 3, 2), ("system", 20.0, 1, 1)]
    assert [g.score for g in s.groups] == pytest.approx([50.0, 200 / 3, 100.0])
    assert [(r.rule, r.metric, r.classification) for r in s.rules] == [
        ("metric_failed", "p99", "high"), ("metric_failed", "errors_5xx", "high"), ("score_below_marginal", None, None)]
    p99 = s.rules[0]
    assert (p99.group, p99.shift, p99.ci_low, p99.ci_high, p99.p_value, p99.tolerance_band) == ("latency", 5.0, 4.0, 6.0, 0.01, 1.0)
    assert p99.weight == pytest.approx(50 / 3) and s.rules[1].weight == pytest.approx(15.0)
    assert "p99 is high: shift +5, interval [4, 6]" in p99.message and "16.67 of 100 points" in p99.message
    assert s.rules[2].weight == pytest.approx(s.score) and s.rules[2].threshold == 75.0


def test_weights_are_relative_and_default_to_equal() -> None:
    results = {"a": _fixed("pass"), "b": _fixed("high"), "c": _fixed("pass")}
    groups = {"a": "one", "b": "two", "c": "two"}
    equal = canary_score(results, groups=groups)
    assert equal.score == pytest.approx(0.5 * 100 + 0.5 * 50)
    assert canary_score(results, groups=groups, group_weights={"one": 3, "two": 1}).score == pytest.approx(0.75 * 100 + 0.25 * 50)
    assert canary_score(results, groups=groups, group_weights={"one": 0.3, "two": 0.1}).score == pytest.approx(87.5)
    assert canary_score(results).score == pytest.approx(200 / 3)


def test_thresholds_at_their_boundaries() -> None:
    # One group of 20 metrics: 19 passing scores exactly 95, 15 exactly 75.
    def score(passing: int, thresholds=None):
        results = {f"m{i}": _fixed("pass" if i < passing else "high") for i in range(20)}
        return canary_score(results, thresholds=thresholds)

    assert (score(19).score, score(19).verdict) == (95.0, "pass")
    assert (score(18).score, score(18).verdict) == (90.0, "marginal")
    assert (score(15).score, score(15).verdict) == (75.0, "marginal")
    assert (score(14).score, score(14).verdict) == (70.0, "fail")
    assert score(18).rules[-1].rule == "score_below_pass" and score(14).rules[-1].rule == "score_below_marginal"
    assert score(18, {"pass": 90, "marginal": 50}).verdict == "pass"
    assert score(14, {"pass": 90, "marginal": 70}).verdict == "marginal"
    # A score of 100 * 3 * (1/3) = 100 computed in floats is 100.00000000000001 or 99.99999999999999 by order;
    # exact fractions make thirds meet a threshold they equal.
    thirds = {name: _fixed("pass") for name in "abc"}
    assert canary_score(thirds, groups={"a": "x", "b": "y", "c": "z"}, thresholds={"pass": 100, "marginal": 100}).verdict == "pass"


def test_a_critical_failure_fails_the_canary_with_score_zero() -> None:
    results = {f"m{i}": _fixed("pass") for i in range(9)} | {"crashes": _fixed("high", "increase")}
    s = canary_score(results, critical=["crashes"])
    assert (s.score, s.weighted_score, s.verdict, s.critical_failure) == (0.0, 90.0, "fail", True)
    assert [r.rule for r in s.rules] == ["critical_metric_failed", "score_below_marginal"]
    assert s.rules[0].critical and "fails the canary" in s.rules[0].message
    assert "critical metric" in s.rules[1].message
    # a critical metric that passes changes nothing; a critical improvement passes
    assert canary_score(results, critical=["m0"]).score == 90.0
    improved = results | {"crashes": _fixed("low", "increase")}
    assert canary_score(improved, critical=["crashes"]).verdict == "pass"


def test_no_data_never_passes() -> None:
    results = {"latency": _fixed("pass"), "errors": _fixed("nodata")}
    s = canary_score(results)
    assert s.score == 50.0 and s.verdict == "fail"
    assert s.rules[0] == CanaryRule(
        rule="metric_no_data", message=s.rules[0].message, metric="errors", group="default", critical=False,
        classification="nodata", weight=50.0)
    assert "no data, no pass" in s.rules[0].message
    critical = canary_score(results, critical=["errors"])
    assert (critical.score, critical.verdict, critical.rules[0].rule) == (0.0, "fail", "critical_metric_no_data")
    everything_missing = canary_score({"a": _fixed("nodata"), "b": _fixed("nodata")})
    assert (everything_missing.score, everything_missing.verdict) == (0.0, "fail")


def test_score_from_real_comparisons() -> None:
    rng = np.random.default_rng(21)
    baseline_latency, baseline_errors = rng.normal(200, 10, 60), rng.poisson(3, 60).astype(float)
    results = {
        "latency": mann_whitney(rng.normal(230, 10, 60), baseline_latency, bad_direction="increase"),
        "errors": mann_whitney(rng.poisson(3, 60).astype(float), baseline_errors, bad_direction="increase"),
        "throughput": mann_whitney(rng.normal(50, 2, 60), rng.normal(50, 2, 60), bad_direction="decrease"),
        "no_traffic": mann_whitney([], rng.normal(1, 1, 60)),
    }
    assert [r.outcome for r in results.values()] == ["fail", "pass", "pass", "nodata"]
    s = canary_score(results, groups={"latency": "user", "errors": "user", "throughput": "system", "no_traffic": "system"},
                     group_weights={"user": 70, "system": 30})
    assert s.score == pytest.approx(70 * 0.5 + 30 * 0.5) and s.verdict == "fail"
    assert [(r.rule, r.metric) for r in s.rules] == [
        ("metric_failed", "latency"), ("metric_no_data", "no_traffic"), ("score_below_marginal", None)]


def test_score_input_problems_are_all_listed() -> None:
    results = {"a": _fixed("pass"), "b": _fixed("pass")}
    with pytest.raises(StatsError) as info:
        canary_score(results, groups={"a": "one", "c": "two"}, group_weights={"one": 0, "three": 1},
                     critical=["d"], thresholds={"pass": 70, "marginal": 80})
    text = str(info.value)
    for expected in ["groups names 'c'", "critical names 'd'", "group 'default' has no weight",
                     "group_weights names 'three'", "group_weights['one'] == 0", "need 0 <= marginal <= pass <= 100"]:
        assert expected in text
    with pytest.raises(StatsError, match="at least one metric"):
        canary_score({})
    with pytest.raises(StatsError, match="must be exactly"):
        canary_score(results, thresholds={"pass": 95})
