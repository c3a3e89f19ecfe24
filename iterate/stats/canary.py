"""Canary judge: Mann-Whitney comparison per metric, then a weighted score and a verdict.

The Kayenta model (Netflix & Google's automated canary analysis; Spinnaker docs, "How canary
judgment works", https://spinnaker.io/docs/guides/user/canary/judge; Graff & Sanden 2018, "Automated
Canary Analysis at Netflix with Kayenta", Netflix Technology Blog): the values of each metric
over fixed intervals (or per unit) of the canary are compared with those of a baseline started
at the same time, with a Mann-Whitney U test and the Hodges-Lehmann estimate of the location
shift; each metric is classified ``pass``, ``high`` or ``low`` (``nodata`` without data); the
share of passing metrics, weighted by metric group, is a score from 0 to 100 that thresholds
turn into ``pass``, ``marginal`` or ``fail``, and a failing critical metric fails the canary.

Two functions, pure (arrays in, frozen results out; NumPy only):

- :func:`mann_whitney` compares one metric: ``U``, the two-sided p-value (equal to
  ``scipy.stats.mannwhitneyu(canary, baseline)``), the shift and its distribution-free interval,
  the classification against a tolerance band;
- :func:`canary_score` scores the classifications and lists the rules that fired, with numbers.

Where this differs from Kayenta (on purpose, "no data, no pass"): a metric without data, or with
too few values to bound its shift at the confidence asked, counts as not passed in its group's
score (Kayenta leaves it out of the group), and a critical metric without data fails the canary.

Example:
    >>> from iterate.stats import canary_score, mann_whitney
    >>> latency = mann_whitney([105, 112, 108, 111, 119, 107, 115, 110, 113, 109],
    ...                        [100, 98, 103, 101, 97, 104, 99, 102, 96, 100],
    ...                        tolerance=0.05, bad_direction="increase")
    >>> latency.classification, latency.shift, (latency.ci_low, latency.ci_high), round(latency.p_value, 5)
    ('high', 11.0, (7.0, 14.0), 0.00018)
    >>> errors = mann_whitney([0, 1, 0, 0, 2, 0, 1, 0], [0, 0, 1, 0, 1, 0, 0, 2], bad_direction="increase")
    >>> errors.classification, errors.outcome
    ('pass', 'pass')
    >>> s = canary_score({"latency": latency, "errors": errors})
    >>> s.score, s.verdict, [rule.rule for rule in s.rules]
    (50.0, 'fail', ['metric_failed', 'score_below_marginal'])
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, get_args

import numpy as np

from iterate.errors import StatsError
from iterate.stats.distributions import ndtr, ndtri
from iterate.stats.estimate import check_alpha

Classification = Literal["pass", "high", "low", "nodata"]
"""A metric's class: its shift lies beyond the tolerance band above (``high``) or below (``low``),
``pass`` otherwise, ``nodata`` when a side has no values or too few to bound the shift."""

Outcome = Literal["pass", "fail", "nodata"]
"""What a classification means for the canary, given the metric's bad direction."""

BadDirection = Literal["increase", "decrease", "either"]
"""Which change of a metric harms: ``increase`` for latency or errors, ``decrease`` for throughput
or conversions, ``either`` for a metric that should not move. (An iterate metric config's
``direction`` says which way is *good*: ``direction = "decrease"`` is ``bad_direction="increase"``.)"""

ToleranceType = Literal["relative", "absolute"]
"""``relative``: the band is ``tolerance * |median(baseline)|``; ``absolute``: it is ``tolerance``."""

NanPolicy = Literal["remove", "zero"]
"""Kayenta's NaN strategies: ``remove`` drops missing values (a gauge with no sample in an
interval); ``zero`` counts them as 0 (a counter with no event in an interval)."""

Status = Literal["ok", "no_data", "too_few"]
"""``no_data``: a side is empty (after the NaN policy); ``too_few``: the sample sizes cannot give a
``1 - alpha`` interval of the shift (e.g. 3 values a side at alpha 0.05), so no interval."""

Verdict = Literal["pass", "marginal", "fail"]

