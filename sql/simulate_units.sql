-- Simulation, step 1: one row per unit (iterate/simulate.py describes the model): id, whether it
-- is exposed (the first {exposed_units} are), its variant, exposure time (ms since 1970), activity
-- weight, platform and country, and the uniforms deciding its exposure problems. User ids are
-- 1..N in a seeded random order, so exposure status cannot be read from the id.
-- Slots: {unit_range} a FROM item numbering the units "i" from 0; {exposed_units}; {variant},
-- {platform}, {country} CASE choices on uniforms; {start_ms}, {period_ms}; {exposure_uniform},
-- {cross_uniform}, {duplicate_uniform}, {second_time_uniform}, {order_uniform},
-- {cross_variant_uniform} uniforms of the unit; {activity_sigma}, {activity_shift} and
-- {activity_normal} the log-normal activity weight exp(s Z - s^2/2); {variants} the number of
-- variants (a cross-exposure goes to one of the others, uniformly).
WITH drawn AS (
    SELECT
        i,
        i < {exposed_units} AS exposed,
        CAST(({variant}) AS INTEGER) AS v_idx,
        {start_ms} + CAST(floor({exposure_uniform} * {period_ms}) AS BIGINT) AS exposure_ms,
        exp({activity_sigma} * {activity_normal}
            - {activity_shift}) AS activity,
        {platform} AS platform,
        {country} AS country,
        {cross_uniform} AS u_cross,
        {duplicate_uniform} AS u_dup,
        {second_time_uniform} AS u_second,
        {order_uniform} AS u_order
    FROM {unit_range}
)
SELECT
    i,
    row_number() OVER (ORDER BY u_order, i) AS user_id,
    exposed, v_idx, exposure_ms, activity, platform, country, u_cross, u_dup, u_second,
    (v_idx + 1 + CAST(floor({cross_variant_uniform} * {other_variants}) AS INTEGER)) % {variants} AS v_other
FROM drawn
ORDER BY i
