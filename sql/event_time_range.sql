-- First and last event time of the events log (answered from Parquet statistics when possible).
-- Slots: {events} normalized events.
SELECT min("timestamp") AS "first_event", max("timestamp") AS "last_event"
FROM {events}
