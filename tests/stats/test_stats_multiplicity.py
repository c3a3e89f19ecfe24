from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from iterate.errors import StatsError
from iterate.stats import adjust_p_values

STATSMODELS = {"holm": "holm", "bonferroni": "bonferroni", "benjamini-hochberg": "fdr_bh"}


@pytest.mark.parametrize("method", list(STATSMODELS))
@pytest.mark.parametrize("seed", range(5))
def test_matches_statsmodels_with_ties_and_none(method: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.beta(0.5, 3.0, size=25)
    p[[3, 7, 11]] = p[5]  # ties
    p[[0, 1]] = 0.0
    p[2] = 1.0
    values: list[float | None] = [float(x) for x in p]
    missing = sorted(rng.choice(25, size=4, replace=False))
    for i in missing:
        values[i] = None
    given = [v for v in values if v is not None]
    expected = iter(multipletests(given, method=STATSMODELS[method])[1])
    adjusted = adjust_p_values(values, method=method)  # type: ignore[arg-type]
    for value, result in zip(values, adjusted, strict=True):
        if value is None:
            assert result is None
        else:
            assert result == pytest.approx(next(expected), rel=1e-12, abs=1e-15)


def test_default_is_holm_and_order_is_kept() -> None:
    assert adjust_p_values([0.04, 0.01, 0.03]) == pytest.approx([0.06, 0.03, 0.06], rel=1e-12)


def test_all_none_and_empty() -> None:
    assert adjust_p_values([None, None]) == [None, None]
    assert adjust_p_values([]) == []


def test_single_p_value_is_unchanged() -> None:
    for method in STATSMODELS:
        assert adjust_p_values([0.02], method=method) == [0.02]  # type: ignore[arg-type]


def test_unknown_method_names_the_valid_ones() -> None:
    expected = "method == 'fdr_bh', must be one of holm, bonferroni, benjamini-hochberg"
    with pytest.raises(StatsError, match=expected):
        adjust_p_values([0.1], method="fdr_bh")  # type: ignore[arg-type]


def test_invalid_p_values_are_all_listed() -> None:
    with pytest.raises(StatsError) as info:
        adjust_p_values([0.1, 1.5, math.nan, -0.1, None])
    message = str(info.value)
    assert "3 invalid" in message and "p_values[1] == 1.5" in message and "p_values[3] == -0.1" in message


@pytest.mark.parametrize("method", list(STATSMODELS))
def test_adjusted_p_values_are_never_below_the_raw_ones(method: str) -> None:
    # regression (found by tests/stats/test_stats_properties.py): Benjamini-Hochberg computed
    # p * m / j, and 0.35 * 3 / 3 rounds to 0.3499999999999999, below the raw p-value
    for p_values in ([0.35, 0.35, 0.35], [0.0, 0.0, 0.35], [0.01] * 6 + [0.49]):
        adjusted = adjust_p_values(p_values, method=method)  # type: ignore[arg-type]
        assert all(a >= p for a, p in zip(adjusted, p_values)), adjusted
        assert adjusted == pytest.approx(list(multipletests(p_values, method=STATSMODELS[method])[1]), rel=1e-12)