PValueMethod = Literal["exact", "asymptotic"]

DEFAULT_THRESHOLDS: Mapping[str, float] = {"pass": 95.0, "marginal": 75.0}
"""Spinnaker's canary defaults: pass at a score of 95 or more, marginal from 75."""

_EXACT_P_MAX_SIZE = 8
"""The exact p-value is used when a side has at most 8 values and there are no ties (SciPy's rule)."""

_INT64_SAFE = 2**62
_MATERIALIZE_LIMIT = 4_000_000
"""Up to this many pairs the pairwise differences are materialized; beyond, order statistics of
the differences are found by bisection with counting (no m*n array)."""

_BISECTION_STEPS = 200
_CANDIDATE_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class MannWhitneyResult:
    """Canary versus baseline on one metric.

    The shift is the canary's location minus the baseline's (Hodges-Lehmann), so ``high`` means the
    canary's values are larger. Fields are ``None`` when ``status`` says they cannot be computed.

    Attributes:
        classification: ``pass``, ``high``, ``low`` or ``nodata`` (:data:`Classification`).
        status: ``ok``, ``no_data`` or ``too_few`` (:data:`Status`).
        bad_direction: Which change fails the metric (:data:`BadDirection`).
        n_canary: Values of the canary used (after the NaN policy).
        n_baseline: Values of the baseline used.
        missing_canary: NaN values of the canary removed or set to 0.
        missing_baseline: NaN values of the baseline removed or set to 0.
        u_statistic: ``U`` of the canary: pairs with canary > baseline, ties counting 1/2.
        p_value: Two-sided p-value of the Mann-Whitney test.
        p_value_method: ``exact`` or ``asymptotic`` (normal, tie- and continuity-corrected).
        shift: Hodges-Lehmann estimate, the median of all ``canary_i - baseline_j``.
        ci_low: Lower bound of the shift's distribution-free ``1 - alpha`` interval.
        ci_high: Upper bound of that interval.
        interval_method: ``exact`` (null distribution of U) or ``normal`` (its approximation).
        alpha: 1 - confidence of the interval, and the test's level.
        tolerance: The tolerance as given.
        tolerance_type: ``relative`` (to the baseline's median) or ``absolute``.
        tolerance_band: The band's half-width in the metric's units, ``tolerance * |median|`` or
            ``tolerance``.
        canary_median: Median of the canary's values.
        baseline_median: Median of the baseline's values.
    """

    classification: Classification
    status: Status
    bad_direction: BadDirection
    n_canary: int
    n_baseline: int
    missing_canary: int
    missing_baseline: int
    u_statistic: float | None
    p_value: float | None
    p_value_method: PValueMethod | None
    shift: float | None
    ci_low: float | None
    ci_high: float | None
    interval_method: Literal["exact", "normal"] | None
    alpha: float
    tolerance: float
    tolerance_type: ToleranceType
    tolerance_band: float | None
    canary_median: float | None
    baseline_median: float | None

    @property
    def outcome(self) -> Outcome:
        """``fail`` when the classification is a change in the bad direction, ``nodata`` without
        data, ``pass`` otherwise (no shift beyond the band, or one in the good direction)."""
        if self.classification == "nodata":
            return "nodata"
        harmful = {"increase": ("high",), "decrease": ("low",), "either": ("high", "low")}[self.bad_direction]
        return "fail" if self.classification in harmful else "pass"


@dataclass(frozen=True, slots=True)
class GroupScore:
    """One metric group's part of the score.

    Attributes:
        group: The group's name.
        weight: Its share of the score, in points of 100 (weights normalized to sum 100).
        metrics: Metrics in the group.
        passed: Metrics whose outcome is ``pass``.
        score: ``100 * passed / metrics``.
    """

    group: str
    weight: float
    metrics: int
    passed: int
    score: float


