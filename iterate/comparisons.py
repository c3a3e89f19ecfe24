"""From per-variant moments to comparison rows: the test each metric's kind declares, multiplicity
corrections, and per-segment breakdowns with a heterogeneity test.

Pure: moments in, rows out; the statistics themselves live in :mod:`iterate.stats`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from iterate.aggregation import GroupMoments
from iterate.config import Experiment, Metric
from iterate.decision import classify
from iterate.inference import look_alpha, with_bayesian, with_look_alpha, with_sequential
from iterate.result import Heterogeneity, MetricResult
from iterate.stats import Estimate, QuantileSummary, RatioMoments, adjust_p_values, interval_and_p_value


def compare(
    metric: Metric,
    variant: str,
    control: RatioMoments | QuantileSummary,
    treatment: RatioMoments | QuantileSummary,
    experiment: Experiment,
    *,
    control_group: GroupMoments | None = None,
    treatment_group: GroupMoments | None = None,
) -> MetricResult:
    """One metric row: ``variant`` against control, two-sided at the experiment's alpha.

    With CUPED (both arms carry joint moments with their covariate), the row holds the adjusted
    estimate (Deng et al. 2013) and the unadjusted effect beside it.

    The relative effect ``treatment / control - 1`` is left out (``None``, with its interval) when
    the control mean is not positive: divided by a negative mean, a loss reads as a gain and a gain
    as a loss (-26.27 to -31.00 is an effect of -4.73, yet "+18%"), and near zero it is unbounded. The
    absolute effect, its interval and its test are unchanged. (Rather than a relative effect on
    ``|control|``, which would be a new quantity with its own interval: no number is the
    conservative choice.)
    """
    cuped = None
    if control_group is not None and treatment_group is not None and control_group.joint and treatment_group.joint:
        from iterate.stats.cuped import cuped_test  # NumPy, imported only when CUPED is on

        cuped = cuped_test(control_group.joint, treatment_group.joint, alternative="two-sided", alpha=experiment.alpha)
    if cuped is not None and cuped.adjusted:
        estimate: Estimate = cuped
    else:
        estimate = metric.kind.test(control, treatment, alternative="two-sided", alpha=experiment.alpha)
    relative = estimate.control_mean is None or estimate.control_mean > 0
    n_control = control.n_units if isinstance(control, QuantileSummary) else control.n
    n_treatment = treatment.n_units if isinstance(treatment, QuantileSummary) else treatment.n
    missing_control = 0 if control_group is None else control_group.missing_units
    missing_treatment = 0 if treatment_group is None else treatment_group.missing_units
    return MetricResult(
        name=metric.name,
        variant=variant,
        role=metric.role,
        type=metric.type,
        direction=metric.direction,
        method=estimate.method,
        status=estimate.status,
        n_control=n_control,
        n_treatment=n_treatment,
        control_mean=estimate.control_mean,
        treatment_mean=estimate.treatment_mean,
        effect=estimate.effect,
        ci_low=estimate.ci_low,
        ci_high=estimate.ci_high,
        relative_effect=estimate.relative_effect if relative else None,
        relative_ci_low=estimate.relative_ci_low if relative else None,
        relative_ci_high=estimate.relative_ci_high if relative else None,
        relative_status=estimate.relative_status if relative else "control_not_positive",
        p_value=estimate.p_value,
        p_value_adjusted=estimate.p_value,
        std_error=estimate.std_error,
        alpha=experiment.alpha,
        outcome=classify(metric.direction, estimate.effect, estimate.p_value, experiment.alpha),
        missing_units=missing_control + missing_treatment,
        missing_control=missing_control,
        missing_treatment=missing_treatment,
        capped_units=0 if treatment_group is None else treatment_group.capped_units,
        cap=None if treatment_group is None else treatment_group.cap,
        segment=None if treatment_group is None else treatment_group.segment,
        segment_value=None if treatment_group is None else treatment_group.segment_value,
        unadjusted_effect=None if cuped is None else cuped.unadjusted.effect,
        unadjusted_std_error=None if cuped is None else cuped.unadjusted.std_error,
        variance_reduction=None if cuped is None or not cuped.adjusted else cuped.variance_reduction,
    )


def with_correction(rows: Sequence[MetricResult], correction: str) -> list[MetricResult]:
    """Rows with ``p_value_adjusted`` over the whole family and outcomes judged on it.

    Holm (1979) controls the family-wise error rate, Benjamini & Hochberg (1995) the false
    discovery rate; ``none`` keeps the raw p-values.
    """
    if correction == "none" or not rows:
        return list(rows)
    adjusted = adjust_p_values([row.p_value for row in rows], method=correction)
    return [
        replace(row, p_value_adjusted=p, outcome=classify(row.direction, row.effect, p, row.alpha))
        for row, p in zip(rows, adjusted)
    ]


def with_family_corrections(rows: Sequence[MetricResult], correction: str) -> list[MetricResult]:
    """Correct success metrics and harm metrics (guardrails, deteriorations) as separate families.

    Schultzberg et al. (2024): the alpha of the ship decision is corrected over the success metrics
    only; guardrails are tested for non-inferiority at the full alpha. The harm tests of guardrails
    and deteriorations form their own corrected family, so a long list of guardrails does not
    produce spurious rollbacks.
    """
    success = [i for i, row in enumerate(rows) if row.role == "success"]
    harm = [i for i, row in enumerate(rows) if row.role != "success"]
    corrected = list(rows)
    for family in (success, harm):
        for i, row in zip(family, with_correction([rows[i] for i in family], correction)):
            corrected[i] = row
    return corrected


def with_noninferiority(row: MetricResult, metric: Metric, experiment: Experiment) -> MetricResult:
    """A guardrail row with its one-sided non-inferiority test against the metric's margin.

    H0: the effect is worse than the margin M in the bad direction; H1: it is not (Schultzberg et
    al. 2024, section 3; Chow, Shao & Wang 2008, section 3.2.2). A relative margin is converted to
    the metric's units with the control mean. Tested at the full alpha with a normal reference;
    at a group-sequential look, at the look's nominal alpha; under anytime-valid inference, with
    the always-valid test of the shifted effect (the two-sided mSPRT / confidence sequence of
    ``effect + M``, conservative for the one-sided claim), so that peeking cannot ship a degraded
    guardrail.
    """
    if metric.role != "guardrail" or metric.margin is None or row.effect is None or row.control_mean is None:
        return row
    margin = metric.margin * abs(row.control_mean) if metric.margin_type == "relative" else metric.margin
    toward_good = row.effect if row.direction == "increase" else -row.effect
    if not row.std_error:
        return replace(row, noninferiority_margin=margin, noninferior=toward_good > -margin)
    alpha = row.decision_alpha or row.alpha
    if experiment.sequential:
        shifted = replace(row, effect=toward_good + margin)
        p_value = with_sequential(shifted, experiment).p_value
        return replace(row, noninferiority_margin=margin, noninferiority_p_value=p_value,
                       noninferior=toward_good + margin > 0 and p_value < alpha)
    _, _, _, p_value = interval_and_p_value(toward_good + margin, row.std_error, alternative="greater", alpha=alpha)
    return replace(row, noninferiority_margin=margin, noninferiority_p_value=p_value, noninferior=p_value < alpha)


def overall_rows(
    experiment: Experiment,
    variants: Sequence[str],
    groups: Sequence[GroupMoments],
    quantiles: Mapping[str, Mapping[str, QuantileSummary]],
) -> list[MetricResult]:
    """Every metric against control for every treatment variant, corrected over the family."""
    overall = {(g.metric, g.variant): g for g in groups if g.segment is None}
    control = experiment.control if experiment.control in variants else variants[0]
    rows = []
    for variant in variants:
        if variant == control:
            continue
        for metric in experiment.metrics:
            if not metric.kind.per_unit:
                summaries = quantiles[metric.name]
                rows.append(compare(metric, variant, summaries[control], summaries[variant], experiment))
            else:
                baseline, treated = overall[(metric.name, control)], overall[(metric.name, variant)]
                rows.append(compare(metric, variant, baseline.moments, treated.moments, experiment,
                                    control_group=baseline, treatment_group=treated))
    if experiment.sequential:
        rows = [with_sequential(row, experiment) for row in rows]
    rows = with_family_corrections(rows, experiment.correction)
    analyzed = sum(g.moments.n + g.missing_units for g in groups
                   if g.segment is None and experiment.metrics and g.metric == groups[0].metric)
    look = look_alpha(experiment, analyzed)
    if look is not None:
        rows = with_look_alpha(rows, look[0])
    metrics = {metric.name: metric for metric in experiment.metrics}
    rows = [with_noninferiority(row, metrics[row.name], experiment) for row in rows]
    if experiment.inference in ("bayesian", "both"):
        rows = [with_bayesian(row, experiment) for row in rows]
    return rows


def pairwise_rows(
    experiment: Experiment,
    variants: Sequence[str],
    groups: Sequence[GroupMoments],
    quantiles: Mapping[str, Mapping[str, QuantileSummary]],
) -> dict[tuple[str, str], MetricResult]:
    """Every treatment arm against every other on the first success metric, keyed ``(arm, other)``.

    The row of ``(arm, other)`` is :func:`compare` with ``other`` in the place of control: the
    metric kind's own test (CUPED-adjusted when both arms carry their covariate moments, as against
    control), always-valid under sequential inference. The p-values are raw: the decision
    corrects them for the number of pairs (:func:`iterate.decision.recommend`). Empty with fewer
    than two treatment arms or without a success metric.
    """
    metric = next((metric for metric in experiment.metrics if metric.role == "success"), None)
    control = experiment.control if experiment.control in variants else variants[0]
    arms = [variant for variant in variants if variant != control]
    if metric is None or len(arms) < 2:
        return {}
    rows = {}
    overall = {g.variant: g for g in groups if g.segment is None and g.metric == metric.name}
    for arm in arms:
        for other in arms:
            if arm == other:
                continue
            if not metric.kind.per_unit:
                summaries = quantiles[metric.name]
                row = compare(metric, arm, summaries[other], summaries[arm], experiment)
            else:
                row = compare(metric, arm, overall[other].moments, overall[arm].moments, experiment,
                              control_group=overall[other], treatment_group=overall[arm])
            rows[(arm, other)] = with_sequential(row, experiment) if experiment.sequential else row
    return rows


def segment_rows(
    experiment: Experiment, variants: Sequence[str], groups: Sequence[GroupMoments]
) -> tuple[list[MetricResult], list[Heterogeneity]]:
    """Per-segment rows (corrected over all segments, metrics and variants) and heterogeneity tests.

    A segment value is flagged when its effect differs from the pooled effect of the other values
    (two-sided z at alpha, Holm-corrected within the metric, variant and segment column).
    """
    by_key = {(g.metric, g.variant, g.segment, g.segment_value): g for g in groups if g.segment is not None}
    rows: list[MetricResult] = []
    for segment in experiment.segments:
        values = sorted({g.segment_value for g in groups if g.segment == segment}, key=lambda v: (v is None, v))
        for variant in variants[1:]:
            for metric in experiment.metrics:
                if not metric.kind.per_unit:
                    continue
                for value in values:
                    control = by_key.get((metric.name, variants[0], segment, value))
                    treated = by_key.get((metric.name, variant, segment, value))
                    if control is None or treated is None:
                        continue
                    rows.append(compare(metric, variant, control.moments, treated.moments, experiment,
                                        control_group=control, treatment_group=treated))
    rows = with_correction(rows, experiment.correction)

    tests: list[Heterogeneity] = []
    flagged_rows: dict[int, tuple[float | None, bool]] = {}
    families: dict[tuple[str, str, str], list[int]] = {}
    for position, row in enumerate(rows):
        families.setdefault((row.name, row.variant, row.segment), []).append(position)
    for (name, variant, segment), positions in families.items():
        from iterate.stats.heterogeneity import heterogeneity_test, segment_deviations  # NumPy: only with segments

        effects = [rows[p].effect for p in positions]
        errors = [rows[p].std_error for p in positions]
        q = heterogeneity_test(effects, errors)
        deviations = segment_deviations(effects, errors)
        raw = [None if d is None else d.p_value for d in deviations]
        adjusted = adjust_p_values(raw, method="holm")
        flagged = []
        for p, deviation_p in zip(positions, adjusted):
            is_flagged = deviation_p is not None and deviation_p < experiment.alpha
            flagged_rows[p] = (deviation_p, is_flagged)
            if is_flagged:
                flagged.append(rows[p].segment_value)
        tests.append(Heterogeneity(
            metric=name, variant=variant, segment=segment, statistic=q.statistic, df=q.df, p_value=q.p_value,
            i_squared=q.i_squared, flagged_values=tuple(flagged),
        ))
    rows = [
        replace(row, deviation_p_value=flagged_rows.get(i, (None, False))[0], flagged=flagged_rows.get(i, (None, False))[1])
        for i, row in enumerate(rows)
    ]
    return rows, tests
