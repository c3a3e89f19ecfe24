"""Unit-level metrics (proportion, count, mean, ratio, retention, time to event) in one events scan.

Every metric is a ratio of per-unit sums (a mean is the ratio with denominator 1), so each one
declares its per-unit aggregates; the aggregates of all metrics are merged into a single query
over the events, grouped per variant and per segment with GROUPING SETS. The pre-exposure values
of the same metrics (for the imbalance check) come from the same scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from iterate.aggregation.exposures import ExposureCounts, exposure_counts, exposure_summary_query
from iterate.aggregation.parameters import Parameters, conditions_sql
from iterate.aggregation.spine import Spine, covariate_column, segment_column
from iterate.config import UNIT_METRIC_TYPES, Experiment, Metric, Side
from iterate.ingest import PreparedLogs, value_column
from iterate.templates import quote_identifier, render

if TYPE_CHECKING:
    import duckdb

    from iterate.stats import RatioMoments
    from iterate.stats.cuped import JointMoments

DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class GroupMoments:
    """Moments of one metric in one variant, overall or within one segment value.

    Attributes:
        metric: Metric name.
        variant: Variant name.
        segment: Segment column, or ``None`` for all units.
        segment_value: The segment's value (as text; ``None`` for units without one).
        moments: Per-unit numerator / denominator moments (denominator 1 unless a ratio).
        pre_moments: The same in the pre-exposure period, or ``None`` when not computed.
        missing_units: Units without a value (retention not yet observable, no event for time to event).
        capped_units: Units whose value was capped.
        cap: The cap applied, if any.
        joint: Joint moments of the metric and its pre-exposure covariate (CUPED), if measured.
    """

    metric: str
    variant: str
    segment: str | None
    segment_value: str | None
    moments: RatioMoments
    pre_moments: RatioMoments | None
    missing_units: int
    capped_units: int
    cap: float | None
    joint: JointMoments | None = None
    replicate: int | None = None


@dataclass(frozen=True, slots=True)
class UnitMetrics:
    """What the unit-metrics scan returns: moments per variant (and segment, or replicate), and the
    exposure counts of the spine (``None`` when there was no unit-level metric to scan for)."""

    groups: list[GroupMoments]
    exposures: ExposureCounts | None = None


@dataclass(frozen=True, slots=True)
class Replicates:
    """A/A re-randomization: ``count`` replicates, each unit in arm ``A`` with probability ``share``."""

    count: int
    share: float
    seed: int


def _replicate_source(replicates: Replicates, parameters: Parameters) -> str:
    """Units crossed with the replicates, each assigned to A or B by a hash of (unit, replicate, seed).

    The hash of one combined key is taken (hash(a, b) in DuckDB combines its inputs' hashes by XOR,
    which would tie replicates together); its top 53 bits give a uniform on [0, 1).
    """
    mixed = (f'hash(xor(hash(c."user_id"), CAST(r."replicate" * 11400714819323198485 % 18446744073709551616 '
             f'+ {parameters.bind(replicates.seed)} AS UBIGINT)))')
    uniform = f"CAST({mixed} >> 11 AS DOUBLE) * {2.0 ** -53!r}"
    arm = f"CASE WHEN {uniform} < {parameters.bind(float(replicates.share))} THEN 'A' ELSE 'B' END"
    return (f'SELECT c.* REPLACE ({arm} AS "variant"), r."replicate" '
            f'FROM capped AS c, range({parameters.bind(int(replicates.count))}) AS r("replicate")')


@dataclass(frozen=True, slots=True)
class _Range:
    """Event-time range relative to a unit: [anchor + start, anchor + end), end None for open."""

    anchor: str
    start: float
    end: float | None

    def lower(self, parameters: Parameters) -> str:
        return f'e."timestamp" >= x.{quote_identifier(self.anchor)}{_offset(self.start, parameters)}'

    def upper(self, parameters: Parameters) -> str | None:
        if self.end is None:
            return None
        return f'e."timestamp" < x.{quote_identifier(self.anchor)}{_offset(self.end, parameters)}'


def _offset(seconds: float, parameters: Parameters) -> str:
    if seconds == 0:
        return ""
    sign = "+" if seconds > 0 else "-"
    return f" {sign} to_seconds({parameters.bind(abs(float(seconds)))})"


def metric_range(metric: Metric, experiment: Experiment) -> _Range:
    """Event-time range of a metric, relative to the unit's window start."""
    if metric.type == "retention" and metric.days is not None:
        first, last = metric.days
        return _Range("window_start", first * DAY, (last + 1) * DAY)
    window = metric.window_seconds if metric.window is not None else experiment.window_seconds
    return _Range("window_start", 0.0, window)