@dataclass(frozen=True, slots=True)
class CanaryRule:
    """A rule of the judge that fired, with its numbers.

    Attributes:
        rule: ``metric_failed`` (a shift beyond the band in the bad direction), ``metric_no_data``,
            ``critical_metric_failed``, ``critical_metric_no_data``, ``score_below_pass`` (marginal)
            or ``score_below_marginal`` (fail).
        message: One sentence with the numbers.
        metric: The metric (``None`` for a score rule).
        group: Its group.
        critical: Whether the metric is critical.
        classification: Its classification.
        shift: Its Hodges-Lehmann shift.
        ci_low: Lower bound of the shift's interval.
        ci_high: Upper bound of the shift's interval.
        tolerance_band: Half-width of the band, in the metric's units.
        p_value: The Mann-Whitney p-value.
        weight: Points of 100 the metric carries (``group weight / metrics in the group``); for a
            score rule, the score.
        threshold: For a score rule, the threshold the score missed.
    """

    rule: str
    message: str
    metric: str | None = None
    group: str | None = None
    critical: bool = False
    classification: Classification | None = None
    shift: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    tolerance_band: float | None = None
    p_value: float | None = None
    weight: float | None = None
    threshold: float | None = None


@dataclass(frozen=True, slots=True)
class CanaryScore:
    """The canary's score and verdict.

    Attributes:
        score: 0 to 100; 0 when a critical metric failed or lacked data.
        weighted_score: The group-weighted share of passing metrics, before the critical rule.
        verdict: ``pass`` (score >= pass threshold), ``marginal`` (>= marginal threshold) or ``fail``.
        thresholds: ``{"pass": ..., "marginal": ...}`` as used.
        groups: Each group's part, sorted by name.
        rules: The rules that fired: failing and no-data metrics (in the order given), then the
            score rule when the verdict is not ``pass``.
        critical_failure: Whether a critical metric failed or lacked data.
    """

    score: float
    weighted_score: float
    verdict: Verdict
    thresholds: dict[str, float]
    groups: tuple[GroupScore, ...]
    rules: tuple[CanaryRule, ...]
    critical_failure: bool


