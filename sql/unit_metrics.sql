-- Per-variant (and per-segment) moments of every unit-level metric, in one scan of the events log,
-- and the exposure counts of the spine (rows of each kind told apart by "row_kind").
--
-- Each unit's window starts at "window_start" (first exposure + exposure delay). Units exposed to
-- several variants or to an undeclared variant are excluded. Exposed units without events count
-- as zeros (LEFT JOIN + coalesce), except where a metric defines no value for them (retention
-- before its day is observable, time to an event that did not happen): those stay NULL and are
-- left out of that metric's n. Only the events and time range the metrics need are read: the
-- WHERE is pushed into the scan, and each metric keeps its own part as a FILTER.
--
-- Slots (identifiers quoted, values as bind parameters; filled by iterate/aggregation/unit_metrics.py
-- from the per-unit aggregates and values each metric kind of iterate/metrics/ declares):
--   {spine}            the unit spine: its temp table, or its query (exposed_units.sql) in
--                      parentheses, then computed here, once, for the moments and the counts
--   {unit_filter}      AND-conditions on the spine (declared variants)
--   {events}           normalized events relation
--   {scan_conditions}  AND-conditions of the scan (event names, time range, as-of, event filters)
--   {unit_aggregates}  per-unit aggregates, each with its FILTER, aliased "a0", "a1", ... (an
--                      aggregate that several metrics need is computed once)
--   {segments}         segment columns of the spine, each followed by a comma (or empty)
--   {unit_values}      per-unit metric values from the aggregates ("m0_y", "m0_x", "m0_py", ...)
--   {caps}             the pooled cap of each percentile-capped metric (one row), else 1 AS "no_cap"
--   {caps_source}      units when a cap is a pooled percentile, else (SELECT 1)
--   {caps_join}        ", caps" when a metric is capped, else empty (units is then read once)
--   {capped_values}    the values after capping, and capped-unit flags
--   {moments}          per group: counts, and exact sums of each value, of its square and of
--                      the products of pairs of values (about a shift near their mean when the
--                      values sit far from 0 compared with their spread)
--   {group_source}     the units to group: capped as it is, or (A/A calibration) capped crossed
--                      with replicates, each unit re-randomized to an arm by a hash of its id
--   {group_keys}       grouping columns, each followed by a comma
--   {grouping}         GROUPING SETS of (variant) and (variant, segment) for each segment, or
--                      the replicate and arm of a calibration
--   {exposure_counts}  units per variant (exposure_summary.sql) of the spine, all units included
--   {moment_columns}   the columns of both row kinds, as the moments give them (NULL where they
--   {exposure_columns} have none), and as the exposure counts give them
WITH spine {dialect.materialized_cte} (
    SELECT * FROM {spine}
),
exposed AS (
    SELECT *
    FROM spine
    WHERE NOT "multiple_variants" {unit_filter}
),
unit_aggregates AS (
    SELECT e."user_id", {unit_aggregates}
    FROM {events} AS e
    JOIN exposed AS x ON e."user_id" = x."user_id"
    WHERE {scan_conditions}
    GROUP BY e."user_id"
),
units AS (
    SELECT x."user_id", x."variant", {segments} {unit_values}
    FROM exposed AS x
    LEFT JOIN unit_aggregates AS u ON u."user_id" = x."user_id"
),
caps AS (
    SELECT {caps}
    FROM {caps_source}
),
capped AS (
    SELECT "user_id", "variant", {segments} {capped_values}
    FROM units{caps_join}
),
grouped AS (
    {group_source}
),
moments AS (
    SELECT {group_keys} {moments}
    FROM grouped
    GROUP BY {grouping}
),
exposure_counts AS (
    {exposure_counts}
)
SELECT 'moments' AS "row_kind", {moment_columns} FROM moments
UNION ALL
SELECT 'exposures' AS "row_kind", {exposure_columns} FROM exposure_counts