def uses_pre_period(metric: Metric, experiment: Experiment) -> bool:
    """Whether the metric has a pre-exposure value: the same metric before exposure (imbalance
    check, CUPED covariate) or a per-unit covariate column."""
    return metric.covariate is not None or experiment.pre_seconds(metric) is not None


def uses_cuped(metric: Metric, experiment: Experiment) -> bool:
    """Whether the metric is adjusted with CUPED (a pre-exposure covariate or a covariate column)."""
    return metric.covariate is not None or experiment.cuped_seconds(metric) is not None


def _pre_aggregated(metric: Metric, experiment: Experiment) -> bool:
    return metric.covariate is None and experiment.pre_seconds(metric) is not None


class _Query:
    """Builder of the unit-metrics query: per-unit aggregates, values, caps and moments."""

    def __init__(self, experiment: Experiment, logs: PreparedLogs) -> None:
        self.experiment = experiment
        self.logs = logs
        self.parameters = Parameters()
        self.aggregates: list[str] = []
        self.by_expression: dict[str, str] = {}
        self.values: list[str] = []
        self.caps: list[str] = []
        self.capped: list[str] = []
        self.moments: list[str] = []
        self.needs_pooled_units = False

    def aggregate(self, side: Side, time: _Range, scan: tuple[_Range, str | None], kind: str) -> str:
        """Add a per-unit aggregate of ``side`` over ``time``; returns its alias."""
        alias = f"a{len(self.by_expression)}"
        conditions = []
        if len(self.event_names) > 1:
            conditions.append(f'e."event" = {self.parameters.bind(side.event)}')
        scan_range, scan_upper = scan
        if (time.anchor, time.start) != (scan_range.anchor, scan_range.start):
            conditions.append(time.lower(self.parameters))
        upper = time.upper(self.parameters)
        if upper is not None and upper != scan_upper:
            conditions.append(upper)
        conditions += conditions_sql(side.where, "e", self.parameters)
        only = f" FILTER (WHERE {' AND '.join(conditions)})" if conditions else ""
        if kind == "first_time":
            expression = f'min(e."timestamp"){only}'
        elif side.value:
            expression = f"sum(e.{quote_identifier(value_column(self.experiment, side.value))}){only}"
        else:
            expression = f"count(*){only}"
        if expression in self.by_expression:
            return self.by_expression[expression]
        self.by_expression[expression] = alias
        self.aggregates.append(f"{expression} AS {quote_identifier(alias)}")
        return alias

    @property
    def event_names(self) -> list[str]:
        return sorted({side.event for metric in self.metrics for side in metric.sides})

    @property
    def metrics(self) -> list[Metric]:
        return [m for m in self.experiment.metrics if m.type in UNIT_METRIC_TYPES]


def _scan_range(experiment: Experiment, metrics: Sequence[Metric]) -> _Range:
    ranges = [metric_range(m, experiment) for m in metrics]
    pre = [experiment.pre_seconds(m) for m in metrics if _pre_aggregated(m, experiment)]
    if pre:
        start_anchor, start = "first_exposure", -float(max(pre))
    elif len({r.start for r in ranges}) == 1:
        start_anchor, start = "window_start", ranges[0].start
    else:
        start_anchor, start = "window_start", min(r.start for r in ranges)
    ends = [r.end for r in ranges]
    end = None if any(e is None for e in ends) else max(ends)
    # the upper bound is always relative to the window start
    return _Range(start_anchor, start, end)