def mann_whitney(
    canary: Sequence[float] | np.ndarray,
    baseline: Sequence[float] | np.ndarray,
    *,
    alpha: float = 0.05,
    tolerance: float = 0.1,
    tolerance_type: ToleranceType = "relative",
    bad_direction: BadDirection = "either",
    nan_policy: NanPolicy = "remove",
) -> MannWhitneyResult:
    """Compare a canary's metric values with the baseline's: Mann-Whitney U, Hodges-Lehmann shift.

    **U and p** (Mann & Whitney 1947, Ann. Math. Statist. 18): with midranks of the pooled values,
    ``U = R_canary - m (m + 1) / 2`` (``m`` canary values), which equals the number of pairs with
    canary > baseline plus half the tied pairs. The two-sided p-value is ``2 P(U >= max(U, mn - U))``:
    exact (the null distribution of U, below) when a side has at most 8 values and there are no
    ties; otherwise ``2 (1 - Phi(z))`` with ``z = (max(U, mn - U) - mn/2 - 1/2) / sigma`` and the tie
    corrected ``sigma^2 = mn/12 ((N + 1) - sum(t^3 - t) / (N (N - 1)))`` (Hollander, Wolfe & Chicken
    2014, "Nonparametric Statistical Methods", 3rd ed., section 4.1, eqs. 4.8-4.10), capped at 1.
    These are SciPy's choices, so ``p_value`` equals ``scipy.stats.mannwhitneyu(canary, baseline)``.
    When every value is the same the p-value is 1 (every permutation gives the same U).

    **Shift** (Hodges & Lehmann 1963, Ann. Math. Statist. 34): the median of the ``m n`` pairwise
    differences ``D_ij = canary_i - baseline_j``. Its interval (Bauer 1972, JASA 67, "Constructing
    confidence sets using rank statistics"; Hollander, Wolfe & Chicken 2014, eq. 4.41) is
    ``[D_(k), D_(mn + 1 - k)]`` with ``D_(1) <= ... <= D_(mn)`` and ``k`` the largest integer with
    ``P(U <= k - 1) <= alpha / 2`` under the null distribution of U (continuous data; with ties the
    closed interval only covers more). That distribution is exact when the counts fit 64-bit
    integers (``C(m + n, m) < 2^62``, e.g. up to 32 values a side) or a side has at most 8 values;
    otherwise ``k = floor(mn/2 + 1/2 - z_{1 - alpha/2} sqrt(mn (m + n + 1) / 12))``, the
    continuity-corrected normal approximation (eq. 4.42). ``k < 1`` means the samples are too small
    for that confidence: status ``too_few``, no interval.

    **Classification**: Kayenta classifies on the interval of the shift against a tolerance (its
    ``MannWhitneyClassifier`` with an effect-size ratio, ``allowedIncrease`` / ``allowedDecrease``).
    Here: ``high`` when ``ci_low > band``, ``low`` when ``ci_high < -band``, ``pass`` otherwise,
    with ``band = tolerance * |median(baseline)|`` (relative, the default) or ``tolerance``
    (absolute). A shift inside the band is ``pass`` even when significant; a shift that may exceed
    the band but is not shown to is also ``pass`` (the judge fails on evidence of harm). With a
    relative tolerance and a baseline median of 0 the band is 0: any significant shift classifies.
    ``nodata`` when a side is empty or ``too_few``: never a pass.

    Args:
        canary: The canary's values, one per interval (or unit).
        baseline: The baseline's values over the same intervals.
        alpha: Two-sided level of the interval (and test), in (0, 1).
        tolerance: Half-width of the band of shifts that are not a change, >= 0.
        tolerance_type: ``relative`` or ``absolute`` (:data:`ToleranceType`).
        bad_direction: Which change fails the metric (:data:`BadDirection`); it sets ``outcome``,
            not the classification.
        nan_policy: ``remove`` or ``zero`` (:data:`NanPolicy`).

    Returns:
        A :class:`MannWhitneyResult`.

    Raises:
        StatsError: On values that are not finite numbers (NaN aside), a 2-D input, or a bad option.

    Example:
        >>> r = mann_whitney([3.1, 2.9, 3.4, 3.8, 3.3], [2.2, 2.8, 2.5, 3.0, 2.6], tolerance=0.0)
        >>> r.u_statistic, round(r.p_value, 4), r.p_value_method, round(r.shift, 6)
        (24.0, 0.0159, 'exact', 0.7)
        >>> round(r.ci_low, 6), round(r.ci_high, 6), r.classification
        (0.1, 1.2, 'high')
    """
    _check_options(alpha, tolerance, tolerance_type, bad_direction, nan_policy)
    canary_values, missing_canary = _clean(canary, "canary", nan_policy)
    baseline_values, missing_baseline = _clean(baseline, "baseline", nan_policy)
    m, n = canary_values.size, baseline_values.size
    common = {
        "bad_direction": bad_direction, "n_canary": m, "n_baseline": n, "missing_canary": missing_canary,
        "missing_baseline": missing_baseline, "alpha": float(alpha), "tolerance": float(tolerance),
        "tolerance_type": tolerance_type,
    }
    if m == 0 or n == 0:
        return MannWhitneyResult(
            classification="nodata", status="no_data", u_statistic=None, p_value=None, p_value_method=None,
            shift=None, ci_low=None, ci_high=None, interval_method=None, tolerance_band=None,
            canary_median=float(np.median(canary_values)) if m else None,
            baseline_median=float(np.median(baseline_values)) if n else None, **common,
        )
    u_statistic, p_value, p_method = _u_test(canary_values, baseline_values)
    x, y = np.sort(canary_values), np.sort(baseline_values)
    shift = _hodges_lehmann(x, y)
    k, interval_method = _interval_rank(m, n, alpha)
    baseline_median = float(np.median(y))
    band = float(tolerance) * abs(baseline_median) if tolerance_type == "relative" else float(tolerance)
    if k < 1:
        ci_low = ci_high = None
        status: Status = "too_few"
        classification: Classification = "nodata"
    else:
        ci_low, ci_high = (float(v) for v in _difference_order_statistics(x, y, (k, m * n + 1 - k)))
        status = "ok"
        classification = "high" if ci_low > band else "low" if ci_high < -band else "pass"
    return MannWhitneyResult(
        classification=classification, status=status, u_statistic=u_statistic, p_value=p_value,
        p_value_method=p_method, shift=shift, ci_low=ci_low, ci_high=ci_high, interval_method=interval_method,
        tolerance_band=band, canary_median=float(np.median(x)), baseline_median=baseline_median, **common,
    )


