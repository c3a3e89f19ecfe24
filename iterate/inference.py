"""How a comparison row is read beyond the fixed-horizon test: anytime-valid (sequential) p-values
and intervals, the nominal alpha of a group-sequential look, and Bayesian summaries beside them
(``inference = "bayesian"`` or ``"both"``).

Pure functions on comparison rows; the statistics live in :mod:`iterate.stats`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from iterate.config import Experiment
from iterate.decision import classify
from iterate.result import MetricResult

# these statistics (NumPy, SciPy) are imported by the functions that use them, so that an
# analysis without sequential, group-sequential or Bayesian options does not import them


def tuning_std_error(row: MetricResult, experiment: Experiment) -> float:
    """Standard error expected at the planned size, where the sequential interval is tuned to be tightest.

    se scales as 1/sqrt(n): se(planned) = se(now) * sqrt(n(now) / n(planned)). Without
    ``planned_units`` the current size is used (document: set planned_units for a tuning fixed
    before the experiment, as Johari et al. 2022 recommend).
    """
    now = row.n_control + row.n_treatment
    planned = experiment.planned_units or now
    return row.std_error * math.sqrt(now / planned)


def with_sequential(row: MetricResult, experiment: Experiment) -> MetricResult:
    """The row with always-valid p-value and interval (mSPRT or confidence sequence) at this look.

    Valid at any stopping time, however often the experiment is looked at. Relative intervals are
    fixed-horizon quantities and are left out (``None``) under sequential inference.
    """
    from iterate.stats.sequential import confidence_sequence, default_mixing_variance, msprt

    if row.effect is None or not row.std_error:
        return row
    if experiment.sequential_method == "msprt":
        tau2 = default_mixing_variance(alpha=experiment.alpha, std_error_at_planned_n=tuning_std_error(row, experiment))
        result = msprt(row.effect, row.std_error, alpha=experiment.alpha, mixing_variance=tau2)
    else:
        n = row.n_control + row.n_treatment
        result = confidence_sequence(row.effect, row.std_error, n, alpha=experiment.alpha,
                                     tuning_n=experiment.planned_units or n)
    if result.p_value is None:
        return row
    return replace(
        row,
        method=f"{row.method}+{result.method}",
        p_value=result.p_value,
        p_value_adjusted=result.p_value,
        ci_low=result.ci_low,
        ci_high=result.ci_high,
        relative_ci_low=None,
        relative_ci_high=None,
        relative_status="not_tested",
        outcome=classify(row.direction, row.effect, result.p_value, row.alpha),
    )


def look_alpha(experiment: Experiment, analyzed_units: int) -> tuple[float, int, float] | None:
    """Nominal two-sided alpha of the current look of a group-sequential design.

    Looks are planned at equal information fractions k/K of ``planned_units``; the current look is
    the last planned fraction reached, its fraction the actual one (Lan & DeMets 1983: the spending
    function gives the alpha spent at any information fraction). Returns (alpha, look, fraction).
    """
    if experiment.looks is None or experiment.planned_units is None:
        return None
    from iterate.stats.group_sequential import spending_boundaries

    fraction = min(1.0, analyzed_units / experiment.planned_units)
    looks = experiment.looks
    look = max(1, min(looks, math.ceil(fraction * looks - 1e-9)))
    fractions = [k / looks for k in range(1, look)] + [max(fraction, (look - 1) / looks + 1e-6)]
    design = spending_boundaries(fractions, alpha=experiment.alpha, spending=experiment.spending, rho=experiment.spending_rho)
    return design.nominal_alphas[-1], look, fraction


def with_look_alpha(rows: Sequence[MetricResult], nominal_alpha: float) -> list[MetricResult]:
    """Rows judged against the nominal alpha of the current look instead of the overall alpha."""
    return [
        replace(row, decision_alpha=nominal_alpha,
                outcome=classify(row.direction, row.effect, row.p_value_adjusted, nominal_alpha))
        for row in rows
    ]


def with_bayesian(row: MetricResult, experiment: Experiment) -> MetricResult:
    """The row with the chance to beat control and the expected loss of shipping (normal posterior;
    Deng 2015, Stucchio 2015). ``prior_std`` is a prior on the relative effect, scaled to the
    metric's units by the control mean."""
    from iterate.stats.bayes import bayesian_summary

    if row.effect is None or not row.std_error:
        return row
    relative_prior = experiment.prior_std is not None and row.control_mean not in (None, 0)
    summary = bayesian_summary(row.effect, row.std_error, control_mean=row.control_mean, direction=row.direction,
                               prior_std=experiment.prior_std if relative_prior else None,
                               relative_prior=relative_prior, credible_level=1 - row.alpha)
    return replace(row, chance_to_beat=summary.chance_to_beat_control, expected_loss=summary.expected_loss_ship)