def unit_metric_moments(
    con: duckdb.DuckDBPyConnection,
    experiment: Experiment,
    logs: PreparedLogs,
    spine: Spine,
    variants: Sequence[str] | None,
    data_end: datetime | None,
    *,
    replicates: Replicates | None = None,
    exposure_segments: Sequence[str] = (),
) -> UnitMetrics:
    """Per-variant and per-segment moments of every unit-level metric, from one events scan, and
    the exposure counts of the spine (per exposure segment too) from the same query.

    Units exposed to several variants are left out of the moments, and so are units of other
    variants than ``variants`` (all single-variant units when ``None``). With ``replicates`` (A/A
    calibration), the analyzed units are instead re-randomized to two arms ``A`` and ``B`` in each
    replicate, and the moments are grouped per replicate and arm.
    """
    query = _Query(experiment, logs)
    metrics = query.metrics
    if not metrics:
        return UnitMetrics([])
    parameters = query.parameters
    scan = _scan_range(experiment, metrics)
    scan_lower = scan.lower(parameters)
    scan_upper = None if scan.end is None else _Range("window_start", 0.0, scan.end).upper(parameters)
    scan_parts = (scan, scan_upper)

    for index, metric in enumerate(metrics):
        _add_metric(query, index, metric, scan_parts, data_end)

    scan_conditions = _scan_conditions(query.event_names, scan_lower, scan_upper, experiment, logs, parameters)

    segments = [quote_identifier(segment_column(s)) for s in experiment.segments]
    if replicates is None:
        group_source = "SELECT * FROM capped"
        group_keys = "".join(f"{key}, " for key in ['"variant"', *segments])
        grouping = "GROUPING SETS (" + ", ".join(['("variant")', *(f'("variant", {s})' for s in segments)]) + ")"
        groupings = [f"GROUPING({s}) AS {quote_identifier('grouping:' + name)}"
                     for s, name in zip(segments, experiment.segments)]
    else:
        group_source = _replicate_source(replicates, parameters)
        group_keys, grouping, groupings = '"replicate", "variant", ', '"replicate", "variant"', []
    unit_filter = "" if variants is None else f'AND "variant" IN ({", ".join(parameters.bind(v) for v in variants)})'
    sql = render(
        "unit_metrics",
        spine=spine.relation,
        unit_filter=unit_filter,
        events=logs.events.view,
        scan_conditions="\n      AND ".join(scan_conditions),
        unit_aggregates=", ".join(query.aggregates),
        segments="".join(f"{s}, " for s in segments),
        unit_values=", ".join(query.values),
        caps=", ".join(query.caps) or '1 AS "no_cap"',
        caps_source="units" if query.needs_pooled_units else "(SELECT 1)",
        caps_join=", caps" if query.caps else "",
        capped_values=", ".join(query.capped),
        moments=", ".join([*groupings, *query.moments]),
        group_source=group_source,
        group_keys=group_keys,
        grouping=grouping,
        exposure_counts=exposure_summary_query("spine", exposure_segments),
    )
    cursor = con.execute(sql, {**spine.parameters, **parameters.values})
    names = [column[0].lower() for column in cursor.description]
    rows = [dict(zip(names, row)) for row in cursor.fetchall()]
    moments = [row for row in rows if row["row_kind"] == "moments"]
    exposures = exposure_counts([row for row in rows if row["row_kind"] == "exposures"], exposure_segments)
    return UnitMetrics([group for row in moments for group in _groups(row, metrics, experiment)], exposures)


def _scan_conditions(events: list[str], lower: str, upper: str | None, experiment: Experiment,
                     logs: PreparedLogs, parameters: Parameters) -> list[str]:
    """The WHERE of the metrics scan: event names, time range, as-of and event-level filters."""
    event_condition = (
        f'e."event" = {parameters.bind(events[0])}' if len(events) == 1
        else f'e."event" IN ({", ".join(parameters.bind(name) for name in events)})'
    )
    conditions = [event_condition, lower]
    if upper is not None:
        conditions.append(upper)
    if experiment.as_of is not None:
        conditions.append(f'e."timestamp" <= {parameters.bind(experiment.as_of)}')
    event_level = [c for c in experiment.where if c.column not in logs.exposure_dimensions]
    return conditions + conditions_sql(event_level, "e", parameters)


DUPLICATE_CHECK_UNITS = 200_000


@dataclass(frozen=True, slots=True)
class Duplicates:
    """Events read by the metrics that repeat an event of the same unit, name and timestamp.

    Attributes:
        groups: Events logged more than once (``None`` when the check was skipped).
        extra_rows: Rows beyond the first of each.
        checked: Whether the check ran.
    """

    groups: int | None
    extra_rows: int | None
    checked: bool = True


def duplicate_events(
    con: duckdb.DuckDBPyConnection, experiment: Experiment, logs: PreparedLogs, spine: Spine,
    variants: Sequence[str], units: int,
) -> Duplicates:
    """Duplicate events among the metrics' events of analyzed units.

    It takes a scan of the events grouped by unit, event and time, about the cost of all the
    metrics together; so by default it runs up to ``DUPLICATE_CHECK_UNITS`` analyzed units and is
    skipped beyond (``check_duplicates = true`` forces it, ``false`` turns it off).
    """
    metrics = [m for m in experiment.metrics if m.type in UNIT_METRIC_TYPES or m.type == "quantile"]
    wanted = experiment.check_duplicates
    if not metrics or wanted is False or (wanted is None and units > DUPLICATE_CHECK_UNITS):
        return Duplicates(None, None, checked=False)
    parameters = Parameters()
    scan = _scan_range(experiment, metrics)
    upper = None if scan.end is None else _Range("window_start", 0.0, scan.end).upper(parameters)
    events = sorted({side.event for metric in metrics for side in metric.sides})
    conditions = _scan_conditions(events, scan.lower(parameters), upper, experiment, logs, parameters)
    query = render(
        "duplicate_events", events=logs.events.view, spine=spine.relation,
        unit_filter=f'AND x."variant" IN ({", ".join(parameters.bind(v) for v in variants)})',
        scan_conditions="\n      AND ".join(conditions),
    )
    groups, extra = con.execute(query, {**spine.parameters, **parameters.values}).fetchone()
    return Duplicates(int(groups), int(extra))


