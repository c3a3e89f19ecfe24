"""One analysis, end to end: ingest -> sql -> stats -> decision -> result.

Example:
    >>> import iterate
    >>> result = iterate.analyze("sample_data/experiment.toml")  # doctest: +SKIP
    >>> result.verdict, result.exit_code  # doctest: +SKIP
    ('ship', 0)
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from iterate import aggregation
from iterate.config import Experiment, Metric, Source, load_config
from iterate.decision import classify, decide
from iterate.engine import connect
from iterate.errors import ConfigError, DataError
from iterate.ingest import prepare_logs
from iterate.result import AnalysisResult, Check, MetricResult
from iterate.stats import Estimate, Moments, sample_ratio_mismatch, two_proportion_z_test, welch_t_test


def analyze(config: Experiment | str | Path, *, events: Any = None, exposures: Any = None) -> AnalysisResult:
    """Analyze an experiment and decide: ship, rollback, continue or invalid.

    Args:
        config: An :class:`~iterate.config.Experiment` or the path of its TOML file.
        events: Events log overriding the configured one: a path / glob / folder, a
            :class:`~iterate.config.Source`, or a polars / Arrow / pandas frame.
        exposures: Exposures log overriding the configured one (same kinds as ``events``).

    Raises:
        ConfigError: the configuration is invalid.
        DataError: a log is unreadable or breaks the data contract.
    """
    experiment = config if isinstance(config, Experiment) else load_config(config)
    if not isinstance(experiment, Experiment):
        raise ConfigError(f"expected an Experiment or a TOML path, got {type(config).__name__}")
    events = _as_source(events) if events is not None else experiment.events
    exposures = _as_source(exposures) if exposures is not None else experiment.exposures

    with connect() as con, _engine_errors_as_data_errors():
        logs = prepare_logs(con, experiment, events, exposures)
        exposed = aggregation.build_exposed_units(con, experiment, logs)
        counts = aggregation.count_exposures(con, exposed)
        if not counts.units and logs.has_experiment_column:
            found = aggregation.experiments_in_exposures(con, logs)
            raise DataError(
                f"{logs.exposures.label}: no exposure of experiment `{experiment.name}`; experiments found: "
                f"{', '.join(found) or 'none'}. Fix [experiment] name or the exposures log"
            )
        variants = _check_variants(experiment, counts, logs.exposures.label)
        moments = aggregation.variant_moments(con, experiment, logs, exposed)

    checks = (_srm_check(experiment, counts, variants),)
    rows = tuple(
        _compare(metric, variant, moments.moments[metric.name], experiment)
        for variant in variants[1:]
        for metric in experiment.metrics
    )
    decision = decide(rows, checks)
    return AnalysisResult(
        experiment=experiment.name,
        verdict=decision.verdict,
        reasons=decision.reasons,
        checks=checks,
        metric_results=rows,
        variant_verdicts=decision.variant_verdicts,
        units={variant: counts.units.get(variant, 0) for variant in variants},
        excluded_units={"multiple_variants": counts.multiple_variant_units},
        alpha=experiment.alpha,
        window=experiment.window,
        control=experiment.control,
    )


@contextmanager
def _engine_errors_as_data_errors() -> Iterator[None]:
    """A log that turns out unreadable mid-scan (a malformed CSV row, a corrupt Parquet page) is a data error."""
    import duckdb

    try:
        yield
    except (duckdb.IOException, duckdb.InvalidInputException, duckdb.ConversionException) as error:
        first_line = str(error).strip().splitlines()[0]
        raise DataError(f"the engine could not read the input logs: {first_line}; fix or remove the offending file") from None


def _as_source(value: Any) -> Any:
    return Source(path=str(value)) if isinstance(value, (str, Path)) else value


def _check_variants(experiment: Experiment, counts: aggregation.ExposureCounts, label: str) -> tuple[str, ...]:
    """Variants to analyze, control first; unknown or empty variants are input errors."""
    observed = {variant for variant, units in counts.units.items()}
    declared = experiment.variants
    problems = []
    if declared is None:
        others = sorted(observed - {experiment.control})
        variants = (experiment.control, *others)
        if experiment.control not in observed:
            problems.append(
                f"{label}: the control variant `{experiment.control}` has no exposed unit; variants found: "
                f"{', '.join(sorted(observed)) or 'none'}. Fix [experiment] control"
            )
        elif not others:
            problems.append(f"{label}: only the control variant `{experiment.control}` is exposed; there is nothing to compare")
    else:
        variants = declared
        unknown = sorted(observed - set(declared))
        if unknown:
            problems.append(
                f"{label}: unknown variant(s) {', '.join(unknown)} in the exposures (declared in expected_split: "
                f"{', '.join(declared)}); add them to [experiment] expected_split or remove their rows"
            )
        for variant in declared:
            if counts.units.get(variant, 0) == 0:
                problems.append(
                    f"{label}: variant `{variant}` has no exposed unit (after excluding units exposed to several "
                    "variants); check the variant name in expected_split and the exposures log"
                )
    if problems:
        raise DataError("the variants of the exposures do not match the experiment:", problems)
    return variants


def _srm_check(experiment: Experiment, counts: aggregation.ExposureCounts, variants: tuple[str, ...]) -> Check:
    shares = experiment.expected_split or {variant: 1.0 for variant in variants}
    observed = {variant: counts.units.get(variant, 0) for variant in variants}
    srm = sample_ratio_mismatch(observed, {v: shares[v] for v in variants}, threshold=experiment.srm_threshold)
    observed_text = ", ".join(f"{v} {observed[v]:,}" for v in variants)
    expected_text = ", ".join(f"{v} {srm.expected_counts[v]:,.0f}" for v in variants)
    verdict = "sample ratio mismatch" if srm.mismatch else "sample ratio as planned"
    return Check(
        name="srm",
        passed=not srm.mismatch,
        message=(
            f"{verdict}: units {observed_text}; expected {expected_text}; chi2 = {srm.statistic:.3f}, "
            f"p = {srm.p_value:.3g} (flagged below {srm.threshold})"
        ),
        details={
            "statistic": srm.statistic, "df": srm.df, "p_value": srm.p_value, "threshold": srm.threshold,
            "observed": dict(srm.observed), "expected": dict(srm.expected_counts),
        },
    )


def _compare(metric: Metric, variant: str, moments: dict[str, Moments], experiment: Experiment) -> MetricResult:
    control = moments[experiment.control]
    treatment = moments[variant]
    test = two_proportion_z_test if metric.type == "proportion" else welch_t_test
    estimate: Estimate = test(control, treatment, alternative="two-sided", alpha=experiment.alpha)
    return MetricResult(
        name=metric.name,
        variant=variant,
        role=metric.role,
        type=metric.type,
        direction=metric.direction,
        method=estimate.method,
        status=estimate.status,
        n_control=control.n,
        n_treatment=treatment.n,
        control_mean=estimate.control_mean,
        treatment_mean=estimate.treatment_mean,
        effect=estimate.effect,
        ci_low=estimate.ci_low,
        ci_high=estimate.ci_high,
        relative_effect=estimate.relative_effect,
        relative_ci_low=estimate.relative_ci_low,
        relative_ci_high=estimate.relative_ci_high,
        p_value=estimate.p_value,
        std_error=estimate.std_error,
        alpha=experiment.alpha,
        outcome=classify(metric.direction, estimate.effect, estimate.p_value, experiment.alpha),
    )
