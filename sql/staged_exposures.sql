-- The exposures log with the ramp stage of each exposure: the stage whose [start, next start) holds
-- its timestamp (an exposure before the first start belongs to the first stage). The unit spine
-- (exposed_units.sql) reads it as an exposure dimension, so a unit's stage is the stage of its first
-- exposure and the unit-metrics scan groups the moments per stage like any segment.
-- Slots: {exposures} the normalized exposures relation; {stage} the quoted name of the stage column
-- ("dim:<name>"); {stage_case} a CASE over "timestamp" whose starts and labels are bind parameters.
SELECT *, {stage_case} AS {stage}
FROM {exposures}
