-- Events stamped after the analysis time (clock or pipeline errors) or long before the experiment
-- started; run only when the time range says there may be any.
-- Slots: {events}; bind parameters $now and $early.
SELECT
    count(*) FILTER (WHERE "timestamp" > $now) AS "future_events",
    count(*) FILTER (WHERE "timestamp" < $early) AS "early_events"
FROM {events}
WHERE "timestamp" > $now OR "timestamp" < $early
