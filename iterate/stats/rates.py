"""Event rates per unit of exposure (crashes per user-hour): an anytime-valid test of the rate ratio.

Crashes, errors and other counted events of the old (control) and the new (treatment) version are
compared as rates per unit of exposure time (user-hours, sessions, device-days). The test is the
count-data method of Lindon & Malek (2022), "Anytime-Valid Inference for Multinomial Count Data"
(NeurIPS), which Netflix uses to stop canaries and rollouts on a crash or error regression within
hours (Lindon, Sanden & Shirikian 2022, "Rapid Regression Detection in Software Deployments through
Sequential Testing", KDD; the Netflix Technology Blog, "Sequential Testing Keeps the World Streaming
Netflix, Part 2: Counting Processes", 2024).

Model (Lindon & Malek 2022, Section 4, time-inhomogeneous Poisson counting processes). Each arm's
events are a Poisson process with intensity ``lambda_i(s) = e_i * mu_i * lambda(s)``: ``e_i`` the
arm's exposure accrual (units online, constant in proportion over the period tested), ``mu_i`` its
rate per unit of exposure and ``lambda(s)`` any time-varying factor common to both arms (daily
seasonality, an incident elsewhere). Whatever ``lambda(s)``, each event is, independently of the
past, a treatment event with probability

    p(theta) = theta * t_T / (theta * t_T + t_C),        theta = mu_T / mu_C  (the rate ratio),

``t_C``, ``t_T`` the arms' exposure times. So given ``n = x_C + x_T`` events, the treatment count is
``x_T ~ Binomial(n, p(theta))``, and "no regression" is ``theta = 1``: ``p_0 = t_T / (t_T + t_C)``.

Bayes factor. The alternative mixes ``p`` over ``Beta(a, b)``, ``a = k * p_0``, ``b = k * (1 - p_0)``
(``k`` the ``concentration``). Then

    BF = B(a + x_T, b + x_C) / B(a, b) / (p_0 ** x_T * (1 - p_0) ** x_C),

the two-category case of Lindon & Malek's Dirichlet-multinomial Bayes factor (the one
:func:`iterate.stats.sequential_sample_ratio_mismatch` computes for the split of units: the tests
check both give the same number). Being a mixture of likelihood ratios, ``BF`` is a nonnegative
martingale with mean 1 under ``theta = 1``, so by Ville's inequality ``P(sup_n BF_n >= 1/alpha) <=
alpha``: ``p = min(1, 1 / BF)`` (its running minimum along looks) is a p-value valid at any stopping
time, however often the rollout is checked.

One-sided tests (``alternative="greater"``: is the new version's rate higher?). The mixture is
restricted to ``p > p_0`` (the prior truncated to the alternative):

    BF_+ = BF * [1 - I_{p_0}(a + x_T, b + x_C)] / [1 - I_{p_0}(a, b)],

``I_x(a, b)`` the regularized incomplete beta function (the Beta posterior's and prior's mass above
``p_0``). Each likelihood ratio ``L(p) / L(p_0)`` with ``p >= p_0`` is a supermartingale under every
``p' <= p_0`` (its one-event expectation ``p' p / p_0 + (1 - p')(1 - p) / (1 - p_0)`` grows with
``p'`` and is 1 at ``p' = p_0``), so ``BF_+`` is a test supermartingale for the composite null
``theta <= 1`` (Ramdas, Grünwald, Vovk & Shafer 2023, "Game-Theoretic Statistics and Safe
Anytime-Valid Inference", Statistical Science 38(4), Section 3): the same Ville bound holds.
``"less"`` mirrors it with the lower tail ``I_{p_0}``.

Tolerance. ``greater`` with ``tolerance = d`` tests ``theta <= 1 + d`` (e.g. 10% more crashes
accepted): the same formulas with ``p_0 = (1 + d) t_T / ((1 + d) t_T + t_C)``, the prior centred
there; ``less`` tests ``theta >= 1 - d``. A two-sided test has no tolerance.

Confidence sequence for the rate ratio. With the prior fixed, the set of ratios not rejected,
``{theta : BF(p(theta)) < 1 / alpha}`` = ``{theta : log L(p(theta)) > log m(x) + log alpha}``
(``m(x) = B(a + x_T, b + x_C) / B(a, b)``, ``L(p) = p ** x_T (1 - p) ** x_C``), covers the true ratio
at every look simultaneously with probability ``>= 1 - alpha`` (Lindon & Malek 2022, Section 2: the
confidence sequence is the set of nulls whose Bayes factor stays below ``1 / alpha``). ``log L`` is
concave in ``logit p``, so the set is an interval, found by root finding on each side of the
estimate. It is two-sided; its lower end is a conservative one-sided bound.

Scope and assumptions: the exposure split must be constant over the period a test covers (one
stage of a ramp, a canary with a fixed slice), or the event rates constant over time; when the
split changes, give :func:`sequential_rate_path` the stage of each look, and it multiplies the
stages' Bayes factors (each stage's mixture is a test martingale on its own period, so the product
is one over the whole rollout). Events must be independent given the rates: a user who crashes
repeatedly makes counts overdispersed, and the test then rejects too easily; count crashing users
instead of crashes (a proportion) when that matters.

Example:
    >>> from iterate.stats.rates import sequential_rate_test
    >>> r = sequential_rate_test(40, 10_000.0, 90, 10_000.0)
    >>> r.status, round(r.rate_ratio, 3), r.regression
    ('ok', 2.25, True)
    >>> round(r.p_value, 4), round(r.ci_low, 2), round(r.ci_high, 2)
    (0.0031, 1.09, 4.98)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from scipy.special import betainc, betaincc, betaln

from iterate.errors import StatsError
from iterate.stats.estimate import Alternative, check_alternative_and_alpha, count_problem

RateStatus = Literal["ok", "no_events", "no_exposure"]
"""Why fields of a :class:`RateTest` are ``None``: ``ok`` when the test could be computed."""

_DEFAULT_CONCENTRATION = 100.0


@dataclass(frozen=True, slots=True)
class RateTest:
    """Anytime-valid comparison of two event rates at one look (cumulative counts and exposures).

    Statuses (no number is invented for a look without evidence):

    - ``ok``: every field is given (``ci_high`` is ``inf`` while the control arm has no event,
      ``ci_low`` is 0 while the treatment arm has none; ``rate_ratio`` is ``None`` when the
      control rate is 0).
    - ``no_events``: both arms are exposed but no event happened yet: ``log_bayes_factor`` is 0
      (the martingale's start), p-value and interval are ``None``, and nothing is rejected.
    - ``no_exposure``: an arm has no exposure yet; rates of that arm, p-value and interval are
      ``None``.

    Attributes:
        method: ``"beta_binomial_mixture"``.
        status: ``"ok"``, ``"no_events"`` or ``"no_exposure"``.
        message: Why a degenerate look has no test (``None`` when ``ok``).
        alternative: ``"greater"`` (treatment rate higher), ``"less"`` or ``"two-sided"``.
        alpha: Level of the test and of the confidence sequence.
        tolerance: Accepted relative change of the rate: the null is ``ratio <= 1 + tolerance``
            (``greater``) or ``ratio >= 1 - tolerance`` (``less``).
        concentration: ``k`` of the ``Beta(k p_0, k (1 - p_0))`` mixture.
        control_events: Events of the control arm.
        control_exposure: Exposure time of the control arm.
        treatment_events: Events of the treatment arm.
        treatment_exposure: Exposure time of the treatment arm.
        control_rate: ``control_events / control_exposure``.
        treatment_rate: ``treatment_events / treatment_exposure``.
        rate_ratio: ``treatment_rate / control_rate``.
        null_share: ``p_0``, the treatment's share of events under the null boundary.
        ci_low: Lower end of the anytime-valid ``1 - alpha`` confidence sequence of the rate ratio.
        ci_high: Upper end of it.
        log_bayes_factor: ``log BF`` (``log BF_+`` for a one-sided test) of this look.
        p_value: ``min(1, 1 / BF)``, valid at any stopping time.
        rejected: ``p_value <= alpha``.
        regression: The test shows the treatment worse: rejected with ``greater`` or ``less``;
            with ``two-sided``, rejected with a treatment rate above control's (crash-like events).

    Example:
        >>> r = sequential_rate_test(0, 500.0, 0, 25.0)
        >>> r.status, r.p_value, r.regression
        ('no_events', None, False)
    """

    method: str
    status: RateStatus
    message: str | None
    alternative: Alternative
    alpha: float
    tolerance: float
    concentration: float
    control_events: int
    control_exposure: float
    treatment_events: int
    treatment_exposure: float
    control_rate: float | None
    treatment_rate: float | None
    rate_ratio: float | None
    null_share: float | None
    ci_low: float | None
    ci_high: float | None
    log_bayes_factor: float | None
    p_value: float | None
    rejected: bool
    regression: bool


@dataclass(frozen=True, slots=True)
class RatePath:
    """The anytime-valid rate test along the looks of one rollout.

    Attributes:
        alternative: As :class:`RateTest`.
        alpha: Level.
        tolerance: As :class:`RateTest`.
        stages: The stage of each look (all 0 unless given).
        rate_ratios: Cumulative ``treatment_rate / control_rate`` at each look (``None`` while
            undefined); pooled over stages, so only descriptive when the split changes.
        log_bayes_factors: ``log`` of the product of the stages' Bayes factors at each look.
        p_values: Running minimum of ``min(1, 1 / BF)`` over the looks so far; ``None`` until the
            first event (no evidence yet).
        stopped_at: Index (from 0) of the first look whose running p-value is ``<= alpha``;
            ``None`` if none is.
        regression: The test stopped and shows the treatment worse (see :class:`RateTest`).

    Example:
        >>> path = sequential_rate_path([3, 9, 15], [100.0, 200.0, 300.0], [5, 25, 50], [100.0, 200.0, 300.0])
        >>> [round(p, 3) for p in path.p_values], path.stopped_at, path.regression
        ([0.885, 0.241, 0.015], 2, True)
    """

    alternative: Alternative
    alpha: float
    tolerance: float
    stages: tuple[int, ...]
    rate_ratios: tuple[float | None, ...]
    log_bayes_factors: tuple[float, ...]
    p_values: tuple[float | None, ...]
    stopped_at: int | None
    regression: bool


def sequential_rate_test(
    control_events: int,
    control_exposure: float,
    treatment_events: int,
    treatment_exposure: float,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "greater",
    tolerance: float = 0.0,
    concentration: float = _DEFAULT_CONCENTRATION,
) -> RateTest:
    """Anytime-valid test that the treatment's event rate is not higher (lower, different) than control's.

    The Beta-binomial mixture Bayes factor of the module docstring (Lindon & Malek 2022, the
    two-category Dirichlet-multinomial test applied to counting processes, Section 4), on the
    cumulative counts and exposures of one look. The p-value of a single look is valid at any
    stopping time; along several looks use :func:`sequential_rate_path` (its running minimum).

    Args:
        control_events: Events of the control (old) arm, an integer >= 0.
        control_exposure: Exposure time of the control arm (e.g. user-hours), >= 0.
        treatment_events: Events of the treatment (new) arm, an integer >= 0.
        treatment_exposure: Exposure time of the treatment arm, >= 0.
        alpha: Level, in (0, 1).
        alternative: ``"greater"`` (default: the rate rises, for crash-like events), ``"less"``
            (the rate falls, for logins, successful starts) or ``"two-sided"``.
        tolerance: Accepted relative change, >= 0 (< 1 for ``less``; 0 for ``two-sided``).
        concentration: ``k`` > 0 of the ``Beta(k p_0, k (1 - p_0))`` mixture: 100 (as
            :func:`iterate.stats.sequential_sample_ratio_mismatch`) spreads the alternative over
            rate ratios within roughly a factor 1.5 of the null at a 50/50 split, and wider at a
            small treatment share.

    Returns:
        A :class:`RateTest`.

    Raises:
        StatsError: On a negative or non-integer count, a negative or non-finite exposure,
            events with no exposure, or a bad alpha, alternative, tolerance or concentration.

    Example:
        >>> r = sequential_rate_test(120, 9_500.0, 24, 500.0, tolerance=0.1)
        >>> round(r.rate_ratio, 2), round(r.p_value, 5), r.regression
        (3.8, 0.00042, True)
        >>> sequential_rate_test(120, 9_500.0, 14, 500.0, alternative="less").p_value
        1.0
    """
    _check_options(alpha, alternative, tolerance, concentration)
    x_c, t_c = _checked_arm(control_events, control_exposure, "control")
    x_t, t_t = _checked_arm(treatment_events, treatment_exposure, "treatment")
    common = dict(
        method="beta_binomial_mixture", alternative=alternative, alpha=float(alpha),
        tolerance=float(tolerance), concentration=float(concentration), control_events=x_c,
        control_exposure=t_c, treatment_events=x_t, treatment_exposure=t_t,
    )
    if t_c == 0 or t_t == 0:
        empty = " and ".join(name for name, t in (("control", t_c), ("treatment", t_t)) if t == 0)
        return RateTest(
            status="no_exposure", message=f"the {empty} arm has no exposure yet: no rate to compare",
            control_rate=x_c / t_c if t_c else None, treatment_rate=x_t / t_t if t_t else None,
            rate_ratio=None, null_share=None, ci_low=None, ci_high=None, log_bayes_factor=None,
            p_value=None, rejected=False, regression=False, **common,
        )
    null_share = _null_share(t_c, t_t, _null_ratio(alternative, tolerance))
    rate_c, rate_t = x_c / t_c, x_t / t_t
    ratio = rate_t / rate_c if x_c else None
    if x_c + x_t == 0:
        return RateTest(
            status="no_events", message="no event in either arm yet: no evidence about the rate ratio",
            control_rate=rate_c, treatment_rate=rate_t, rate_ratio=None, null_share=null_share,
            ci_low=None, ci_high=None, log_bayes_factor=0.0, p_value=None, rejected=False,
            regression=False, **common,
        )
    a, b = concentration * null_share, concentration * (1.0 - null_share)
    log_bf = _log_bayes_factor(x_t, x_c, null_share, a, b, alternative)
    p_value = _p_value(log_bf)
    ci_low, ci_high = _ratio_confidence_sequence(x_t, x_c, t_t / t_c, a, b, alpha)
    rejected = p_value <= alpha
    return RateTest(
        status="ok", message=None, control_rate=rate_c, treatment_rate=rate_t, rate_ratio=ratio,
        null_share=null_share, ci_low=ci_low, ci_high=ci_high, log_bayes_factor=log_bf,
        p_value=p_value, rejected=rejected,
        regression=rejected and (alternative != "two-sided" or x_t * t_c > x_c * t_t), **common,
    )


def sequential_rate_path(
    control_events: Sequence[int],
    control_exposure: Sequence[float],
    treatment_events: Sequence[int],
    treatment_exposure: Sequence[float],
    *,
    stages: Sequence[int] | None = None,
    alpha: float = 0.05,
    alternative: Alternative = "greater",
    tolerance: float = 0.0,
    concentration: float = _DEFAULT_CONCENTRATION,
) -> RatePath:
    """The rate test after every batch of a rollout: running p-value and the look where it stops.

    Each argument holds the cumulative value at each look, in time order. Within a stage the
    Bayes factor is :func:`sequential_rate_test`'s on the counts and exposures since the stage
    began (its prior centred at that stage's null share); across stages the Bayes factors
    multiply: ``BF(look) = prod_{earlier stages s} BF_s(end of s) * BF_current(look)``. Each factor
    is a test (super)martingale on its own stage given the past, so the product is one over the
    whole rollout (Ramdas et al. 2023, Section 3) and ``p = min over looks of min(1, 1 / BF)`` is
    valid at any stopping time. Stage boundaries must be decided without looking at this metric
    (the ramp schedule).

    Args:
        control_events: Cumulative control events at each look.
        control_exposure: Cumulative control exposure at each look.
        treatment_events: Cumulative treatment events at each look.
        treatment_exposure: Cumulative treatment exposure at each look.
        stages: Stage number of each look, non-decreasing (a new number when the split changes,
            e.g. a ramp from 5% to 25%); ``None`` for one stage.
        alpha: Level, in (0, 1).
        alternative: As :func:`sequential_rate_test`.
        tolerance: As :func:`sequential_rate_test`.
        concentration: As :func:`sequential_rate_test`.

    Returns:
        A :class:`RatePath`.

    Raises:
        StatsError: On sequences of different or zero lengths, a decreasing cumulative value or
            stage, any invalid look (see :func:`sequential_rate_test`), or bad options.

    Example:
        >>> path = sequential_rate_path([10, 30, 50], [1e4, 3e4, 5e4], [0, 3, 20], [0.0, 1e3, 1e4],
        ...                             stages=[0, 0, 1])
        >>> path.p_values[0], path.stopped_at
        (None, None)
    """
    _check_options(alpha, alternative, tolerance, concentration)
    looks = _checked_looks(control_events, control_exposure, treatment_events, treatment_exposure)
    stage_of = _checked_stages(stages, len(looks))
    null_ratio = _null_ratio(alternative, tolerance)
    closed_stages = 0.0
    start = (0, 0.0, 0, 0.0)
    log_bfs: list[float] = []
    p_values: list[float | None] = []
    ratios: list[float | None] = []
    running: float | None = None
    stopped_at: int | None = None
    for index, look in enumerate(looks):
        if index and stage_of[index] != stage_of[index - 1]:
            closed_stages = log_bfs[-1]
            start = looks[index - 1]
        segment = tuple(now - then for now, then in zip(look, start, strict=True))
        current = _segment_log_bayes_factor(segment, null_ratio, concentration, alternative, index)
        log_bf = closed_stages + (current or 0.0)
        log_bfs.append(log_bf)
        x_c, t_c, x_t, t_t = look
        ratios.append((x_t / t_t) / (x_c / t_c) if x_c and t_t else None)
        if current is not None or running is not None:
            p = _p_value(log_bf)
            running = p if running is None else min(running, p)
        p_values.append(running)
        if stopped_at is None and running is not None and running <= alpha:
            stopped_at = index
    regression = stopped_at is not None
    if regression and alternative == "two-sided":
        x_c, t_c, x_t, t_t = looks[stopped_at]
        regression = x_t * t_c > x_c * t_t
    return RatePath(
        alternative=alternative, alpha=float(alpha), tolerance=float(tolerance), stages=tuple(stage_of),
        rate_ratios=tuple(ratios), log_bayes_factors=tuple(log_bfs), p_values=tuple(p_values),
        stopped_at=stopped_at, regression=regression,
    )


@dataclass(frozen=True, slots=True)
class StratifiedRateTest:
    """Anytime-valid comparison of two event rates over concurrent strata (the stages of a ramp).

    Statuses as :class:`RateTest`: ``no_exposure`` when no stratum has both arms exposed,
    ``no_events`` when those that do have no event yet (``log_bayes_factor`` 0, nothing rejected).

    Attributes:
        method: ``"stratified_beta_binomial_mixture"``.
        status: ``"ok"``, ``"no_events"`` or ``"no_exposure"``.
        message: Why a degenerate look has no test (``None`` when ``ok``).
        alternative: As :class:`RateTest`.
        alpha: Level of the test and of the confidence sequence.
        tolerance: As :class:`RateTest`.
        concentration: ``k`` of each stratum's ``Beta(k p_0, k (1 - p_0))`` mixture.
        control_events: Control events summed over the strata.
        control_exposure: Control exposure summed over the strata.
        treatment_events: Treatment events summed over the strata.
        treatment_exposure: Treatment exposure summed over the strata.
        rate_ratio: The Mantel-Haenszel common rate ratio ``sum_s x_Ts t_Cs / T_s / sum_s x_Cs t_Ts / T_s``
            (``T_s = t_Cs + t_Ts``; Greenland & Robins 1985, "Estimation of a common effect parameter
            from sparse follow-up data", Biometrics 41, eq. 4), ``None`` without control events.
        ci_low: Lower end of the anytime-valid ``1 - alpha`` confidence sequence of the common ratio;
            ``None`` (with ``ci_high``) when the set is empty: the strata's ratios disagree so much
            that no common ratio is compatible with all of them.
        ci_high: Upper end of it (``inf`` while no stratum has a control event).
        log_bayes_factor: Sum of the strata's ``log BF`` (one-sided ``log BF_+`` unless two-sided).
        stratum_log_bayes_factors: Each stratum's ``log BF`` (0 for a stratum without evidence).
        p_value: ``min(1, 1 / prod_s BF_s)``, valid at any stopping time.
        rejected: ``p_value <= alpha``.
        regression: Rejected, and the treatment worse (as :class:`RateTest`).
    """

    method: str
    status: RateStatus
    message: str | None
    alternative: Alternative
    alpha: float
    tolerance: float
    concentration: float
    control_events: int
    control_exposure: float
    treatment_events: int
    treatment_exposure: float
    rate_ratio: float | None
    ci_low: float | None
    ci_high: float | None
    log_bayes_factor: float | None
    stratum_log_bayes_factors: tuple[float, ...]
    p_value: float | None
    rejected: bool
    regression: bool


def stratified_rate_test(
    strata: Sequence[tuple[int, float, int, float]],
    *,
    alpha: float = 0.05,
    alternative: Alternative = "greater",
    tolerance: float = 0.0,
    concentration: float = _DEFAULT_CONCENTRATION,
) -> StratifiedRateTest:
    """The rate test over concurrent strata with a common rate ratio: the product of the strata's Bayes factors.

    Each stratum (the units first exposed in one stage of a ramp, whose own treatment share of
    exposure is constant) has its own null share ``p_0s = r t_Ts / (r t_Ts + t_Cs)`` and its own
    mixture Bayes factor ``BF_s`` (:func:`sequential_rate_test`, Lindon & Malek 2022, Section 4). The
    strata's events are independent given the rates, so ``prod_s BF_s`` is a test
    (super)martingale on the common filtration of all strata, and ``p = min(1, 1 / prod_s BF_s)``
    is valid at any stopping time (Ramdas, Grünwald, Vovk & Shafer 2023, Section 3: products of
    independent test martingales). A changing allocation across strata does not bias the test: no
    stratum's events are compared with another's exposure (the pooled Poisson split would be, as
    the naive stratum-pooled estimate is, when the baseline rate drifts).

    The confidence sequence of the common ratio is ``{theta : sum_s [log L_s(p_s(theta)) - log m_s]
    > log alpha}`` (the stratified form of :func:`sequential_rate_test`'s), an interval because the
    sum is concave in ``log theta``.

    Args:
        strata: ``(control_events, control_exposure, treatment_events, treatment_exposure)`` of
            each stratum, cumulative at this look.
        alpha: Level, in (0, 1).
        alternative: As :func:`sequential_rate_test`.
        tolerance: As :func:`sequential_rate_test`.
        concentration: As :func:`sequential_rate_test`.

    Returns:
        A :class:`StratifiedRateTest`.

    Raises:
        StatsError: On no stratum, or an invalid count, exposure or option (see :func:`sequential_rate_test`).

    Example:
        >>> one = stratified_rate_test([(40, 10_000.0, 90, 10_000.0)])
        >>> round(one.p_value, 4) == round(sequential_rate_test(40, 1e4, 90, 1e4).p_value, 4)
        True
        >>> two = stratified_rate_test([(40, 10_000.0, 90, 10_000.0), (300, 95_000.0, 24, 5_000.0)])
        >>> round(two.rate_ratio, 2), two.regression
        (1.94, True)
    """
    _check_options(alpha, alternative, tolerance, concentration)
    if not strata:
        raise StatsError("stratified_rate_test needs at least one stratum")
    checked = []
    for index, stratum in enumerate(strata):
        x_c, t_c = _checked_arm(stratum[0], stratum[1], f"stratum {index} control")
        x_t, t_t = _checked_arm(stratum[2], stratum[3], f"stratum {index} treatment")
        checked.append((x_c, t_c, x_t, t_t))
    totals = [sum(stratum[i] for stratum in checked) for i in range(4)]
    common = dict(
        method="stratified_beta_binomial_mixture", alternative=alternative, alpha=float(alpha),
        tolerance=float(tolerance), concentration=float(concentration), control_events=int(totals[0]),
        control_exposure=float(totals[1]), treatment_events=int(totals[2]), treatment_exposure=float(totals[3]),
    )
    null_ratio = _null_ratio(alternative, tolerance)
    exposed = [stratum for stratum in checked if stratum[1] > 0 and stratum[3] > 0]
    informative = [stratum for stratum in exposed if stratum[0] + stratum[2] > 0]
    log_bfs = tuple(
        _segment_log_bayes_factor(stratum, null_ratio, concentration, alternative, index) or 0.0
        for index, stratum in enumerate(checked)
    )
    if not informative:
        status: RateStatus = "no_exposure" if not exposed else "no_events"
        message = ("no stratum has both arms exposed yet: no rate to compare" if not exposed
                   else "no event in either arm of the exposed strata yet: no evidence about the rate ratio")
        return StratifiedRateTest(
            status=status, message=message, rate_ratio=None, ci_low=None, ci_high=None,
            log_bayes_factor=None if not exposed else 0.0, stratum_log_bayes_factors=log_bfs,
            p_value=None, rejected=False, regression=False, **common,
        )
    log_bf = sum(log_bfs)
    p_value = _p_value(log_bf)
    rejected = p_value <= alpha
    ratio = _mantel_haenszel_ratio(informative)
    ci_low, ci_high = _common_ratio_confidence_sequence(informative, null_ratio, concentration, alpha) or (None, None)
    higher = ratio is None or ratio > 1.0
    return StratifiedRateTest(
        status="ok", message=None, rate_ratio=ratio, ci_low=ci_low, ci_high=ci_high, log_bayes_factor=log_bf,
        stratum_log_bayes_factors=log_bfs, p_value=p_value, rejected=rejected,
        regression=rejected and (alternative != "two-sided" or higher), **common,
    )


def _mantel_haenszel_ratio(strata: Sequence[tuple[int, float, int, float]]) -> float | None:
    """Greenland & Robins (1985) eq. 4: ``sum x_T t_C / T / sum x_C t_T / T``."""
    numerator = sum(x_t * t_c / (t_c + t_t) for x_c, t_c, x_t, t_t in strata)
    denominator = sum(x_c * t_t / (t_c + t_t) for x_c, t_c, x_t, t_t in strata)
    return numerator / denominator if denominator > 0 else None


def _common_ratio_confidence_sequence(strata: Sequence[tuple[int, float, int, float]], null_ratio: float,
                                      concentration: float, alpha: float) -> tuple[float, float] | None:
    """``{theta : sum_s [log L_s(p_s(theta)) - log m_s] > log alpha}``, ``logit p_s = log theta + log r_s``.

    The excess is concave in ``lam = log theta``; it tends to ``-level > 0`` where every event is
    on the side the ratio goes to (no treatment event as ``lam -> -inf``), so that end is 0 (or
    infinite); each finite end is bracketed by doubling a step from a point inside and solved by
    Brent's method. Unlike one stratum's, the set can be empty (``None``): when the strata's
    ratios disagree, no common ratio keeps the product of their Bayes factors below ``1 / alpha``."""
    from scipy.optimize import brentq

    terms = []
    level = math.log(alpha)
    for x_c, t_c, x_t, t_t in strata:
        null_share = _null_share(t_c, t_t, null_ratio)
        a, b = concentration * null_share, concentration * (1.0 - null_share)
        level += float(betaln(a + x_t, b + x_c)) - float(betaln(a, b))
        terms.append((x_t, x_t + x_c, math.log(t_t / t_c)))

    def excess(lam: float) -> float:
        return sum(x_t * (lam + o) - n * _log1p_exp(lam + o) for x_t, n, o in terms) - level

    def slope(lam: float) -> float:
        return sum(x_t - n / (1.0 + math.exp(-(lam + o))) for x_t, n, o in terms)

    no_treatment = all(x_t == 0 for x_t, _, _ in terms)
    no_control = all(x_t == n for x_t, n, _ in terms)
    offsets = [o for _, _, o in terms]
    if no_treatment:
        inside = -max(offsets) - 40.0
    elif no_control:
        inside = -min(offsets) + 40.0
    else:
        low, high = -min(offsets) - 1.0, -max(offsets) + 1.0
        while slope(low) <= 0:
            low -= 2.0 * (1.0 + abs(low))
        while slope(high) >= 0:
            high += 2.0 * (1.0 + abs(high))
        inside = brentq(slope, low, high, xtol=1e-14, rtol=1e-13)
        if excess(inside) <= 0:
            return None
    ends = []
    for direction, unbounded in ((-1.0, no_treatment), (1.0, no_control)):
        if unbounded:
            ends.append(-math.inf if direction < 0 else math.inf)
            continue
        width = 1.0
        while excess(inside + direction * width) > 0:
            width *= 2.0
        ends.append(brentq(excess, *sorted((inside, inside + direction * width)), xtol=1e-14, rtol=1e-13))
    return math.exp(ends[0]), math.exp(ends[1])


def _log_bayes_factor(x_t: int, x_c: int, null_share: float, a: float, b: float, alternative: str) -> float:
    """``log BF`` of the Beta(a, b) mixture against ``p = null_share`` (module docstring), truncated
    to the alternative's side of ``null_share`` for a one-sided test."""
    log_bf = (
        float(betaln(a + x_t, b + x_c)) - float(betaln(a, b))
        - x_t * math.log(null_share) - x_c * math.log1p(-null_share)
    )
    if alternative == "two-sided":
        return log_bf
    tail = betaincc if alternative == "greater" else betainc
    posterior_mass = float(tail(a + x_t, b + x_c, null_share))
    if posterior_mass <= 0.0:
        return -math.inf
    return log_bf + math.log(posterior_mass) - math.log(float(tail(a, b, null_share)))


def _p_value(log_bayes_factor: float) -> float:
    """``min(1, 1 / BF)`` (Ville's inequality), without overflow."""
    return math.exp(-log_bayes_factor) if log_bayes_factor > 0 else 1.0


def _ratio_confidence_sequence(
    x_t: int, x_c: int, exposure_ratio: float, a: float, b: float, alpha: float
) -> tuple[float, float]:
    """``{theta : log L(p(theta)) > log m(x) + log alpha}`` with ``logit p(theta) = log theta + log r``.

    In ``eta = logit p``, ``log L = x_T eta - n log(1 + e^eta)`` is concave with its maximum at the
    estimate ``logit(x_T / n)``; the ends solve ``log L = c``. With ``x_T = 0`` (``x_C = 0``) the
    lower (upper) end is 0 (infinite) and the other one has the closed form
    ``eta = log(expm1(-c / n))`` (``-log(expm1(-c / n))``).
    """
    from scipy.optimize import brentq

    n = x_t + x_c
    level = float(betaln(a + x_t, b + x_c)) - float(betaln(a, b)) + math.log(alpha)
    offset = math.log(exposure_ratio)

    def excess(eta: float) -> float:
        return x_t * eta - n * _log1p_exp(eta) - level

    if x_t == 0:
        return 0.0, math.exp(math.log(math.expm1(-level / n)) - offset)
    if x_c == 0:
        return math.exp(-math.log(math.expm1(-level / n)) - offset), math.inf
    peak = math.log(x_t) - math.log(x_c)
    ends = []
    for direction in (-1.0, 1.0):
        width = 1.0
        while excess(peak + direction * width) > 0:
            width *= 2.0
        ends.append(brentq(excess, *sorted((peak, peak + direction * width)), xtol=1e-14, rtol=1e-13))
    return math.exp(ends[0] - offset), math.exp(ends[1] - offset)


def _log1p_exp(eta: float) -> float:
    """``log(1 + e^eta)`` without overflow."""
    return eta + math.log1p(math.exp(-eta)) if eta > 0 else math.log1p(math.exp(eta))


def _segment_log_bayes_factor(segment: tuple[int, float, int, float], null_ratio: float,
                              concentration: float, alternative: str, index: int) -> float | None:
    """``log BF`` of one stage's counts and exposures so far; ``None`` while they carry no evidence
    about the ratio (no event, or an arm not exposed yet, when every event is the other arm's
    whatever the ratio)."""
    x_c, t_c, x_t, t_t = segment
    for arm, events, exposure in (("control", x_c, t_c), ("treatment", x_t, t_t)):
        if events and not exposure:
            raise StatsError(f"look {index}: the {arm} arm has {events} events in its stage but no exposure "
                             "in it (exposure is measured over the same period as the events)")
    if x_c + x_t == 0 or t_c == 0 or t_t == 0:
        return None
    null_share = _null_share(t_c, t_t, null_ratio)
    a, b = concentration * null_share, concentration * (1.0 - null_share)
    return _log_bayes_factor(x_t, x_c, null_share, a, b, alternative)


def _null_ratio(alternative: str, tolerance: float) -> float:
    if alternative == "greater":
        return 1.0 + tolerance
    if alternative == "less":
        return 1.0 - tolerance
    return 1.0


def _null_share(t_c: float, t_t: float, null_ratio: float) -> float:
    """``p_0 = r t_T / (r t_T + t_C)``, the treatment's share of events at rate ratio ``r``."""
    return null_ratio * t_t / (null_ratio * t_t + t_c)


def _check_options(alpha: float, alternative: str, tolerance: float, concentration: float) -> None:
    check_alternative_and_alpha(alternative, alpha)
    if isinstance(concentration, bool) or not (
        isinstance(concentration, int | float) and math.isfinite(concentration) and concentration > 0
    ):
        raise StatsError(f"concentration == {concentration!r}, must be a finite number > 0")
    if isinstance(tolerance, bool) or not (
        isinstance(tolerance, int | float) and math.isfinite(tolerance) and tolerance >= 0
    ):
        raise StatsError(f"tolerance == {tolerance!r}, must be a finite number >= 0")
    if alternative == "two-sided" and tolerance != 0:
        raise StatsError(
            f"tolerance == {tolerance!r} with alternative 'two-sided': a tolerance needs a one-sided "
            "test ('greater': ratio <= 1 + tolerance is accepted; 'less': ratio >= 1 - tolerance)"
        )
    if alternative == "less" and tolerance >= 1:
        raise StatsError(f"tolerance == {tolerance!r} with alternative 'less', must be < 1")


def _checked_arm(events: object, exposure: object, arm: str) -> tuple[int, float]:
    problem = count_problem(events, f"{arm}_events")
    if problem:
        raise StatsError(problem)
    if isinstance(exposure, bool) or not hasattr(exposure, "__float__") or not (
        math.isfinite(float(exposure)) and float(exposure) >= 0  # type: ignore[arg-type]
    ):
        raise StatsError(f"{arm}_exposure == {exposure!r}, must be a finite number >= 0")
    count, time = int(events), float(exposure)  # type: ignore[call-overload, arg-type]
    if count > 0 and time == 0:
        raise StatsError(
            f"{arm}_events == {count} with {arm}_exposure == 0: events need exposure time "
            "(check that exposure is measured over the same period as the events)"
        )
    return count, time


def _checked_looks(control_events: Sequence[int], control_exposure: Sequence[float],
                   treatment_events: Sequence[int], treatment_exposure: Sequence[float],
                   ) -> list[tuple[int, float, int, float]]:
    lengths = [len(control_events), len(control_exposure), len(treatment_events), len(treatment_exposure)]
    if len(set(lengths)) != 1 or lengths[0] == 0:
        raise StatsError(
            "control_events, control_exposure, treatment_events and treatment_exposure have lengths "
            f"{', '.join(map(str, lengths))}: they must hold one cumulative value per look, at least one"
        )
    looks = []
    problems = []
    for index in range(lengths[0]):
        x_c, t_c = _checked_arm(control_events[index], control_exposure[index], f"look {index}: control")
        x_t, t_t = _checked_arm(treatment_events[index], treatment_exposure[index], f"look {index}: treatment")
        if looks:
            previous = looks[-1]
            names = ("control_events", "control_exposure", "treatment_events", "treatment_exposure")
            problems += [
                f"look {index}: {name} == {now!r} is below the previous look's {then!r} (values are cumulative)"
                for name, now, then in zip(names, (x_c, t_c, x_t, t_t), previous, strict=True) if now < then
            ]
        looks.append((x_c, t_c, x_t, t_t))
    if problems:
        raise StatsError("cumulative counts and exposures must not decrease", problems)
    return looks


def _checked_stages(stages: Sequence[int] | None, n_looks: int) -> list[int]:
    if stages is None:
        return [0] * n_looks
    if len(stages) != n_looks:
        raise StatsError(f"len(stages) == {len(stages)}, must equal the number of looks, {n_looks}")
    checked = []
    for index, stage in enumerate(stages):
        problem = count_problem(stage, f"stages[{index}]")
        if problem:
            raise StatsError(problem)
        if checked and stage < checked[-1]:
            raise StatsError(f"stages[{index}] == {stage!r} is below stages[{index - 1}] == {checked[-1]!r}: "
                             "stages must not decrease")
        checked.append(int(stage))
    return checked
