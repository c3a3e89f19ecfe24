-- The experiment names found in the exposures log (the first 20), for the message when none
-- matches the configured name.
-- Slots: {exposures} the normalized exposures relation.
SELECT DISTINCT "experiment"
FROM {exposures}
ORDER BY 1
LIMIT 20
