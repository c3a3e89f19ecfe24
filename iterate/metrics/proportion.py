"""``proportion``: whether the unit did the event in its window (0/1), e.g. the share of purchasers.

Tested with the two-proportion z-test (pooled standard error) and a Wald interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from iterate.metrics.base import MetricKind, UnitSql, UnitValue

if TYPE_CHECKING:
    from iterate.config.model import Metric


class Proportion(MetricKind):
    name = "proportion"
    binary = True
    cuped = True

    def unit_value(self, metric: Metric, aggregates: Sequence[str], sql: UnitSql) -> UnitValue:
        return UnitValue(sql.indicator(aggregates[0]))


PROPORTION = Proportion()
