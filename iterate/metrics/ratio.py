"""``ratio``: the sum of ``numerator`` over the sum of ``denominator`` (per-unit sums of events or
of their values), e.g. crashes per app open. The unit of randomization is the user, not the
denominator's event, so the variance is the delta method's on the per-unit sums
(Deng, Knoblich & Lu 2018, "Applying the Delta Method in Metric Analytics", eq. 4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from iterate.metrics.base import MetricKind, UnitSql, UnitValue, only_applies

if TYPE_CHECKING:
    from iterate.config.model import Metric, Side
    from iterate.stats import Estimate


class Ratio(MetricKind):
    name = "ratio"
    keys = frozenset({"numerator", "denominator"})
    cuped = True
    cappable = True

    def problems(self, metric: Metric, where: str) -> list[str]:
        problems = []
        for label, side in (("numerator", metric.numerator), ("denominator", metric.denominator)):
            if side is None:
                problems.append(f"{where}: a ratio needs `{label} = {{ event = \"...\" }}`")
            else:
                problems += _side_problems(f"{where} {label}", side)
        if metric.event is not None or metric.value is not None:
            problems.append(f"{where}: a ratio takes `numerator` and `denominator`, not `event` / `value`")
        if metric.quantile is not None:
            problems.append(only_applies(where, "quantile"))
        if metric.days is not None:
            problems.append(only_applies(where, "days"))
        return problems

    def sides(self, metric: Metric) -> tuple[Side, ...]:
        return tuple(side for side in (metric.numerator, metric.denominator) if side is not None)

    def unit_value(self, metric: Metric, aggregates: Sequence[str], sql: UnitSql) -> UnitValue:
        numerator, denominator = aggregates
        return UnitValue(sql.zero_if_null(numerator), sql.zero_if_null(denominator))

    def test(self, control: Any, treatment: Any, *, alternative: str, alpha: float) -> Estimate:
        """The delta-method test of the difference of two ratios of means."""
        from iterate.stats import delta_method_test

        return delta_method_test(control, treatment, alternative=alternative, alpha=alpha)


def _side_problems(where: str, side: Side) -> list[str]:
    from iterate.config.model import conditions_problems

    problems = []
    if not isinstance(side.event, str) or not side.event:
        problems.append(f"{where}: `event` is missing")
    if side.value is not None and (not isinstance(side.value, str) or not side.value):
        problems.append(f"{where}: value == {side.value!r}, must be the name of a numeric column")
    return problems + conditions_problems(f"{where} where", side.where)


RATIO = Ratio()
