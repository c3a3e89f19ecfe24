"""Which events a query reads: time ranges relative to each unit, and the scan's WHERE.

A metric reads its events from its window start (first exposure + exposure delay) over its window
(or its own range, e.g. a retention day); its pre-exposure value reads the period before the first
exposure. The scan of all metrics reads the union of these ranges, pushed into the scan, and each
aggregate keeps its own part as a FILTER.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from iterate.aggregation.conditions import conditions_sql
from iterate.config import Experiment, Metric
from iterate.ingest import PreparedLogs
from iterate.templates import Parameters, quote_identifier


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Event times ``[anchor + start, anchor + end)`` of a unit, ``end`` ``None`` for no end;
    ``anchor`` is a column of the unit spine (``window_start`` or ``first_exposure``)."""

    anchor: str
    start: float
    end: float | None

    def lower(self, parameters: Parameters) -> str:
        """The condition on the event time for the start of the range."""
        return f'e."timestamp" >= x.{quote_identifier(self.anchor)}{_offset(self.start, parameters)}'

    def upper(self, parameters: Parameters) -> str | None:
        """The condition on the event time for the end of the range (``None`` without one)."""
        if self.end is None:
            return None
        return f'e."timestamp" < x.{quote_identifier(self.anchor)}{_offset(self.end, parameters)}'


def _offset(seconds: float, parameters: Parameters) -> str:
    if seconds == 0:
        return ""
    sign = "+" if seconds > 0 else "-"
    return f" {sign} {parameters.dialect.seconds(parameters.bind(abs(float(seconds))))}"


def metric_range(metric: Metric, experiment: Experiment) -> TimeRange:
    """Event-time range of a metric, relative to the unit's window start (declared by its kind)."""
    declared = metric.kind.event_range(metric, experiment.window_seconds)
    return TimeRange("window_start", declared.start, declared.end)


def pre_range(metric: Metric, experiment: Experiment) -> TimeRange:
    """The pre-exposure period of a metric: the ``pre_seconds`` before the first exposure."""
    return TimeRange("first_exposure", -float(experiment.pre_seconds(metric)), 0.0)


def aggregates_pre_period(metric: Metric, experiment: Experiment) -> bool:
    """Whether the metric's pre-exposure value is aggregated from the events (not a covariate column)."""
    return metric.covariate is None and experiment.pre_seconds(metric) is not None


def scan_range(experiment: Experiment, metrics: Sequence[Metric]) -> TimeRange:
    """The union of the ranges of ``metrics`` (and of their pre-exposure periods)."""
    ranges = [metric_range(m, experiment) for m in metrics]
    pre = [experiment.pre_seconds(m) for m in metrics if aggregates_pre_period(m, experiment)]
    if pre:
        start_anchor, start = "first_exposure", -float(max(pre))
    elif len({r.start for r in ranges}) == 1:
        start_anchor, start = "window_start", ranges[0].start
    else:
        start_anchor, start = "window_start", min(r.start for r in ranges)
    ends = [r.end for r in ranges]
    end = None if any(e is None for e in ends) else max(ends)
    # the upper bound is always relative to the window start
    return TimeRange(start_anchor, start, end)


def scan_upper(scan: TimeRange, parameters: Parameters) -> str | None:
    """The scan's upper bound, relative to the window start."""
    return None if scan.end is None else TimeRange("window_start", 0.0, scan.end).upper(parameters)


def event_names(metrics: Sequence[Metric]) -> list[str]:
    """The event names the metrics read, sorted."""
    return sorted({side.event for metric in metrics for side in metric.sides})


def scan_conditions(events: Sequence[str], lower: str, upper: str | None, experiment: Experiment,
                    logs: PreparedLogs, parameters: Parameters) -> list[str]:
    """The WHERE of a metrics scan: event names, time range, as-of and event-level filters."""
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
