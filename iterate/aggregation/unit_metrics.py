"""Per-unit metrics (every kind with ``per_unit``) in one events scan.

Every per-unit metric is a ratio of per-unit sums (a mean is the ratio with denominator 1), so
each kind declares its per-unit aggregates and value (:mod:`iterate.metrics`); the aggregates of
all metrics are merged into a single query over the events, grouped per variant and per segment
with GROUPING SETS. The pre-exposure values of the same metrics (for the imbalance check and
CUPED) come from the same scan, and so do the exposure counts of the unit spine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from iterate.aggregation.conditions import conditions_sql
from iterate.aggregation.exposures import (
    exposure_summary_columns,
    ExposureCounts,
    exposure_counts,
    exposure_summary_query,
)
from iterate.aggregation.ranges import (
    TimeRange,
    aggregates_pre_period,
    event_names,
    metric_range,
    pre_range,
    scan_conditions,
    scan_range,
    scan_upper,
)
from iterate.aggregation.spine import Spine, covariate_column, segment_column
from iterate.config import Experiment, Metric, Side
from iterate.engines import Dialect, Engine
from iterate.errors import DataError
from iterate.ingest import PreparedLogs, non_finite_covariates, non_finite_values, value_column
from iterate.metrics import UnitValue
from iterate.templates import Parameters, quote_identifier, render

if TYPE_CHECKING:
    from iterate.stats import RatioMoments
    from iterate.stats.cuped import JointMoments


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
        replicate: The A/A replicate of a calibration, ``None`` otherwise.
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
    """What the unit-metrics scan returns: moments per variant (and segment, or replicate), the
    exposure counts of the spine (``None`` when there was no per-unit metric to scan for), and the
    analyzed units per variant with at least one event the metrics read in their window."""

    groups: list[GroupMoments]
    exposures: ExposureCounts | None = None
    units_with_events: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Replicates:
    """A/A re-randomization: ``count`` replicates, each unit in arm ``A`` with probability ``share``."""

    count: int
    share: float
    seed: int


_EVENT_TIME = 'e."timestamp"'
_WINDOW_START = 'x."window_start"'


class UnitMetricSql:
    """The SQL vocabulary of the metric kinds (:class:`iterate.metrics.UnitSql`) on a dialect, over a
    unit's window of events (``e``) and its spine row (``x``); other scans reuse it (versions)."""

    def __init__(self, experiment: Experiment, parameters: Parameters, data_end: datetime | None) -> None:
        self.experiment = experiment
        self.parameters = parameters
        self.dialect = parameters.dialect
        self.data_end = data_end

    def total(self, side: Side) -> str:
        if side.value:
            return self.dialect.exact_sum(f"e.{quote_identifier(value_column(self.experiment, side.value))}")
        return "count(*)"

    def first_time(self) -> str:
        return 'min(e."timestamp")'

    def distinct_days(self) -> str:
        return f"count(DISTINCT {self.dialect.utc_date(_EVENT_TIME)})"

    def zero_if_null(self, aggregate: str) -> str:
        return f"coalesce({aggregate}, 0)"

    def indicator(self, aggregate: str) -> str:
        return f"CAST(coalesce({aggregate}, 0) > 0 AS INTEGER)"

    def hours_since_window_start(self, aggregate: str) -> str:
        return f"({self.dialect.epoch_seconds(aggregate)} - {self.dialect.epoch_seconds(_WINDOW_START)}) / 3600.0"

    def when_observable(self, end: float, value: str) -> str:
        if self.data_end is None:
            return "CAST(NULL AS INTEGER)"
        bind = self.parameters.bind
        observable = f'x."window_start" + {self.dialect.seconds(bind(float(end)))} <= {bind(self.data_end)}'
        return f"CASE WHEN {observable} THEN {value} END"

    def exposure_hours(self, metric: Metric) -> str:
        if self.data_end is None:
            return "CAST(NULL AS DOUBLE)"
        time, bind, epoch = metric_range(metric, self.experiment), self.parameters.bind, self.dialect.epoch_seconds
        window_start = epoch(_WINDOW_START)
        start = window_start if not time.start else f"{window_start} + {bind(float(time.start))}"
        data_end = epoch(bind(self.data_end))
        stop = data_end if time.end is None else f"least({window_start} + {bind(float(time.end))}, {data_end})"
        return f"greatest({stop} - ({start}), 0) / 3600.0"