def canary_score(
    results: Mapping[str, MannWhitneyResult],
    *,
    groups: Mapping[str, str] | None = None,
    group_weights: Mapping[str, float] | None = None,
    critical: Collection[str] = (),
    thresholds: Mapping[str, float] | None = None,
) -> CanaryScore:
    """Score a canary from its metrics' comparisons (Kayenta's weighted-sum scorer).

    Each group's score is the share of its metrics that pass, ``100 * passed_g / metrics_g``; the
    canary's is their weighted mean, ``sum_g w_g score_g / sum_g w_g`` (Kayenta's group weights
    summing to 100, here normalized so any positive weights do). A metric passes when its outcome is
    ``pass`` (:attr:`MannWhitneyResult.outcome`): a metric without data does not pass. A critical
    metric that fails *or lacks data* sets the score to 0 and the verdict to ``fail`` (Kayenta:
    a critical failure scores 0). The verdict is ``pass`` when ``score >= thresholds["pass"]``,
    ``marginal`` when ``score >= thresholds["marginal"]``, ``fail`` otherwise. Scores are computed
    in exact rational arithmetic from the weights, so a boundary score meets its threshold.

    Args:
        results: Each metric's comparison, by metric name.
        groups: The group of each metric; a metric not named is in group ``"default"``.
        group_weights: Positive weight of every group present; ``None`` weighs groups equally.
        critical: Names of the critical metrics.
        thresholds: ``{"pass": p, "marginal": q}`` with ``0 <= q <= p <= 100``; Spinnaker's
            ``{"pass": 95, "marginal": 75}`` when ``None``.

    Returns:
        A :class:`CanaryScore`, with the rules that fired.

    Raises:
        StatsError: Listing every problem: no metrics, unknown metric names in ``groups`` or
            ``critical``, a group without a weight or a weight without a group, a weight that is
            not a positive finite number, bad thresholds.

    Example:
        >>> passing = mann_whitney([1.0, 2.0, 3.0, 4.0], [1.5, 2.5, 3.5, 4.5])
        >>> failing = mann_whitney([9.0, 9.5, 9.7, 9.9], [1.0, 1.1, 1.2, 1.3])
        >>> s = canary_score({"cpu": passing, "latency": failing, "errors": passing},
        ...                  groups={"cpu": "system", "latency": "user", "errors": "user"},
        ...                  group_weights={"system": 40, "user": 60})
        >>> s.score, s.verdict, [(g.group, g.weight, g.score) for g in s.groups]
        (70.0, 'fail', [('system', 40.0, 100.0), ('user', 60.0, 50.0)])
    """
    groups = dict(groups or {})
    chosen = dict(DEFAULT_THRESHOLDS if thresholds is None else thresholds)
    critical_set = set(critical)
    _check_score_inputs(results, groups, group_weights, critical_set, chosen)
    members: dict[str, list[str]] = {}
    for name in results:
        members.setdefault(groups.get(name, "default"), []).append(name)
    raw = {group: Fraction(1) for group in members} if group_weights is None else {
        group: Fraction(float(group_weights[group])) for group in members}
    total = sum(raw.values())
    shares = {group: 100 * weight / total for group, weight in raw.items()}
    passed = {group: sum(results[name].outcome == "pass" for name in names) for group, names in members.items()}
    weighted = sum(shares[group] * Fraction(passed[group], len(names)) for group, names in members.items())
    critical_failure = any(results[name].outcome != "pass" for name in critical_set)
    score = Fraction(0) if critical_failure else weighted
    verdict: Verdict = ("pass" if score >= Fraction(chosen["pass"])
                        else "marginal" if score >= Fraction(chosen["marginal"]) else "fail")
    rules = [
        _metric_rule(name, results[name], groups.get(name, "default"), name in critical_set,
                     shares[groups.get(name, "default")] / len(members[groups.get(name, "default")]))
        for name in results if results[name].outcome != "pass"
    ]
    if verdict != "pass":
        rules.append(_score_rule(score, verdict, chosen, critical_failure))
    group_scores = tuple(
        GroupScore(group, float(shares[group]), len(names), passed[group], float(Fraction(100 * passed[group], len(names))))
        for group, names in sorted(members.items())
    )
    return CanaryScore(
        score=float(score), weighted_score=float(weighted), verdict=verdict,
        thresholds={"pass": float(chosen["pass"]), "marginal": float(chosen["marginal"])},
        groups=group_scores, rules=tuple(rules), critical_failure=critical_failure,
    )


