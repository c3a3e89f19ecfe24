"""Anytime-valid inference on the difference of two arms' means: mixture SPRT and confidence sequences.

A fixed-horizon test is valid at one pre-planned look only: stopping at the first day
its p-value dips below 0.05 (peeking) makes false positives several times likelier
than 5%. The two methods here stay valid at every look, however many looks there are
and whenever the experiment is stopped, so a dashboard may show them daily.

Both take the effect ``treatment - control`` and its standard error from the arms'
moments (the same numbers as :func:`iterate.stats.welch_t_test`), and both are
two-sided normal-mixture boundaries:

- :func:`msprt`: the mixture sequential probability ratio test of Johari, Koomen,
  Pekelis & Walsh, "Always Valid Inference: Continuous Monitoring of A/B Tests",
  Operations Research 70(3), 2022 (arXiv 1512.04922), with mixing variance ``tau**2``
  on the effect's scale.
- :func:`confidence_sequence`: the asymptotic confidence sequence of Waudby-Smith,
  Arbour, Sinha, Kennedy & Ramdas, "Time-uniform central limit theory and asymptotic
  confidence sequences", Annals of Statistics 52(6), 2024 (arXiv 2103.06476),
  Theorem 2.2, eq. (6): Robbins' normal-mixture boundary with the variance estimated
  from the data and tuning ``rho`` per unit.

They are the same boundary under two parametrizations: with ``V = se**2`` and ``n``
units, the confidence sequence equals the mSPRT with ``tau**2 = n * V * rho**2``
(``sigma**2 * rho**2``, ``sigma**2 = n * V`` the per-unit variance). The mSPRT keeps
``tau**2`` fixed on the effect's scale; the confidence sequence keeps ``rho`` fixed on
the standardized scale, so its effective ``tau**2`` follows the estimated variance.

A single look (:func:`msprt`, :func:`confidence_sequence`) gives that look's
always-valid p-value and interval. Along a sequence of looks of one experiment,
validity at the stopping time needs the running minimum of the p-values and the
running intersection of the intervals (:func:`msprt_path`,
:func:`confidence_sequence_path`); the two agree: the running p-value is <= alpha
exactly when 0 is outside the running intersection.

One-sided questions: only two-sided boundaries are implemented. The lower (upper)
end of the two-sided interval at level ``alpha`` is a valid, conservative one-sided
bound at the same level ``alpha`` (not ``2 * alpha``: the two crossing events are
not disjoint over time). A dedicated one-sided mixture would use a half-normal
mixing distribution, ``Lambda_plus = 2 * Phi(theta_hat * tau / sqrt(V * (V + tau**2))) * Lambda``
(integrate the mixture below over ``theta > 0`` only); its interval has no closed form
and is not provided here.

Example:
    >>> from iterate.stats.sequential import msprt, default_mixing_variance
    >>> tau2 = default_mixing_variance(alpha=0.05, std_error_at_planned_n=0.1)
    >>> r = msprt(0.35, 0.1, alpha=0.05, mixing_variance=tau2)
    >>> r.status, round(r.p_value, 4), round(r.ci_low, 4), round(r.ci_high, 4)
    ('ok', 0.0129, 0.0465, 0.6535)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from iterate.errors import StatsError
from iterate.stats.estimate import check_alpha, count_problem

SequentialMethod = Literal["msprt", "confidence_sequence"]
"""Which always-valid method produced a :class:`SequentialResult`."""

SequentialStatus = Literal["ok", "zero_variance", "too_few_units", "empty_interval"]
"""Why fields of a :class:`SequentialResult` may be ``None``; ``ok`` when all are given."""


@dataclass(frozen=True, slots=True)
class SequentialResult:
    """Always-valid p-value and interval for ``effect = treatment - control`` at one look.

    The interval has coverage ``1 - alpha`` simultaneously over all looks, and
    ``P(p_value <= alpha at any look) <= alpha`` under ``effect == 0``, so the
    experiment may be stopped at any look without inflating the error rate.

    Statuses (nothing is invented for a degenerate look):

    - ``ok``: every field is given.
    - ``zero_variance``: the standard error is 0; ``effect`` is given, p-value and
      interval are ``None``.
    - ``too_few_units``: fewer than 2 units (confidence sequences only); p-value
      and interval are ``None``.
    - ``empty_interval`` (paths only): the running intersection of the intervals
      is empty, i.e. the looks disagree more than sampling error allows (a drifting
      effect, a changed population, a broken pipeline). ``p_value`` is given (and is
      <= ``alpha``: 0 lies outside an earlier interval); the interval is ``None``.

    In a path a degenerate look leaves the running p-value and interval unchanged
    for the looks after it, and reports ``None`` for its own.

    Attributes:
        method: ``"msprt"`` or ``"confidence_sequence"``.
        status: ``"ok"``, ``"zero_variance"``, ``"too_few_units"`` or ``"empty_interval"``.
        alpha: Level of the interval, in (0, 1).
        effect: The look's estimate of ``treatment - control``.
        std_error: The look's standard error of ``effect``.
        ci_low: Lower end of the always-valid interval.
        ci_high: Upper end of the always-valid interval.
        p_value: Always-valid p-value of ``effect == 0``.

    Example:
        >>> r = confidence_sequence(0.35, 0.1, 2000, alpha=0.05, tuning_n=2000)
        >>> r.method, r.status, r.ci_low < 0.35 < r.ci_high
        ('confidence_sequence', 'ok', True)
    """

    method: SequentialMethod
    status: SequentialStatus
    alpha: float
    effect: float
    std_error: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None


def optimal_mixing_ratio(alpha: float) -> float:
    """Ratio ``tau**2 / V`` at which the two-sided normal-mixture interval is narrowest.

    For ``r = tau**2 / V`` the half-width of the mixture interval (see :func:`msprt`) is
    ``se * sqrt((1 + r) / r * (log(1 + r) - 2 * log(alpha)))``. Setting its derivative
    in ``r`` to zero gives ``r = log(1 + r) - 2 * log(alpha)``, whose root is
    ``r* = -W_{-1}(-alpha**2 / e) - 1`` (``W_{-1}`` the lower branch of Lambert's W),
    and the narrowest half-width is ``se * sqrt(1 + r*)``. Waudby-Smith et al. (2024)
    tune ``rho`` to make their boundary tightest at a chosen sample size in this way;
    Howard, Ramdas, McAuliffe & Sekhon (2021), "Time-uniform, nonparametric,
    nonasymptotic confidence sequences", Annals of Statistics 49(2), give the
    approximation ``r* ~= -2 log(alpha) + log(1 - 2 log(alpha))`` (one fixed-point step
    of the equation above).

    Solved by Newton's method on ``f(r) = r - log(1 + r) + 2 log(alpha)`` (convex,
    started above the root, so it decreases monotonically to it).

    Args:
        alpha: Level, in (0, 1).

    Returns:
        ``r*`` > 0.

    Raises:
        StatsError: On a bad alpha.

    Example:
        >>> round(optimal_mixing_ratio(0.05), 4)
        8.212
    """
    check_alpha(alpha)
    c = -2.0 * math.log(alpha)
    # f(2 (c + sqrt(c))) >= 0 since exp(2 sqrt(c) + c) >= 1 + 2 sqrt(c) + 2c.
    r = 2.0 * (c + math.sqrt(c))
    for _ in range(200):
        step = (r - math.log1p(r) - c) * (1.0 + r) / r
        r -= step
        if abs(step) <= 1e-15 * r:
            break
    return r


def default_mixing_variance(
    *,
    alpha: float = 0.05,
    std_error_at_planned_n: float | None = None,
    effect_of_interest: float | None = None,
) -> float:
    """A mixing variance ``tau**2`` for :func:`msprt`, fixed before the experiment starts.

    Give exactly one of:

    - ``std_error_at_planned_n``: the standard error expected at the planned sample
      size (from a power calculation or past data). Returns
      ``tau**2 = optimal_mixing_ratio(alpha) * se**2``, which makes the always-valid
      interval narrowest at the planned size (the same tuning as ``rho`` at ``n*`` in
      :func:`optimal_rho`; for alpha = 0.05 it is ``8.21 * se**2`` and the interval
      there reaches ``3.04 * se`` on each side instead of ``1.96 * se``). Recommended
      default: it needs nothing beyond the plan.
    - ``effect_of_interest``: the effect size one hopes to detect. Returns
      ``tau**2 = effect**2``, so effects of that size sit one standard deviation out
      in the normal mixture. Johari et al. (2022) recommend matching the mixing
      distribution to the effects seen in past experiments (a ``tau`` fitted to
      their spread); this is the one-number version of that advice.

    Any fixed ``tau**2 > 0`` keeps the test valid; the choice only moves where it is
    most powerful (small ``tau``: small effects late; large ``tau``: large effects
    early). It must not be chosen from the experiment's own outcome data.

    Args:
        alpha: Level the interval will be used at, in (0, 1).
        std_error_at_planned_n: Standard error of the effect at the planned size, > 0.
        effect_of_interest: Effect size of interest, non-zero.

    Returns:
        ``tau**2`` > 0.

    Raises:
        StatsError: Unless exactly one of the two is given and valid.

    Example:
        >>> round(default_mixing_variance(alpha=0.05, std_error_at_planned_n=0.1), 5)
        0.08212
        >>> default_mixing_variance(effect_of_interest=-0.2)
        0.04000000000000001
    """
    check_alpha(alpha)
    if (std_error_at_planned_n is None) == (effect_of_interest is None):
        raise StatsError(
            f"std_error_at_planned_n == {std_error_at_planned_n!r}, "
            f"effect_of_interest == {effect_of_interest!r}: give exactly one of them"
        )
    if std_error_at_planned_n is not None:
        se = _finite(std_error_at_planned_n, "std_error_at_planned_n")
        if not se > 0:
            raise StatsError(f"std_error_at_planned_n == {std_error_at_planned_n!r}, must be > 0")
        return optimal_mixing_ratio(alpha) * se * se
    effect = _finite(effect_of_interest, "effect_of_interest")
    if effect == 0:
        raise StatsError("effect_of_interest == 0, must be non-zero")
    return effect * effect


def optimal_rho(tuning_n: float, *, alpha: float = 0.05) -> float:
    """Tuning ``rho`` that makes the confidence sequence narrowest at ``tuning_n`` units.

    With ``x = n * rho**2`` the half-width of the boundary in
    :func:`confidence_sequence` is ``se * sqrt((x + 1) / x * (log(x + 1) - 2 log(alpha)))``,
    minimized at ``x = optimal_mixing_ratio(alpha)``; hence
    ``rho = sqrt(optimal_mixing_ratio(alpha) / tuning_n)``, i.e.
    ``rho**2 = (-W_{-1}(-alpha**2 / e) - 1) / n*``, approximately
    ``(-2 log(alpha) + log(1 - 2 log(alpha))) / n*`` (Waudby-Smith et al. 2024 tune
    ``rho`` for a target time ``t*``; the derivation is in :func:`optimal_mixing_ratio`).

    Args:
        tuning_n: Total units (both arms) at which the sequence should be tightest, > 0.
        alpha: Level, in (0, 1).

    Returns:
        ``rho`` > 0.

    Raises:
        StatsError: On a bad alpha or tuning_n.

    Example:
        >>> round(optimal_rho(10_000, alpha=0.05), 6)
        0.028657
    """
    n_star = _finite(tuning_n, "tuning_n")
    if not n_star > 0:
        raise StatsError(f"tuning_n == {tuning_n!r}, must be > 0")
    return math.sqrt(optimal_mixing_ratio(alpha) / n_star)


def msprt(
    effect: float,
    std_error: float,
    *,
    alpha: float = 0.05,
    mixing_variance: float,
) -> SequentialResult:
    """Mixture SPRT: always-valid p-value and interval of ``effect`` at one look.

    Johari, Koomen, Pekelis & Walsh (2022), the two-stream normal mSPRT with a
    ``N(0, tau**2)`` mixture over the effect: with ``V = std_error**2`` and
    ``theta_hat = effect``, the mixture likelihood ratio of ``theta`` against
    ``theta_0`` (``theta_hat ~ N(theta, V)``) is

        Lambda(theta_0) = sqrt(V / (V + tau**2))
                          * exp(tau**2 * (theta_hat - theta_0)**2 / (2 V (V + tau**2)))

    (their closed form for normal data, written with ``V = 2 sigma**2 / n``; here
    ``V`` is the look's ``se**2``, which also covers unequal arms). For normal data
    with known variance ``Lambda(theta)`` is a nonnegative martingale with mean 1 under
    ``theta``, so by Ville's inequality it exceeds ``1 / alpha`` at some look with
    probability at most ``alpha``; with the variance estimated from the arms and the
    central limit theorem this holds approximately, as in Johari et al. Hence

    - always-valid p-value: ``p = min(1, 1 / Lambda(0))``;
    - always-valid interval: ``{theta_0 : Lambda(theta_0) < 1 / alpha}``, i.e.
      ``theta_hat -/+ sqrt(V (V + tau**2) / tau**2 * (log((V + tau**2) / V) - 2 log(alpha)))``.

    Across looks use :func:`msprt_path` (running minimum and intersection). The
    interval always contains the fixed-horizon interval of the same look and the
    p-value is never below the fixed-horizon p-value (``-2 log(alpha) >= z_{1-alpha/2}**2``).

    Args:
        effect: ``treatment - control`` at this look.
        std_error: Its standard error at this look, >= 0.
        alpha: Level of the interval, in (0, 1).
        mixing_variance: ``tau**2`` > 0, on the squared scale of the effect, fixed in
            advance (see :func:`default_mixing_variance`).

    Returns:
        SequentialResult with method ``"msprt"``; ``zero_variance`` when ``std_error == 0``.

    Raises:
        StatsError: On a bad alpha, a non-finite effect, a negative or non-finite
            standard error, or a mixing variance that is not a finite number > 0.

    Example:
        >>> r = msprt(0.02, 0.01, alpha=0.05, mixing_variance=0.01**2)
        >>> round(r.p_value, 4), round(r.ci_low, 4), round(r.ci_high, 4)
        (0.5203, -0.0166, 0.0566)
    """
    effect, std_error = _check_look(effect, std_error, alpha)
    tau2 = _finite(mixing_variance, "mixing_variance")
    if not tau2 > 0:
        raise StatsError(f"mixing_variance == {mixing_variance!r}, must be > 0")
    if std_error == 0:
        return SequentialResult("msprt", "zero_variance", alpha, effect, std_error, None, None, None)
    low, high, p = _mixture_boundary(effect, std_error, tau2 / (std_error * std_error), alpha)
    return SequentialResult("msprt", "ok", alpha, effect, std_error, low, high, p)


def confidence_sequence(
    effect: float,
    std_error: float,
    n: int,
    *,
    alpha: float = 0.05,
    tuning_n: float,
) -> SequentialResult:
    """Asymptotic confidence sequence for ``effect`` at one look (Robbins' normal mixture).

    Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas (2024), Theorem 2.2, eq. (6) of
    arXiv 2103.06476: for an average of ``n`` units with estimated per-unit standard
    deviation ``sigma_hat``,

        effect -/+ sigma_hat * sqrt(2 (n rho**2 + 1) / (n**2 rho**2) * log(sqrt(n rho**2 + 1) / alpha))

    covers the true effect at all ``n`` simultaneously with asymptotic probability
    ``1 - alpha``. A difference of means is such an average (of the units' influence
    function values): with ``n = n_control + n_treatment`` and ``se**2 = sigma**2 / n``,
    ``sigma_hat = std_error * sqrt(n)`` (``sigma**2 = v_t / pi + v_c / (1 - pi)`` for a
    treated share ``pi``). ``rho`` is fixed by :func:`optimal_rho` at ``tuning_n``.

    Always-valid p-value: the smallest ``alpha'`` whose sequence (same ``rho``)
    excludes 0; with ``x = n rho**2`` and ``z = effect / std_error``,
    ``p = min(1, sqrt(1 + x) * exp(-z**2 x / (2 (1 + x))))``, the mSPRT p-value with
    ``tau**2 = x * se**2``. Across looks use :func:`confidence_sequence_path`.

    Args:
        effect: ``treatment - control`` at this look.
        std_error: Its standard error at this look, >= 0.
        n: Units in both arms at this look, an integer >= 0.
        alpha: Level, in (0, 1).
        tuning_n: Units at which the sequence should be tightest (e.g. the planned
            size), > 0, fixed in advance.

    Returns:
        SequentialResult with method ``"confidence_sequence"``; ``too_few_units``
        when ``n < 2``, ``zero_variance`` when ``std_error == 0``.

    Raises:
        StatsError: On a bad alpha, effect, standard error, n or tuning_n.

    Example:
        >>> r = confidence_sequence(0.3, 0.1, 1000, alpha=0.05, tuning_n=1000)
        >>> round(r.ci_low, 4), round(r.ci_high, 4), round(r.p_value, 4)
        (-0.0035, 0.6035, 0.055)
    """
    effect, std_error = _check_look(effect, std_error, alpha)
    rho = optimal_rho(tuning_n, alpha=alpha)
    problem = count_problem(n, "n")
    if problem:
        raise StatsError(f"{problem} (units in both arms)")
    if n < 2:
        return SequentialResult(
            "confidence_sequence", "too_few_units", alpha, effect, std_error, None, None, None
        )
    if std_error == 0:
        return SequentialResult(
            "confidence_sequence", "zero_variance", alpha, effect, std_error, None, None, None
        )
    low, high, p = _mixture_boundary(effect, std_error, int(n) * rho * rho, alpha)
    return SequentialResult("confidence_sequence", "ok", alpha, effect, std_error, low, high, p)


def msprt_path(
    effects: Sequence[float],
    std_errors: Sequence[float],
    *,
    alpha: float = 0.05,
    mixing_variance: float,
) -> list[SequentialResult]:
    """mSPRT along the looks of one experiment: running minimum p, running intersection.

    Johari et al. (2022): the always-valid p-value after look ``k`` is
    ``min(p_1, ..., p_k)`` and the always-valid interval is the intersection of the
    per-look intervals of :func:`msprt`; both stay valid at any stopping time.

    Args:
        effects: ``treatment - control`` at each look, in time order (cumulative data).
        std_errors: Standard error at each look.
        alpha: Level, in (0, 1).
        mixing_variance: ``tau**2`` > 0, the same for all looks.

    Returns:
        One SequentialResult per look (see the class for degenerate looks and
        ``empty_interval``).

    Raises:
        StatsError: On different lengths or any invalid look.

    Example:
        >>> path = msprt_path([0.5, 0.1, 0.3], [0.2, 0.1, 0.08], mixing_variance=0.04)
        >>> [round(r.p_value, 3) for r in path]
        [0.296, 0.296, 0.006]
    """
    if len(effects) != len(std_errors):
        raise StatsError(
            f"len(effects) == {len(effects)}, len(std_errors) == {len(std_errors)}, must be equal"
        )
    looks = [
        msprt(e, s, alpha=alpha, mixing_variance=mixing_variance)
        for e, s in zip(effects, std_errors, strict=True)
    ]
    return _running(looks)


def confidence_sequence_path(
    effects: Sequence[float],
    std_errors: Sequence[float],
    ns: Sequence[int],
    *,
    alpha: float = 0.05,
    tuning_n: float,
) -> list[SequentialResult]:
    """Confidence sequence along the looks of one experiment, intersected over time.

    The running intersection covers whenever every interval covers, so it keeps the
    time-uniform guarantee (Howard et al. 2021 recommend it); the interval after look
    ``k`` is the intersection of looks ``1..k`` and the p-value the running minimum of
    :func:`confidence_sequence`'s p-values. The guarantee of this sequence is
    asymptotic (the variance is estimated and the mean is only approximately normal),
    so very early looks with few units can tighten the intersection spuriously;
    start the path once each arm has a few hundred units.

    Args:
        effects: ``treatment - control`` at each look, in time order (cumulative data).
        std_errors: Standard error at each look.
        ns: Units in both arms at each look.
        alpha: Level, in (0, 1).
        tuning_n: Units at which the sequence should be tightest, the same for all looks.

    Returns:
        One SequentialResult per look.

    Raises:
        StatsError: On different lengths or any invalid look.

    Example:
        >>> path = confidence_sequence_path([0.5, 0.2], [0.2, 0.1], [250, 1000], tuning_n=1000)
        >>> [(round(r.ci_low, 3), round(r.ci_high, 3)) for r in path]
        [(-0.15, 1.15), (-0.104, 0.504)]
    """
    if not len(effects) == len(std_errors) == len(ns):
        raise StatsError(
            f"len(effects) == {len(effects)}, len(std_errors) == {len(std_errors)}, "
            f"len(ns) == {len(ns)}, must be equal"
        )
    looks = [
        confidence_sequence(e, s, n, alpha=alpha, tuning_n=tuning_n)
        for e, s, n in zip(effects, std_errors, ns, strict=True)
    ]
    return _running(looks)


def _mixture_boundary(
    effect: float, std_error: float, ratio: float, alpha: float
) -> tuple[float, float, float]:
    """Interval and p-value of the two-sided normal mixture with ``ratio = tau**2 / V``.

    ``log Lambda(0) = -log(1 + r) / 2 + z**2 r / (2 (1 + r))`` with ``z = effect / se``,
    computed on the log scale so that a large ``z`` cannot overflow.
    """
    z = effect / std_error
    log_lr = -0.5 * math.log1p(ratio) + 0.5 * z * z * ratio / (1.0 + ratio)
    p_value = math.exp(-log_lr) if log_lr > 0 else 1.0
    half_width = std_error * math.sqrt((1.0 + ratio) / ratio * (math.log1p(ratio) - 2.0 * math.log(alpha)))
    return effect - half_width, effect + half_width, p_value


def _running(looks: list[SequentialResult]) -> list[SequentialResult]:
    """Running minimum of p-values and running intersection of intervals, skipping degenerate looks."""
    out: list[SequentialResult] = []
    p_min = math.inf
    low, high = -math.inf, math.inf
    for look in looks:
        if look.status != "ok":
            out.append(look)
            continue
        assert look.p_value is not None and look.ci_low is not None and look.ci_high is not None
        p_min = min(p_min, look.p_value)
        low, high = max(low, look.ci_low), min(high, look.ci_high)
        if low > high:
            out.append(SequentialResult(
                look.method, "empty_interval", look.alpha, look.effect, look.std_error, None, None, p_min
            ))
        else:
            out.append(SequentialResult(
                look.method, "ok", look.alpha, look.effect, look.std_error, low, high, p_min
            ))
    return out


def _check_look(effect: float, std_error: float, alpha: float) -> tuple[float, float]:
    check_alpha(alpha)
    effect = _finite(effect, "effect")
    se = _finite(std_error, "std_error")
    if se < 0:
        raise StatsError(f"std_error == {std_error!r}, must be a finite number >= 0")
    return effect, se


def _finite(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise StatsError(f"{name} == {value!r}, must be a finite number")
    number = float(value)
    if not math.isfinite(number):
        raise StatsError(f"{name} == {value!r}, must be a finite number")
    return number
