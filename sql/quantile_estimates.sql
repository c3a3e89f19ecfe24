-- Pass 1 of a quantile metric: the sample quantile of event values per variant.
-- Slots: {metric_events} (quantile_events.sql); bind parameter $probability.
SELECT "variant", quantile_cont("value", $probability) AS "estimate", count(*) AS "events"
FROM ({metric_events}) AS me
GROUP BY "variant"