def _metric_rule(name: str, result: MannWhitneyResult, group: str, is_critical: bool, points: Fraction) -> CanaryRule:
    prefix = "critical_metric" if is_critical else "metric"
    kind = "critical metric" if is_critical else "metric"
    if result.outcome == "nodata":
        why = ("has no values on one side" if result.status == "no_data" else
               f"has too few values ({result.n_canary} canary, {result.n_baseline} baseline) to bound its shift "
               f"at confidence {1 - result.alpha:g}")
        message = f"{kind} {name} {why}: no data, no pass"
        rule = f"{prefix}_no_data"
    else:
        harm = "any change harms" if result.bad_direction == "either" else f"an {result.bad_direction} harms"
        message = (f"{kind} {name} is {result.classification}: shift {result.shift:+.6g}, interval "
                   f"[{result.ci_low:.6g}, {result.ci_high:.6g}] beyond the tolerance band "
                   f"+/-{result.tolerance_band:.6g} (p = {result.p_value:.3g}); {harm}")
        rule = f"{prefix}_failed"
    message += f"; it carries {float(points):.4g} of 100 points" + (" and fails the canary" if is_critical else "")
    return CanaryRule(
        rule=rule, message=message, metric=name, group=group, critical=is_critical,
        classification=result.classification, shift=result.shift, ci_low=result.ci_low, ci_high=result.ci_high,
        tolerance_band=result.tolerance_band, p_value=result.p_value, weight=float(points),
    )


def _score_rule(score: Fraction, verdict: Verdict, thresholds: Mapping[str, float], critical_failure: bool) -> CanaryRule:
    if verdict == "marginal":
        return CanaryRule(
            rule="score_below_pass", weight=float(score), threshold=float(thresholds["pass"]),
            message=f"score {float(score):.4g} is below the pass threshold {thresholds['pass']:g} "
                    f"(at or above the marginal threshold {thresholds['marginal']:g}): marginal",
        )
    cause = " (a critical metric failed or lacked data)" if critical_failure else ""
    return CanaryRule(
        rule="score_below_marginal", weight=float(score), threshold=float(thresholds["marginal"]),
        message=f"score {float(score):.4g}{cause} is below the marginal threshold {thresholds['marginal']:g}: fail",
    )


def _check_options(alpha: float, tolerance: float, tolerance_type: str, bad_direction: str, nan_policy: str) -> None:
    check_alpha(alpha)
    problems = []
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not 0 <= tolerance < math.inf:
        problems.append(f"tolerance == {tolerance!r}, must be a finite number >= 0")
    for value, name, allowed in ((tolerance_type, "tolerance_type", ToleranceType),
                                 (bad_direction, "bad_direction", BadDirection), (nan_policy, "nan_policy", NanPolicy)):
        if value not in get_args(allowed):
            problems.append(f"{name} == {value!r}, must be one of {', '.join(map(repr, get_args(allowed)))}")
    if problems:
        raise StatsError("invalid mann_whitney options", problems)


def _clean(values: Sequence[float] | np.ndarray, name: str, nan_policy: NanPolicy) -> tuple[np.ndarray, int]:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise StatsError(f"{name} values must be numbers ({exc})") from exc
    if array.ndim != 1:
        raise StatsError(f"{name} values must be one-dimensional, got shape {array.shape}")
    missing = np.isnan(array)
    if np.isinf(array).any():
        raise StatsError(f"{name} has an infinite value at position {int(np.flatnonzero(np.isinf(array))[0])}; "
                         "values must be finite (NaN is missing)")
    cleaned = array[~missing] if nan_policy == "remove" else np.where(missing, 0.0, array)
    return cleaned, int(missing.sum())


