"""Summary statistics in, verdict out: the analysis of per-variant moments computed anywhere.

A warehouse (or Spark, or any SQL engine) computes the moments of each metric per variant; this
module reads them from a CSV, Parquet or JSON file and hands them to the same statistics, checks
and decision as an analysis of the logs (:func:`iterate.analysis._decide`), so the events never
leave the warehouse and the report is the one a normal analysis gives.

Schema (one row per metric x variant, and per segment value when segments are configured):

=================  ==========  ========  ==========================================================
column             type        required  meaning
=================  ==========  ========  ==========================================================
``metric``         text        yes       metric name, as in the configuration
``variant``        text        yes       variant name
``n``              integer     yes       units with a value of the metric (``count(*)`` per group)
``mean_x``         float       yes       mean of the per-unit value ``x_i`` (numerator of a ratio)
``var_x``          float       yes       sample variance of ``x_i`` (``var_samp``, ddof 1; 0 if n<2)
``mean_y``         float       ratio     mean of the per-unit denominator ``y_i`` of a ratio metric
``var_y``          float       ratio     sample variance of ``y_i`` (ddof 1)
``cov_xy``         float       ratio     sample covariance of ``x_i`` and ``y_i`` (``covar_samp``)
``missing_units``  integer     no        units without a value (retention not yet observable...);
                                         0 when absent or null
``segment``        text        no        segment column of the row; null for all units
``segment_value``  text        no        the segment's value (null: units without one)
=================  ==========  ========  ==========================================================

Segment rows give the per-segment comparisons and the heterogeneity tests; the per-segment sample
ratio checks are not run (a file does not say whether a segment is a dimension of the exposures,
where the ratio is planned, or of the events, where the treatment may move it).

A row with a null ``segment`` is the metric over all units of the variant; the units of a variant
(sample ratio check) are its ``n + missing_units`` in those rows, equal for every metric. ``mean_y``
/ ``var_y`` / ``cov_xy`` are null (or absent) for metrics that are not ratios. A SQL query returns
the schema directly, e.g. for a mean metric over per-unit values ``value`` of table ``units``::

    SELECT 'revenue' AS metric, variant, count(value) AS n, avg(value) AS mean_x,
           coalesce(var_samp(value), 0) AS var_x, count(*) - count(value) AS missing_units
    FROM units GROUP BY variant

The ratio estimator and its delta-method variance (Deng, Knoblich & Lu 2018, eq. 3) need exactly
these moments; Welch's test of a mean needs ``n``, ``mean_x`` and ``var_x`` (Welch 1947).

What moments cannot carry is refused or reported: quantile metrics (a quantile is not a function of
moments) and CUPED (it needs the joint moments of the metric and its pre-exposure covariate, not in
this schema) are a ConfigError; the checks that read events (multiple exposures, pre-exposure
imbalance, events joining exposures, event times, duplicate events) are reported as not run, as
failed warnings whose details say ``not_run`` (never as passed), and do not change the verdict.

Example:
    >>> from iterate.moments_input import analyze_moments
    >>> result = analyze_moments("experiment.toml", "moments.parquet")  # doctest: +SKIP
    >>> result.verdict  # doctest: +SKIP
    'ship'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from iterate.config import Experiment
from iterate.errors import ConfigError, DataError
from iterate.result import AnalysisResult

REQUIRED_COLUMNS = ("metric", "variant", "n", "mean_x", "var_x")
RATIO_COLUMNS = ("mean_y", "var_y", "cov_xy")
OPTIONAL_COLUMNS = ("missing_units", "segment", "segment_value")
_TEXT_COLUMNS = ("metric", "variant", "segment", "segment_value")
_INTEGER_COLUMNS = ("n", "missing_units")

NOT_RUN = {
    "multiple_exposures": "units exposed to several variants are counted on the exposures log",
    "pre_exposure_imbalance": "the pre-exposure comparison reads the events before exposure",
    "events_join_exposures": "the share of units with events is counted on the logs",
    "event_times": "event times are read on the events log",
    "duplicate_events": "duplicate events are counted on the events log",
}
"""The checks an analysis of moments cannot run, with what each needs."""


def analyze_moments(config: Experiment | str | Path, moments: str | Path, *,
                    segments: Sequence[str] | str | None = None) -> AnalysisResult:
    """Analyze an experiment from a moments file (schema in the module docstring) and decide.

    Raises:
        ConfigError: the configuration is invalid, or has a quantile metric or CUPED.
        DataError: the moments file is unreadable or breaks the schema (every problem listed).
    """
    from dataclasses import replace

    from iterate.analysis import _decide
    from iterate.provenance import provenance
    from iterate.session import resolve

    generated_at = datetime.now(timezone.utc).replace(tzinfo=None)
    experiment, _, _ = resolve(config, None, None, segments=segments)
    refuse_unsupported(experiment)
    path = Path(moments)
    rows = read_moments(path)
    aggregates = moments_aggregates(experiment, rows, path)
    result = _decide(experiment, aggregates, anytime_valid=experiment.sequential, not_run=NOT_RUN)
    return replace(result, provenance=provenance(experiment, aggregates.fingerprint, generated_at))


def refuse_unsupported(experiment: Experiment) -> None:
    """Quantile metrics and CUPED cannot come from this schema's moments: a ConfigError naming each."""
    problems = []
    for metric in experiment.metrics:
        if not metric.kind.per_unit:
            problems.append(f"metric {metric.name} (type = {metric.type!r}): a quantile is not a function of "
                            "moments; analyze it on the logs, or remove it from the configuration for --moments")
        elif experiment.uses_cuped(metric):
            problems.append(f"metric {metric.name}: CUPED needs the joint moments with its pre-exposure covariate, "
                            "which the moments schema does not hold; set cuped = false (and no covariate)")
    if problems:
        raise ConfigError(f"{len(problems)} metric(s) cannot be analyzed from moments:", problems)


