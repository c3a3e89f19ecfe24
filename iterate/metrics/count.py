"""``count``: the number of the event's occurrences per unit in its window, e.g. sessions per user.

Tested with Welch's t-test on the per-unit counts (units without events count as 0).
"""

from __future__ import annotations

from iterate.metrics.base import MetricKind


class Count(MetricKind):
    name = "count"
    cuped = True
    cappable = True
    event_count = True


COUNT = Count()
