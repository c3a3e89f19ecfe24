"""Data-quality checks, each a :class:`Check` with its numbers.

``error`` checks make the verdict ``invalid`` when they fail: sample ratio mismatch, too many
units exposed to several variants, a pre-exposure imbalance between arms. ``warning`` checks are
reported only: SRM within a segment, undeclared variants, future or far-too-early events,
duplicate events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from iterate.aggregation import Duplicates, EventTimes, ExposureCounts, GroupMoments
from iterate.config import Experiment, Metric
from iterate.result import Check
from iterate.stats import Estimate, delta_method_test, sample_ratio_mismatch, sequential_sample_ratio_mismatch


def srm_check(
    experiment: Experiment,
    observed: Mapping[str, int],
    variants: Sequence[str],
    *,
    name: str = "srm",
    scope: str = "",
    severity: str = "error",
    anytime_valid: bool = False,
) -> Check:
    """Sample ratio mismatch of units per variant against the planned split (Fabijan et al. 2019,
    "Diagnosing Sample Ratio Mismatch in Online Controlled Experiments"): Pearson's chi-square for
    one look, the anytime-valid Dirichlet-multinomial test (Lindon & Malek 2022) when the
    experiment is looked at again and again (``anytime_valid``), so that daily looks do not raise
    false alarms. With ``srm_min_deviation`` a mismatch also needs a share that far from its plan."""
    shares = experiment.expected_split or {variant: 1.0 for variant in variants}
    counts = {variant: int(observed.get(variant, 0)) for variant in variants}
    if sum(counts.values()) == 0 or sum(1 for c in counts.values() if c) < 1:
        return Check(name, True, f"{scope}no units to check", {}, severity)
    test = sequential_sample_ratio_mismatch if anytime_valid else sample_ratio_mismatch
    srm = test(counts, {v: shares[v] for v in variants}, threshold=experiment.srm_threshold)
    floor = experiment.srm_min_deviation
    practical = floor is None or srm.largest_deviation >= floor
    mismatch = srm.mismatch and practical
    observed_text = ", ".join(f"{v} {counts[v]:,}" for v in variants)
    expected_text = ", ".join(f"{v} {srm.expected_counts[v]:,.0f}" for v in variants)
    verdict = "sample ratio mismatch" if mismatch else "sample ratio as planned"
    statistic = (f"chi2 = {srm.statistic:.3f}" if not anytime_valid
                 else f"anytime-valid test, log Bayes factor = {srm.statistic:.3f}")
    floor_text = ""
    if floor is not None:
        floor_text = (f"; largest deviation from the plan {srm.largest_deviation:.2%}, "
                      f"{'at or above' if practical else 'below'} srm_min_deviation = {floor:.2%}")
    return Check(
        name=name,
        passed=not mismatch,
        message=(
            f"{scope}{verdict}: units {observed_text}; expected {expected_text}; {statistic}, "
            f"p = {srm.p_value:.3g} (flagged below {srm.threshold}){floor_text}"
        ),
        details={
            "statistic": srm.statistic, "df": srm.df, "p_value": srm.p_value, "threshold": srm.threshold,
            "observed": dict(srm.observed), "expected": dict(srm.expected_counts), "method": srm.method,
            "largest_deviation": srm.largest_deviation, "min_deviation": floor,
        },
        severity=severity,
    )


def segment_srm_checks(experiment: Experiment, counts: ExposureCounts, variants: Sequence[str], *,
                       anytime_valid: bool = False) -> list[Check]:
    """SRM within each value of each exposure segment (warnings: a segment can reveal a broken
    assignment on one platform that the overall check dilutes)."""
    checks = []
    for segment, by_value in counts.segment_units.items():
        failing, tested = [], 0
        for value, observed in sorted(by_value.items(), key=lambda item: (item[0] is None, item[0] or "")):
            check = srm_check(experiment, observed, variants, name=f"srm:{segment}={value}",
                              scope=f"{segment} = {value}: ", severity="warning", anytime_valid=anytime_valid)
            tested += 1
            if not check.passed:
                failing.append(check)
        checks += failing
        if not failing:
            checks.append(Check(f"srm:{segment}", True, f"sample ratio as planned in each of {tested} {segment} values",
                                {"values": tested}, "warning"))
    return checks


def multiple_exposure_check(experiment: Experiment, counts: ExposureCounts) -> Check:
    """Share of units exposed to more than one variant (excluded from the metrics)."""
    total = sum(counts.units.values()) + counts.multiple_variant_units
    share = counts.multiple_variant_units / total if total else 0.0
    passed = share <= experiment.multiple_exposure_threshold
    return Check(
        name="multiple_exposures",
        passed=passed,
        message=(
            f"{counts.multiple_variant_units:,} of {total:,} units ({share:.2%}) were exposed to several variants "
            f"and are excluded; {'within' if passed else 'above'} the {experiment.multiple_exposure_threshold:.2%} limit"
        ),
        details={"units": counts.multiple_variant_units, "share": share, "threshold": experiment.multiple_exposure_threshold},
    )


def unknown_variant_check(counts: ExposureCounts, variants: Sequence[str]) -> Check:
    """Units in variants the configuration does not declare (excluded, reported)."""
    unknown = {variant: units for variant, units in counts.units.items() if variant not in variants}
    if not unknown:
        return Check("unknown_variants", True, "every exposed variant is declared", {}, "warning")
    listed = ", ".join(f"{variant} ({units:,} units)" for variant, units in sorted(unknown.items()))
    return Check(
        "unknown_variants", False,
        f"undeclared variants in the exposures, excluded: {listed}; add them to expected_split to analyze them",
        {"variants": unknown}, "warning",
    )


def event_time_check(times: EventTimes) -> Check:
    """Events stamped in the future or more than a year before the experiment started."""
    details = {
        "first_event": times.first_event, "last_event": times.last_event,
        "future_events": times.future_events, "early_events": times.early_events,
    }
    if not times.future_events and not times.early_events:
        return Check("event_times", True, "no event is stamped in the future or long before the experiment", details, "warning")
    return Check(
        "event_times", False,
        f"{times.future_events:,} event(s) stamped after the analysis time and {times.early_events:,} more than a "
        f"year before the first exposure (before {times.early_before}); check the clocks of the clients that send them",
        details, "warning",
    )


def duplicate_check(duplicates: Duplicates) -> Check:
    """Events repeated with the same unit, name and timestamp (double-logging inflates counts)."""
    details = {"duplicate_groups": duplicates.groups, "extra_rows": duplicates.extra_rows}
    if not duplicates.checked:
        return Check("duplicate_events", True, "duplicate events not counted on this large log (an extra scan); "
                     "set check_duplicates = true to count them", details, "warning")
    if not duplicates.groups:
        return Check("duplicate_events", True, "no duplicate events among those the metrics read", details, "warning")
    return Check(
        "duplicate_events", False,
        f"{duplicates.groups:,} event(s) logged more than once with the same unit, name and timestamp "
        f"({duplicates.extra_rows:,} extra rows) among those the metrics read; count and mean metrics include them",
        details, "warning",
    )


def _pre_exposure_test(metric: Metric) -> Callable[..., Estimate]:
    """The test of a metric's pre-exposure values: its kind's test on the same metric before
    exposure; a covariate column is a per-unit number of any scale, compared as a mean (Welch's
    test, the delta method with denominator 1), whatever the metric's kind."""
    return delta_method_test if metric.covariate is not None else metric.kind.test


