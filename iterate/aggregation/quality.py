"""Data-quality queries: the event times, and the facts the evidence rules need (which event
names occur, what each log's ids and time range look like). Counts and examples only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from iterate.engines import Engine
from iterate.ingest import PreparedLogs
from iterate.templates import Parameters, render

EARLY_EVENT_HORIZON = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class EventTimes:
    """Time range of the events log and the events outside plausible times.

    Attributes:
        first_event: Earliest event time.
        last_event: Latest event time.
        last_plausible_event: Latest event time not after the analysis time.
        future_events: Events stamped after the analysis time.
        early_events: Events more than a year before the experiment's first exposure.
        early_before: The time before which an event counts as early.
    """

    first_event: datetime | None
    last_event: datetime | None
    future_events: int
    early_events: int
    early_before: datetime | None
    last_plausible_event: datetime | None

    @property
    def data_end(self) -> datetime | None:
        """Where the data ends: the last event not stamped in the future."""
        return self.last_plausible_event


def event_times(engine: Engine, logs: PreparedLogs, now: datetime, first_exposure: datetime | None) -> EventTimes:
    """Range of event times, and counts of future and far-too-early events (scanned only if any)."""
    dialect = engine.dialect
    first, last = engine.execute(render("event_time_range", dialect, events=logs.events.view)).first()
    early = None if first_exposure is None else first_exposure - EARLY_EVENT_HORIZON
    future_count = early_count = 0
    last_plausible = last
    if first is not None and (last > now or (early is not None and first < early)):
        parameters = Parameters(dialect)
        now_value, early_value = parameters.bind(now), parameters.bind(early or first)
        outliers = render("event_time_outliers", dialect, parameters.values, events=logs.events.view,
                          now=now_value, early=early_value)
        future_count, early_count, last_plausible = engine.execute(outliers).first()
    return EventTimes(first, last, int(future_count), int(early_count), early, last_plausible)


def events_found(engine: Engine, logs: PreparedLogs, names: Sequence[str]) -> set[str]:
    """Which of ``names`` occur in the events log."""
    if not names:
        return set()
    parameters = Parameters(engine.dialect)
    placeholders = ", ".join(parameters.bind(name) for name in names)
    query = render("events_found", engine.dialect, parameters.values, events=logs.events.view, names=placeholders)
    return {row[0] for row in engine.execute(query).values}


def event_names(engine: Engine, logs: PreparedLogs) -> list[str]:
    """The event names of the events log (the first 1000)."""
    return [row[0] for row in engine.execute(render("event_names", engine.dialect, events=logs.events.view)).values]


@dataclass(frozen=True, slots=True)
class LogSummary:
    """What a log looks like, to explain a failed join: its time range, its id type and an id."""

    label: str
    first: datetime | None
    last: datetime | None
    id_type: str
    example_id: str | None


def log_summaries(engine: Engine, logs: PreparedLogs) -> tuple[LogSummary, LogSummary]:
    """The events log's and the exposures log's summaries."""
    summaries = []
    for log in (logs.events, logs.exposures):
        first, last, example = engine.execute(render("log_summary", engine.dialect, relation=log.view)).first()
        summaries.append(LogSummary(log.label, first, last, log.columns.types.get("user_id", "?"), example))
    return summaries[0], summaries[1]


def log_time_range(engine: Engine, relation: str) -> tuple[datetime | None, datetime | None]:
    """The earliest and latest timestamp of a normalized log (answered from Parquet statistics when possible)."""
    first, last = engine.execute(render("event_time_range", engine.dialect, events=relation)).first()
    return first, last
