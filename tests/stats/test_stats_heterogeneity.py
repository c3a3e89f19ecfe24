from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from iterate.errors import StatsError
from iterate.stats import heterogeneity_test, segment_deviations

EFFECTS = [0.12, 0.08, 0.15, 0.10, -0.06]
STD_ERRORS = [0.03, 0.025, 0.05, 0.04, 0.035]


def test_q_and_p_value_match_hand_computation() -> None:
    e, se = np.array(EFFECTS), np.array(STD_ERRORS)
    w = 1 / se**2
    pooled = np.sum(w * e) / np.sum(w)
    q = np.sum(w * (e - pooled) ** 2)
    h = heterogeneity_test(EFFECTS, STD_ERRORS)
    assert h.status == "ok" and h.df == 4
    assert h.statistic == pytest.approx(q, rel=1e-12)
    assert h.p_value == pytest.approx(stats.chi2.sf(q, 4), rel=1e-10)
    assert h.i_squared == pytest.approx((q - 4) / q, rel=1e-12)


def test_pooled_effect_matches_statsmodels_fixed_effect() -> None:
    h = heterogeneity_test(EFFECTS, STD_ERRORS)
    ref = combine_effects(np.array(EFFECTS), np.array(STD_ERRORS) ** 2, method_re="dl")
    assert h.pooled_effect == pytest.approx(ref.mean_effect_fe, rel=1e-12)
    assert h.pooled_std_error == pytest.approx(ref.sd_eff_w_fe, rel=1e-12)
    assert h.statistic == pytest.approx(ref.q, rel=1e-12)
    assert h.i_squared == pytest.approx(ref.i2, rel=1e-12)


def test_homogeneous_segments_have_zero_i_squared() -> None:
    h = heterogeneity_test([0.1, 0.1, 0.1], [0.02, 0.03, 0.05])
    assert h.statistic == pytest.approx(0.0, abs=1e-20) and h.i_squared == 0.0
    assert h.p_value == pytest.approx(1.0)


def test_segments_without_a_usable_std_error_are_left_out() -> None:
    full = heterogeneity_test(EFFECTS, STD_ERRORS)
    padded = heterogeneity_test([*EFFECTS, None, 0.5, 0.3], [*STD_ERRORS, 0.1, None, 0.0])
    assert padded == full
    deviations = segment_deviations([*EFFECTS, None, 0.5, 0.3], [*STD_ERRORS, 0.1, None, 0.0])
    assert deviations[5:] == [None, None, None]
    assert deviations[:5] == segment_deviations(EFFECTS, STD_ERRORS)


def test_opposite_segment_has_the_smallest_deviation_p_value() -> None:
    deviations = segment_deviations(EFFECTS, STD_ERRORS)
    p_values = [d.p_value for d in deviations]  # type: ignore[union-attr]
    assert int(np.argmin(p_values)) == 4 and p_values[4] < 0.001
    d = deviations[4]
    e, se = np.array(EFFECTS[:4]), np.array(STD_ERRORS[:4])
    w = 1 / se**2
    rest = np.sum(w * e) / np.sum(w)
    std_error = math.sqrt(0.035**2 + 1 / np.sum(w))
    assert d.rest_effect == pytest.approx(rest, rel=1e-12)  # type: ignore[union-attr]
    assert d.difference == pytest.approx(-0.06 - rest, rel=1e-12)  # type: ignore[union-attr]
    assert d.std_error == pytest.approx(std_error, rel=1e-12)  # type: ignore[union-attr]
    assert d.p_value == pytest.approx(2 * stats.norm.sf(abs(d.z)), rel=1e-12)  # type: ignore[union-attr]


def test_too_few_segments() -> None:
    assert heterogeneity_test([], []).status == "too_few_segments"
    assert heterogeneity_test([None], [0.1]).pooled_effect is None
    one = heterogeneity_test([0.3, 0.1], [0.1, None])
    assert (one.status, one.df, one.statistic, one.p_value) == ("too_few_segments", 0, None, None)
    assert one.pooled_effect == pytest.approx(0.3) and one.pooled_std_error == pytest.approx(0.1)
    alone = segment_deviations([0.3, 0.1], [0.1, None])
    assert alone[1] is None and alone[0] is not None
    assert alone[0].rest_effect is None and alone[0].effect == 0.3


@pytest.mark.parametrize(
    ("effects", "std_errors", "message"),
    [
        ([0.1, 0.2], [0.1], "2 effects and 1 std_errors"),
        ([0.1, math.nan], [0.1, 0.1], r"effects\[1\] == nan"),
        ([0.1, 0.2], [0.1, -0.1], r"std_errors\[1\] == -0.1"),
    ],
)
def test_invalid_input_raises(effects: list, std_errors: list, message: str) -> None:
    with pytest.raises(StatsError, match=message):
        heterogeneity_test(effects, std_errors)
    with pytest.raises(StatsError, match=message):
        segment_deviations(effects, std_errors)
