"""``quantile``: the ``quantile`` (e.g. 0.95) of the event's ``value`` over all its occurrences,
e.g. p95 page-load latency. Event-level, clustered by unit: the interval accounts for the
correlation of a unit's events (Liu et al. 2019, "Large-Scale Online Experimentation with
Quantile Metrics"), computed in three passes over the metric's events
(:mod:`iterate.aggregation.quantiles`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from iterate.metrics.base import MetricKind

if TYPE_CHECKING:
    from iterate.config.model import Metric
    from iterate.stats import Estimate


class Quantile(MetricKind):
    name = "quantile"
    keys = frozenset({"event", "value", "quantile"})
    per_unit = False
    plannable = False
    statistics = ("iterate.stats.quantile",)

    def problems(self, metric: Metric, where: str) -> list[str]:
        problems = super().problems(metric, where)
        if metric.value is None:
            problems.append(f"{where}: a quantile metric needs `value`, the column whose quantile is taken")
        quantile = metric.quantile
        if not isinstance(quantile, (int, float)) or isinstance(quantile, bool) or not 0 < quantile < 1:
            problems.append(f"{where}: quantile == {quantile!r}, must be in (0, 1), such as 0.95")
        return problems

    def no_evidence(self, arms: Sequence[Any]) -> str | None:
        """No event value in any arm (``QuantileSummary`` of each arm), or a single value everywhere."""
        if all(arm.n_events == 0 for arm in arms):
            return "no event has a value in any arm"
        if all(arm.lower is not None and arm.lower == arm.upper == arm.estimate for arm in arms) \
                and len({arm.estimate for arm in arms}) == 1:
            return "every event has the same value in every arm (no variance)"
        return None

    def test(self, control: Any, treatment: Any, *, alternative: str, alpha: float) -> Estimate:
        """The difference of two clustered quantiles (``QuantileSummary`` of each arm)."""
        from iterate.stats.quantile import quantile_test

        return quantile_test(control, treatment, alternative=alternative, alpha=alpha)


QUANTILE = Quantile()
