-- Difference-in-differences of a new app version on per-unit pre/post values, over the same
-- calendar days for updaters and comparison units; only moments come back.
--
-- Each cohort (an update day d, given as a row of {cohorts}) has four windows: early
-- [d - pre, d - pre/2), late [d - pre/2, d) (together the pre window), and post [d + 1 day,
-- d + 1 day + post); the update day itself, half on the old version and half on the new, is in
-- neither. An updater is measured in its own cohort's windows (weight 1), provided it was seen on an
-- old version at or before its pre window starts. A comparison unit (never seen on the new version)
-- is measured in every cohort's windows, weighted by the cohort's share of the updaters, provided it
-- was seen on an old version at or before the earliest window starts: its values are the
-- counterfactual trend over the updaters' own calendar days.
--
-- Slots: {exposures}, {exposure_filter}, {new}, {update_day} as in version_cohorts.sql; {cohorts}
-- a SELECT (or UNION ALL of them) with columns "update_day", "pre_start", "pre_middle",
-- "update_start", "post_start", "post_end", "weight", all bind parameters; {earliest_start} the
-- earliest "pre_start" (a bind parameter); {events} the normalized events relation;
-- {event_condition} AND-conditions on e joining events to windows (event names); {window_values}
-- per metric and window, the metric kind's per-unit value over the window's events, aliased
-- "m<i>_<window>"; {unit_values} per metric and window, the weighted sum over a unit's cohorts;
-- {moments} per metric, the count and exact sums of each value and of its square.
WITH seen AS (
    SELECT
        "user_id",
        min("timestamp") FILTER (WHERE "variant" = {new}) AS "updated_at",
        min("timestamp") FILTER (WHERE "variant" <> {new}) AS "old_seen"
    FROM {exposures}
    {exposure_filter}
    GROUP BY "user_id"
),
cohorts AS (
    {cohorts}
),
windows AS (
    SELECT s."user_id", 'updaters' AS "unit_group", c."update_day", c."pre_start", c."pre_middle",
           c."update_start", c."post_start", c."post_end", CAST(1.0 AS DOUBLE) AS "weight"
    FROM seen AS s
    JOIN cohorts AS c ON {update_day} = c."update_day"
    WHERE s."updated_at" IS NOT NULL AND s."old_seen" <= c."pre_start"
    UNION ALL
    SELECT s."user_id", 'comparison' AS "unit_group", c."update_day", c."pre_start", c."pre_middle",
           c."update_start", c."post_start", c."post_end", c."weight"
    FROM seen AS s
    CROSS JOIN cohorts AS c
    WHERE s."updated_at" IS NULL AND s."old_seen" <= {earliest_start}
),
window_values AS (
    SELECT w."user_id", w."unit_group", w."weight", {window_values}
    FROM windows AS w
    LEFT JOIN {events} AS e
        ON e."user_id" = w."user_id" AND e."timestamp" >= w."pre_start" AND e."timestamp" < w."post_end"
        {event_condition}
    GROUP BY w."user_id", w."unit_group", w."update_day", w."weight"
),
units AS (
    SELECT "user_id", "unit_group", {unit_values}
    FROM window_values
    GROUP BY "user_id", "unit_group"
)
SELECT "unit_group", count(*) AS "units", {moments}
FROM units
GROUP BY "unit_group"
ORDER BY "unit_group"