class _MetricsQuery:
    """Builder of the unit-metrics query: per-unit aggregates, values, caps and moments."""

    def __init__(self, experiment: Experiment, logs: PreparedLogs, data_end: datetime | None, dialect: Dialect,
                 shifts: Mapping[str, float] | None = None) -> None:
        self.experiment = experiment
        self.logs = logs
        self.dialect = dialect
        self.parameters = Parameters(dialect)
        self.sql = UnitMetricSql(experiment, self.parameters, data_end)
        self.metrics = [m for m in experiment.metrics if m.kind.per_unit]
        self.events = event_names(self.metrics)
        self.scan = scan_range(experiment, self.metrics) if self.metrics else None
        self.aggregates: list[str] = []
        self.by_expression: dict[str, str] = {}
        self.values: list[str] = []
        self.caps: list[str] = []
        self.capped: list[tuple[str, str]] = []
        self.moments: list[tuple[str, str]] = []
        self.shifts = dict(shifts or {})
        self.window_aggregates: list[str] = []
        self.needs_pooled_units = False

    def bind_scan(self) -> tuple[str, str | None]:
        """The scan's lower and upper conditions (bound first, so that later uses share them)."""
        return self.scan.lower(self.parameters), scan_upper(self.scan, self.parameters)

    def aggregate(self, metric: Metric, side: Side, time: TimeRange, upper_of_scan: str | None) -> str:
        """Add a per-unit aggregate of ``side`` over ``time``; returns a reference to it."""
        conditions = []
        if len(self.events) > 1:
            conditions.append(f'e."event" = {self.parameters.bind(side.event)}')
        if (time.anchor, time.start) != (self.scan.anchor, self.scan.start):
            conditions.append(time.lower(self.parameters))
        upper = time.upper(self.parameters)
        if upper is not None and upper != upper_of_scan:
            conditions.append(upper)
        conditions += conditions_sql(side.where, "e", self.parameters)
        only = f" FILTER (WHERE {' AND '.join(conditions)})" if conditions else ""
        expression = metric.kind.aggregate(metric, side, self.sql) + only
        if expression not in self.by_expression:
            alias = f"a{len(self.by_expression)}"
            self.by_expression[expression] = alias
            self.aggregates.append(f"{expression} AS {quote_identifier(alias)}")
        return f'u."{self.by_expression[expression]}"'

    def unit_value(self, metric: Metric, time: TimeRange, upper_of_scan: str | None) -> UnitValue:
        """The metric's per-unit value over ``time``, from its kind's aggregates."""
        aggregates = [self.aggregate(metric, side, time, upper_of_scan) for side in metric.sides]
        return metric.kind.unit_value(metric, aggregates, self.sql)

    def add_activity(self) -> None:
        """Whether each unit has any event the metrics read in their windows, from the metrics'
        window aggregates already computed (a count above 0, another aggregate not null): the
        share of such units tells whether the logs join."""
        seen = [f"coalesce({reference}, 0) > 0" if self._counts(reference) else f"{reference} IS NOT NULL"
                for reference in dict.fromkeys(self.window_aggregates)]
        self.values.append(f'CAST({" OR ".join(seen) or "false"} AS INTEGER) AS "with_events"')
        self.capped.append(('"with_events"', "with_events"))
        self.moments.append(('sum("with_events")', "units_with_events"))

    def _counts(self, reference: str) -> bool:
        """Whether the aggregate is a count (0, not null, for a unit without events)."""
        alias = reference[len('u."'):-1]
        return next(e for e, a in self.by_expression.items() if a == alias).startswith("count(")

    def add_metric(self, index: int, metric: Metric, upper_of_scan: str | None) -> None:
        """Add one metric's values (metric, pre-exposure), caps and moments, named ``m<index>_*``."""
        m = f"m{index}"
        time = metric_range(metric, self.experiment)
        aggregates = [self.aggregate(metric, side, time, upper_of_scan) for side in metric.sides]
        self.window_aggregates += aggregates
        value = metric.kind.unit_value(metric, aggregates, self.sql)
        columns = [self._value(value.numerator, f"{m}_y")]
        if value.denominator is not None:
            columns.append(self._value(value.denominator, f"{m}_x"))
        pre = self._pre_value(metric, upper_of_scan)
        if pre is not None:
            columns.append(self._value(pre.numerator, f"{m}_py"))
            if pre.denominator is not None:
                columns.append(self._value(pre.denominator, f"{m}_px"))
        self._add_capped(metric, m, columns)
        self._add_moments(metric, m, columns)

    def _value(self, expression: str, column: str) -> str:
        self.values.append(f'{expression} AS "{column}"')
        return column

    def _pre_value(self, metric: Metric, upper_of_scan: str | None) -> UnitValue | None:
        if metric.covariate is not None:
            column = quote_identifier(covariate_column(metric.covariate))
            return UnitValue(f"coalesce(CAST(x.{column} AS DOUBLE), 0)")
        if aggregates_pre_period(metric, self.experiment):
            return self.unit_value(metric, pre_range(metric, self.experiment), upper_of_scan)
        return None

    def _add_capped(self, metric: Metric, m: str, columns: list[str]) -> None:
        cap = self._cap_expression(metric, m)
        for column in columns:
            if cap is not None and column in (f"{m}_y", f"{m}_py"):
                self.capped.append((f'least("{column}", {cap})', column))
            else:
                self.capped.append((f'"{column}"', column))
        if cap is not None:
            self.capped += [(f'CAST("{m}_y" > {cap} AS INTEGER)', f"{m}_capped"), (cap, f"{m}_cap")]
            self.moments += [(f'sum("{m}_capped")', f"{m}_capped"), (f'max("{m}_cap")', f"{m}_cap")]

    def _cap_expression(self, metric: Metric, m: str) -> str | None:
        if metric.cap is None:
            return None
        if metric.cap.value is not None:
            return f"CAST({self.parameters.bind(float(metric.cap.value))} AS DOUBLE)"
        self.needs_pooled_units = True
        percentile = self.dialect.quantile(f'"{m}_y"', self.parameters.bind(float(metric.cap.percentile)))
        self.caps.append(f'{percentile} AS "{m}_cap"')
        return f'caps."{m}_cap"'

    def _add_moments(self, metric: Metric, m: str, columns: list[str]) -> None:
        """Per group: the count, and for each value and each pair of values the exact sums that
        give the means, variances and covariances the delta method and CUPED need (Deng et al.
        2013, eq. 3; Deng et al. 2018, eq. 4): of the values, of their squares and of their
        products, about a shift when one is given (:func:`iterate.stats.shifted_covariance`)."""
        has = set(columns)
        self.moments += [(f'count("{m}_y")', f"{m}_n"), (f'count(*) - count("{m}_y")', f"{m}_missing")]
        for column in columns:
            self.moments += self._sums(column)
        pairs = [("y", "x"), ("py", "px")]
        if self.experiment.uses_cuped(metric):
            pairs += [("y", "py"), ("x", "py"), ("y", "px"), ("x", "px")]
        for first, second in pairs:
            if f"{m}_{first}" in has and f"{m}_{second}" in has:
                self.moments.append(self._sum_of_products(m, first, second))

    def _shifted(self, column: str) -> str:
        """The column, minus its shift when it has one (a bind parameter)."""
        if not self.shifts.get(column):
            return quote_identifier(column)
        return f"({quote_identifier(column)} - {self.parameters.bind(float(self.shifts[column]))})"

    def _sums(self, column: str) -> list[tuple[str, str]]:
        """The exact sums of a value (correctly rounded, the same whatever the order of the rows,
        so every run gives the same moments), of its shifted value and of the square of that."""
        shifted, exact_sum = self._shifted(column), self.dialect.exact_sum
        sums = [(exact_sum(quote_identifier(column)), f"{column}_sum")]
        if shifted != quote_identifier(column):
            sums.append((exact_sum(shifted), f"{column}_dsum"))
        return [*sums, (exact_sum(f"{shifted} * {shifted}"), f"{column}_dsq")]

    def _sum_of_products(self, m: str, first: str, second: str) -> tuple[str, str]:
        product = f"{self._shifted(f'{m}_{first}')} * {self._shifted(f'{m}_{second}')}"
        return self.dialect.exact_sum(product), f"{m}_{first}_{second}_dprod"


