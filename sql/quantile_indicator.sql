-- Pass 2 of a quantile metric: per unit, its events (N_i) and those at or below its variant's
-- sample quantile (B_i); per variant, the integer sums giving the moments of (B_i, N_i) exactly
-- (the same on every run), whose ratio's delta-method variance is the rank uncertainty of the
-- quantile (Liu et al. 2019).
-- Slots: {metric_events}; {thresholds} a VALUES list of (variant, estimate) bind parameters.
WITH thresholds AS (
    SELECT * FROM (VALUES {thresholds}) AS t("variant", "estimate")
),
per_unit AS (
    SELECT me."variant", me."user_id",
           count(*) FILTER (WHERE me."value" <= t."estimate") AS "below",
           count(*) AS "events"
    FROM ({metric_events}) AS me
    JOIN thresholds AS t ON me."variant" = t."variant"
    GROUP BY me."variant", me."user_id"
)
SELECT "variant", count(*) AS "units",
       sum("below") AS "below_sum", sum("below" * "below") AS "below_squares",
       sum("events") AS "events_sum", sum("events" * "events") AS "events_squares",
       sum("below" * "events") AS "products"
FROM per_unit
GROUP BY "variant"
