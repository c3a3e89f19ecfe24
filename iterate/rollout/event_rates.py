"""Event-rate regressions in a ramp: the anytime-valid test for counting processes, stratified by stage.

A metric whose kind is a counting process (events per unit of exposure time, e.g. crashes per
user-hour: ``MetricKind.counting_process``) is judged, besides its stratified row, by
:func:`iterate.stats.rates.stratified_rate_test` (Lindon & Malek 2022; Lindon, Sanden &
Shirikian 2022): within each stage, the treatment's share of the stage's events is compared with
its share of the stage's exposure hours, and the stages' Bayes factors multiply. The test is
one-sided in the metric's bad direction (``greater`` for ``direction = "decrease"``, ``less`` for
``"increase"``), without tolerance: a regression shown (anytime-valid ``p <= alpha``) is harm and
rolls the ramp back, however often it is checked.

Pure: the per-stage sums come from the moments of the one unit-metrics scan (``sum = mean * n``
of the per-unit counts and of the per-unit exposure hours), never from a second scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from iterate.config import Experiment
from iterate.rollout.estimates import StageGroups
from iterate.stats.rates import StratifiedRateTest, stratified_rate_test


@dataclass(frozen=True, slots=True)
class StageRate:
    """The sums of one stage that the rate test reads.

    Attributes:
        stage: The stage's label.
        control_events: Events of the stage's control units.
        control_hours: Exposure hours of the stage's control units.
        treatment_events: Events of the stage's treatment units.
        treatment_hours: Exposure hours of the stage's treatment units.
        log_bayes_factor: The stage's own ``log BF`` (0 while it carries no evidence).
    """

    stage: str
    control_events: int
    control_hours: float
    treatment_events: int
    treatment_hours: float
    log_bayes_factor: float


@dataclass(frozen=True, slots=True)
class RateRegressionTest:
    """The anytime-valid rate test of one metric and treatment variant over the stages judged.

    Attributes:
        metric: The metric's name.
        variant: The treatment variant.
        role: The metric's role.
        direction: The metric's good direction.
        stages: Each stage's sums and Bayes factor.
        test: The stratified test (rate ratio, confidence sequence, log Bayes factor, p-value).
    """

    metric: str
    variant: str
    role: str
    direction: str
    stages: tuple[StageRate, ...]
    test: StratifiedRateTest


def stage_sums(groups: StageGroups, stage: str, metric: str, variant: str) -> tuple[int, float]:
    """The events and exposure hours of ``variant``'s units of ``stage`` (``n * mean`` of the per-unit
    counts and hours; 0 for a stage without units of the variant)."""
    group = groups.get((stage, metric, variant))
    if group is None or not group.moments.n:
        return 0, 0.0
    moments = group.moments
    return round(moments.n * moments.numerator_mean), moments.n * moments.denominator_mean


def rate_tests(experiment: Experiment, variants: Sequence[str], groups: StageGroups,
               labels: Sequence[str]) -> list[RateRegressionTest]:
    """The rate test of every counting-process metric and treatment variant over the stages ``labels``."""
    if len(variants) < 2 or not labels:
        return []
    control, found = variants[0], []
    for variant in variants[1:]:
        for metric in experiment.metrics:
            if not metric.kind.counting_process:
                continue
            strata = [(*stage_sums(groups, label, metric.name, control), *stage_sums(groups, label, metric.name, variant))
                      for label in labels]
            alternative = "greater" if metric.direction == "decrease" else "less"
            test = stratified_rate_test(strata, alpha=experiment.alpha, alternative=alternative)
            stages = tuple(StageRate(label, *stratum, log_bf)
                           for label, stratum, log_bf in zip(labels, strata, test.stratum_log_bayes_factors, strict=True))
            found.append(RateRegressionTest(metric.name, variant, metric.role, metric.direction, stages, test))
    return found


def describe(rate: RateRegressionTest) -> str:
    """The test's numbers in words: rate ratio, its interval, log Bayes factor and p-value."""
    test = rate.test
    if test.status != "ok":
        return f"no rate test yet ({test.message})"
    ratio = "n/a (no control event)" if test.rate_ratio is None else f"{test.rate_ratio:.3g}"
    interval = ("empty: the stages' ratios disagree" if test.ci_low is None
                else f"{test.ci_low:.3g} to {test.ci_high:.3g}")
    return (f"rate ratio {ratio} ({1 - test.alpha:.0%} anytime-valid interval {interval}), "
            f"{test.treatment_events:,} treatment events in {test.treatment_exposure:,.1f} h against "
            f"{test.control_events:,} in {test.control_exposure:,.1f} h, log Bayes factor {test.log_bayes_factor:.3g}, "
            f"anytime-valid p = {test.p_value:.3g} ({test.alternative}, stratified over {len(rate.stages)} stage(s))")


def numbers(rate: RateRegressionTest) -> dict[str, object]:
    """The numbers of the test for the decision trace."""
    test = rate.test
    return {
        "method": test.method, "alternative": test.alternative, "status": test.status, "rate_ratio": test.rate_ratio,
        "ci_low": test.ci_low, "ci_high": test.ci_high, "log_bayes_factor": test.log_bayes_factor,
        "p_value": test.p_value, "control_events": test.control_events, "control_hours": test.control_exposure,
        "treatment_events": test.treatment_events, "treatment_hours": test.treatment_exposure,
        "stages": [stage.stage for stage in rate.stages],
    }
