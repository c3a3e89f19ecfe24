"""Group-sequential designs: efficacy boundaries from an alpha-spending function.

A group-sequential design plans ``K`` analyses at information fractions
``0 < t_1 < ... < t_K <= 1`` (the share of the planned maximum sample size, or of
the planned Fisher information, available at each analysis) and rejects ``effect == 0``
at the first analysis ``k`` where ``|z_k| >= b_k``. The boundaries come from an
alpha-spending function ``alpha(t)`` (Lan & DeMets 1983, "Discrete sequential
boundaries for clinical trials", Biometrika 70(3)): the probability under the null
hypothesis of stopping at or before analysis ``k`` is exactly ``alpha(t_k)``. Unlike
the always-valid methods of :mod:`iterate.stats.sequential`, the number and timing of
looks must be declared (the fractions may be the ones actually observed, recomputing
the design at each analysis, as Lan & DeMets allow), and in exchange the boundaries are
much closer to the fixed-horizon ``z_{1-alpha/2}``.

Boundaries are two-sided, symmetric and for efficacy only (no futility boundary).
Each side spends half of ``alpha`` through the spending function evaluated at level
``alpha / 2``, the convention of gsDesign (``test.type = 2``) and rpact
(``sided = 2``), so the published boundaries of those packages are reproduced.

Example:
    >>> from iterate.stats.group_sequential import spending_boundaries, group_sequential_test
    >>> design = spending_boundaries([0.2, 0.4, 0.6, 0.8, 1.0], alpha=0.05)
    >>> [round(b, 4) for b in design.z_boundaries]
    [4.8769, 3.357, 2.6803, 2.2898, 2.031]
    >>> group_sequential_test(2.5, 3, design).crossed
    False
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from iterate.errors import StatsError
from iterate.stats.distributions import ndtr, ndtri
from iterate.stats.estimate import check_alpha

Spending = Literal["obrien-fleming", "pocock", "power"]
"""Alpha-spending function family of a group-sequential design."""

SPENDINGS: tuple[str, ...] = get_args(Spending)

_GRID_R = 32
"""Grid density of the numerical integration (Jennison & Turnbull 2000, Section 19.2.1)."""


@dataclass(frozen=True, slots=True)
class GroupSequentialDesign:
    """Two-sided symmetric efficacy boundaries at the planned analyses.

    Reject ``effect == 0`` at the first analysis ``k`` where ``|z_k| >= z_boundaries[k-1]``.
    A boundary is ``inf`` when no alpha is left to spend at that analysis (the
    increment of the spending function is 0, or below the smallest positive float).

    Attributes:
        information_fractions: ``t_1 < ... < t_K``, in (0, 1].
        alpha: Two-sided significance level of the whole design, in (0, 1).
        spending: ``"obrien-fleming"``, ``"pocock"`` or ``"power"``.
        rho: Exponent of the power family (recorded for every family; used only by ``"power"``).
        z_boundaries: Critical value ``b_k`` of ``|z|`` at each analysis.
        nominal_alphas: Two-sided fixed-horizon p-value threshold equivalent to each
            boundary, ``2 * (1 - Phi(b_k))``.
        cumulative_alpha_spent: ``alpha(t_k)``, the null probability of rejecting at or
            before analysis ``k`` (both sides together).

    Example:
        >>> d = spending_boundaries([0.5, 1.0], alpha=0.05, spending="pocock")
        >>> [round(b, 4) for b in d.z_boundaries], [round(a, 4) for a in d.cumulative_alpha_spent]
        ([2.157, 2.201], [0.031, 0.05])
    """

    information_fractions: tuple[float, ...]
    alpha: float
    spending: Spending
    rho: float
    z_boundaries: tuple[float, ...]
    nominal_alphas: tuple[float, ...]
    cumulative_alpha_spent: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class GroupSequentialTest:
    """Outcome of comparing one analysis' z statistic with the design's boundary.

    Attributes:
        look: Analysis number, 1-based (``1..K``).
        information_fraction: ``t_look``.
        z_statistic: The analysis' ``effect / std_error``.
        z_boundary: ``b_look``.
        nominal_alpha: ``2 * (1 - Phi(b_look))``.
        nominal_p_value: Fixed-horizon two-sided p-value of ``z_statistic``,
            ``2 * (1 - Phi(|z|))``; crossing is ``nominal_p_value <= nominal_alpha``.
            Not a p-value of the sequential design (that needs an ordering of the
            sample space, e.g. stage-wise ordering; not provided).
        crossed: ``|z_statistic| >= z_boundary``: stop and reject ``effect == 0``.
        cumulative_alpha_spent: ``alpha(t_look)``.

    Example:
        >>> d = spending_boundaries([1.0], alpha=0.05)
        >>> r = group_sequential_test(-2.1, 1, d)
        >>> r.crossed, round(r.nominal_p_value, 4)
        (True, 0.0357)
    """

    look: int
    information_fraction: float
    z_statistic: float
    z_boundary: float
    nominal_alpha: float
    nominal_p_value: float
    crossed: bool
    cumulative_alpha_spent: float


def alpha_spent(t: float, *, alpha: float, spending: Spending = "obrien-fleming", rho: float = 3.0) -> float:
    """Two-sided alpha spent by information fraction ``t``: ``2 * f(t; alpha / 2)``.

    One-sided spending functions ``f(t; a)`` at level ``a``:

    - ``"obrien-fleming"``: ``2 - 2 Phi(z_{1-a/2} / sqrt(t))`` (Lan & DeMets 1983, eq. for
      ``alpha_1*(t)``, approximating O'Brien & Fleming 1979 boundaries);
    - ``"pocock"``: ``a * log(1 + (e - 1) t)`` (Lan & DeMets 1983, ``alpha_2*(t)``);
    - ``"power"``: ``a * t**rho`` (Kim & DeMets 1987, "Design and analysis of group
      sequential tests based on the type I error spending rate function",
      Biometrika 74(1); ``rho = 1`` is close to Pocock, ``rho = 3`` to O'Brien-Fleming).

    Each side spends ``f(t; alpha / 2)``, so the total is ``2 f(t; alpha / 2)``
    (gsDesign / rpact convention for symmetric two-sided designs). For the Pocock and
    power families this equals ``f(t; alpha)``; for O'Brien-Fleming it is
    ``4 - 4 Phi(z_{1-alpha/4} / sqrt(t))``, which is *not* ``2 - 2 Phi(z_{1-alpha/2} / sqrt(t))``
    (the Lan-DeMets formula with the two-sided alpha plugged in spends more early:
    for five equal looks at alpha = 0.05 its first boundary is 4.383, not 4.877).

    Args:
        t: Information fraction, in [0, 1].
        alpha: Two-sided level, in (0, 1).
        spending: Family.
        rho: Exponent of the power family, > 0.

    Returns:
        Alpha spent in [0, alpha]; ``alpha`` at ``t = 1``.

    Raises:
        StatsError: On a bad t, alpha, family or rho.

    Example:
        >>> round(alpha_spent(0.5, alpha=0.05), 6), alpha_spent(1.0, alpha=0.05)
        (0.003051, 0.05)
    """
    check_alpha(alpha)
    _check_spending(spending, rho)
    if not 0 <= t <= 1:
        raise StatsError(f"t == {t!r}, must be in [0, 1]")
    return _spent(float(t), alpha, spending, float(rho))


def spending_boundaries(
    information_fractions: Sequence[float],
    *,
    alpha: float = 0.05,
    spending: Spending = "obrien-fleming",
    rho: float = 3.0,
) -> GroupSequentialDesign:
    """Two-sided symmetric efficacy boundaries from an alpha-spending function.

    Lan & DeMets (1983): choose ``b_k`` so that under ``effect == 0``

        P(|Z_1| < b_1, ..., |Z_{k-1}| < b_{k-1}, |Z_k| >= b_k) = alpha(t_k) - alpha(t_{k-1}).

    The z statistics of the analyses follow the canonical joint distribution
    (Jennison & Turnbull 2000, "Group Sequential Methods with Applications to Clinical
    Trials", Section 3.1, Theorem 3.1): ``Z_k sqrt(t_k)`` has independent normal
    increments with variance ``t_k - t_{k-1}``, so ``corr(Z_j, Z_k) = sqrt(t_j / t_k)``.
    The probabilities are computed by the recursive numerical integration of Armitage,
    McPherson & Rowe (1969), "Repeated significance tests on accumulating data", JRSS A
    132(2), as set out in Jennison & Turnbull (2000), Chapter 19: the sub-density of
    ``Z_k`` on the continuation region,

        h_k(z) = integral over |u| < b_{k-1} of h_{k-1}(u) sqrt(t_k / D) phi((z sqrt(t_k) - u sqrt(t_{k-1})) / sqrt(D)) du,

    ``D = t_k - t_{k-1}``, ``h_1 = phi``, is evaluated by Simpson's rule on their grid of
    Section 19.2.1 (``r = 32``, about 380 nodes), and each ``b_k`` is found by Brent's
    method. The boundaries agree with an independent evaluation by
    ``scipy.stats.multivariate_normal`` to about 1e-7.

    Args:
        information_fractions: ``t_1 < ... < t_K``, each in (0, 1]. Use 1 for the final
            analysis to spend all of ``alpha``.
        alpha: Two-sided level of the design, in (0, 1).
        spending: ``"obrien-fleming"`` (default), ``"pocock"`` or ``"power"``; see
            :func:`alpha_spent`.
        rho: Exponent of the power family, > 0.

    Returns:
        The design. With ``K = 1`` and ``t_1 = 1`` the boundary is ``z_{1-alpha/2}``.

    Raises:
        StatsError: On fractions that are empty, not increasing or outside (0, 1], a
            bad alpha, family or rho.

    Example:
        >>> d = spending_boundaries([1/3, 2/3, 1.0], alpha=0.05, spending="power", rho=2.0)
        >>> [round(b, 4) for b in d.z_boundaries]
        [2.7729, 2.3473, 2.0619]
    """
    check_alpha(alpha)
    _check_spending(spending, rho)
    fractions = _check_fractions(information_fractions)
    rho = float(rho)
    spent = [_spent(t, alpha, spending, rho) for t in fractions]

    boundaries: list[float] = []
    # Continuation sub-density of the previous analysis on its grid, with Simpson weights.
    nodes = weights = density = np.empty(0)
    previous_t = 0.0
    previous_spent = 0.0
    for k, (t, cumulative) in enumerate(zip(fractions, spent, strict=True)):
        target = cumulative - previous_spent
        if k == 0:
            b = math.inf if not target > 0 else float(-ndtri(target / 2))
        elif not target > 0:
            b = math.inf
        else:
            b = _solve_boundary(target, nodes, weights * density, previous_t, t)
        boundaries.append(b)
        # Sub-density of Z_k on |z| < b_k, for the next analysis.
        if k + 1 < len(fractions):
            new_nodes, new_weights = _grid(b)
            if k == 0:
                new_density = np.exp(-0.5 * new_nodes**2) / math.sqrt(2 * math.pi)
            else:
                root_t, root_d, root_prev = math.sqrt(t), math.sqrt(t - previous_t), math.sqrt(previous_t)
                kernel = (new_nodes[:, None] * root_t - nodes[None, :] * root_prev) / root_d
                kernel = np.exp(-0.5 * kernel**2) * (root_t / (root_d * math.sqrt(2 * math.pi)))
                new_density = kernel @ (weights * density)
            nodes, weights, density = new_nodes, new_weights, new_density
        previous_t, previous_spent = t, cumulative

    nominal = tuple(0.0 if math.isinf(b) else float(2 * ndtr(-b)) for b in boundaries)
    return GroupSequentialDesign(
        information_fractions=tuple(fractions),
        alpha=alpha,
        spending=spending,
        rho=rho,
        z_boundaries=tuple(boundaries),
        nominal_alphas=nominal,
        cumulative_alpha_spent=tuple(spent),
    )


def group_sequential_test(z_statistic: float, look: int, design: GroupSequentialDesign) -> GroupSequentialTest:
    """Compare the z statistic of analysis ``look`` with the design's boundary.

    Rejects ``effect == 0`` when ``|z| >= b_look`` (Lan & DeMets 1983). Use the same
    z statistic as the fixed-horizon test (``effect / std_error``, e.g.
    :attr:`iterate.stats.Estimate.statistic` of a z test); analyses must be taken in
    order and the experiment stopped at the first crossing for the level to hold.

    Args:
        z_statistic: ``effect / std_error`` at this analysis, finite.
        look: Analysis number, 1-based, in ``1..K``.
        design: From :func:`spending_boundaries`.

    Returns:
        The test outcome.

    Raises:
        StatsError: On a non-finite statistic or a look outside ``1..K``.

    Example:
        >>> d = spending_boundaries([0.5, 1.0], alpha=0.05)
        >>> r = group_sequential_test(2.5, 1, d)
        >>> round(r.z_boundary, 4), r.crossed, round(r.nominal_alpha, 5)
        (2.9626, False, 0.00305)
    """
    if not isinstance(design, GroupSequentialDesign):
        raise StatsError(f"design == {design!r}, must be a GroupSequentialDesign")
    k = len(design.z_boundaries)
    if isinstance(look, bool) or not isinstance(look, int | np.integer) or not 1 <= look <= k:
        raise StatsError(f"look == {look!r}, must be an integer in 1..{k} (analyses are numbered from 1)")
    if isinstance(z_statistic, bool) or not isinstance(z_statistic, int | float | np.integer | np.floating) \
            or not math.isfinite(z_statistic):
        raise StatsError(f"z_statistic == {z_statistic!r}, must be a finite number")
    z = float(z_statistic)
    b = design.z_boundaries[look - 1]
    return GroupSequentialTest(
        look=int(look),
        information_fraction=design.information_fractions[look - 1],
        z_statistic=z,
        z_boundary=b,
        nominal_alpha=design.nominal_alphas[look - 1],
        nominal_p_value=float(2 * ndtr(-abs(z))),
        crossed=abs(z) >= b,
        cumulative_alpha_spent=design.cumulative_alpha_spent[look - 1],
    )


def _crossing_probability(b: float, nodes: np.ndarray, mass: np.ndarray, previous_t: float, t: float) -> float:
    """``P(no crossing before, |Z_k| >= b)`` from the previous analysis' weighted sub-density ``mass`` on ``nodes``.

    Given ``Z_{k-1} = u``, ``Z_k sqrt(t_k) ~ N(u sqrt(t_{k-1}), t_k - t_{k-1})``.
    """
    root_t, root_d, root_prev = math.sqrt(t), math.sqrt(t - previous_t), math.sqrt(previous_t)
    upper = ndtr((nodes * root_prev - b * root_t) / root_d)
    lower = ndtr((-b * root_t - nodes * root_prev) / root_d)
    return float(mass @ (upper + lower))


def _solve_boundary(target: float, nodes: np.ndarray, mass: np.ndarray, previous_t: float, t: float) -> float:
    """The ``b`` at which the crossing probability equals ``target`` (> 0), by Brent's method."""
    from scipy.optimize import brentq  # deferred: importing scipy costs a few tenths of a second

    high = 8.0
    while _crossing_probability(high, nodes, mass, previous_t, t) >= target and high < 64:
        high *= 2
    return float(brentq(
        lambda b: _crossing_probability(b, nodes, mass, previous_t, t) - target,
        0.0, high, xtol=1e-12, rtol=1e-14,
    ))


def _spent(t: float, alpha: float, spending: str, rho: float) -> float:
    if t <= 0:
        return 0.0
    if t >= 1:
        return alpha
    side = alpha / 2
    if spending == "obrien-fleming":
        return float(2 * (2 * ndtr(ndtri(side / 2) / math.sqrt(t))))
    if spending == "pocock":
        return alpha * math.log1p((math.e - 1) * t)
    return alpha * t**rho


def _grid(b: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and Simpson weights on (-b, b), Jennison & Turnbull (2000), Section 19.2.1.

    Base points ``-3 - 4 log(r / i)`` (``i < r``), ``-3 + 3 (i - r) / (2 r)``
    (``r <= i <= 5 r``), ``3 + 4 log(r / (6 r - i))`` (``i > 5 r``), around the null
    mean 0 of ``Z_k``; points beyond ``b`` are replaced by ``b`` itself, then the
    midpoints are added and Simpson's weights applied.
    """
    r = _GRID_R
    i = np.arange(1, 6 * r)
    base = np.where(
        i < r, -3 - 4 * np.log(r / np.minimum(i, r)),
        np.where(i <= 5 * r, -3 + 3 * (i - r) / (2 * r), 3 + 4 * np.log(r / np.maximum(6 * r - i, 1))),
    )
    inside = base[(base > -b) & (base < b)]
    points = np.concatenate(([-b], inside, [b])) if math.isfinite(b) else base
    m = points.size
    nodes = np.empty(2 * m - 1)
    nodes[0::2] = points
    nodes[1::2] = (points[:-1] + points[1:]) / 2
    widths = np.diff(points)
    weights = np.zeros(2 * m - 1)
    weights[1::2] = 4 * widths / 6
    weights[0:-1:2] += widths / 6
    weights[2::2] += widths / 6
    return nodes, weights


def _check_spending(spending: str, rho: float) -> None:
    if spending not in SPENDINGS:
        raise StatsError(f"spending == {spending!r}, must be one of {', '.join(SPENDINGS)}")
    if isinstance(rho, bool) or not isinstance(rho, int | float) or not math.isfinite(rho) or not rho > 0:
        raise StatsError(f"rho == {rho!r}, must be a finite number > 0")


def _check_fractions(information_fractions: Sequence[float]) -> list[float]:
    try:
        fractions = [float(t) for t in information_fractions]
    except (TypeError, ValueError) as error:
        raise StatsError(
            f"information_fractions == {information_fractions!r}, must be a sequence of numbers"
        ) from error
    if not fractions:
        raise StatsError("information_fractions == [], must hold at least one fraction")
    problems = [f"t == {t!r} at position {i}" for i, t in enumerate(fractions) if not 0 < t <= 1]
    if problems:
        raise StatsError(f"information fractions must be in (0, 1]: {'; '.join(problems)}")
    for i in range(1, len(fractions)):
        if not fractions[i] > fractions[i - 1]:
            raise StatsError(
                f"information_fractions[{i}] == {fractions[i]!r} <= {fractions[i - 1]!r}, "
                "must be strictly increasing"
            )
    return fractions
