-- Which of the given event names occur in the events log at all (asked only for metrics whose
-- windows hold no evidence, to tell a misspelt event from an empty window).
-- Slots: {events} the normalized events; {names} bind parameters of the event names.
SELECT DISTINCT "event"
FROM {events}
WHERE "event" IN ({names})