def unit_metric_moments(
    engine: Engine,
    experiment: Experiment,
    logs: PreparedLogs,
    spine: Spine,
    variants: Sequence[str] | None,
    data_end: datetime | None,
    *,
    replicates: Replicates | None = None,
    exposure_segments: Sequence[str] = (),
    shifts: Mapping[str, float] | None = None,
) -> UnitMetrics:
    """Per-variant and per-segment moments of every per-unit metric, from one events scan, and
    the exposure counts of the spine (per exposure segment too) from the same query.

    Units exposed to several variants are left out of the moments, and so are units of other
    variants than ``variants`` (all single-variant units when ``None``). With ``replicates`` (A/A
    calibration), the analyzed units are instead re-randomized to two arms ``A`` and ``B`` in each
    replicate, and the moments are grouped per replicate and arm.

    Variances come from exact sums of values and squares, which are accurate unless a value sits
    far from 0 compared with its spread (the squares then cancel: a mean near 1e8 with a standard
    deviation of 1); such values are summed again about their pooled mean (``shifts``), in a
    second query that only such data costs.
    """
    query = _MetricsQuery(experiment, logs, data_end, engine.dialect, shifts)
    if not query.metrics:
        return UnitMetrics([])
    scan_lower, upper_of_scan = query.bind_scan()
    for index, metric in enumerate(query.metrics):
        query.add_metric(index, metric, upper_of_scan)
    query.add_activity()
    conditions = scan_conditions(query.events, scan_lower, upper_of_scan, experiment, logs, query.parameters)
    rows = engine.execute(_render(query, spine, variants, replicates, exposure_segments, conditions)).dicts()
    moments = [row for row in rows if row["row_kind"] == "moments"]
    if shifts is None:
        needed = _shifts_needed(moments, query, experiment)
        if needed:
            return unit_metric_moments(engine, experiment, logs, spine, variants, data_end, replicates=replicates,
                                       exposure_segments=exposure_segments, shifts=needed)
    exposures = exposure_counts([row for row in rows if row["row_kind"] == "exposures"], exposure_segments)
    try:
        groups = [group for row in moments for group in _groups(row, query.metrics, experiment)]
    except _NonFinite as non_finite:
        raise non_finite_error(engine, experiment, logs, non_finite.metric) from None
    overall = [row for row in moments if row.get("replicate") is None
               and all(row.get(f"grouping:{s}".lower(), 1) == 1 for s in experiment.segments)]
    return UnitMetrics(groups, exposures, {row["variant"]: int(row["units_with_events"] or 0) for row in overall})


