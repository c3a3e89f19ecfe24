-- Simulation, step 4: what was drawn, for the summary: exposed units per variant index, and the
-- units given a cross-exposure or a duplicate exposure (one row per variant index, the two
-- counts repeated).
-- Slots: {cross_share}, {duplicate_share}.
SELECT v_idx, count(*) AS "units",
       sum(count(*) FILTER (WHERE u_cross < {cross_share})) OVER () AS "cross_exposed",
       sum(count(*) FILTER (WHERE u_dup < {duplicate_share})) OVER () AS "duplicate_exposed"
FROM units
WHERE exposed
GROUP BY v_idx
