"""Metric kinds: the only place that knows a metric ``type``.

Each kind is one module declaring what it needs (:class:`iterate.metrics.base.MetricKind`); the
registry below maps the config's ``type`` to it. Config validation, aggregation, comparisons and
planning ask the kind, so adding a kind is adding a module and a line here.

Example:
    >>> from iterate.metrics import METRIC_KINDS
    >>> METRIC_KINDS["ratio"].cuped, METRIC_KINDS["quantile"].per_unit
    (True, False)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from iterate.metrics.active_days import ACTIVE_DAYS
from iterate.metrics.base import DAY, EventRange, MetricKind, UnitSql, UnitValue
from iterate.metrics.count import COUNT
from iterate.metrics.event_rate import EVENT_RATE
from iterate.metrics.mean import MEAN
from iterate.metrics.proportion import PROPORTION
from iterate.metrics.quantile import QUANTILE
from iterate.metrics.ratio import RATIO
from iterate.metrics.retention import RETENTION
from iterate.metrics.time_to_event import TIME_TO_EVENT

if TYPE_CHECKING:
    from iterate.config.model import Metric

__all__ = ["DAY", "METRIC_KINDS", "EventRange", "MetricKind", "UnitSql", "UnitValue", "kind_of"]

METRIC_KINDS: Mapping[str, MetricKind] = {
    kind.name: kind
    for kind in (PROPORTION, MEAN, COUNT, RATIO, QUANTILE, RETENTION, TIME_TO_EVENT, ACTIVE_DAYS, EVENT_RATE)
}
"""Every metric kind by its ``type`` name, in the order the documentation lists them."""


def kind_of(metric: Metric) -> MetricKind:
    """The kind of a (validated) metric."""
    return METRIC_KINDS[metric.type]
