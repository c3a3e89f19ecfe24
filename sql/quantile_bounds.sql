-- Pass 3 of a quantile metric: the empirical quantile function of each variant at the lower and
-- upper rank bounds, which are the ends of the quantile's confidence interval (Liu et al. 2019).
-- Slots: {metric_events}; {bounds} per variant and bound, the quantile of "value" at the rank
-- bound (a bind parameter), `FILTER (WHERE "variant" = $v)`.
SELECT {bounds}
FROM ({metric_events}) AS me
