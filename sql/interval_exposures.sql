-- The exposures log with the canary interval of each exposure: the index of the fixed-length
-- interval, aligned on the clock (multiples of its length since 1970-01-01T00:00:00), that holds
-- its timestamp. The unit spine (exposed_units.sql) reads it as an exposure dimension, so a unit's
-- interval is the interval of its first exposure and the unit-metrics scan groups the moments per
-- interval like any segment.
-- Slots: {exposures} the normalized exposures relation; {interval} the quoted name of the interval
-- column ("dim:<name>"); {interval_index} the text of floor(epoch seconds / length), the length a
-- bind parameter.
SELECT *, {interval_index} AS {interval}
FROM {exposures}
