"""Exact (Clopper-Pearson) interval for a binomial proportion, e.g. a false-positive rate.

Clopper & Pearson (1934), "The use of confidence or fiducial limits illustrated in the case of the
binomial", Biometrika 26(4): the bounds are quantiles of Beta distributions,
lower = B^{-1}(alpha/2; k, n - k + 1), upper = B^{-1}(1 - alpha/2; k + 1, n - k).
"""

from __future__ import annotations

from iterate.errors import StatsError


def binomial_interval(successes: int, trials: int, *, alpha: float = 0.05) -> tuple[float, float]:
    """Two-sided ``1 - alpha`` Clopper-Pearson interval of a proportion.

    Example:
        >>> low, high = binomial_interval(10, 200)
        >>> round(low, 4), round(high, 4)
        (0.0242, 0.09)
    """
    if not isinstance(trials, int) or trials < 1 or not isinstance(successes, int) or not 0 <= successes <= trials:
        raise StatsError(f"successes == {successes!r} of trials == {trials!r}; need 0 <= successes <= trials, trials >= 1")
    if not 0 < alpha < 1:
        raise StatsError(f"alpha == {alpha!r}, must be in (0, 1)")
    from scipy.special import betaincinv

    low = 0.0 if successes == 0 else float(betaincinv(successes, trials - successes + 1, alpha / 2))
    high = 1.0 if successes == trials else float(betaincinv(successes + 1, trials - successes, 1 - alpha / 2))
    return low, high
