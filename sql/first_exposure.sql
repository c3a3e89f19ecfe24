-- The experiment's earliest exposure (after the experiment, as-of, unit and exposure-event
-- filters): the start of the experiment, and whether any unit is exposed at all.
-- Slots: {exposures} the normalized exposures relation; {exposure_filter} empty or a WHERE clause
-- on bind parameters (the same as the spine's, exposed_units.sql).
SELECT min("timestamp") AS "first_exposure"
FROM {exposures}
{exposure_filter}