def _add_metric(query: _Query, index: int, metric: Metric, scan: tuple[_Range, str | None], data_end: datetime | None) -> None:
    experiment, parameters = query.experiment, query.parameters
    m = f"m{index}"
    time = metric_range(metric, experiment)
    sides = metric.sides
    kind = "first_time" if metric.type == "time_to_event" else "sum"
    aliases = [query.aggregate(side, time, scan, kind) for side in sides]
    y = f'u."{aliases[0]}"'
    if metric.type in ("proportion", "retention"):
        value = f"CAST(coalesce({y}, 0) > 0 AS INTEGER)"
    elif metric.type == "time_to_event":
        value = f'(epoch({y}) - epoch(x."window_start")) / 3600.0'
    else:
        value = f"coalesce({y}, 0)"
    if metric.type == "retention":
        if data_end is None:
            value = "CAST(NULL AS INTEGER)"
        else:
            observable = f'x."window_start" + to_seconds({parameters.bind(float(time.end))}) <= {parameters.bind(data_end)}'
            value = f"CASE WHEN {observable} THEN {value} END"
    query.values.append(f'{value} AS "{m}_y"')
    columns = [f"{m}_y"]
    if metric.type == "ratio":
        query.values.append(f'coalesce(u."{aliases[1]}", 0) AS "{m}_x"')
        columns.append(f"{m}_x")
    pre_ratio = False
    if metric.covariate is not None:
        column = quote_identifier(covariate_column(metric.covariate))
        query.values.append(f'coalesce(CAST(x.{column} AS DOUBLE), 0) AS "{m}_py"')
        columns.append(f"{m}_py")
    elif _pre_aggregated(metric, experiment):
        pre = _Range("first_exposure", -float(experiment.pre_seconds(metric)), 0.0)
        pre_aliases = [query.aggregate(side, pre, scan, "sum") for side in sides]
        pre_y = f'coalesce(u."{pre_aliases[0]}", 0)'
        if metric.type == "proportion":
            pre_y = f"CAST({pre_y} > 0 AS INTEGER)"
        query.values.append(f'{pre_y} AS "{m}_py"')
        columns.append(f"{m}_py")
        if metric.type == "ratio":
            pre_ratio = True
            query.values.append(f'coalesce(u."{pre_aliases[1]}", 0) AS "{m}_px"')
            columns.append(f"{m}_px")

    cap = _cap_expression(query, metric, m)
    for column in columns:
        if cap is not None and column in (f"{m}_y", f"{m}_py"):
            query.capped.append(f'least("{column}", {cap}) AS "{column}"')
        else:
            query.capped.append(f'"{column}"')
    if cap is not None:
        query.capped.append(f'CAST("{m}_y" > {cap} AS INTEGER) AS "{m}_capped", {cap} AS "{m}_cap"')
        query.moments.append(f'sum("{m}_capped") AS "{m}_capped", max("{m}_cap") AS "{m}_cap"')

    query.moments.append(f'count("{m}_y") AS "{m}_n", count(*) - count("{m}_y") AS "{m}_missing"')
    query.moments.append(f'{_mean(f"{m}_y")} AS "{m}_y_mean", var_samp("{m}_y") AS "{m}_y_var"')
    if metric.type == "ratio":
        query.moments.append(
            f'{_mean(f"{m}_x")} AS "{m}_x_mean", var_samp("{m}_x") AS "{m}_x_var", covar_samp("{m}_y", "{m}_x") AS "{m}_xy_cov"'
        )
    if uses_pre_period(metric, experiment):
        query.moments.append(f'{_mean(f"{m}_py")} AS "{m}_py_mean", var_samp("{m}_py") AS "{m}_py_var"')
        if pre_ratio:
            query.moments.append(f'{_mean(f"{m}_px")} AS "{m}_px_mean", var_samp("{m}_px") AS "{m}_px_var", '
                                 f'covar_samp("{m}_py", "{m}_px") AS "{m}_pxy_cov"')
    if uses_cuped(metric, experiment):
        query.moments.append(f'covar_samp("{m}_y", "{m}_py") AS "{m}_y_py_cov"')
        if metric.type == "ratio":
            query.moments.append(f'covar_samp("{m}_x", "{m}_py") AS "{m}_x_py_cov"')
        if pre_ratio:
            query.moments.append(f'covar_samp("{m}_y", "{m}_px") AS "{m}_y_px_cov", '
                                 f'covar_samp("{m}_x", "{m}_px") AS "{m}_x_px_cov"')


