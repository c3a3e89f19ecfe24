-- Duplicate events among those the metrics read: rows of an analyzed unit sharing its id, event
-- name and timestamp, within the metrics' scan range.
-- Slots: {events}; {spine}; {unit_filter} (declared variants); {scan_conditions} the conditions of
-- the metrics scan (event names, time range, as-of, event filters).
SELECT count(*) AS "duplicate_groups", coalesce(sum("copies" - 1), 0) AS "extra_rows"
FROM (
    SELECT count(*) AS "copies"
    FROM {events} AS e
    JOIN {spine} AS x ON e."user_id" = x."user_id"
    WHERE NOT x."multiple_variants" {unit_filter}
      AND {scan_conditions}
    GROUP BY e."user_id", e."event", e."timestamp"
    HAVING count(*) > 1
)
