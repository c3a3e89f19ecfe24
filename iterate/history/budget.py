"""The release-train budget: small accepted losses on a guardrail, added up over shipped releases.

Each release may ship with a guardrail a little worse, within its non-inferiority margin; a train
of such releases can add up to a large loss. ``[history] budget = { retention_7 = 0.03 }`` accepts
a relative loss of 3% in total on ``retention_7``. At each analysis with a history:

- the **used budget** is the sum, over the releases shipped before (the latest shipped record of
  each other experiment in the history, its recommended variant) and this release (its variant
  that would ship), of the relative effect in the metric's bad direction:
  ``loss = -relative_effect`` for ``direction = "increase"``, ``+relative_effect`` for
  ``"decrease"`` (a gain counts negative and offsets losses);
- the **worst case** is the same sum of the interval bounds on the bad side
  (``-relative_ci_low`` for ``increase``, ``relative_ci_high`` for ``decrease``);
- past the budget (used budget > budget), the warning check ``release_budget`` gives those numbers;
  with ``fail_on_budget = true`` a release that would ship is rolled back instead (reason
  ``release_budget``, see :func:`iterate.decision.overrule_ship`).

A release that does not ship adds nothing (its loss is not accepted).

Example:
    >>> loss("increase", -0.008)
    0.008
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from iterate.history.store import Estimate
from iterate.result import Check, MetricResult


def loss(direction: str, relative_effect: float) -> float:
    """The relative effect measured in the bad direction (positive: a loss)."""
    return -relative_effect if direction == "increase" else relative_effect


def worst_loss(direction: str, low: float | None, high: float | None) -> float | None:
    """The loss at the bad end of the relative interval (``None`` when that bound is unknown)."""
    bound = low if direction == "increase" else high
    return None if bound is None else loss(direction, bound)


@dataclass(frozen=True, slots=True)
class ShippedLoss:
    """One release's contribution: its loss and its worst-case loss on the metric."""

    experiment: str
    record_id: int | None
    loss: float
    worst: float | None


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """How much of a metric's budget the shipped releases (and this one) use."""

    metric: str
    budget: float
    shipped: tuple[ShippedLoss, ...]
    current: ShippedLoss | None
    unmeasured: int

    @property
    def total(self) -> float:
        """The sum of the point losses (shipped releases and this one)."""
        return sum(item.loss for item in self._items)

    @property
    def worst_case(self) -> float | None:
        """The sum of the worst-case losses, ``None`` when a bound is unknown."""
        worst = [item.worst for item in self._items]
        return None if any(w is None for w in worst) else sum(worst)

    @property
    def exceeded(self) -> bool:
        """Whether the used budget is past the budget."""
        return self.total > self.budget

    @property
    def _items(self) -> tuple[ShippedLoss, ...]:
        return self.shipped + ((self.current,) if self.current is not None else ())


def shipped_losses(estimates: Sequence[Estimate], current_experiment: str) -> tuple[tuple[ShippedLoss, ...], int]:
    """The loss of each other experiment's latest shipped record (its recommended variant), and the
    number of such releases without a relative effect (not counted)."""
    latest: dict[str, Estimate] = {}
    for estimate in estimates:
        if (estimate.verdict == "ship" and estimate.variant == estimate.recommended_variant
                and estimate.experiment != current_experiment):
            latest[estimate.experiment] = estimate
    shipped, unmeasured = [], 0
    for estimate in sorted(latest.values(), key=lambda e: e.analysis_id):
        if estimate.relative_effect is None:
            unmeasured += 1
            continue
        shipped.append(ShippedLoss(estimate.experiment, estimate.analysis_id,
                                   loss(estimate.direction, estimate.relative_effect),
                                   worst_loss(estimate.direction, estimate.relative_ci_low, estimate.relative_ci_high)))
    return tuple(shipped), unmeasured


def budget_use(metric: str, budget: float, estimates: Sequence[Estimate], experiment: str,
               current: MetricResult | None) -> BudgetUse:
    """The budget used on ``metric`` by the history's shipped releases and ``current`` (this
    release's row of the variant that would ship, ``None`` when it does not ship)."""
    shipped, unmeasured = shipped_losses(estimates, experiment)
    mine = None
    if current is not None and current.relative_effect is not None:
        mine = ShippedLoss(experiment, None, loss(current.direction, current.relative_effect),
                           worst_loss(current.direction, current.relative_ci_low, current.relative_ci_high))
    elif current is not None:
        unmeasured += 1
    return BudgetUse(metric, budget, shipped, mine, unmeasured)


def budget_check(use: BudgetUse) -> Check:
    """The warning check ``release_budget`` of one metric, with its numbers."""
    releases = len(use.shipped) + (use.current is not None)
    worst = "unknown" if use.worst_case is None else f"{use.worst_case:.2%}"
    this = "" if use.current is None else f" (this release {use.current.loss:+.2%})"
    verdict = "past" if use.exceeded else "within"
    message = (f"release-train budget of {use.metric}: {use.total:.2%} relative loss over {releases} shipped "
               f"release(s){this}, {verdict} the budget of {use.budget:.2%}; worst case (interval bounds) {worst}")
    if use.unmeasured:
        message += f"; {use.unmeasured} shipped release(s) without a relative effect are not counted"
    return Check(
        name="release_budget",
        passed=not use.exceeded,
        message=message,
        severity="warning",
        details={
            "metric": use.metric, "budget": use.budget, "releases": releases, "used": use.total,
            "worst_case": use.worst_case, "this_release": None if use.current is None else use.current.loss,
            "previous": [{"experiment": s.experiment, "record": s.record_id, "loss": s.loss, "worst": s.worst}
                         for s in use.shipped],
            "unmeasured": use.unmeasured,
        },
    )
