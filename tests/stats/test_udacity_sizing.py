"""The Udacity A/B testing course's final project ("Free Trial Screener"), reproduced.

Published numbers (README of ``shared/datasets/udacity_free_trial_screener``):

- sizing with Evan Miller's calculator, alpha 0.05, power 0.8: gross conversion
  (p = 0.20625, d = 0.01) 25,835 clicks per group; net conversion (p = 0.1093125,
  d = 0.0075) 27,413, i.e. 685,325 pageviews; retention (p = 0.53, d = 0.01) 39,115;
- over the 23 days with enrollments: clicks 17,293 vs 17,260, enrollments 3,785 vs
  3,423; gross conversion diff -0.0206, 95% CI [-0.0291, -0.0120]; net conversion
  diff -0.0049, CI [-0.0116, 0.0019].

The calculator's formula is ``proportion_variance="evan_miller"``: null variance
``2 p q`` at the baseline, alternative variance ``p q + p2 q2`` at the side
``p2 = p +/- d`` nearer 1/2 (``p - d`` for retention, p = 0.53), rounded to the
nearest integer. ``sample_size_per_arm`` rounds up, so it gives 27,414 for net
conversion (the exact root is 27,413.25). The Fleiss / statsmodels formula (null
variance at the pooled rate of both arms) gives 26,155, 27,984 and 39,051.

The daily CSVs are read from ``$ITERATE_DATASETS`` or ``<repo>/../shared/datasets``;
without that folder the whole module is skipped.
"""

from __future__ import annotations

import csv
import math

import pytest
from helpers import dataset_file

from iterate.stats import Moments, two_proportion_z_test
from iterate.stats.power import (
    achieved_power,
    duration_days,
    minimum_detectable_effect,
    sample_size_per_arm,
    unrounded_sample_size_per_arm,
)


FOLDER = dataset_file("udacity_free_trial_screener")

PUBLISHED = {  # metric: (baseline p, absolute d, units per group)
    "gross_conversion": (0.20625, 0.01, 25835),
    "net_conversion": (0.1093125, 0.0075, 27413),
    "retention": (0.53, 0.01, 39115),
}
CLICK_THROUGH = 0.08  # clicks per pageview, the course's baseline value behind 685,325 pageviews


