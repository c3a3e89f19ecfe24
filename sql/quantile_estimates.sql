-- Pass 1 of a quantile metric: the sample quantile of event values per variant.
-- Slots: {metric_events} (quantile_events.sql); {estimate} the quantile of "value" at the metric's
-- probability (a bind parameter); {non_finite} the condition of a NaN or infinite value.
SELECT "variant", {estimate} AS "estimate", count(*) AS "events",
       count(*) FILTER (WHERE {non_finite}) AS "non_finite"
FROM ({metric_events}) AS me
GROUP BY "variant"
