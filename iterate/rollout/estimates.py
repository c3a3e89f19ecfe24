"""The rows of a staged ramp, from per-stage moments: each stage's own test, the pooled effect
stratified by stage (anytime-valid, guardrails tested for non-inferiority) and the naive pooled
effect beside it.

Pure: moments in, :class:`~iterate.result.MetricResult` rows out. The tests are the metric kinds'
own (:func:`iterate.comparisons.compare`), the stratification is
:func:`iterate.stats.stratified.stratified_effect`, the anytime-valid reading and the
non-inferiority test are :func:`iterate.inference.with_sequential` and
:func:`iterate.comparisons.with_noninferiority`.

The pooled row of a metric and variant combines the stages where both arms have an effect (a
stage with fewer than 2 units in an arm has none and is left out, its weight with it):

- ``effect = sum_s w_s d_s``, ``w_s = n_s / N`` with ``n_s`` the stage's units with a value of the
  metric (both arms) and ``N`` their sum over the stages combined; ``std_error = sqrt(sum_s w_s^2
  se_s^2)`` (Miratrix, Sekhon & Yu 2013, eqs. 2 and 6);
- ``control_mean = sum_s w_s c_s`` and ``treatment_mean = sum_s w_s t_s``, the stratified arm
  means; ``relative_effect = effect / control_mean`` (left out when that mean is not positive);
- the p-value and interval are the always-valid ones of the normal reference (mSPRT or confidence
  sequence, ``[experiment] sequential_method``), so the ramp can be checked after every batch of
  data; relative intervals are fixed-horizon quantities and left out, as under ``sequential``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import reduce

from iterate.aggregation import GroupMoments
from iterate.comparisons import compare, overall_rows, with_family_corrections, with_noninferiority
from iterate.config import Experiment, Metric
from iterate.decision import classify
from iterate.evidence import with_no_data
from iterate.inference import with_sequential
from iterate.result import MetricResult
from iterate.stats import RatioMoments, interval_and_p_value
from iterate.stats.stratified import stratified_effect

STAGE_SEGMENT = "stage"
"""The ``segment`` of the per-stage rows (their ``segment_value`` is the stage's label)."""

StageGroups = Mapping[tuple[str, str, str], GroupMoments]
"""Moments by ``(stage label, metric, variant)``."""


def anytime_valid(experiment: Experiment) -> Experiment:
    """The experiment read with anytime-valid inference (a ramp is checked after every batch)."""
    return experiment.replace(sequential=True, looks=None)


def stage_rows(experiment: Experiment, variants: Sequence[str], groups: StageGroups,
               labels: Sequence[str]) -> list[MetricResult]:
    """Each stage's own comparison of every metric, treatment against control within the stage
    (the metric kind's fixed-horizon test), for the stages where both arms have units."""
    control, rows = variants[0], []
    for label in labels:
        for variant in variants[1:]:
            for metric in experiment.metrics:
                baseline, treated = groups.get((label, metric.name, control)), groups.get((label, metric.name, variant))
                if baseline is None or treated is None or not baseline.moments.n or not treated.moments.n:
                    continue
                row = compare(metric, variant, baseline.moments, treated.moments, experiment,
                              control_group=baseline, treatment_group=treated)
                rows.append(replace(row, segment=STAGE_SEGMENT, segment_value=label))
    return rows


def pooled_rows(experiment: Experiment, variants: Sequence[str], per_stage: Sequence[MetricResult],
                labels: Sequence[str], no_data: Mapping[str, str]) -> list[MetricResult]:
    """The stratified, anytime-valid row of every metric and treatment variant over the stages
    ``labels`` (see the module docstring), family-corrected like :func:`iterate.comparisons.overall_rows`
    and with guardrails' non-inferiority; metrics in ``no_data`` (name -> why) are ``no_data``."""
    monitored = anytime_valid(experiment)
    chosen = set(labels)
    rows = []
    for variant in variants[1:]:
        for metric in experiment.metrics:
            strata = [row for row in per_stage if row.variant == variant and row.name == metric.name
                      and row.segment_value in chosen]
            rows.append(_stratified_row(metric, variant, strata, monitored))
    rows = [with_sequential(row, monitored) for row in rows]
    rows = with_family_corrections(rows, experiment.correction)
    metrics = {metric.name: metric for metric in experiment.metrics}
    rows = [with_noninferiority(row, metrics[row.name], monitored) for row in rows]
    return with_no_data(rows, no_data)


def naive_rows(experiment: Experiment, variants: Sequence[str], groups: Sequence[GroupMoments]) -> list[MetricResult]:
    """The unstratified rows: arms pooled over all stages and compared as one experiment, as a
    naive analysis would (biased when the allocation and the baseline change over the ramp)."""
    return overall_rows(experiment, variants, [g for g in groups if g.segment is None], {})


def cumulative_moments(groups: StageGroups, labels: Sequence[str], metric: str, variant: str) -> RatioMoments | None:
    """The moments of ``metric`` in ``variant`` over the stages ``labels`` (``a + b`` of the stages'
    moments, Chan, Golub & LeVeque 1979), ``None`` when no stage has them."""
    parts = [groups[(label, metric, variant)].moments for label in labels if (label, metric, variant) in groups]
    return reduce(lambda a, b: a + b, parts) if parts else None


def _stratified_row(metric: Metric, variant: str, strata: Sequence[MetricResult], experiment: Experiment) -> MetricResult:
    """The post-stratified row over the stages whose own row has an effect and a standard error."""
    usable = [row for row in strata if row.effect is not None and row.std_error is not None
              and row.control_mean is not None and row.treatment_mean is not None]
    n_control = sum(row.n_control for row in strata)
    n_treatment = sum(row.n_treatment for row in strata)
    method = f"stratified({strata[0].method})" if strata else "stratified"
    empty = dict(effect=None, ci_low=None, ci_high=None, p_value=None, p_value_adjusted=None, std_error=None,
                 control_mean=None, treatment_mean=None, relative_effect=None)
    if not usable:
        status = strata[-1].status if strata else "too_few_units"
        return _row(metric, variant, method, status, n_control, n_treatment, experiment.alpha, strata, **empty)
    estimate = stratified_effect([row.effect for row in usable], [row.std_error for row in usable],
                                 [row.n_control + row.n_treatment for row in usable],
                                 control_means=[row.control_mean for row in usable],
                                 treatment_means=[row.treatment_mean for row in usable])
    relative = estimate.effect / estimate.control_mean if estimate.control_mean and estimate.control_mean > 0 else None
    if estimate.std_error > 0:
        ci_low, ci_high, _, p_value = interval_and_p_value(estimate.effect, estimate.std_error,
                                                           alternative="two-sided", alpha=experiment.alpha)
        status = "ok"
    else:
        ci_low = ci_high = p_value = None
        status = "zero_variance"
    return _row(metric, variant, method, status, n_control, n_treatment, experiment.alpha, strata,
                effect=estimate.effect, ci_low=ci_low, ci_high=ci_high, p_value=p_value, p_value_adjusted=p_value,
                std_error=estimate.std_error, control_mean=estimate.control_mean,
                treatment_mean=estimate.treatment_mean, relative_effect=relative)


def _row(metric: Metric, variant: str, method: str, status: str, n_control: int, n_treatment: int, alpha: float,
         strata: Sequence[MetricResult], **numbers) -> MetricResult:
    return MetricResult(
        name=metric.name, variant=variant, role=metric.role, type=metric.type, direction=metric.direction,
        method=method, status=status, n_control=n_control, n_treatment=n_treatment,
        relative_ci_low=None, relative_ci_high=None, alpha=alpha,
        outcome=classify(metric.direction, numbers["effect"], numbers["p_value"], alpha),
        missing_control=sum(row.missing_control for row in strata),
        missing_treatment=sum(row.missing_treatment for row in strata),
        missing_units=sum(row.missing_units for row in strata),
        relative_status="not_tested" if numbers["relative_effect"] is not None or numbers["control_mean"] is None
        or numbers["control_mean"] > 0 else "control_not_positive",
        **numbers,
    )

