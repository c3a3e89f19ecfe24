-- The cohorts of a new app version: per update day (the UTC date a unit is first seen on the new
-- version), the units that updated that day having been seen on an older version at or before the
-- start of their pre-update window (the updaters the difference-in-differences can use), the other
-- units first seen on the new version that day (seen on an old version too late, or never: new
-- installs), and, on the row whose update day is NULL, the units never seen on the new version.
-- Slots: {exposures} the normalized exposures relation (its "variant" is each unit's app version,
-- its "timestamp" the time the unit is seen on it); {exposure_filter} empty or a WHERE clause on
-- bind parameters (experiment, as-of, unit filters); {new} the new version (a bind parameter);
-- {update_day} the UTC date of "updated_at"; {pre_period} the pre-update window as an interval.
WITH seen AS (
    SELECT
        "user_id",
        min("timestamp") FILTER (WHERE "variant" = {new}) AS "updated_at",
        min("timestamp") FILTER (WHERE "variant" <> {new}) AS "old_seen"
    FROM {exposures}
    {exposure_filter}
    GROUP BY "user_id"
),
dated AS (
    SELECT *, {update_day} AS "update_day"
    FROM seen
)
SELECT
    "update_day",
    count(*) FILTER (WHERE "updated_at" IS NOT NULL
                     AND "old_seen" <= CAST("update_day" AS TIMESTAMP) - {pre_period}) AS "updaters",
    count(*) FILTER (WHERE "updated_at" IS NOT NULL
                     AND ("old_seen" IS NULL OR "old_seen" > CAST("update_day" AS TIMESTAMP) - {pre_period}))
        AS "other_updaters",
    count(*) FILTER (WHERE "updated_at" IS NULL) AS "never_updated"
FROM dated
GROUP BY "update_day"
ORDER BY "update_day" NULLS FIRST