def read_moments(path: Path) -> list[dict[str, Any]]:
    """The rows of a moments file (CSV, Parquet, JSON / NDJSON by extension), checked against the
    schema; every problem at once as a DataError with the fix."""
    import polars as pl

    readers = {".csv": pl.read_csv, ".parquet": pl.read_parquet, ".json": pl.read_json, ".ndjson": pl.read_ndjson,
               ".jsonl": pl.read_ndjson}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise DataError(f"{path}: unknown moments file type {path.suffix!r}; use .csv, .parquet, .json or .ndjson")
    if not path.is_file():
        raise DataError(f"{path}: no such moments file; give the path of a CSV, Parquet or JSON file")
    try:
        frame = reader(path, infer_schema_length=None) if reader in (pl.read_csv, pl.read_json, pl.read_ndjson) \
            else reader(path)
    except Exception as error:  # polars raises several types for unreadable files
        raise DataError(f"{path}: cannot read the moments file ({error.__class__.__name__}: {error})") from None
    # an empty column of a CSV (e.g. mean_y when no metric is a ratio) is read as text
    frame = frame.with_columns(pl.col(c).cast(pl.Float64) for c in frame.columns
                               if c not in _TEXT_COLUMNS and frame[c].null_count() == frame.height)
    problems = _column_problems(frame)
    if problems:
        raise DataError(f"{path}: {len(problems)} problem(s) in the moments file:", problems)
    return frame.to_dicts()


def _column_problems(frame: Any) -> list[str]:
    import polars as pl

    problems = [f"column `{c}` is missing; the schema needs {', '.join(REQUIRED_COLUMNS)}"
                for c in REQUIRED_COLUMNS if c not in frame.columns]
    for column in frame.columns:
        dtype = frame.schema[column]
        if column in _TEXT_COLUMNS and dtype not in (pl.String, pl.Null) and not dtype.is_integer():
            problems.append(f"column `{column}` is {dtype}; it must hold text")
        elif column in _INTEGER_COLUMNS and dtype != pl.Null and not dtype.is_integer():
            problems.append(f"column `{column}` is {dtype}; it must hold whole numbers of units")
        elif column in ("mean_x", "var_x", *RATIO_COLUMNS) and dtype != pl.Null and not dtype.is_numeric():
            problems.append(f"column `{column}` is {dtype}; it must hold numbers")
    return problems


def moments_aggregates(experiment: Experiment, rows: Sequence[Mapping[str, Any]], path: Path) -> Any:
    """The aggregates an engine would return (:class:`iterate.analysis._Aggregates`), from the rows;
    the facts that need events are left empty (their checks are reported as not run)."""
    from iterate import aggregation, evidence
    from iterate.analysis import _Aggregates
    from iterate.session import check_variants

    groups, problems = _groups(experiment, rows)
    problems += _coverage_problems(experiment, groups)
    units, units_problems = _units(groups)
    problems += units_problems
    if problems:
        raise DataError(f"{path}: {len(problems)} problem(s) in the moments file:", problems)
    counts = aggregation.ExposureCounts(units=units, multiple_variant_units=0)
    variants = check_variants(experiment, counts, str(path))
    return _Aggregates(
        variants=variants,
        counts=counts,
        groups=groups,
        quantiles={},
        times=aggregation.EventTimes(None, None, 0, 0, None, None),
        duplicates=aggregation.Duplicates(None, None, checked=False),
        started=None,  # type: ignore[arg-type]
        data_end=None,
        no_data=evidence.no_data_metrics(experiment, variants, groups, {}),
        units_with_events={},
        log_summaries=None,
        fingerprint={"moments": _fingerprint(path, len(rows))},
    )


def _fingerprint(path: Path, rows: int) -> Any:
    """The provenance of the moments file: its path, size, modification time and rows."""
    from iterate.provenance import LogFingerprint, _stamp

    return LogFingerprint(str(path), (_stamp(str(path)),), rows, None, None)