def _pre_period_words(pre_period: str | None) -> str:
    return "before exposure" if pre_period is None else f"in the {pre_period} before exposure"


def pre_exposure_check(experiment: Experiment, groups: Sequence[GroupMoments], variants: Sequence[str]) -> Check:
    """Imbalance of the metrics between arms before exposure: a difference there means the
    assignment or the logging is broken (a pre-period A/A test; Deng et al. 2013 use the same
    pre-period for CUPED)."""
    overall = {(g.metric, g.variant): g for g in groups if g.segment is None and g.pre_moments is not None}
    findings, tested = [], 0
    for metric in experiment.metrics:
        control = overall.get((metric.name, variants[0]))
        if control is None:
            continue
        for variant in variants[1:]:
            treated = overall.get((metric.name, variant))
            if treated is None:
                continue
            estimate = _pre_exposure_test(metric)(control.pre_moments, treated.pre_moments, alternative="two-sided",
                                                  alpha=experiment.alpha)
            tested += 1
            if estimate.p_value is not None and estimate.p_value < experiment.imbalance_threshold:
                findings.append(f"{metric.name} ({variant}): effect {estimate.effect:+.4g} before exposure, "
                                f"p = {estimate.p_value:.3g}")
    details = {"tests": tested, "threshold": experiment.imbalance_threshold, "pre_period": experiment.pre_period}
    if findings:
        return Check("pre_exposure_imbalance", False,
                     "the arms already differed before exposure: " + "; ".join(findings), details)
    if experiment.pre_period is None and not tested:
        return Check("pre_exposure_imbalance", True,
                     "no pre-exposure period is compared (pre_period = false)", details)
    return Check("pre_exposure_imbalance", True,
                 f"no metric differs between arms {_pre_period_words(experiment.pre_period)} "
                 f"({tested} test(s), flagged below p = {experiment.imbalance_threshold})", details)
