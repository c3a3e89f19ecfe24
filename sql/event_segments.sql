-- Segment values of units taken from the events log (for dimensions the exposures lack): the
-- value on the unit's first event at or after its first exposure.
-- Slots: {events} normalized events; {exposed} the unit spine; {segment_columns}
-- `arg_min(e."dim:<column>", e."timestamp") AS "segment:<column>"` per segment;
-- {time_condition} empty or an upper bound on event time (as-of).
SELECT x."user_id", {segment_columns}
FROM {events} AS e
JOIN {exposed} AS x ON e."user_id" = x."user_id"
WHERE e."timestamp" >= x."first_exposure"
  {time_condition}
GROUP BY x."user_id"
