-- Units per variant: exposed to exactly one variant (analyzed) or to several (excluded, counted
-- under the alphabetically first of their variants).
-- Slots: {exposed} the unit spine made by exposed_units.sql.
SELECT
    "variant",
    count(*) FILTER (WHERE NOT "multiple_variants") AS "units",
    count(*) FILTER (WHERE "multiple_variants") AS "multiple_variant_units"
FROM {exposed}
GROUP BY "variant"
ORDER BY "variant"
