"""``retention``: whether the unit was active (did the event) on day N after its window start, or
on any day of ``days = [first, last]``; day N is ``[start + N days, start + N+1 days)``.

Units whose last day is not observable yet (it ends after the data) have no value: they are left
out of n and counted. Tested with the two-proportion z-test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from iterate.metrics.base import DAY, EventRange, MetricKind, UnitSql, UnitValue

if TYPE_CHECKING:
    from iterate.config.model import Metric


_MAX_DAY = 36_525


class Retention(MetricKind):
    name = "retention"
    keys = frozenset({"event", "days"})
    binary = True
    plannable = False

    def problems(self, metric: Metric, where: str) -> list[str]:
        problems = super().problems(metric, where)
        days = metric.days
        if not (isinstance(days, tuple) and len(days) == 2
                and all(isinstance(d, int) and not isinstance(d, bool) for d in days) and 0 <= days[0] <= days[1]):
            problems.append(f"{where}: retention needs `day = N` or `days = [first, last]` with 0 <= first <= last")
        elif days[1] > _MAX_DAY:
            problems.append(f"{where}: days == {list(days)!r}, the last day must be at most {_MAX_DAY:,} (100 years)")
        return problems

    def event_range(self, metric: Metric, window: float | None) -> EventRange:
        first, last = metric.days or (0, 0)
        return EventRange(first * DAY, (last + 1) * DAY)

    def unit_value(self, metric: Metric, aggregates: Sequence[str], sql: UnitSql) -> UnitValue:
        last_day_end = self.event_range(metric, None).end
        return UnitValue(sql.when_observable(last_day_end, sql.indicator(aggregates[0])))


RETENTION = Retention()
