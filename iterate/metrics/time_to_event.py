"""``time_to_event``: hours from the unit's window start to its first occurrence of the event in
the window, among the units that did it (the others have no value: left out of n and counted).

Tested with Welch's t-test on the per-unit hours.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from iterate.metrics.base import MetricKind, UnitSql, UnitValue

if TYPE_CHECKING:
    from iterate.config.model import Metric, Side


class TimeToEvent(MetricKind):
    name = "time_to_event"
    cappable = True

    def aggregate(self, metric: Metric, side: Side, sql: UnitSql) -> str:
        return sql.first_time()

    def unit_value(self, metric: Metric, aggregates: Sequence[str], sql: UnitSql) -> UnitValue:
        return UnitValue(sql.hours_since_window_start(aggregates[0]))


TIME_TO_EVENT = TimeToEvent()
