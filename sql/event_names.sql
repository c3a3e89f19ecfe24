-- The event names of the events log (the first 1000 by name), to suggest the nearest ones when a
-- configured event never occurs.
-- Slots: {events} the normalized events.
SELECT DISTINCT "event"
FROM {events}
ORDER BY 1
LIMIT 1000
