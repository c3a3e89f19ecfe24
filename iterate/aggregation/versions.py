"""A new app version's per-unit pre/post values in SQL, returned as moments only.

Two queries over the logs: the cohorts (units per update day, ``version_cohorts.sql``), then,
for the cohorts chosen in Python (those whose windows lie within the data), the per-unit values of
every metric in each unit's pre window, its halves and its post window, combined over cohorts
and summed per group (updaters, comparison units) in ``version_units.sql``. The design is
described in :mod:`iterate.rollout.version`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from iterate.aggregation.conditions import conditions_sql
from iterate.aggregation.spine import exposure_filter
from iterate.aggregation.unit_metrics import UnitMetricSql
from iterate.config import Experiment, Metric, Side
from iterate.engines import Engine
from iterate.errors import ConfigError
from iterate.ingest import PreparedLogs
from iterate.templates import Parameters, render

WINDOWS = ("pre", "post", "early", "late")
"""The windows of a cohort a unit's metric is measured in (see ``version_units.sql``)."""

QUANTITIES = ("pre", "post", "change", "trend")
"""What the moments describe per unit: the pre value, the post value, ``change = post - pre`` (the
difference-in-differences' input) and ``trend = late - early`` (the pre-trend check's input)."""

GROUPS = ("updaters", "comparison")


@dataclass(frozen=True, slots=True)
class Cohorts:
    """Units by their update day.

    Attributes:
        updaters: Update day -> units seen on an old version at or before their pre window starts.
        other_updaters: Update day -> other units first seen on the new version that day (seen on an
            old version too late, or never: new installs).
        never_updated: Units never seen on the new version.
    """

    updaters: Mapping[date, int]
    other_updaters: Mapping[date, int]
    never_updated: int


@dataclass(frozen=True, slots=True)
class CohortWindow:
    """The calendar windows of one update day and its weight for the comparison units."""

    day: date
    weight: float
    pre: float
    post: float

    @property
    def update_start(self) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day)

    @property
    def pre_start(self) -> datetime:
        return self.update_start - timedelta(seconds=self.pre)

    @property
    def pre_middle(self) -> datetime:
        return self.update_start - timedelta(seconds=self.pre / 2)

    @property
    def post_start(self) -> datetime:
        return self.update_start + timedelta(days=1)

    @property
    def post_end(self) -> datetime:
        return self.post_start + timedelta(seconds=self.post)


@dataclass(frozen=True, slots=True)
class Sums:
    """Count and exact sums of a per-unit quantity and of its square in one group."""

    n: int
    total: float
    squares: float


VersionSums = Mapping[tuple[str, str, str], Sums]
"""Sums by ``(group, metric, quantity)``."""


def version_cohorts(engine: Engine, experiment: Experiment, logs: PreparedLogs) -> Cohorts:
    """The units of each update day (see :class:`Cohorts`)."""
    rollout = experiment.rollout
    parameters = Parameters(engine.dialect)
    slots = _seen_slots(engine, experiment, logs, parameters, "")
    query = render("version_cohorts", engine.dialect, parameters.values, **slots,
                   pre_period=engine.dialect.seconds(parameters.bind(float(rollout.pre_seconds))))
    updaters, others, never = {}, {}, 0
    for row in engine.execute(query).dicts():
        day = row["update_day"]
        if day is None:
            never = int(row["never_updated"])
            continue
        day = day.date() if isinstance(day, datetime) else day
        updaters[day] = int(row["updaters"])
        others[day] = int(row["other_updaters"])
    return Cohorts(updaters, others, never)