def _render(query: _MetricsQuery, spine: Spine, variants: Sequence[str] | None, replicates: Replicates | None,
            exposure_segments: Sequence[str], conditions: list[str]):
    """The unit-metrics template filled from the builder."""
    experiment, parameters = query.experiment, query.parameters
    segments = [quote_identifier(segment_column(s)) for s in experiment.segments]
    capped_columns = ["user_id", "variant", *(segment_column(s) for s in experiment.segments),
                      *(column for _, column in query.capped)]
    if replicates is None:
        group_source = "SELECT * FROM capped"
        group_keys = ["variant", *(segment_column(s) for s in experiment.segments)]
        grouping = "GROUPING SETS (" + ", ".join(['("variant")', *(f'("variant", {s})' for s in segments)]) + ")"
        groupings = [(f"GROUPING({s})", f"grouping:{name}") for s, name in zip(segments, experiment.segments)]
    else:
        group_source = _replicate_source(replicates, capped_columns, parameters)
        group_keys, grouping, groupings = ["replicate", "variant"], '"replicate", "variant"', []
    unit_filter = "" if variants is None else f'AND "variant" IN ({", ".join(parameters.bind(v) for v in variants)})'
    moment_columns = [*group_keys, *(alias for _, alias in groupings), *(alias for _, alias in query.moments)]
    exposure_columns = exposure_summary_columns(exposure_segments)
    summary = exposure_summary_query("spine", exposure_segments, query.dialect)
    return render(
        "unit_metrics",
        query.dialect,
        {**spine.parameters, **parameters.values},
        spine=spine.relation,
        unit_filter=unit_filter,
        events=query.logs.events.view,
        scan_conditions="\n      AND ".join(conditions),
        unit_aggregates=", ".join(query.aggregates),
        segments="".join(f"{s}, " for s in segments),
        unit_values=", ".join(query.values),
        caps=", ".join(query.caps) or '1 AS "no_cap"',
        caps_source="units" if query.needs_pooled_units else "(SELECT 1)",
        caps_join=", caps" if query.caps else "",
        capped_values=", ".join(_aliased(query.capped)),
        moments=", ".join(_aliased([*groupings, *query.moments])),
        group_source=group_source,
        group_keys="".join(f"{quote_identifier(key)}, " for key in group_keys),
        grouping=grouping,
        exposure_counts=summary,
        moment_columns=_union_select(moment_columns, exposure_columns),
        exposure_columns=_union_select(exposure_columns, moment_columns, own_first=False),
    )