def _u_test(x: np.ndarray, y: np.ndarray) -> tuple[float, float, PValueMethod]:
    """U of ``x`` from midranks, and its two-sided p-value by SciPy's rule (see :func:`mann_whitney`)."""
    m, n = x.size, y.size
    pooled = np.concatenate([x, y])
    _, inverse, counts = np.unique(pooled, return_inverse=True, return_counts=True)
    below = np.cumsum(counts) - counts
    midranks = below + (counts + 1) / 2
    u = float(midranks[inverse[:m]].sum() - m * (m + 1) / 2)
    u_max = max(u, m * n - u)
    if min(m, n) <= _EXACT_P_MAX_SIZE and counts.max() == 1:
        counts_u = _null_counts(m, n)
        upper, total = int(counts_u[int(u_max):].sum()), int(counts_u.sum())
        return u, min(1.0, 2 * upper / total), "exact"
    size = m + n
    tie_term = float(((counts.astype(float) ** 3) - counts).sum())
    variance = m * n / 12 * ((size + 1) - tie_term / (size * (size - 1)))
    if variance <= 0:
        return u, 1.0, "asymptotic"
    z = (u_max - m * n / 2 - 0.5) / math.sqrt(variance)
    return u, min(1.0, 2 * float(ndtr(-z))), "asymptotic"


@functools.lru_cache(maxsize=64)
def _null_counts(m: int, n: int) -> np.ndarray:
    """Number of the ``C(m + n, m)`` arrangements giving ``U = 0, 1, ..., mn`` under the null.

    They are the coefficients of the Gaussian binomial ``[m + n choose m]_q =
    prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i)`` (Mann & Whitney 1947; Andrews 1976, "The Theory of
    Partitions", Thm. 3.1). Int64 when the total fits, Python integers otherwise.
    """
    small, large = sorted((m, n))
    dtype = np.int64 if math.comb(m + n, small) < _INT64_SAFE else object
    coefficients = np.ones(1, dtype=dtype)
    for i in range(1, small + 1):
        grown = np.zeros(coefficients.size + large + i, dtype=dtype)
        grown[: coefficients.size] += coefficients
        grown[large + i:] -= coefficients
        coefficients = _divide_by_one_minus_power(grown, i)[: i * large + 1]
    coefficients.setflags(write=False)
    return coefficients