def _days(name: str) -> list[dict[str, str]]:
    with (FOLDER / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _total(rows: list[dict[str, str]], column: str) -> int:
    """Sum over the days with enrollment data (the last 14 days have none)."""
    return sum(int(row[column]) for row in rows if row["Enrollments"])


CONTROL, EXPERIMENT = _days("control.csv"), _days("experiment.csv")


# -- sizing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", list(PUBLISHED))
def test_evan_miller_formula_reproduces_the_published_size_exactly(metric: str) -> None:
    baseline, d, published = PUBLISHED[metric]
    exact = unrounded_sample_size_per_arm(baseline=baseline, mde=d, alpha=0.05, power=0.8,
                                          proportion_variance="evan_miller")
    assert round(exact) == published
    rounded_up = sample_size_per_arm(baseline=baseline, mde=d, proportion_variance="evan_miller")
    assert rounded_up in (published, published + 1)
    assert rounded_up == pytest.approx(published, rel=1e-3)
    assert achieved_power(rounded_up, d, baseline=baseline, proportion_variance="evan_miller") >= 0.8
    # the calculator's one-tail closed form: the far tail moves the root by less than 0.1 unit
    p2 = baseline - d if baseline > 0.5 else baseline + d
    one_tail = (1.959963984540054 * math.sqrt(2 * baseline * (1 - baseline))
                + 0.8416212335729143 * math.sqrt(baseline * (1 - baseline) + p2 * (1 - p2))) ** 2 / d**2
    assert round(one_tail) == published and abs(one_tail - exact) < 0.1


def test_rounded_up_sizes() -> None:
    sizes = [sample_size_per_arm(baseline=p, mde=d, proportion_variance="evan_miller")
             for p, d, _ in PUBLISHED.values()]
    assert sizes == [25835, 27414, 39115]


def test_other_formulas_do_not_reproduce_the_calculator() -> None:
    pooled = [sample_size_per_arm(baseline=p, mde=d) for p, d, _ in PUBLISHED.values()]
    assert pooled == [26155, 27984, 39051]
    for method in ("pooled", "unpooled", "arcsine"):
        for p, d, published in PUBLISHED.values():
            exact = unrounded_sample_size_per_arm(baseline=p, mde=d, proportion_variance=method)
            assert round(exact) != published


def test_net_conversion_pageviews_and_mde() -> None:
    baseline, d, published = PUBLISHED["net_conversion"]
    exact = unrounded_sample_size_per_arm(baseline=baseline, mde=d, proportion_variance="evan_miller")
    assert round(round(exact) / CLICK_THROUGH * 2) == 685_325
    assert minimum_detectable_effect(published, baseline=baseline,
                                     proportion_variance="evan_miller") == pytest.approx(d, rel=1e-4)
    # 342,662.5 pageviews per group at 40,000 pageviews a day: 685,325 / 40,000 = 17.1, so 18 days
    assert duration_days(published / CLICK_THROUGH, 40_000) == 18


# -- the experiment's result from the daily CSVs ------------------------------------------------------


def test_totals_over_the_days_with_enrollments() -> None:
    assert len(CONTROL) == len(EXPERIMENT) == 37
    assert sum(1 for row in CONTROL if row["Enrollments"]) == 23
    assert (_total(CONTROL, "Clicks"), _total(EXPERIMENT, "Clicks")) == (17293, 17260)
    assert (_total(CONTROL, "Enrollments"), _total(EXPERIMENT, "Enrollments")) == (3785, 3423)
    assert (_total(CONTROL, "Payments"), _total(EXPERIMENT, "Payments")) == (2033, 1945)


def _conversion(column: str):
    clicks_c, clicks_e = _total(CONTROL, "Clicks"), _total(EXPERIMENT, "Clicks")
    control = Moments.from_proportion(_total(CONTROL, column), clicks_c)
    experiment = Moments.from_proportion(_total(EXPERIMENT, column), clicks_e)
    estimate = two_proportion_z_test(control, experiment)
    pooled = (control.mean * clicks_c + experiment.mean * clicks_e) / (clicks_c + clicks_e)
    pooled_se = math.sqrt(pooled * (1 - pooled) * (1 / clicks_c + 1 / clicks_e))
    return estimate, pooled_se


def test_gross_conversion_difference_and_interval() -> None:
    estimate, pooled_se = _conversion("Enrollments")
    assert (round(estimate.control_mean, 4), round(estimate.treatment_mean, 4)) == (0.2189, 0.1983)
    assert round(estimate.effect, 4) == -0.0206
    # the library's interval (unpooled Wald SE) and the course's (pooled SE) agree to 4 decimals
    assert (round(estimate.ci_low, 4), round(estimate.ci_high, 4)) == (-0.0291, -0.0120)
    margin = 1.959963984540054 * pooled_se
    assert (round(estimate.effect - margin, 4), round(estimate.effect + margin, 4)) == (-0.0291, -0.0120)
    assert estimate.p_value < 0.05


def test_net_conversion_difference_and_interval() -> None:
    estimate, pooled_se = _conversion("Payments")
    assert (round(estimate.control_mean, 4), round(estimate.treatment_mean, 4)) == (0.1176, 0.1127)
    assert round(estimate.effect, 4) == -0.0049
    assert (round(estimate.ci_low, 4), round(estimate.ci_high, 4)) == (-0.0116, 0.0019)
    margin = 1.959963984540054 * pooled_se
    assert (round(estimate.effect - margin, 4), round(estimate.effect + margin, 4)) == (-0.0116, 0.0019)
    assert estimate.p_value > 0.05
