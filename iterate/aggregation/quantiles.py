"""Quantile metrics on event-level values clustered by unit (Liu et al. 2019), in three passes.

1. the sample quantile of each variant;
2. per unit, its events and those at or below its variant's quantile: the moments of that ratio
   give the rank uncertainty (``iterate.stats.quantile_rank_bounds``);
3. the empirical quantile at the rank bounds: the ends of the confidence interval.

Only these summaries reach Python; the event values stay in the engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from iterate.aggregation.conditions import conditions_sql
from iterate.aggregation.ranges import metric_range
from iterate.aggregation.spine import Spine
from iterate.aggregation.unit_metrics import non_finite_error
from iterate.aggregation.unit_metrics import values_too_large
from iterate.config import Experiment, Metric
from iterate.engines import Engine
from iterate.ingest import PreparedLogs, value_column
from iterate.templates import Parameters, Query, quote_identifier, render

if TYPE_CHECKING:
    from iterate.stats import QuantileRanks, QuantileSummary

_LARGEST_VALUE = 1e150
"""Largest quantile value analyzed: the interval's standard error squares differences of values,
which overflow a 64-bit float beyond about 1e154."""


def quantile_summaries(
    engine: Engine,
    experiment: Experiment,
    logs: PreparedLogs,
    spine: Spine,
    variants: Sequence[str],
    metric: Metric,
) -> dict[str, QuantileSummary]:
    """Quantile estimate and clustered interval of ``metric`` in each variant."""
    from iterate.stats import QuantileSummary

    parameters = Parameters(engine.dialect)
    metric_events = _metric_events(engine, experiment, logs, spine, variants, metric, parameters)
    probability = float(metric.quantile)
    try:
        estimates = _estimates(engine, metric_events, spine, parameters.copy(), probability)
    except _NonFiniteValues:
        raise non_finite_error(engine, experiment, logs, metric) from None
    if not estimates:
        return {variant: QuantileSummary(0, 0, probability, None, None, None, experiment.alpha) for variant in variants}
    units, ranks = _rank_bounds(engine, metric_events, spine, parameters.copy(), estimates, probability, experiment.alpha)
    bounds = _quantiles_at_ranks(engine, metric_events, spine, parameters.copy(), ranks)
    summaries = {}
    for variant in variants:
        estimate, events = estimates.get(variant, (None, 0))
        interval = bounds.get(variant, {})
        summaries[variant] = QuantileSummary(
            n_units=units.get(variant, 0),
            n_events=events,
            p=probability,
            estimate=estimate,
            lower=interval.get("lower") if units.get(variant, 0) >= 2 else None,
            upper=interval.get("upper") if units.get(variant, 0) >= 2 else None,
            alpha=experiment.alpha,
        )
    bounds_found = [x for summary in summaries.values() for x in (summary.estimate, summary.lower, summary.upper)
                    if x is not None]
    if any(not abs(x) <= _LARGEST_VALUE for x in bounds_found):
        raise values_too_large(metric, experiment)
    return summaries


def _metric_events(engine: Engine, experiment: Experiment, logs: PreparedLogs, spine: Spine, variants: Sequence[str],
                   metric: Metric, parameters: Parameters) -> Query:
    """The query of the metric's event values in the units' windows (a subquery of each pass)."""
    time = metric_range(metric, experiment)
    conditions = [f'e."event" = {parameters.bind(metric.event)}', time.lower(parameters)]
    upper = time.upper(parameters)
    if upper is not None:
        conditions.append(upper)
    if experiment.as_of is not None:
        conditions.append(f'e."timestamp" <= {parameters.bind(experiment.as_of)}')
    event_level = [c for c in experiment.where if c.column not in logs.exposure_dimensions]
    conditions += conditions_sql((*event_level, *metric.where), "e", parameters)
    return render(
        "quantile_events",
        engine.dialect,
        spine=spine.relation,
        unit_filter=f'AND x."variant" IN ({", ".join(parameters.bind(v) for v in variants)})',
        events=logs.events.view,
        value=quote_identifier(value_column(experiment, metric.value)),
        conditions="\n  AND ".join(conditions),
    )


def _estimates(engine: Engine, metric_events: Query, spine: Spine, parameters: Parameters,
               probability: float) -> dict[str, tuple[float, int]]:
    """Pass 1: each variant's sample quantile and number of events."""
    estimate = engine.dialect.quantile(_VALUE, parameters.bind(probability))
    query = render("quantile_estimates", engine.dialect, {**spine.parameters, **parameters.values},
                   metric_events=metric_events, estimate=estimate, non_finite=engine.dialect.is_not_finite(_VALUE))
    rows = engine.execute(query).values
    if any(row[3] for row in rows):
        raise _NonFiniteValues
    return {row[0]: (float(row[1]), int(row[2])) for row in rows}


