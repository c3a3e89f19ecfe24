"""``active_days``: the number of distinct UTC calendar dates on which the unit did the event within
its window (0 when it never did), e.g. days with a session in the first week.

Engagement measured in days rather than events is robust to a few very heavy users and to
double-logged events. Tested with Welch's t-test on the per-unit day counts; CUPED-able with the
same count in the pre-exposure period.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iterate.metrics.base import MetricKind, UnitSql

if TYPE_CHECKING:
    from iterate.config.model import Metric, Side


class ActiveDays(MetricKind):
    name = "active_days"
    cuped = True

    def aggregate(self, metric: Metric, side: Side, sql: UnitSql) -> str:
        return sql.distinct_days()


ACTIVE_DAYS = ActiveDays()
