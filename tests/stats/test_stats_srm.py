from __future__ import annotations

import pytest
from scipy import stats

from iterate.errors import StatsError
from iterate.stats import SrmResult, sample_ratio_mismatch


def test_matches_scipy_chisquare_with_unequal_shares() -> None:
    observed = {"control": 4_920, "a": 2_610, "b": 2_470}
    shares = {"control": 2.0, "a": 1.0, "b": 1.0}
    r = sample_ratio_mismatch(observed, shares)
    ref = stats.chisquare([4_920, 2_610, 2_470], f_exp=[5_000, 2_500, 2_500])
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert r.df == 2
    assert r.expected_counts == pytest.approx({"control": 5_000, "a": 2_500, "b": 2_500}, rel=1e-12)
    assert r.observed == observed


def test_cookie_cats_split() -> None:
    r = sample_ratio_mismatch({"gate_30": 44700, "gate_40": 45489}, {"gate_30": 0.5, "gate_40": 0.5})
    assert round(r.statistic, 2) == 6.90
    assert round(r.p_value, 4) == 0.0086
    assert r.mismatch is False
    assert sample_ratio_mismatch(r.observed, {"gate_30": 1, "gate_40": 1}, threshold=0.01).mismatch is True


def test_hillstrom_split() -> None:
    r = sample_ratio_mismatch(
        {"mens": 21307, "womens": 21387, "none": 21306}, {"mens": 1 / 3, "womens": 1 / 3, "none": 1 / 3}
    )
    assert round(r.statistic, 3) == 0.203
    assert round(r.p_value, 3) == 0.904
    assert r == SrmResult(r.statistic, 2, r.p_value, 0.001, False, r.observed, r.expected_counts)


def test_key_mismatch_names_the_variants() -> None:
    with pytest.raises(StatsError) as info:
        sample_ratio_mismatch({"control": 10, "treatmnt": 12}, {"control": 0.5, "treatment": 0.5})
    assert "'treatmnt'" in str(info.value) and "'treatment'" in str(info.value)


@pytest.mark.parametrize(
    ("observed", "shares", "message"),
    [
        ({"a": 10, "b": 10}, {"a": 1.0, "b": 0.0}, r"expected_shares\['b'\] == 0.0"),
        ({"a": 10, "b": -1}, {"a": 1.0, "b": 1.0}, r"observed\['b'\] == -1"),
        ({"a": 10, "b": 2.5}, {"a": 1.0, "b": 1.0}, r"observed\['b'\] == 2.5"),
        ({"a": 10}, {"a": 1.0}, "at least 2"),
        ({"a": 0, "b": 0}, {"a": 1.0, "b": 1.0}, "sum to 0"),
    ],
)
def test_invalid_input_raises(observed: dict, shares: dict, message: str) -> None:
    with pytest.raises(StatsError, match=message):
        sample_ratio_mismatch(observed, shares)


def test_bad_threshold_raises() -> None:
    with pytest.raises(StatsError, match="threshold == 2"):
        sample_ratio_mismatch({"a": 1, "b": 1}, {"a": 1, "b": 1}, threshold=2)
