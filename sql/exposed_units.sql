-- The unit spine of an analysis: one row per unit exposed to the experiment, with its first
-- exposure, the start of its metric window (first exposure + exposure delay), its variant, whether
-- it was exposed to more than one variant (such units are excluded and counted), and its segment
-- values at first exposure. Unit-level, so small next to the events log.
-- Slots: {exposures} normalized exposures relation; {exposure_filter} empty or a WHERE clause
-- (experiment, as-of, unit filters, exposure event) on bind parameters; {exposure_delay} the bind
-- parameter of the exposure delay in seconds; {segment_columns} empty
-- or `, arg_min_null("dim:<column>", "timestamp") AS "segment:<column>"` per segment (the value at
-- first exposure, even a NULL one: a later value could carry the treatment's effect).
SELECT
    "user_id",
    min("timestamp") AS "first_exposure",
    min("timestamp") + to_seconds({exposure_delay}) AS "window_start",
    min("variant") AS "variant",
    min("variant") <> max("variant") AS "multiple_variants"{segment_columns}
FROM {exposures}
{exposure_filter}
GROUP BY "user_id"
