-- The unit spine of an analysis: one row per unit exposed to the experiment, with its first
-- exposure time and variant, and whether it was exposed to more than one variant (such units are
-- excluded from the metrics and counted). Unit-level, so small next to the events log.
-- Slots: {exposures} normalized exposures relation; {experiment_filter} empty or a WHERE clause
-- on the bind parameter $experiment.
SELECT
    "user_id",
    min("timestamp") AS "first_exposure",
    min("variant") AS "variant",
    min("variant") <> max("variant") AS "multiple_variants"
FROM {exposures}
{experiment_filter}
GROUP BY "user_id"