class _NonFiniteValues(Exception):
    """The metric's event values hold NaN or infinities (raised inside this module only)."""


def _rank_bounds(engine: Engine, metric_events: Query, spine: Spine, parameters: Parameters,
                 estimates: Mapping[str, tuple[float, int]], probability: float,
                 alpha: float) -> tuple[dict[str, int], dict[str, QuantileRanks]]:
    """Pass 2: units per variant and the rank interval of each variant's quantile."""
    from iterate.stats import RatioMoments, quantile_rank_bounds

    values_list = ", ".join(
        f"({parameters.bind(variant)}, CAST({parameters.bind(estimate)} AS DOUBLE))"
        for variant, (estimate, _) in estimates.items()
    )
    query = render("quantile_indicator", engine.dialect, {**spine.parameters, **parameters.values},
                   metric_events=metric_events, thresholds=values_list)
    units, ranks = {}, {}
    for variant, n, below, below_squares, events, events_squares, products in engine.execute(query).values:
        n = int(n)
        units[variant] = n
        indicator = RatioMoments(
            n=n, numerator_mean=int(below) / n, denominator_mean=int(events) / n,
            numerator_variance=_exact_covariance(n, below, below, below_squares),
            denominator_variance=_exact_covariance(n, events, events, events_squares),
            covariance=_exact_covariance(n, below, events, products),
        )
        ranks[variant] = quantile_rank_bounds(indicator, probability, alpha=alpha)
    return units, ranks


def _exact_covariance(n: int, sum_a: int, sum_b: int, sum_of_products: int) -> float:
    """Sample covariance of integer values from their integer sums, in exact arithmetic:
    (n S_ab - S_a S_b) / (n (n - 1)), 0 below two units."""
    if n < 2:
        return 0.0
    return (n * int(sum_of_products) - int(sum_a) * int(sum_b)) / (n * (n - 1))


def _quantiles_at_ranks(engine: Engine, metric_events: Query, spine: Spine, parameters: Parameters,
                        ranks: Mapping[str, QuantileRanks]) -> dict[str, dict[str, float | None]]:
    """Pass 3: each variant's empirical quantile at its lower and upper rank bounds."""
    selected, order = [], []
    for variant, rank in ranks.items():
        if rank.lower is None or rank.upper is None:
            continue
        only = f'FILTER (WHERE "variant" = {parameters.bind(variant)})'
        for bound in ("lower", "upper"):
            selected.append(f'{engine.dialect.quantile(_VALUE, parameters.bind(float(getattr(rank, bound))))} {only}')
            order.append((variant, bound))
    bounds: dict[str, dict[str, float | None]] = {}
    if selected:
        query = render("quantile_bounds", engine.dialect, {**spine.parameters, **parameters.values},
                       metric_events=metric_events, bounds=", ".join(selected))
        for (variant, bound), value in zip(order, engine.execute(query).first()):
            bounds.setdefault(variant, {})[bound] = None if value is None else float(value)
    return bounds


_VALUE = '"value"'
