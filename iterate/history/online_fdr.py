"""Online false discovery rate control over a stream of releases: LORD++.

Each release is one hypothesis test ("the release does not improve its success metrics"), decided
in turn; a shipped release is a discovery. LORD (Javanmard & Montanari 2018, "Online rules for
control of false discovery rate and false discovery exceedance", Annals of Statistics 46(2)) spends
an alpha-wealth on each test and earns it back at each discovery; LORD++ is its improved form of
Ramdas, Yang, Wainwright & Jordan (2017), "Online control of the false discovery rate with decaying
memory", NeurIPS, section 3 (eq. 6 there):

    alpha_t = gamma_t * w0 + (alpha - w0) * gamma_{t - tau_1} + alpha * sum_{j >= 2, tau_j < t} gamma_{t - tau_j}

for releases t = 1, 2, ..., where ``tau_1 < tau_2 < ...`` are the releases that were discoveries
(the second term only once there is a first discovery, ``tau_1 < t``), ``w0`` in (0, alpha] the
initial wealth and ``gamma`` a non-increasing sequence summing to 1. Under independent p-values
it keeps the false discovery rate at or below ``alpha`` at every time (Ramdas et al. 2017, Theorem 1).

The wealth before test t (Ramdas et al. 2017, section 3) is

    W(t) = w0 - sum_{s < t} alpha_s + (alpha - w0) * 1{tau_1 < t} + alpha * #{j >= 2: tau_j < t}

and ``alpha_t <= W(t)``: a test never spends more than the wealth left.

The default ``gamma`` is the sequence of Javanmard & Montanari (2018), section 4 (eq. 31 there),
as used by Ramdas et al. (2017):

    gamma_j = C * log(max(j, 2)) / (j * exp(sqrt(log j))),  C = 0.07720838

with the constant of Ramdas et al. (2017) and the ``onlineFDR`` package. LORD++ needs
``sum_j gamma_j <= 1``; with this ``C`` the sum is 0.9763 (:func:`gamma_normalizer_tail` computes
``sum_j gamma_j / C`` = 12.6451), so the levels are slightly conservative.

Example:
    >>> round(lord_alpha(1, (), alpha=0.05, w0=0.005), 8)  # gamma_1 * w0
    0.00026758
    >>> round(lord_alpha(2, (), alpha=0.05, w0=0.005) / 0.005, 6) == round(gamma(2), 6)
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

GAMMA_CONSTANT = 0.07720838
"""C of gamma_j (Javanmard & Montanari 2018, eq. 31; the value of Ramdas et al. 2017 and onlineFDR)."""


def gamma(j: int) -> float:
    """gamma_j = C log(max(j, 2)) / (j exp(sqrt(log j))) for j >= 1 (Javanmard & Montanari 2018, eq. 31).

    Example:
        >>> round(gamma(1), 6)
        0.053517
    """
    if j < 1:
        raise ValueError(f"gamma is defined for j >= 1, got {j}")
    return GAMMA_CONSTANT * math.log(max(j, 2)) / (j * math.exp(math.sqrt(math.log(j))))


def lord_alpha(t: int, discoveries: Sequence[int], *, alpha: float, w0: float) -> float:
    """The level of test ``t`` (1-based) under LORD++ (Ramdas et al. 2017, eq. 6), given the
    earlier tests that were discoveries (``discoveries``, 1-based, each < t).

    Example:
        >>> a = lord_alpha(3, [1], alpha=0.05, w0=0.005)
        >>> round(a, 10) == round(gamma(3) * 0.005 + 0.045 * gamma(2), 10)
        True
    """
    _check(alpha, w0)
    taus = sorted(tau for tau in discoveries if tau < t)
    level = gamma(t) * w0
    if taus:
        level += (alpha - w0) * gamma(t - taus[0])
        level += alpha * sum(gamma(t - tau) for tau in taus[1:])
    return level


def lord_wealth(t: int, discoveries: Sequence[int], *, alpha: float, w0: float) -> float:
    """The alpha-wealth left before test ``t``: w0 minus the levels of tests 1..t-1 plus the
    rewards of the discoveries before t (Ramdas et al. 2017, section 3)."""
    _check(alpha, w0)
    taus = sorted(tau for tau in discoveries if tau < t)
    spent = sum(lord_alpha(s, taus, alpha=alpha, w0=w0) for s in range(1, t))
    earned = (alpha - w0) * bool(taus) + alpha * max(len(taus) - 1, 0)
    return w0 - spent + earned


def lord_stream(p_values: Sequence[float], *, alpha: float, w0: float) -> list[tuple[float, bool]]:
    """Run LORD++ over a stream of p-values: the level and whether each test is a discovery.

    Example:
        >>> [rejected for _, rejected in lord_stream([1e-6, 0.5, 1e-6], alpha=0.05, w0=0.005)]
        [True, False, True]
    """
    discoveries: list[int] = []
    decisions = []
    for t, p_value in enumerate(p_values, start=1):
        level = lord_alpha(t, discoveries, alpha=alpha, w0=w0)
        rejected = p_value <= level
        if rejected:
            discoveries.append(t)
        decisions.append((level, rejected))
    return decisions


def gamma_normalizer_tail(n: int) -> float:
    """sum_{j=1}^{n} log(max(j,2)) / (j exp(sqrt(log j))) plus the integral of the same function
    from n to infinity, which ``1 / GAMMA_CONSTANT`` should equal (to the error of that tail
    approximation): with u = log x and s = sqrt(u), the tail is int_{sqrt(log n)}^inf 2 s^3 e^{-s} ds
    = 2 e^{-s0} (s0^3 + 3 s0^2 + 6 s0 + 6), the upper incomplete gamma function Gamma(4, s0) times 2."""
    partial = math.fsum(math.log(max(j, 2)) / (j * math.exp(math.sqrt(math.log(j)))) for j in range(1, n + 1))
    s0 = math.sqrt(math.log(n))
    tail = 2 * math.exp(-s0) * (s0 ** 3 + 3 * s0 ** 2 + 6 * s0 + 6)
    return partial + tail


def _check(alpha: float, w0: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha == {alpha!r}, must be in (0, 1)")
    if not 0 < w0 <= alpha:
        raise ValueError(f"w0 == {w0!r}, must be in (0, alpha]")
