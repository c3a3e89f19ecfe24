-- Units per variant, overall and per exposure segment: exposed to exactly one variant (analyzed)
-- or to several (excluded; counted under the alphabetically first of their variants).
-- Slots: {exposed} the unit spine (exposed_units.sql); {segments} segment columns, each followed
-- by a comma; {groupings} GROUPING() of each segment, each followed by a comma;
-- {grouping_sets} (variant) and (variant, segment) for each segment.
SELECT
    "variant", {segments} {groupings}
    count(*) FILTER (WHERE NOT "multiple_variants") AS "units",
    count(*) FILTER (WHERE "multiple_variants") AS "multiple_variant_units"
FROM {exposed}
GROUP BY GROUPING SETS ({grouping_sets})
