-- Would-be units of a plan: every user active in the baseline period, "exposed" at their first
-- event in [start, entry_end) (the last metric window before the data end is left for measuring).
-- Slots: {events} normalized events; {start}, {entry_end} and {variant} bind parameters (the
-- variant name given to every would-be unit).
SELECT "user_id", min("timestamp") AS "timestamp", CAST({variant} AS {dialect.text_type}) AS "variant"
FROM {events}
WHERE "timestamp" >= {start} AND "timestamp" < {entry_end}
GROUP BY "user_id"
