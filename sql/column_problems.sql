-- Counts of rows that break the data contract in one log, in a single scan.
-- Slots: {checks} one `count(*) FILTER (WHERE ...) AS "name"` per check; {source} the raw relation.
SELECT count(*) AS "rows", {checks}
FROM {source}
