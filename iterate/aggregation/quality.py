"""Data-quality queries on the event times. Counts only (duplicates come with the metrics scan)."""

from __future__ import annotations

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
