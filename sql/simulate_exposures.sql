-- Simulation, step 3: the exposures log: each exposed unit's first exposure, plus later duplicate
-- exposures (same variant, harmless) and cross-exposures (another variant: to be excluded), in
-- time order.
-- Slots: {names} VALUES rows (v_idx, variant); {duplicate_time} and {second_time} the times (ms)
-- of a unit's later exposures; {duplicate_share}, {cross_share}; {experiment} the bind parameter
-- of the experiment name; {timestamp} the exposure time from "ts" in microseconds.
WITH names(v_idx, variant) AS (VALUES {names}),
rows AS (
    SELECT user_id, v_idx, exposure_ms AS ts FROM units WHERE exposed
    UNION ALL
    SELECT user_id, v_idx, {duplicate_time} FROM units
    WHERE exposed AND u_dup < {duplicate_share}
    UNION ALL
    SELECT user_id, v_other, {second_time} FROM units
    WHERE exposed AND u_cross < {cross_share}
)
SELECT
    CAST(rows.user_id AS BIGINT) AS user_id,
    CAST({experiment} AS {dialect.text_type}) AS experiment,
    names.variant,
    {timestamp} AS "timestamp"
FROM rows JOIN names USING (v_idx)
ORDER BY rows.ts, rows.user_id, names.variant