_CANCELLATION = 1e4
"""Beyond this ratio of a value's squared mean to its variance, squares summed about 0 lose more
than about 12 of the 16 digits of the variance (Chan, Golub & LeVeque 1983): shift them."""


def _shifts_needed(moments: Sequence[dict[str, Any]], query: _MetricsQuery, experiment: Experiment) -> dict[str, float]:
    """The pooled mean of each value whose squares, summed about 0, would cancel (all units, from
    the rows of all groups that are not segment values)."""
    pooled = [row for row in moments if all(row.get(f"grouping:{s}".lower(), 1) == 1 for s in experiment.segments)]
    shifts = {}
    for index in range(len(query.metrics)):
        m = f"m{index}"
        n = sum(int(row[f"{m}_n"] or 0) for row in pooled)
        for column in (f"{m}_{c}" for c in ("y", "x", "py", "px")):
            if n < 2 or f"{column}_sum" not in pooled[0]:
                continue
            total = sum(_number(row, f"{column}_sum") for row in pooled)
            squares = sum(_number(row, f"{column}_dsq") for row in pooled)
            spread = max(squares - total * total / n, 0.0)
            if total and total * total / n > _CANCELLATION * spread:
                shifts[column] = total / n
    return shifts


def _aliased(pairs: Sequence[tuple[str, str]]) -> list[str]:
    return [expression if expression == quote_identifier(alias) else f"{expression} AS {quote_identifier(alias)}"
            for expression, alias in pairs]


def _union_select(columns: Sequence[str], others: Sequence[str], *, own_first: bool = True) -> str:
    """The select list of one branch of a two-branch union: every column of both branches in one
    order (the first branch's, then the second's new ones), NULL where this branch has none."""
    mine = set(columns)
    ordered = dict.fromkeys([*columns, *others] if own_first else [*others, *columns])
    return ", ".join(quote_identifier(c) if c in mine else f"NULL AS {quote_identifier(c)}" for c in ordered)


def _replicate_source(replicates: Replicates, capped_columns: Sequence[str], parameters: Parameters) -> str:
    """Units crossed with the replicates, each assigned to A or B by a hash of (unit, replicate, seed).

    The unit id is hashed as text, so that the same log gives the same replicates whether its ids
    were read as integers (Parquet) or as text (CSV)."""
    dialect = parameters.dialect
    uniform = dialect.unit_uniform('c."unit_key"', 'r."replicate"', parameters.bind(replicates.seed))
    arm = f"CASE WHEN {uniform} < {parameters.bind(float(replicates.share))} THEN 'A' ELSE 'B' END"
    columns = ", ".join(f'{arm} AS "variant"' if column == "variant" else f"c.{quote_identifier(column)}"
                        for column in capped_columns)
    replicate_range = dialect.integer_range(parameters.bind(int(replicates.count)), "r", '"replicate"')
    keyed = f'(SELECT *, CAST("user_id" AS {dialect.text_type}) AS "unit_key" FROM capped)'
    return f'SELECT {columns}, r."replicate" FROM {keyed} AS c, {replicate_range}'


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
        _check_finite(row, m, metric, experiment)
        sums = _RowMoments(row, m)
        groups.append(GroupMoments(
            metric=metric.name,
            variant=row["variant"],
            segment=segment,
            segment_value=segment_value,
            moments=sums.ratio("y", "x"),
            pre_moments=sums.ratio("py", "px") if experiment.measures_pre_period(metric) else None,
            joint=sums.joint() if experiment.uses_cuped(metric) else None,
            replicate=row.get("replicate"),
            missing_units=int(row[f"{m}_missing"]),
            capped_units=int(row.get(f"{m}_capped") or 0),
            cap=None if row.get(f"{m}_cap") is None else float(row[f"{m}_cap"]),
        ))
    return groups


class _NonFinite(Exception):
    """A moment of ``metric`` is NaN or infinite (raised inside this module only)."""

    def __init__(self, metric: Metric) -> None:
        super().__init__(metric.name)
        self.metric = metric


