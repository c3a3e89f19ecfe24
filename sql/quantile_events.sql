-- The events of one quantile metric: event-level values of exposed units in their windows, each
-- with its unit and variant (the clusters of Liu et al. 2019). Used as a subquery by the three
-- quantile passes.
-- Slots: {spine}, {unit_filter} (declared variants), {events}, {value} the value column,
-- {conditions} AND-conditions (event name, window, as-of, filters) on bind parameters.
SELECT x."variant", e."user_id", e.{value} AS "value"
FROM {events} AS e
JOIN {spine} AS x ON e."user_id" = x."user_id"
WHERE NOT x."multiple_variants" {unit_filter}
  AND e.{value} IS NOT NULL
  AND {conditions}
