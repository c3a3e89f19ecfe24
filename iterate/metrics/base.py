"""What a metric kind declares: :class:`MetricKind`, and the SQL vocabulary it writes with.

A kind is everything iterate knows about one ``type`` of metric, in one module: the config keys
it reads and their checks, the events it aggregates (its *sides*) and over which time range, the
per-unit aggregate and value it computes (as SQL fragments through :class:`UnitSql`, which the
aggregation layer implements on the engine's dialect), the moments that follow, its statistical
test, and whether it is binary, CUPED-able, cappable and plannable. Nothing outside
``iterate/metrics/`` branches on a type name: the rest of iterate asks the kind.

Every per-unit kind is a ratio of per-unit means (a mean is the ratio with denominator 1, Deng
et al. 2018), so the aggregation merges the aggregates of all metrics into one scan and the
moments of each are the same five numbers: n, means, variances and covariance of (y, x).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from iterate.config.model import Metric, Side
    from iterate.stats import Estimate

DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class EventRange:
    """The events a metric reads for a unit: from ``start`` to ``end`` seconds after the unit's
    window start (``end`` ``None``: no end)."""

    start: float
    end: float | None


@dataclass(frozen=True, slots=True)
class UnitValue:
    """A unit's value of a metric as SQL: ``numerator`` (y) and, for ratio kinds, ``denominator``
    (x); the metric is mean(y) / mean(x), x = 1 when ``denominator`` is ``None``."""

    numerator: str
    denominator: str | None = None


class UnitSql(Protocol):
    """The SQL a kind writes its per-unit aggregate and value with (implemented by the
    aggregation layer on the engine's dialect). ``e`` is an event of the unit, aggregates are
    referenced by the names given to :meth:`MetricKind.unit_value`."""

    def total(self, side: Side) -> str:
        """Aggregate: the sum of the side's ``value`` column, or the number of events without one."""

    def first_time(self) -> str:
        """Aggregate: the earliest event time."""

    def distinct_days(self) -> str:
        """Aggregate: the number of distinct UTC calendar dates of the events."""

    def zero_if_null(self, aggregate: str) -> str:
        """Value: the aggregate, 0 for a unit without events."""

    def indicator(self, aggregate: str) -> str:
        """Value: 1 when the aggregate is positive, else 0 (integer)."""

    def hours_since_window_start(self, aggregate: str) -> str:
        """Value: hours from the unit's window start to the time ``aggregate``."""

    def when_observable(self, end: float, value: str) -> str:
        """Value: ``value`` for units whose window start + ``end`` seconds is within the data,
        null for the others (and for all units when the data end is unknown)."""

    def exposure_hours(self, metric: Metric) -> str:
        """Value: the unit's exposure time in hours, over the metric's event range
        (:meth:`MetricKind.event_range`: its window, else the experiment's) cut at the data end
        (the as-of time, else the last event); 0 when the range starts after the data end, null
        for every unit when the data end is unknown."""


class MetricKind:
    """One ``type`` of metric. Subclasses set the class attributes and override what differs.

    Attributes:
        name: The ``type`` of the config.
        keys: Kind-specific keys the kind reads (among ``event``, ``value``, ``numerator``,
            ``denominator``, ``quantile``, ``days``); the other keys of a metric are common.
        binary: Per-unit values are 0/1 (a proportion): tested with the two-proportion z-test.
        cuped: Has a pre-exposure value of the same metric (imbalance check, CUPED covariate).
        cappable: Per-unit values may be capped (``cap``).
        per_unit: Aggregated per unit in the one events scan; ``False`` for event-level kinds.
        event_count: Per-unit values count events (``count``): a canary also tests them as a rate
            per unit with the anytime-valid rate test.
        plannable: ``iterate plan`` can size it from a baseline period.
        counting_process: The numerator is a count of events and the denominator an exposure time
            (a rate per unit of exposure): the arms' sums are counts and exposures of a Poisson
            process, so rollouts also judge the metric with the anytime-valid rate test
            (:func:`iterate.stats.rates.sequential_rate_test`).
        statistics: ``iterate.stats`` modules its test needs beyond the plain tests, imported in
            the background while the engine works.
    """

    name: ClassVar[str]
    keys: ClassVar[frozenset[str]] = frozenset({"event"})
    binary: ClassVar[bool] = False
    cuped: ClassVar[bool] = False
    cappable: ClassVar[bool] = False
    per_unit: ClassVar[bool] = True
    event_count: ClassVar[bool] = False
    plannable: ClassVar[bool] = True
    counting_process: ClassVar[bool] = False
    statistics: ClassVar[tuple[str, ...]] = ()

    def problems(self, metric: Metric, where: str) -> list[str]:
        """Every problem of the kind-specific keys of ``metric`` (``where`` names it in messages)."""
        problems = []
        if not isinstance(metric.event, str) or not metric.event:
            problems.append(f"{where}: `event` is missing; name the event this metric reads")
        if metric.numerator is not None or metric.denominator is not None:
            problems.append(only_applies(where, "numerator"))
        if metric.value is not None and (not isinstance(metric.value, str) or not metric.value):
            problems.append(f"{where}: value == {metric.value!r}, must be the name of a numeric column")
        elif metric.value is not None and "value" not in self.keys:
            problems.append(only_applies(where, "value"))
        if metric.quantile is not None and "quantile" not in self.keys:
            problems.append(only_applies(where, "quantile"))
        if metric.days is not None and "days" not in self.keys:
            problems.append(only_applies(where, "days"))
        return problems

    def sides(self, metric: Metric) -> tuple[Side, ...]:
        """The event aggregates the metric reads: one side (its event, value and filter)."""
        from iterate.config.model import Side

        return (Side(event=metric.event or "", value=metric.value, where=metric.where),)

    def event_range(self, metric: Metric, window: float | None) -> EventRange:
        """The metric's events relative to the window start: the metric's window (or the
        experiment's, ``window`` seconds)."""
        return EventRange(0.0, metric.window_seconds if metric.window is not None else window)

    def aggregate(self, metric: Metric, side: Side, sql: UnitSql) -> str:
        """The per-unit aggregate of one side's events: their total."""
        return sql.total(side)

    def unit_value(self, metric: Metric, aggregates: Sequence[str], sql: UnitSql) -> UnitValue:
        """A unit's value from its aggregates (one per side): the total, 0 without events."""
        return UnitValue(sql.zero_if_null(aggregates[0]))

    def no_evidence(self, arms: Sequence[Any]) -> str | None:
        """Why the arms' moments (``RatioMoments``) can show nothing, or ``None`` when they can:
        no unit has a value, no unit has a non-zero value (of the numerator or the denominator),
        or every unit has the same value in every arm."""
        if all(arm.n == 0 for arm in arms):
            return "no unit has a value in any arm"
        if all(arm.numerator_mean == 0 and arm.numerator_variance == 0 for arm in arms):
            return "no unit has a non-zero value in any arm"
        if all(arm.denominator_mean == 0 and arm.denominator_variance == 0 for arm in arms):
            return "the denominator is 0 for every unit of every arm"
        if all(arm.numerator_variance == 0 and arm.denominator_variance == 0 for arm in arms):
            return "every unit has the same value in each arm (no variance)"
        return None

    def test(self, control: Any, treatment: Any, *, alternative: str, alpha: float) -> Estimate:
        """The two-arm test of the kind, on per-unit moments (``RatioMoments`` with denominator 1):
        the two-proportion z-test for binary kinds, else Welch's t-test (Welch 1947)."""
        from iterate.stats import Moments, two_proportion_z_test, welch_t_test

        test = two_proportion_z_test if self.binary else welch_t_test
        return test(Moments(n=control.n, mean=control.numerator_mean, variance=control.numerator_variance),
                    Moments(n=treatment.n, mean=treatment.numerator_mean, variance=treatment.numerator_variance),
                    alternative=alternative, alpha=alpha)


_KEY_LABELS = {
    "value": ("`value` only applies", "; remove it or change the type"),
    "numerator": ("`numerator` / `denominator` only apply", ""),
    "quantile": ("`quantile` only applies", ""),
    "days": ("`day` / `days` only apply", ""),
}


def only_applies(where: str, key: str) -> str:
    """Message for a kind-specific key given to a kind that does not read it, naming the kinds that do."""
    from iterate.metrics import METRIC_KINDS

    label, advice = _KEY_LABELS[key]
    kinds = [f'"{name}"' for name, kind in METRIC_KINDS.items() if key in kind.keys]
    listed = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " or " + kinds[-1]
    return f"{where}: {label} to type = {listed}{advice}"
