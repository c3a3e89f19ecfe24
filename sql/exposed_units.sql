-- The unit spine of an analysis: one row per unit exposed to the experiment, with its first
-- exposure, the start of its metric window (first exposure + exposure delay), its variant, whether
-- it was exposed to more than one variant (such units are excluded and counted), and its segment
-- values at first exposure. Unit-level, so small next to the events log.
-- Slots: {exposures} normalized exposures relation; {exposure_filter} empty or a WHERE clause
-- (experiment, as-of, unit filters, exposure event) on bind parameters; {window_offset} the exposure
-- delay as an interval (a bind parameter of seconds); {segment_columns} empty or, per segment (and per
-- CUPED covariate column), `, <value of "dim:<column>" at the first "timestamp", even a NULL one>
-- AS "segment:<column>"` (the value at first exposure: a later value could carry the treatment's
-- effect).
SELECT
    "user_id",
    min("timestamp") AS "first_exposure",
    min("timestamp") + {window_offset} AS "window_start",
    min("variant") AS "variant",
    min("variant") <> max("variant") AS "multiple_variants"{segment_columns}
FROM {exposures}
{exposure_filter}
GROUP BY "user_id"
