-- Exposure bookkeeping for one experiment: units per variant, split into units seen in exactly
-- one variant (analyzed) and units exposed to several variants (excluded and counted).
-- Slots: {exposures} normalized exposures relation; {experiment_filter} empty or a WHERE clause
-- on the bind parameter $experiment.
WITH filtered AS (
    SELECT "user_id", "variant"
    FROM {exposures}
    {experiment_filter}
),
per_unit AS (
    SELECT "user_id", min("variant") AS "variant", count(DISTINCT "variant") AS "variant_count"
    FROM filtered
    GROUP BY "user_id"
)
SELECT
    "variant",
    count(*) FILTER (WHERE "variant_count" = 1) AS "units",
    count(*) FILTER (WHERE "variant_count" > 1) AS "multiple_variant_units"
FROM per_unit
GROUP BY "variant"
ORDER BY "variant"
