-- Duplicate events among those the metrics read: rows sharing unit, event name and timestamp.
-- Slots: {events}; {event_names} bind parameters of the metrics' event names.
SELECT count(*) AS "duplicate_groups", coalesce(sum("copies" - 1), 0) AS "extra_rows"
FROM (
    SELECT count(*) AS "copies"
    FROM {events}
    WHERE "event" IN ({event_names})
    GROUP BY "user_id", "event", "timestamp"
    HAVING count(*) > 1
)
