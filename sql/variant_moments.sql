-- Per-variant moments of every metric, in one scan of the events log.
--
-- A unit's analysis window opens at its first exposure and, with a window, closes
-- $window_seconds later (end exclusive). Units exposed to several variants are excluded.
-- With a single event name, the per-metric FILTER clauses are left out (the WHERE does it).
-- Exposed units without any event in their window count as zeros (LEFT JOIN + coalesce).
-- Only the events named by the metrics are read (the IN filter is pushed into the scan).
--
-- Slots (identifiers quoted, values as bind parameters, filled by iterate/aggregation.py):
--   {exposed}               the unit spine made by exposed_units.sql
--   {events}                normalized events relation
--   {window_condition}      empty or AND e."timestamp" < x."first_exposure" + to_seconds($window_seconds)
--   {event_names}           bind parameters of the metrics' event names
--   {unit_aggregates}       one per-unit aggregate per metric, aliased "m0", "m1", ...
--   {unit_values}           coalesce(u."m0", 0) AS "m0", ...
--   {variant_moments}       avg("m0") AS "m0_mean", var_samp("m0") AS "m0_variance", ...
WITH exposed AS (
    SELECT "user_id", "first_exposure", "variant"
    FROM {exposed}
    WHERE NOT "multiple_variants"
),
unit_metrics AS (
    SELECT e."user_id", {unit_aggregates}
    FROM {events} AS e
    JOIN exposed AS x ON e."user_id" = x."user_id"
    WHERE e."event" IN ({event_names})
      AND e."timestamp" >= x."first_exposure"
      {window_condition}
    GROUP BY e."user_id"
),
units AS (
    SELECT x."variant", {unit_values}
    FROM exposed AS x
    LEFT JOIN unit_metrics AS u ON u."user_id" = x."user_id"
)
SELECT "variant", count(*) AS "units", {variant_moments}
FROM units
GROUP BY "variant"
ORDER BY "variant"