def version_sums(engine: Engine, experiment: Experiment, logs: PreparedLogs,
                 cohorts: Sequence[CohortWindow]) -> VersionSums:
    """Count and sums of each metric's pre, post, change and trend values, per group, from one query
    (``cohorts`` not empty).

    Raises:
        ConfigError: a metric a new app version cannot judge yet (:func:`refuse_unsupported`).
    """
    dialect = engine.dialect
    parameters = Parameters(dialect)
    seen = _seen_slots(engine, experiment, logs, parameters, "s")
    window_values, unit_values, moments = [], [], []
    vocabulary = _WindowSql(experiment, parameters)
    bounds = {"pre": ("pre_start", "update_start"), "post": ("post_start", "post_end"),
              "early": ("pre_start", "pre_middle"), "late": ("pre_middle", "update_start")}
    refuse_unsupported(experiment, dialect)
    for index, metric in enumerate(experiment.metrics):
        m = f"m{index}"
        for window, (start, end) in bounds.items():
            value = _window_value(metric, vocabulary, f'e."timestamp" >= w."{start}" AND e."timestamp" < w."{end}"')
            window_values.append(f'{value} AS "{m}_{window}"')
            weighted = dialect.exact_sum(f'"weight" * "{m}_{window}"')
            unit_values.append(f'{weighted} AS "{m}_{window}"')
        quantities = {"pre": f'"{m}_pre"', "post": f'"{m}_post"', "change": f'("{m}_post" - "{m}_pre")',
                      "trend": f'("{m}_late" - "{m}_early")'}
        for name, expression in quantities.items():
            square = dialect.exact_sum(f"{expression} * {expression}")
            moments += [f'{dialect.exact_sum(expression)} AS "{m}_{name}_sum"', f'{square} AS "{m}_{name}_sq"']
    names = sorted({side.event for metric in experiment.metrics for side in metric.sides})
    event_level = [c for c in experiment.where if c.column not in logs.exposure_dimensions]
    event_condition = " AND ".join([f'e."event" IN ({", ".join(parameters.bind(name) for name in names)})',
                                    *conditions_sql(event_level, "e", parameters)])
    event_condition = f"AND {event_condition}"
    selects = [
        "SELECT " + ", ".join([
            f"CAST({parameters.bind(cohort.day)} AS DATE) AS \"update_day\"",
            *(f'CAST({parameters.bind(getattr(cohort, column))} AS TIMESTAMP) AS "{column}"'
              for column in ("pre_start", "pre_middle", "update_start", "post_start", "post_end")),
            f'CAST({parameters.bind(float(cohort.weight))} AS DOUBLE) AS "weight"',
        ]) for cohort in cohorts]
    earliest = min(cohort.pre_start for cohort in cohorts)
    query = render("version_units", dialect, parameters.values, **seen, cohorts="\n    UNION ALL\n    ".join(selects),
                   earliest_start=parameters.bind(earliest), events=logs.events.view, event_condition=event_condition,
                   window_values=", ".join(window_values), unit_values=", ".join(unit_values),
                   moments=", ".join(moments))
    sums: dict[tuple[str, str, str], Sums] = {}
    for row in engine.execute(query).dicts():
        group, units = row["unit_group"], int(row["units"])
        for index, metric in enumerate(experiment.metrics):
            for name in QUANTITIES:
                sums[(group, metric.name, name)] = Sums(units, _float(row[f"m{index}_{name}_sum"]),
                                                        _float(row[f"m{index}_{name}_sq"]))
    return sums


def refuse_unsupported(experiment: Experiment, dialect: Any) -> None:
    """Metrics a new app version cannot judge yet, each named with its fix.

    Raises:
        ConfigError: a metric whose per-unit value is not a total or an indicator of a window's
            events (ratio, retention, time to event, quantile), or a capped metric.
    """
    vocabulary = _WindowSql(experiment, Parameters(dialect))
    window = 'e."timestamp" IS NOT NULL'
    problems = [f"[[metrics]] {metric.name}: type = \"{metric.type}\" is not available for a new app version yet; "
                "use a metric whose per-unit value is a window's total or whether an event happened (not a ratio "
                "of two totals, a time to an event, a retention day or a quantile)" for metric in experiment.metrics
                if _window_value(metric, vocabulary, window) is None]
    problems += [f"[[metrics]] {metric.name}: `cap` is not applied to a new app version's windows yet; remove it"
                 for metric in experiment.metrics if metric.cap is not None]
    if problems:
        raise ConfigError(f"the new app version of {experiment.name} cannot be analyzed:", problems)


def _float(value: Any) -> float:
    return 0.0 if value is None else float(value)


def _seen_slots(engine: Engine, experiment: Experiment, logs: PreparedLogs, parameters: Parameters,
                alias: str) -> dict[str, str]:
    """The slots both templates share: exposures, their filter, the new version, the update day."""
    return {
        "exposures": logs.exposures.view,
        "exposure_filter": exposure_filter(experiment, logs, parameters),
        "new": parameters.bind(str(experiment.rollout.new)),
        "update_day": engine.dialect.utc_date(f'{alias}."updated_at"' if alias else '"updated_at"'),
    }


def _window_value(metric: Metric, vocabulary: _WindowSql, window: str) -> str | None:
    """The metric kind's per-unit value over the events of one window, or ``None`` when the kind's
    value is not a total or an indicator of the window's events."""
    if not metric.kind.per_unit:
        return None
    try:
        aggregates = [vocabulary.aggregate(metric, side, window) for side in metric.sides]
        value = metric.kind.unit_value(metric, aggregates, vocabulary)
    except _NotAWindowTotal:
        return None
    return None if value.denominator is not None else value.numerator


class _NotAWindowTotal(Exception):
    """A metric kind asked for SQL a window's total cannot give (first time, observability)."""


class _WindowSql(UnitMetricSql):
    """The metric kinds' SQL vocabulary over one window's events: that of the unit metrics scan,
    without what needs a unit's own window start (first time, hours since it, observability)."""

    def __init__(self, experiment: Experiment, parameters: Parameters) -> None:
        super().__init__(experiment, parameters, data_end=None)

    def aggregate(self, metric: Metric, side: Side, window: str) -> str:
        conditions = [window, f'e."event" = {self.parameters.bind(side.event)}',
                      *conditions_sql(side.where, "e", self.parameters)]
        return f"{metric.kind.aggregate(metric, side, self)} FILTER (WHERE {' AND '.join(conditions)})"

    def first_time(self) -> str:
        raise _NotAWindowTotal

    def hours_since_window_start(self, aggregate: str) -> str:
        raise _NotAWindowTotal

    def exposure_hours(self, metric: Metric) -> str:
        raise _NotAWindowTotal

    def when_observable(self, end: float, value: str) -> str:
        raise _NotAWindowTotal
