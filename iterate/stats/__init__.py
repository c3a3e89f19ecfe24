"""Statistics on summary statistics (moments) only: no engine, no data frames.

Everything here takes per-arm summaries (``Moments``: count, mean, sample
variance; ``RatioMoments`` for ratio metrics; ``QuantileSummary``) or per-test
numbers (p-values, per-segment effects) and returns flat, frozen results, so
it runs the same whatever engine produced the numbers, and works in a
notebook with numbers typed by hand.

Example:
    >>> from iterate.stats import Moments, welch_t_test
    >>> e = welch_t_test(Moments(1000, 10.0, 4.0), Moments(1000, 10.3, 4.2))
    >>> e.status, round(e.effect, 2), round(e.ci_low, 3), round(e.ci_high, 3)
    ('ok', 0.3, 0.122, 0.478)
    >>> round(e.p_value, 5), round(e.relative_effect, 3)
    (0.00094, 0.03)
"""

from __future__ import annotations

from iterate.stats.bayes import BayesianResult, bayesian_comparison, bayesian_summary, expected_positive_part
from iterate.stats.binomial import binomial_interval
from iterate.stats.cuped import CovariateStatus, CupedEstimate, JointMoments, cuped_test
from iterate.stats.estimate import (
    Alternative,
    Estimate,
    Status,
    interval_and_p_value,
    relative_difference,
)
from iterate.stats.group_sequential import (
    GroupSequentialDesign,
    GroupSequentialTest,
    alpha_spent,
    group_sequential_test,
    spending_boundaries,
)
from iterate.stats.heterogeneity import (
    HeterogeneityResult,
    SegmentDeviation,
    heterogeneity_test,
    segment_deviations,
)
from iterate.stats.means import welch_t_test
from iterate.stats.moments import Moments
from iterate.stats.multiplicity import Correction, adjust_p_values
from iterate.stats.power import (
    PowerAlternative,
    ProportionVariance,
    achieved_power,
    duration_days,
    guardrail_power,
    minimum_detectable_effect,
    non_inferiority_sample_size,
    sample_size_per_arm,
    unrounded_sample_size_per_arm,
)
from iterate.stats.proportions import two_proportion_z_test
from iterate.stats.quantile import QuantileRanks, QuantileSummary, quantile_rank_bounds, quantile_test
from iterate.stats.ratio import RatioMoments, delta_method_test, relative_lift
from iterate.stats.sequential import (
    SequentialResult,
    confidence_sequence,
    confidence_sequence_path,
    default_mixing_variance,
    msprt,
    msprt_path,
)
from iterate.stats.srm import SrmResult, sample_ratio_mismatch

__all__ = [
    "Alternative",
    "GroupSequentialDesign",
    "GroupSequentialTest",
    "SequentialResult",
    "alpha_spent",
    "confidence_sequence",
    "confidence_sequence_path",
    "default_mixing_variance",
    "group_sequential_test",
    "msprt",
    "msprt_path",
    "spending_boundaries",
    "BayesianResult",
    "PowerAlternative",
    "ProportionVariance",
    "achieved_power",
    "bayesian_comparison",
    "bayesian_summary",
    "binomial_interval",
    "duration_days",
    "expected_positive_part",
    "guardrail_power",
    "minimum_detectable_effect",
    "non_inferiority_sample_size",
    "sample_size_per_arm",
    "unrounded_sample_size_per_arm",
    "CovariateStatus",
    "CupedEstimate",
    "JointMoments",
    "cuped_test",
    "Correction",
    "Estimate",
    "HeterogeneityResult",
    "Moments",
    "QuantileRanks",
    "QuantileSummary",
    "RatioMoments",
    "SegmentDeviation",
    "SrmResult",
    "Status",
    "adjust_p_values",
    "delta_method_test",
    "heterogeneity_test",
    "interval_and_p_value",
    "quantile_rank_bounds",
    "quantile_test",
    "relative_difference",
    "relative_lift",
    "sample_ratio_mismatch",
    "segment_deviations",
    "two_proportion_z_test",
    "welch_t_test",
]