def _check_finite(row: dict[str, Any], m: str, metric: Metric, experiment: Experiment) -> None:
    """A moment that is NaN or infinite: NaN or infinite values in the log, or values near 1e300
    whose squares overflow a double."""
    if any(key.startswith(f"{m}_") and isinstance(value, float) and not math.isfinite(value)
           for key, value in row.items()):
        raise _NonFinite(metric)


def non_finite_error(engine: Engine, experiment: Experiment, logs: PreparedLogs, metric: Metric) -> DataError:
    """The input error behind a non-finite moment of ``metric``: the NaN or infinite values of the
    log (counted now, per column, with the metrics reading them), else values too large."""
    problems = non_finite_values(engine, experiment, logs)
    if metric.covariate is not None:
        problems += non_finite_covariates(engine, logs, {metric.covariate: (metric.name,)})
    if problems:
        return DataError(f"the input logs have {len(problems)} problem(s):", problems)
    return values_too_large(metric, experiment)


def values_too_large(metric: Metric, experiment: Experiment) -> DataError:
    """The error for a metric whose values overflow a 64-bit float once squared or summed."""
    columns = list(dict.fromkeys(value_column(experiment, side.value)[len("value:"):]
                                 for side in metric.sides if side.value))
    named = f"the values of column(s) {', '.join(f'`{c}`' for c in columns)}" if columns else "its per-unit values"
    return DataError(
        f"metric {metric.name}: {named} are too large to analyze (their sums or variance overflow a 64-bit "
        "float); rescale the column (e.g. to thousands) or cap the values"
    )


def _number(row: dict[str, Any], key: str, default: float = 0.0) -> float:
    value = row.get(key)
    return default if value is None else float(value)


class _RowMoments:
    """Means, variances and covariances of one metric's values (``y``, ``x``, ``py``, ``px``) in
    a group, from the row of sums: a missing denominator is the constant 1 (mean 1, no variance)."""

    def __init__(self, row: dict[str, Any], m: str) -> None:
        self.row, self.m = row, m
        self.n = int(row[f"{m}_n"])

    def has(self, column: str) -> bool:
        return f"{self.m}_{column}_sum" in self.row

    def mean(self, column: str) -> float:
        if not self.has(column):
            return 1.0
        return _number(self.row, f"{self.m}_{column}_sum") / self.n if self.n else 0.0

    def covariance(self, first: str, second: str) -> float:
        from iterate.stats import shifted_covariance, shifted_variance

        m, row = self.m, self.row
        if first == second:
            value = shifted_variance(self.n, self._shifted_sum(first), _number(row, f"{m}_{first}_dsq"))
            return 0.0 if value is None else value
        key = next((f"{m}_{a}_{b}_dprod" for a, b in ((first, second), (second, first))
                    if f"{m}_{a}_{b}_dprod" in row), None)
        if key is None or key not in row:
            return 0.0
        value = shifted_covariance(self.n, self._shifted_sum(first), self._shifted_sum(second), _number(row, key))
        return 0.0 if value is None else value

    def _shifted_sum(self, column: str) -> float:
        """The sum of the value minus its shift (the plain sum when it was not shifted)."""
        key = f"{self.m}_{column}_dsum"
        return _number(self.row, key if key in self.row else f"{self.m}_{column}_sum")

    def ratio(self, y: str, x: str) -> RatioMoments:
        from iterate.stats import RatioMoments

        is_ratio = self.has(x)
        return RatioMoments(
            n=self.n,
            numerator_mean=self.mean(y),
            denominator_mean=self.mean(x) if is_ratio else 1.0,
            numerator_variance=self.covariance(y, y),
            denominator_variance=self.covariance(x, x) if is_ratio else 0.0,
            covariance=self.covariance(y, x) if is_ratio else 0.0,
        )

    def joint(self) -> JointMoments:
        """Joint moments of (y, x, y0, x0): metric numerator and denominator, covariate numerator
        and denominator."""
        from iterate.stats.cuped import JointMoments

        columns = ("y", "x", "py", "px")
        covariance = tuple(tuple(self.covariance(a, b) if self.has(a) and self.has(b) else 0.0 for b in columns)
                           for a in columns)
        return JointMoments(n=self.n, means=tuple(self.mean(c) for c in columns), covariance=covariance)