def _divide_by_one_minus_power(coefficients: np.ndarray, power: int) -> np.ndarray:
    """Coefficients of ``c(q) / (1 - q^power)`` as a power series: ``c'[u] = c[u] + c'[u - power]``."""
    rows = -(-coefficients.size // power)
    padded = np.zeros(rows * power, dtype=coefficients.dtype)
    padded[: coefficients.size] = coefficients
    return np.cumsum(padded.reshape(rows, power), axis=0).reshape(-1)


def _interval_rank(m: int, n: int, alpha: float) -> tuple[int, Literal["exact", "normal"]]:
    """The largest ``k`` with ``P(U <= k - 1) <= alpha / 2`` (Hollander, Wolfe & Chicken 2014, eq. 4.41),
    exact when cheap, else the continuity-corrected normal approximation (eq. 4.42)."""
    if min(m, n) <= _EXACT_P_MAX_SIZE or math.comb(m + n, min(m, n)) < _INT64_SAFE:
        cumulative = np.cumsum(_null_counts(m, n))
        probabilities = np.array([c / int(cumulative[-1]) for c in cumulative.tolist()])
        return int(np.count_nonzero(probabilities <= alpha / 2)), "exact"
    sigma = math.sqrt(m * n * (m + n + 1) / 12)
    k = math.floor(m * n / 2 + 0.5 + float(ndtri(alpha / 2)) * sigma)
    return max(k, 0), "normal"


def _hodges_lehmann(x: np.ndarray, y: np.ndarray) -> float:
    """Median of the pairwise differences ``x_i - y_j`` (NumPy's median: mean of the middle two)."""
    pairs = x.size * y.size
    if pairs % 2:
        return float(_difference_order_statistics(x, y, ((pairs + 1) // 2,))[0])
    low, high = _difference_order_statistics(x, y, (pairs // 2, pairs // 2 + 1))
    return float((low + high) / 2)


def _difference_order_statistics(x: np.ndarray, y: np.ndarray, ranks: Sequence[int]) -> list[float]:
    """The ``k``-th smallest (1-based) of the ``x_i - y_j`` for each ``k`` in ``ranks``; ``x``, ``y`` sorted."""
    if x.size * y.size <= _MATERIALIZE_LIMIT:
        differences = np.subtract.outer(x, y).ravel()
        chosen = np.partition(differences, [k - 1 for k in ranks])
        return [float(chosen[k - 1]) for k in ranks]
    return [_bisect_order_statistic(x, y, k) for k in ranks]


def _count_at_most(x: np.ndarray, y: np.ndarray, t: float) -> int:
    """``#{(i, j): x_i - y_j <= t}``, counted as ``#{j: y_j >= x_i - t}`` on sorted ``y``."""
    return int((y.size - np.searchsorted(y, x - t, side="left")).sum())


def _bisect_order_statistic(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """The ``k``-th smallest difference without the ``m n`` array: bisect on the value, keeping
    ``count(<= low) < k <= count(<= high)``, until few differences lie in ``(low, high]``; then
    list those and pick. (Monahan 1984, ACM TOMS 10, selects the same order statistic in
    ``O(n log n)``; bisection is simpler and fast enough here.)"""
    spread = float(x[-1] - x[0] + y[-1] - y[0]) + 1.0
    low, high = float(x[0] - y[-1]) - spread, float(x[-1] - y[0]) + spread
    count_low, count_high = _count_at_most(x, y, low), _count_at_most(x, y, high)
    for _ in range(_BISECTION_STEPS):
        if count_high - count_low <= _CANDIDATE_LIMIT:
            break
        middle = low + (high - low) / 2
        if middle in (low, high):
            return high
        count_middle = _count_at_most(x, y, middle)
        if count_middle >= k:
            high, count_high = middle, count_middle
        else:
            low, count_low = middle, count_middle
    starts = np.searchsorted(y, x - high, side="left")
    stops = np.searchsorted(y, x - low, side="left")
    candidates = np.concatenate([x[i] - y[starts[i]:stops[i]] for i in np.flatnonzero(stops > starts)])
    candidates.sort()
    return float(candidates[min(max(k - count_low - 1, 0), candidates.size - 1)])


def _check_score_inputs(
    results: Mapping[str, MannWhitneyResult],
    groups: Mapping[str, str],
    group_weights: Mapping[str, float] | None,
    critical: set[str],
    thresholds: Mapping[str, float],
) -> None:
    problems = []
    if not results:
        problems.append("results is empty: a canary needs at least one metric")
    problems += [f"groups names {name!r}, which is not in results" for name in groups if name not in results]
    problems += [f"critical names {name!r}, which is not in results" for name in sorted(critical) if name not in results]
    present = {groups.get(name, "default") for name in results}
    if group_weights is not None:
        problems += [f"group {group!r} has no weight in group_weights" for group in sorted(present - set(group_weights))]
        problems += [f"group_weights names {group!r}, which no metric is in" for group in group_weights if group not in present]
        for group, weight in group_weights.items():
            if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight < math.inf:
                problems.append(f"group_weights[{group!r}] == {weight!r}, must be a finite number > 0")
    if set(thresholds) != {"pass", "marginal"}:
        problems.append(f"thresholds has keys {sorted(thresholds)}, must be exactly ['marginal', 'pass']")
    else:
        values = [thresholds["marginal"], thresholds["pass"]]
        if any(isinstance(v, bool) or not isinstance(v, int | float) for v in values) or not 0 <= values[0] <= values[1] <= 100:
            problems.append(f"thresholds == {dict(thresholds)!r}, need 0 <= marginal <= pass <= 100")
    if problems:
        raise StatsError("invalid canary_score inputs", problems)
