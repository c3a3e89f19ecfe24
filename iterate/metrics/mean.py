"""``mean``: the per-unit sum of ``value`` over the event's occurrences (1 per event without
``value``), averaged over units, e.g. revenue per user.

Tested with Welch's t-test on the per-unit sums (units without events count as 0).
"""

from __future__ import annotations

from iterate.metrics.base import MetricKind


class Mean(MetricKind):
    name = "mean"
    keys = frozenset({"event", "value"})
    cuped = True
    cappable = True


MEAN = Mean()
