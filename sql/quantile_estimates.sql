-- Pass 1 of a quantile metric: the sample quantile of event values per variant.
-- Slots: {metric_events} (quantile_events.sql); {estimate} the quantile of "value" at the metric's
-- probability (a bind parameter).
SELECT "variant", {estimate} AS "estimate", count(*) AS "events"
FROM ({metric_events}) AS me
GROUP BY "variant"