def _mean(column: str) -> str:
    """Mean with a compensated (Kahan) sum: exact to the last digits even for values near 1e8."""
    return f'fsum("{column}") / count("{column}")'


def _cap_expression(query: _Query, metric: Metric, m: str) -> str | None:
    if metric.cap is None:
        return None
    if metric.cap.value is not None:
        return f"CAST({query.parameters.bind(float(metric.cap.value))} AS DOUBLE)"
    query.needs_pooled_units = True
    query.caps.append(f'quantile_cont("{m}_y", {query.parameters.bind(float(metric.cap.percentile))}) AS "{m}_cap"')
    return f'caps."{m}_cap"'


def _groups(row: dict[str, Any], metrics: list[Metric], experiment: Experiment) -> list[GroupMoments]:
    segment, segment_value = None, None
    for name in experiment.segments:
        if row.get(f"grouping:{name}".lower(), 1) == 0:
            segment = name
            value = row[segment_column(name).lower()]
            segment_value = None if value is None else str(value)
    groups = []
    for index, metric in enumerate(metrics):
        m = f"m{index}"
        n = int(row[f"{m}_n"])
        groups.append(GroupMoments(
            metric=metric.name,
            variant=row["variant"],
            segment=segment,
            segment_value=segment_value,
            moments=_ratio_moments(row, m, "y", "x", "xy_cov", n, metric.type == "ratio"),
            pre_moments=(
                _ratio_moments(row, m, "py", "px", "pxy_cov", n, _pre_aggregated(metric, experiment) and metric.type == "ratio")
                if uses_pre_period(metric, experiment) else None
            ),
            joint=_joint(row, m, n) if uses_cuped(metric, experiment) else None,
            replicate=row.get("replicate"),
            missing_units=int(row[f"{m}_missing"]),
            capped_units=int(row.get(f"{m}_capped") or 0),
            cap=None if row.get(f"{m}_cap") is None else float(row[f"{m}_cap"]),
        ))
    return groups


def _joint(row: dict[str, Any], m: str, n: int) -> JointMoments:
    """Joint moments of (y, x, y0, x0): metric numerator and denominator, covariate numerator and
    denominator; a missing denominator is the constant 1 (mean 1, no variance)."""
    from iterate.stats.cuped import JointMoments

    def number(key: str, default: float = 0.0) -> float:
        value = row.get(f"{m}_{key}")
        return default if value is None else float(value)

    has_x, has_px = f"{m}_x_mean" in row, f"{m}_px_mean" in row
    means = (number("y_mean"), number("x_mean", 1.0) if has_x else 1.0,
             number("py_mean"), number("px_mean", 1.0) if has_px else 1.0)
    vy, vx, vpy, vpx = number("y_var"), number("x_var"), number("py_var"), number("px_var")
    c_yx, c_ypy, c_ypx = number("xy_cov"), number("y_py_cov"), number("y_px_cov")
    c_xpy, c_xpx, c_pypx = number("x_py_cov"), number("x_px_cov"), number("pxy_cov")
    covariance = (
        (vy, c_yx, c_ypy, c_ypx),
        (c_yx, vx, c_xpy, c_xpx),
        (c_ypy, c_xpy, vpy, c_pypx),
        (c_ypx, c_xpx, c_pypx, vpx),
    )
    return JointMoments(n=n, means=means, covariance=covariance)


def _ratio_moments(row: dict[str, Any], m: str, y: str, x: str, covariance: str, n: int, is_ratio: bool) -> RatioMoments:
    from iterate.stats import RatioMoments

    def number(key: str) -> float:
        value = row.get(f"{m}_{key}")
        return 0.0 if value is None else float(value)

    return RatioMoments(
        n=n,
        numerator_mean=number(f"{y}_mean"),
        denominator_mean=number(f"{x}_mean") if is_ratio else 1.0,
        numerator_variance=number(f"{y}_var"),
        denominator_variance=number(f"{x}_var") if is_ratio else 0.0,
        covariance=number(covariance) if is_ratio else 0.0,
    )