def _groups(experiment: Experiment, rows: Sequence[Mapping[str, Any]]) -> tuple[list[Any], list[str]]:
    """One :class:`~iterate.aggregation.GroupMoments` per row, and the problems of the rows."""
    from iterate.aggregation import GroupMoments
    from iterate.stats import RatioMoments

    metrics = {metric.name: metric for metric in experiment.metrics}
    groups, problems, seen = [], [], set()
    for number, row in enumerate(rows, start=1):
        where = f"row {number} ({row.get('metric')}, {row.get('variant')})"
        metric = metrics.get(row.get("metric"))  # type: ignore[arg-type]
        row_problems = _row_problems(row, where, metric is not None and len(metric.sides) == 2)
        key = (row.get("metric"), row.get("variant"), _text(row.get("segment")), _text(row.get("segment_value")))
        if key in seen:
            row_problems.append(f"{where}: duplicates an earlier row of the same metric, variant and segment; "
                                "keep one row per metric x variant (x segment value)")
        seen.add(key)
        if metric is None:
            row_problems.append(f"{where}: metric `{row.get('metric')}` is not in the configuration "
                                f"(metrics: {', '.join(metrics)}); remove the row or fix its name")
        problems += row_problems
        if row_problems:
            continue
        is_ratio = len(metric.sides) == 2  # type: ignore[union-attr]
        moments = RatioMoments(
            n=int(row["n"]),
            numerator_mean=float(row["mean_x"]),
            denominator_mean=float(row["mean_y"]) if is_ratio else 1.0,
            numerator_variance=float(row["var_x"]),
            denominator_variance=float(row["var_y"]) if is_ratio else 0.0,
            covariance=float(row["cov_xy"]) if is_ratio else 0.0,
        )
        groups.append(GroupMoments(metric=str(row["metric"]), variant=str(row["variant"]), segment=key[2],
                                   segment_value=key[3], moments=moments, pre_moments=None,
                                   missing_units=int(row.get("missing_units") or 0), capped_units=0, cap=None))
    return groups, problems


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _row_problems(row: Mapping[str, Any], where: str, is_ratio: bool) -> list[str]:
    """Missing or impossible values of one row (negative counts or variances, non-finite numbers)."""
    problems = []
    wanted = (*REQUIRED_COLUMNS, *(RATIO_COLUMNS if is_ratio else ()))
    for column in wanted:
        if row.get(column) is None:
            needs = " (a ratio metric needs mean_y, var_y and cov_xy)" if column in RATIO_COLUMNS else ""
            problems.append(f"{where}: `{column}` is empty{needs}")
    for column in ("n", "missing_units"):
        if row.get(column) is not None and row[column] < 0:
            problems.append(f"{where}: `{column}` = {row[column]} is negative; it counts units")
    for column in ("mean_x", "var_x", *RATIO_COLUMNS):
        value = row.get(column)
        if value is not None and not math.isfinite(value):
            problems.append(f"{where}: `{column}` = {value} is not a finite number")
        elif column in ("var_x", "var_y") and value is not None and value < 0:
            problems.append(f"{where}: `{column}` = {value} is negative; give the sample variance (ddof 1)")
    return problems


def _coverage_problems(experiment: Experiment, groups: Sequence[Any]) -> list[str]:
    """Metrics of the configuration without rows, declared variants without a metric's row, and
    configured segments without rows."""
    overall = {(g.metric, g.variant) for g in groups if g.segment is None}
    variants = sorted({variant for _, variant in overall})
    declared = list(experiment.variants or variants)
    problems = []
    for metric in experiment.metrics:
        absent = [v for v in declared if (metric.name, v) not in overall]
        if len(absent) == len(declared):
            problems.append(f"metric {metric.name} of the configuration has no row (with an empty segment); "
                            "add its moments or remove it from the configuration")
        elif absent:
            problems.append(f"metric {metric.name}: variant(s) {', '.join(absent)} have no row; add their moments")
    segmented = {g.segment for g in groups if g.segment is not None}
    for segment in experiment.segments:
        if segment not in segmented:
            problems.append(f"segment {segment} is configured but has no row; add its rows or leave the segment out")
    return problems


def _units(groups: Sequence[Any]) -> tuple[dict[str, int], list[str]]:
    """Units per variant (``n + missing_units`` of the overall rows), which every metric must agree on."""
    by_variant: dict[str, dict[str, int]] = {}
    for group in groups:
        if group.segment is None:
            by_variant.setdefault(group.variant, {})[group.metric] = group.moments.n + group.missing_units
    units, problems = {}, []
    for variant, per_metric in sorted(by_variant.items()):
        if len(set(per_metric.values())) > 1:
            listed = ", ".join(f"{metric}: {count}" for metric, count in per_metric.items())
            problems.append(f"variant {variant}: n + missing_units differs between metrics ({listed}); every metric "
                            "counts the same exposed units (units without a value go in missing_units)")
        units[variant] = max(per_metric.values())
    return units, problems
