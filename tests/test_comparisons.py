"""Metric rows from moments (iterate/comparisons.py), without an engine."""

from __future__ import annotations

import pytest

from iterate.comparisons import compare
from iterate.config import Experiment, Metric
from iterate.report import render
from iterate.result import AnalysisResult
from iterate.stats import RatioMoments

METRIC = Metric(name="profit", type="mean", event="purchase", value="value")
EXPERIMENT = Experiment(name="exp", control="control", metrics=(METRIC,))


def moments(mean: float) -> RatioMoments:
    return RatioMoments(n=2000, numerator_mean=mean, denominator_mean=1.0, numerator_variance=25.0,
                        denominator_variance=0.0, covariance=0.0)


def test_a_negative_control_mean_gives_no_relative_effect():
    """-26.27 -> -31.00 is an effect of -4.73 on a row marked worse; "treatment / control - 1" called
    it +18.00%. The absolute effect and its test are kept."""
    row = compare(METRIC, "treatment", moments(-26.27), moments(-31.0), EXPERIMENT)
    assert row.effect == pytest.approx(-4.73)
    assert row.relative_effect is None and row.relative_ci_low is None and row.relative_ci_high is None
    assert row.p_value < 0.05 and row.outcome == "worse"


@pytest.mark.parametrize("control", [0.0, -1e-9])
def test_a_control_mean_that_is_not_positive_gives_no_relative_effect(control):
    row = compare(METRIC, "treatment", moments(control), moments(1.0), EXPERIMENT)
    assert row.relative_effect is None and row.effect == pytest.approx(1.0 - control)


def test_a_positive_control_mean_keeps_the_relative_effect():
    row = compare(METRIC, "treatment", moments(26.27), moments(31.0), EXPERIMENT)
    assert row.relative_effect == pytest.approx(31.0 / 26.27 - 1)
    assert row.relative_ci_low < row.relative_effect < row.relative_ci_high


def test_the_text_report_says_why_there_is_no_relative_effect():
    row = compare(METRIC, "treatment", moments(-26.27), moments(-31.0), EXPERIMENT)
    result = AnalysisResult(
        experiment="exp", verdict="ship", reasons=(), checks=(), metric_results=(row,), variant_verdicts={},
        units={"control": 2000, "treatment": 2000}, excluded_units={}, alpha=0.05, window=None, control="control",
        correction="holm", segment_results=(), heterogeneity=(),
    )
    text = render(result, "text")
    assert "+18.00%" not in text and "-18.00%" not in text
    assert "profit (treatment): no relative effect: the control mean -26.27 is not positive" in text
