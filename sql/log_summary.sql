-- The time range and an example unit id of a log, to explain why exposures and events do not
-- join (asked only when few exposed units have events).
-- Slots: {relation} a normalized log.
SELECT min("timestamp") AS "first", max("timestamp") AS "last",
       min(CAST("user_id" AS {dialect.text_type})) AS "example_id"
FROM {relation}
