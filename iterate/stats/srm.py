"""Sample ratio mismatch: do the arms' unit counts match the planned split?

Example:
    >>> from iterate.stats import sample_ratio_mismatch
    >>> r = sample_ratio_mismatch({"control": 44700, "treatment": 45489},
    ...                           {"control": 0.5, "treatment": 0.5})
    >>> round(r.statistic, 2), round(r.p_value, 4), r.mismatch
    (6.9, 0.0086, False)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from iterate.stats.distributions import chdtrc

from iterate.errors import StatsError
from iterate.stats.estimate import count_problem


@dataclass(frozen=True, slots=True)
class SrmResult:
    """Outcome of the sample ratio mismatch check.

    Attributes:
        statistic: Pearson's chi-square statistic.
        df: Degrees of freedom, number of variants - 1.
        p_value: Upper-tail chi-square probability of ``statistic``.
        threshold: The p-value below which a mismatch is declared.
        mismatch: ``p_value < threshold``.
        observed: Units per variant, as given.
        expected_counts: Units per variant expected from the planned shares.
        method: ``chi_square`` (fixed horizon) or ``dirichlet_multinomial`` (anytime-valid).
    """

    statistic: float
    df: int
    p_value: float
    threshold: float
    mismatch: bool
    observed: dict[str, int]
    expected_counts: dict[str, float]
    method: str = "chi_square"

    @property
    def largest_deviation(self) -> float:
        """The largest relative deviation of a variant's share from its planned share,
        ``max |O_i / E_i - 1|``: the practical size of a mismatch."""
        return max(abs(self.observed[name] / expected - 1) for name, expected in self.expected_counts.items())


def sample_ratio_mismatch(
    observed: Mapping[str, int],
    expected_shares: Mapping[str, float],
    *,
    threshold: float = 0.001,
) -> SrmResult:
    """Pearson chi-square goodness-of-fit test of the observed split.

    ``statistic = sum((O_i - E_i)**2 / E_i)`` with ``E_i = N * s_i`` and
    ``df = k - 1`` (Pearson 1900, "On the criterion that a given system of
    deviations...", Philosophical Magazine 50). Fabijan et al. 2019,
    "Diagnosing Sample Ratio Mismatch in Online Controlled Experiments"
    (KDD), recommend this test with a strict threshold such as 0.0005 to
    0.001, because a mismatch invalidates every metric of the experiment.

    Args:
        observed: Units per variant.
        expected_shares: Planned share per variant, > 0; normalized to sum 1.
        threshold: Mismatch when the p-value is below it, in (0, 1).

    Returns:
        The statistic, p-value and verdict; equals ``scipy.stats.chisquare``.

    Raises:
        StatsError: On differing variant names, a share <= 0, a negative or
            non-integer count, fewer than 2 variants, no units, or a bad
            threshold.

    Example:
        >>> r = sample_ratio_mismatch({"a": 21307, "b": 21387, "c": 21306},
        ...                           {"a": 1, "b": 1, "c": 1})
        >>> round(r.statistic, 3), round(r.p_value, 3), r.df
        (0.203, 0.904, 2)
    """
    names, expected = _checked(observed, expected_shares, threshold)
    statistic = math.fsum((observed[name] - expected[name]) ** 2 / expected[name] for name in names)
    df = len(names) - 1
    p_value = float(chdtrc(df, statistic))
    return SrmResult(
        statistic=statistic,
        df=df,
        p_value=p_value,
        threshold=threshold,
        mismatch=p_value < threshold,
        observed={name: int(observed[name]) for name in names},
        expected_counts=expected,
    )


def sequential_sample_ratio_mismatch(
    observed: Mapping[str, int],
    expected_shares: Mapping[str, float],
    *,
    threshold: float = 0.001,
    concentration: float = 100.0,
) -> SrmResult:
    """Anytime-valid test of the observed split: valid however often the experiment is checked.

    Lindon & Malek (2022), "Anytime-Valid Inference for Multinomial Count Data" (NeurIPS), the
    Dirichlet-multinomial test: under H0 the units fall into the variants with the planned
    shares ``theta_0``; the alternative mixes over ``Dirichlet(a)`` with ``a = concentration *
    theta_0``. The Bayes factor of counts ``x`` (total ``n``), their eq. (4),

        BF = [Gamma(sum a) / Gamma(sum a + n)] * prod_i [Gamma(a_i + x_i) / Gamma(a_i)]
             / prod_i theta_0i ** x_i,

    is a nonnegative martingale under H0, so ``p = min(1, 1 / BF)`` is a valid p-value at any
    stopping time (Ville's inequality): checking every day does not inflate false alarms, as
    the chi-square test's p-value at large N does. ``statistic`` is ``log BF``; ``df`` the number
    of variants - 1.

    Args:
        observed: Units per variant.
        expected_shares: Planned share per variant, > 0; normalized to sum 1.
        threshold: Mismatch when the p-value is below it, in (0, 1).
        concentration: Prior concentration ``k`` of the alternative (``a = k * theta_0``), > 0;
            100, as in Lindon & Malek's examples: deviations of a few percent are found fast.

    Raises:
        StatsError: As :func:`sample_ratio_mismatch`, or a concentration <= 0.

    Example:
        >>> r = sequential_sample_ratio_mismatch({"control": 10000, "treatment": 10150}, {"control": 1, "treatment": 1})
        >>> round(r.p_value, 3), r.mismatch
        (1.0, False)
        >>> sequential_sample_ratio_mismatch({"control": 10000, "treatment": 11000}, {"control": 1, "treatment": 1}).mismatch
        True
    """
    if isinstance(concentration, bool) or not (isinstance(concentration, (int, float)) and concentration > 0):
        raise StatsError(f"concentration == {concentration!r}, must be a number > 0")
    names, expected = _checked(observed, expected_shares, threshold)
    total = sum(int(observed[name]) for name in names)
    shares = {name: expected[name] / total for name in names}
    prior = {name: concentration * shares[name] for name in names}
    log_bayes_factor = (
        math.lgamma(concentration) - math.lgamma(concentration + total)
        + math.fsum(math.lgamma(prior[name] + observed[name]) - math.lgamma(prior[name]) for name in names)
        - math.fsum(observed[name] * math.log(shares[name]) for name in names)
    )
    p_value = min(1.0, math.exp(-log_bayes_factor)) if log_bayes_factor > -700 else 1.0
    return SrmResult(
        statistic=log_bayes_factor,
        df=len(names) - 1,
        p_value=p_value,
        threshold=threshold,
        mismatch=p_value < threshold,
        observed={name: int(observed[name]) for name in names},
        expected_counts=expected,
        method="dirichlet_multinomial",
    )


def _checked(observed: Mapping[str, int], expected_shares: Mapping[str, float],
             threshold: float) -> tuple[list[str], dict[str, float]]:
    """The variant names and their expected counts, after checking every argument."""
    if isinstance(threshold, bool) or not 0 < threshold < 1:
        raise StatsError(f"threshold == {threshold!r}, must be in (0, 1)")
    missing = sorted(set(observed) - set(expected_shares))
    extra = sorted(set(expected_shares) - set(observed))
    if missing or extra:
        problems = [f"variant {v!r} is observed but has no expected share" for v in missing]
        problems += [f"variant {v!r} has an expected share but no observed count" for v in extra]
        raise StatsError("observed variants and expected_shares differ", problems)
    names = list(observed)
    if len(names) < 2:
        raise StatsError(f"{len(names)} variant(s) given, the check needs at least 2")
    for name in names:
        count = observed[name]
        problem = count_problem(count, f"observed[{name!r}]")
        if problem:
            raise StatsError(problem)
        share = expected_shares[name]
        if not (math.isfinite(share) and share > 0):
            raise StatsError(f"expected_shares[{name!r}] == {share!r}, must be a number > 0")
    total = sum(int(observed[name]) for name in names)
    if total == 0:
        raise StatsError("observed counts sum to 0, the check needs at least one unit")
    share_sum = math.fsum(float(expected_shares[name]) for name in names)
    expected = {name: total * float(expected_shares[name]) / share_sum for name in names}
    return names, expected
