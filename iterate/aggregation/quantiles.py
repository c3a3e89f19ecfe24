"""Quantile metrics on event-level values clustered by unit (Liu et al. 2019), in three passes.

1. the sample quantile of each variant;
2. per unit, its events and those at or below its variant's quantile: the moments of that ratio
   give the rank uncertainty (``iterate.stats.quantile_rank_bounds``);
3. the empirical quantile at the rank bounds: the ends of the confidence interval.

Only these summaries reach Python; the event values stay in the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from iterate.aggregation.parameters import Parameters, conditions_sql
from iterate.aggregation.spine import Spine
from iterate.aggregation.unit_metrics import metric_range
from iterate.config import Experiment, Metric
from iterate.ingest import PreparedLogs, value_column
from iterate.templates import quote_identifier, render

if TYPE_CHECKING:
    import duckdb

    from iterate.stats import QuantileSummary


def quantile_summaries(
    con: duckdb.DuckDBPyConnection,
    experiment: Experiment,
    logs: PreparedLogs,
    spine: Spine,
    variants: Sequence[str],
    metric: Metric,
) -> dict[str, QuantileSummary]:
    """Quantile estimate and clustered interval of ``metric`` in each variant."""
    from iterate.stats import QuantileSummary, RatioMoments, quantile_rank_bounds

    parameters = Parameters()
    time = metric_range(metric, experiment)
    conditions = [f'e."event" = {parameters.bind(metric.event)}', time.lower(parameters)]
    upper = time.upper(parameters)
    if upper is not None:
        conditions.append(upper)
    if experiment.as_of is not None:
        conditions.append(f'e."timestamp" <= {parameters.bind(experiment.as_of)}')
    event_level = [c for c in experiment.where if c.column not in logs.exposure_dimensions]
    conditions += conditions_sql((*event_level, *metric.where), "e", parameters)
    metric_events = render(
        "quantile_events",
        spine=spine.relation,
        unit_filter=f'AND x."variant" IN ({", ".join(parameters.bind(v) for v in variants)})',
        events=logs.events.view,
        value=quote_identifier(value_column(experiment, metric.value)),
        conditions="\n  AND ".join(conditions),
    )
    probability = float(metric.quantile)

    estimates = {
        row[0]: (float(row[1]), int(row[2]))
        for row in con.execute(
            render("quantile_estimates", metric_events=metric_events),
            {**spine.parameters, **parameters.values, "probability": probability},
        ).fetchall()
    }
    if not estimates:
        return {variant: QuantileSummary(0, 0, probability, None, None, None, experiment.alpha) for variant in variants}

    thresholds = parameters.copy()
    values_list = ", ".join(
        f"({thresholds.bind(variant)}, CAST({thresholds.bind(estimate)} AS DOUBLE))"
        for variant, (estimate, _) in estimates.items()
    )
    indicator_rows = con.execute(
        render("quantile_indicator", metric_events=metric_events, thresholds=values_list),
        {**spine.parameters, **thresholds.values},
    ).fetchall()
    ranks = {}
    units = {}
    for variant, n, below_mean, below_var, events_mean, events_var, covariance in indicator_rows:
        units[variant] = int(n)
        indicator = RatioMoments(
            n=int(n), numerator_mean=float(below_mean), denominator_mean=float(events_mean),
            numerator_variance=float(below_var or 0.0), denominator_variance=float(events_var or 0.0),
            covariance=float(covariance or 0.0),
        )
        ranks[variant] = quantile_rank_bounds(indicator, probability, alpha=experiment.alpha)

    bounds_parameters = parameters.copy()
    selected, order = [], []
    for variant, rank in ranks.items():
        if rank.lower is None or rank.upper is None:
            continue
        only = f'FILTER (WHERE "variant" = {bounds_parameters.bind(variant)})'
        for bound in ("lower", "upper"):
            selected.append(f'quantile_cont("value", {bounds_parameters.bind(float(getattr(rank, bound)))}) {only}')
            order.append((variant, bound))
    bounds: dict[str, dict[str, float]] = {}
    if selected:
        row = con.execute(render("quantile_bounds", metric_events=metric_events, bounds=", ".join(selected)),
                          {**spine.parameters, **bounds_parameters.values}).fetchone()
        for (variant, bound), value in zip(order, row):
            bounds.setdefault(variant, {})[bound] = None if value is None else float(value)

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
    return summaries
