"""Per-arm summary statistics: sample size, mean and sample variance.

Example:
    >>> from iterate.stats import Moments
    >>> day1 = Moments.from_values([1.0, 2.0, 3.0])
    >>> day2 = Moments.from_values([4.0, 5.0])
    >>> both = day1 + day2
    >>> (both.n, both.mean, both.variance)
    (5, 3.0, 2.5)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from iterate.errors import StatsError
from iterate.stats.estimate import count_problem

if TYPE_CHECKING:
    import numpy as np

_NEGATIVE_VARIANCE_TOLERANCE = 1e-12


@dataclass(frozen=True, slots=True)
class Moments:
    """Sample size, sample mean and sample variance (ddof=1) of one arm.

    These are the only per-arm numbers the engines send to Python
    (``count``, ``avg`` and ``var_samp`` in SQL). When ``n < 2`` the
    variance is undefined; pass ``0.0``.

    A tiny negative variance from floating-point rounding (within
    ``1e-12 * max(1, mean**2)``) is clamped to ``0.0``.

    Args:
        n: Number of units.
        mean: Sample mean.
        variance: Sample variance with ``n - 1`` in the denominator.

    Raises:
        StatsError: If ``n`` is not a non-negative integer, the mean is not
            finite or the variance is negative or not finite.

    Example:
        >>> m = Moments(n=4, mean=2.5, variance=1.0)
        >>> m.std_error
        0.5
    """

    n: int
    mean: float
    variance: float

    def __post_init__(self) -> None:
        problem = count_problem(self.n, "n")
        if problem:
            raise StatsError(problem)
        mean = float(self.mean)
        variance = float(self.variance)
        if not math.isfinite(mean):
            raise StatsError(f"mean == {self.mean!r}, must be a finite number")
        if not math.isfinite(variance):
            raise StatsError(f"variance == {self.variance!r}, must be a finite number >= 0")
        if variance < 0:
            if variance < -_NEGATIVE_VARIANCE_TOLERANCE * max(1.0, mean * mean):
                raise StatsError(f"variance == {self.variance!r}, must be >= 0")
            variance = 0.0
        object.__setattr__(self, "n", int(self.n))
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "variance", variance)

    @classmethod
    def from_values(cls, values: Iterable[float] | np.ndarray) -> Moments:
        """Moments of raw values, for notebooks and tests.

        Args:
            values: One-dimensional array-like of finite numbers.

        Returns:
            The moments, variance computed by NumPy's two-pass ``var(ddof=1)``.

        Example:
            >>> Moments.from_values([2.0, 4.0, 6.0])
            Moments(n=3, mean=4.0, variance=4.0)
        """
        import numpy as np

        array = np.asarray(values, dtype=float).ravel()
        n = array.size
        mean = float(array.mean()) if n else 0.0
        variance = float(array.var(ddof=1)) if n >= 2 else 0.0
        return cls(n, mean, variance)

    @classmethod
    def from_proportion(cls, successes: int, n: int) -> Moments:
        """Moments of a 0/1 metric from its count of successes.

        The sample variance of ``successes`` ones among ``n`` values is
        ``p * (1 - p) * n / (n - 1)`` with ``p = successes / n``.

        Args:
            successes: Number of units with value 1.
            n: Number of units.

        Returns:
            The moments of the 0/1 values.

        Raises:
            StatsError: If the counts are negative or ``successes > n``.

        Example:
            >>> Moments.from_proportion(1, 4)
            Moments(n=4, mean=0.25, variance=0.25)
        """
        if n < 0 or successes < 0 or successes > n:
            raise StatsError(f"successes == {successes}, n == {n}, must satisfy 0 <= successes <= n")
        if n == 0:
            return cls(0, 0.0, 0.0)
        p = successes / n
        variance = p * (1.0 - p) * n / (n - 1) if n >= 2 else 0.0
        return cls(n, p, variance)

    @property
    def std_error(self) -> float:
        """Standard error of the mean, ``sqrt(variance / n)``.

        Raises:
            StatsError: If ``n == 0``.
        """
        if self.n == 0:
            raise StatsError("n == 0, the standard error needs n >= 1")
        return math.sqrt(self.variance / self.n)

    def __add__(self, other: Moments) -> Moments:
        """Moments of the union of two disjoint samples (days, shards, stages).

        Pairwise update of Chan, Golub & LeVeque (1979), "Updating formulae
        and a pairwise algorithm for computing sample variances", eq. (2.1),
        in mean form with ``delta = mean_b - mean_a`` and ``M2 = (n - 1) * variance``:
        ``mean = mean_a + delta * n_b / n`` and
        ``M2 = M2_a + M2_b + delta**2 * n_a * n_b / n``. Unlike
        ``sum(x**2) - sum(x)**2 / n`` it stays accurate for large values.

        Example:
            >>> Moments(2, 1.0, 2.0) + Moments(2, 3.0, 2.0)
            Moments(n=4, mean=2.0, variance=2.6666666666666665)
        """
        if not isinstance(other, Moments):
            return NotImplemented
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n
        m2 = (
            self.variance * (self.n - 1)
            + other.variance * (other.n - 1)
            + delta * delta * self.n * other.n / n
        )
        return Moments(n, mean, m2 / (n - 1))

    def __radd__(self, other: object) -> Moments:
        """Let ``sum(list_of_moments)`` start from the integer 0."""
        if other == 0:
            return self
        return NotImplemented


def shifted_covariance(n: int, sum_a: float, sum_b: float, sum_of_products: float) -> float | None:
    """Sample covariance (ddof=1) from sums of values shifted by constants close to their means.

    With ``sum_a = sum(a - s)``, ``sum_b = sum(b - t)`` and ``sum_of_products = sum((a - s)(b - t))``
    for any constants ``s``, ``t``:

        cov(a, b) = (sum_of_products - sum_a * sum_b / n) / (n - 1)

    the "shifted data" algorithm of Chan, Golub & LeVeque (1983), "Algorithms for computing the
    sample variance: analysis and recommendations", The American Statistician 37(3), eq. (1.6):
    exact in exact arithmetic, and accurate in floating point when the shifts are near the means,
    since the two terms then do not cancel. The engine computes the sums exactly (correctly
    rounded, whatever the order of the rows), so the moments are the
    same on every run and thread count; sums of groups shifted by the same constants add.
    ``None`` when ``n < 2``. With ``a = b`` it is the variance.

    Example:
        >>> values = [1e8 + 1, 1e8 + 2, 1e8 + 4]
        >>> shift = 1e8
        >>> round(shifted_covariance(3, sum(v - shift for v in values), sum(v - shift for v in values),
        ...                          sum((v - shift) ** 2 for v in values)), 12)
        2.333333333333
    """
    if n < 2:
        return None
    return (sum_of_products - sum_a * sum_b / n) / (n - 1)


def shifted_variance(n: int, shifted_sum: float, shifted_square_sum: float) -> float | None:
    """Sample variance (ddof=1) from the sums of values shifted by a constant, ``sum(x - s)`` and
    ``sum((x - s)**2)``: :func:`shifted_covariance` of ``x`` with itself, where a result below 0
    by no more than the rounding of its terms (a group whose values all sit far from the shift,
    e.g. all 0 when the pooled mean is large) is 0. ``None`` when ``n < 2``.

    Example:
        >>> shifted_variance(3, -3 * 5000.0, 3 * 5000.0**2)
        0.0
    """
    variance = shifted_covariance(n, shifted_sum, shifted_sum, shifted_square_sum)
    if variance is not None and variance < 0 and -variance <= 1e-12 * shifted_square_sum / (n - 1):
        return 0.0
    return variance
