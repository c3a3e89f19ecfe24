"""Does the effect differ across segments (platform, country, app version)?

Each segment's effect and standard error come from an ordinary test
(:func:`welch_t_test`, :func:`delta_method_test`...) run within the segment;
segments are disjoint sets of units, so their estimates are independent.

Example:
    >>> from iterate.stats import heterogeneity_test
    >>> h = heterogeneity_test([0.10, 0.12, -0.05], [0.03, 0.04, 0.05])
    >>> round(h.statistic, 2), h.df, round(h.p_value, 4), round(h.i_squared, 3)
    (8.19, 2, 0.0166, 0.756)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from iterate.stats.distributions import chdtrc

from iterate.errors import StatsError
from iterate.stats.estimate import interval_and_p_value


@dataclass(frozen=True, slots=True)
class HeterogeneityResult:
    """Cochran's Q test of equal effects across segments, and the pooled effect.

    Attributes:
        statistic: Cochran's Q (None with fewer than 2 usable segments).
        df: Usable segments - 1 (None with no usable segment).
        p_value: Upper-tail chi-square probability of Q with ``df`` degrees of
            freedom (None with fewer than 2 usable segments).
        i_squared: Share of the variation due to heterogeneity, in [0, 1).
        pooled_effect: Inverse-variance (fixed-effect) pooled effect.
        pooled_std_error: Its standard error.
        status: ``"ok"``, or ``"too_few_segments"`` with fewer than 2 usable
            segments (the pooled fields are given if there is one).
    """

    statistic: float | None
    df: int | None
    p_value: float | None
    i_squared: float | None
    pooled_effect: float | None
    pooled_std_error: float | None
    status: Literal["ok", "too_few_segments"] = "ok"


@dataclass(frozen=True, slots=True)
class SegmentDeviation:
    """One segment's effect compared with the pooled effect of all other segments.

    Attributes:
        effect: The segment's effect.
        rest_effect: Inverse-variance pooled effect of the other usable
            segments (None, like the fields below, when there are none).
        difference: ``effect - rest_effect``.
        std_error: ``sqrt(se**2 + rest_se**2)``, the two being independent.
        z: ``difference / std_error``.
        p_value: Two-sided normal p-value of ``z``.
    """

    effect: float
    rest_effect: float | None
    difference: float | None
    std_error: float | None
    z: float | None
    p_value: float | None


def _usable(
    effects: Sequence[float | None], std_errors: Sequence[float | None]
) -> list[int]:
    if len(effects) != len(std_errors):
        raise StatsError(
            f"{len(effects)} effects and {len(std_errors)} std_errors, must be one of each per segment"
        )
    problems = []
    for i, (effect, se) in enumerate(zip(effects, std_errors, strict=True)):
        if effect is not None and not math.isfinite(effect):
            problems.append(f"effects[{i}] == {effect!r}, must be a finite number or None")
        if se is not None and not (math.isfinite(se) and se >= 0):
            problems.append(f"std_errors[{i}] == {se!r}, must be a finite number >= 0 or None")
    if problems:
        raise StatsError(f"{len(problems)} invalid segment value(s)", problems)
    return [i for i, (e, se) in enumerate(zip(effects, std_errors, strict=True))
            if e is not None and se is not None and se > 0]


def _pool(effects: np.ndarray, std_errors: np.ndarray) -> tuple[float, float, np.ndarray]:
    weights = 1.0 / std_errors**2
    pooled = float(np.dot(weights, effects) / weights.sum())
    return pooled, float(1.0 / math.sqrt(weights.sum())), weights


def heterogeneity_test(
    effects: Sequence[float | None],
    std_errors: Sequence[float | None],
) -> HeterogeneityResult:
    """Cochran's Q test that all segments share one effect.

    With inverse-variance weights ``w_i = 1 / se_i**2`` over the ``k`` usable
    segments (Cochran 1954, "The combination of estimates from different
    experiments", Biometrics 10):

        pooled = sum(w_i effect_i) / sum(w_i),   se(pooled) = 1 / sqrt(sum(w_i))
        Q = sum(w_i (effect_i - pooled)**2)  ~  chi-square(k - 1) under equal effects

    and ``I**2 = max(0, (Q - (k - 1)) / Q)`` (Higgins & Thompson 2002,
    "Quantifying heterogeneity in a meta-analysis", Statistics in Medicine 21).
    Segments whose effect or standard error is None, or whose standard error
    is 0, are left out.

    Args:
        effects: Per-segment effects (None if not estimated).
        std_errors: Their standard errors.

    Returns:
        The test and the fixed-effect pooled estimate.

    Raises:
        StatsError: On different lengths, a non-finite effect or a negative
            or non-finite standard error (all listed).

    Example:
        >>> h = heterogeneity_test([0.25, None], [0.5, 0.1])
        >>> h.status, h.pooled_effect, h.p_value
        ('too_few_segments', 0.25, None)
    """
    used = _usable(effects, std_errors)
    if not used:
        return HeterogeneityResult(None, None, None, None, None, None, "too_few_segments")
    theta = np.array([effects[i] for i in used], dtype=float)
    se = np.array([std_errors[i] for i in used], dtype=float)
    pooled, pooled_se, weights = _pool(theta, se)
    df = len(used) - 1
    if df == 0:
        return HeterogeneityResult(None, 0, None, None, pooled, pooled_se, "too_few_segments")
    q = float(np.dot(weights, (theta - pooled) ** 2))
    i_squared = (q - df) / q if q > df else 0.0
    return HeterogeneityResult(q, df, float(chdtrc(df, q)), i_squared, pooled, pooled_se)


def segment_deviations(
    effects: Sequence[float | None],
    std_errors: Sequence[float | None],
) -> list[SegmentDeviation | None]:
    """Each segment against the inverse-variance pooled effect of all the others.

    ``difference = effect_i - pooled_{-i}`` with
    ``se = sqrt(se_i**2 + 1 / sum_{j != i} w_j)`` and a two-sided normal
    p-value (the pooling of Cochran 1954; segment and rest are independent).
    This points at the segment that drives a significant
    :func:`heterogeneity_test`; correct its p-values for the number of
    segments (:func:`adjust_p_values`) before acting on one.

    Args:
        effects: Per-segment effects (None if not estimated).
        std_errors: Their standard errors.

    Returns:
        One entry per segment, None for a segment left out (None or zero se).

    Raises:
        StatsError: As :func:`heterogeneity_test`.

    Example:
        >>> d = segment_deviations([0.10, 0.12, -0.05], [0.03, 0.04, 0.05])
        >>> [round(x.p_value, 4) for x in d]
        [0.2846, 0.2093, 0.0046]
    """
    used = _usable(effects, std_errors)
    deviations: list[SegmentDeviation | None] = [None] * len(effects)
    for i in used:
        effect, se = float(effects[i]), float(std_errors[i])  # type: ignore[arg-type]
        others = [j for j in used if j != i]
        if not others:
            deviations[i] = SegmentDeviation(effect, None, None, None, None, None)
            continue
        rest, rest_se, _ = _pool(
            np.array([effects[j] for j in others], dtype=float),
            np.array([std_errors[j] for j in others], dtype=float),
        )
        difference = effect - rest
        std_error = math.sqrt(se**2 + rest_se**2)
        _, _, z, p_value = interval_and_p_value(
            difference, std_error, alternative="two-sided", alpha=0.05
        )
        deviations[i] = SegmentDeviation(effect, rest, difference, std_error, z, p_value)
    return deviations
