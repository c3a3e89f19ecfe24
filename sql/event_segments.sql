-- The unit spine with segment values taken from the events log (for dimensions the exposures
-- lack): the value on the unit's first event at or after its first exposure.
-- Slots: {events} normalized events; {exposed} the unit spine without those segments;
-- {segment_columns} the first non-null value of each segment's dimension column by event time,
-- aliased "segment:<column>"; {time_condition} empty or an upper bound on event time (as-of).
SELECT *
FROM {exposed}
LEFT JOIN (
    SELECT x."user_id", {segment_columns}
    FROM {events} AS e
    JOIN {exposed} AS x ON e."user_id" = x."user_id"
    WHERE e."timestamp" >= x."first_exposure"
      {time_condition}
    GROUP BY x."user_id"
) USING ("user_id")
