"""``event_rate``: events per unit of exposure time, e.g. crashes per user-hour.

Per unit: the number of ``event`` rows in its window (``where`` applies) and its exposure time in
hours, from its window start to the earlier of its window end and the data end (the as-of time,
else the last event), so a unit exposed an hour ago counts one hour, not a whole window. The
metric is the sum of the counts over the sum of the hours, a ratio of per-unit means tested with
the delta method like ``ratio`` (Deng, Knoblich & Lu 2018, "Applying the Delta Method in Metric
Analytics", eq. 4): the user, not the hour, is the unit of randomization, so a user who crashes
repeatedly widens the interval as it should.

Rollouts also judge it with the anytime-valid test for counting processes on the arms' sums of
counts and hours (:func:`iterate.stats.rates.sequential_rate_test`, Lindon & Malek 2022), which
stops a crash-rate regression within hours (``counting_process``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from iterate.metrics.base import MetricKind, UnitSql, UnitValue

if TYPE_CHECKING:
    from iterate.config.model import Metric
    from iterate.stats import Estimate


class EventRate(MetricKind):
    name = "event_rate"
    plannable = False
    counting_process = True

    def unit_value(self, metric: Metric, aggregates: Sequence[str], sql: UnitSql) -> UnitValue:
        return UnitValue(sql.zero_if_null(aggregates[0]), sql.exposure_hours(metric))

    def test(self, control: Any, treatment: Any, *, alternative: str, alpha: float) -> Estimate:
        """The delta-method test of the difference of two rates (ratios of per-unit means)."""
        from iterate.stats import delta_method_test

        return delta_method_test(control, treatment, alternative=alternative, alpha=alpha)


EVENT_RATE = EventRate()
