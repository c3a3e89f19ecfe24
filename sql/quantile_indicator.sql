-- Pass 2 of a quantile metric: per unit, its events (N_i) and those at or below its variant's
-- sample quantile (B_i); per variant, the moments of (B_i, N_i), whose ratio's delta-method
-- variance is the rank uncertainty of the quantile (Liu et al. 2019).
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
       avg("below") AS "below_mean", var_samp("below") AS "below_var",
       avg("events") AS "events_mean", var_samp("events") AS "events_var",
       covar_samp("below", "events") AS "covariance"
FROM per_unit
GROUP BY "variant"
