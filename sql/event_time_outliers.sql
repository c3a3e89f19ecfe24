-- Events stamped after the analysis time (clock or pipeline errors) or long before the experiment
-- started, and the last event that is not in the future (where the data really ends); run only
-- when the time range says there may be such events.
-- Slots: {events}; {now} and {early} the bind parameters of the analysis time and of the time
-- before which an event counts as early.
SELECT
    count(*) FILTER (WHERE "timestamp" > {now}) AS "future_events",
    count(*) FILTER (WHERE "timestamp" < {early}) AS "early_events",
    max("timestamp") FILTER (WHERE "timestamp" <= {now}) AS "last_plausible_event"
FROM {events}
