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

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, eagerly, for type checkers and IDEs
    from iterate.stats.bayes import BayesianResult, bayesian_comparison, bayesian_summary, expected_positive_part
    from iterate.stats.binomial import binomial_interval
    from iterate.stats.canary import CanaryRule, CanaryScore, GroupScore, MannWhitneyResult, canary_score, mann_whitney
    from iterate.stats.cuped import CovariateStatus, CupedEstimate, JointMoments, cuped_test
    from iterate.stats.estimate import (
        Alternative,
        Estimate,
        RelativeInterval,
        RelativeStatus,
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
    from iterate.stats.moments import Moments, shifted_covariance, shifted_variance
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
    from iterate.stats.rates import (
        RatePath,
        RateStatus,
        RateTest,
        StratifiedRateTest,
        sequential_rate_path,
        sequential_rate_test,
        stratified_rate_test,
    )
    from iterate.stats.ratio import RatioMoments, delta_method_test, relative_lift
    from iterate.stats.sequential import (
        SequentialResult,
        confidence_sequence,
        confidence_sequence_path,
        default_mixing_variance,
        msprt,
        msprt_path,
    )
    from iterate.stats.srm import SrmResult, sample_ratio_mismatch, sequential_sample_ratio_mismatch
    from iterate.stats.stratified import StratifiedEstimate, stratified_effect

_PUBLIC = {
    "bayes": ("BayesianResult", "bayesian_comparison", "bayesian_summary", "expected_positive_part"),
    "binomial": ("binomial_interval",),
    "canary": ("CanaryRule", "CanaryScore", "GroupScore", "MannWhitneyResult", "canary_score", "mann_whitney"),
    "cuped": ("CovariateStatus", "CupedEstimate", "JointMoments", "cuped_test"),
    "estimate": (
        "Alternative", "Estimate", "RelativeInterval", "RelativeStatus", "Status", "interval_and_p_value",
        "relative_difference",
    ),
    "group_sequential": (
        "GroupSequentialDesign", "GroupSequentialTest", "alpha_spent", "group_sequential_test",
        "spending_boundaries",
    ),
    "heterogeneity": ("HeterogeneityResult", "SegmentDeviation", "heterogeneity_test", "segment_deviations"),
    "means": ("welch_t_test",),
    "moments": ("Moments", "shifted_covariance", "shifted_variance"),
    "multiplicity": ("Correction", "adjust_p_values"),
    "power": (
        "PowerAlternative", "ProportionVariance", "achieved_power", "duration_days", "guardrail_power",
        "minimum_detectable_effect", "non_inferiority_sample_size", "sample_size_per_arm",
        "unrounded_sample_size_per_arm",
    ),
    "proportions": ("two_proportion_z_test",),
    "quantile": ("QuantileRanks", "QuantileSummary", "quantile_rank_bounds", "quantile_test"),
    "rates": ("RatePath", "RateStatus", "RateTest", "StratifiedRateTest", "sequential_rate_path", "sequential_rate_test",
              "stratified_rate_test"),
    "ratio": ("RatioMoments", "delta_method_test", "relative_lift"),
    "sequential": (
        "SequentialResult", "confidence_sequence", "confidence_sequence_path", "default_mixing_variance",
        "msprt", "msprt_path",
    ),
    "srm": ("SrmResult", "sample_ratio_mismatch", "sequential_sample_ratio_mismatch"),
    "stratified": ("StratifiedEstimate", "stratified_effect"),
}
"""Public names by the submodule defining them. ``from iterate.stats import X`` imports X's module
only (PEP 562), so an analysis that needs no NumPy does not pay for importing it."""

_SUBMODULE = {name: module for module, names in _PUBLIC.items() for name in names}
_SUBMODULES = {*_PUBLIC, "distributions"}

__all__ = sorted(_SUBMODULE)


def __getattr__(name: str) -> Any:
    module = _SUBMODULE.get(name)
    if module is not None:
        value = getattr(import_module(f"iterate.stats.{module}"), name)
    elif name in _SUBMODULES:
        value = import_module(f"iterate.stats.{name}")
    else:
        raise AttributeError(f"module 'iterate.stats' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
