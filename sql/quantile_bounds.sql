-- Pass 3 of a quantile metric: the empirical quantile function of each variant at the lower and
-- upper rank bounds, which are the ends of the quantile's confidence interval (Liu et al. 2019).
-- Slots: {metric_events}; {bounds} one `quantile_cont("value", $rank) FILTER (WHERE "variant" = $v)`
-- per variant and bound.
SELECT {bounds}
FROM ({metric_events}) AS me
