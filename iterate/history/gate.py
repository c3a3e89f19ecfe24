"""What the recorded history changes in an analysis: the online-FDR alpha of its success metrics
and the release-train budget checks (``[history]`` of the config).

The pipeline (:mod:`iterate.analysis`) loads a :class:`HistoryGate` from the history before
deciding, judges the metric rows at the gate's success alpha, and lets the gate add its checks
and, with ``fail_on_budget``, overrule a ship.

**Online FDR** (``fdr = "lord"``). The stream is the experiments recorded under online FDR, in the
order of their first record; release t is the t-th experiment of that stream (a re-analysis of the
same experiment keeps its t); its discoveries are the earlier experiments of the stream with a
``ship`` record. Release t's success metrics are judged at alpha_t of LORD++
(:func:`iterate.history.online_fdr.lord_alpha`, FDR target ``fdr_target``, initial wealth ``w0``)
instead of the experiment's alpha: a success metric is ``better`` when its multiplicity-adjusted
p-value is below alpha_t. Intervals, guardrails and harm tests keep the experiment's alpha. A
release still running when a later one starts counts as no discovery for it (conservative).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from iterate.config import Experiment, History
from iterate.decision import Decision, classify, overrule_ship
from iterate.history.budget import budget_check, budget_use
from iterate.history.online_fdr import lord_alpha, lord_wealth
from iterate.history.store import Estimate, HistoryStore, Release, shipped_variant
from iterate.result import Check, MetricResult, Reason


@dataclass(frozen=True, slots=True)
class FdrLevel:
    """The LORD++ level of one release of the stream."""

    release: int
    alpha: float
    wealth: float
    discoveries: tuple[int, ...]
    target: float
    w0: float

    def reason(self) -> Reason:
        """The reason naming the alpha used and the wealth."""
        return Reason(
            "online_fdr",
            f"online FDR (LORD++, target {self.target:g}): release {self.release} of the stream, after "
            f"{len(self.discoveries)} discover{'y' if len(self.discoveries) == 1 else 'ies'}; its success metrics "
            f"are judged at alpha {self.alpha:.4g} (wealth {self.wealth:.4g})",
            details={"alpha": self.alpha, "wealth": self.wealth, "release": self.release,
                     "discoveries": list(self.discoveries), "fdr_target": self.target, "w0": self.w0},
        )


def fdr_level(experiment: str, releases: Sequence[Release], *, target: float, w0: float) -> FdrLevel:
    """The LORD++ level of ``experiment`` given the history's records (those under online FDR)."""
    stream: list[str] = []
    shipped: set[str] = set()
    for release in releases:
        if release.fdr_alpha is None:
            continue
        if release.experiment not in stream:
            stream.append(release.experiment)
        if release.verdict == "ship":
            shipped.add(release.experiment)
    t = stream.index(experiment) + 1 if experiment in stream else len(stream) + 1
    discoveries = tuple(index for index, name in enumerate(stream[:t - 1], start=1) if name in shipped)
    return FdrLevel(t, lord_alpha(t, discoveries, alpha=target, w0=w0),
                    lord_wealth(t, discoveries, alpha=target, w0=w0), discoveries, target, w0)


@dataclass(frozen=True, slots=True)
class HistoryGate:
    """What the history says before this analysis decides."""

    experiment: str
    settings: History
    fdr: FdrLevel | None = None
    estimates: Mapping[str, Sequence[Estimate]] = field(default_factory=dict)

    @classmethod
    def load(cls, store: HistoryStore, experiment: Experiment) -> HistoryGate:
        """Read what the rules of ``experiment.history`` need from the store."""
        settings = experiment.history or History()
        fdr = None
        if settings.fdr == "lord":
            fdr = fdr_level(experiment.name, store.releases(), target=settings.fdr_target, w0=settings.initial_wealth)
        estimates = {metric: store.estimates(metric) for metric in sorted(settings.budget)}
        return cls(experiment.name, settings, fdr, estimates)

    def with_success_alpha(self, rows: Sequence[MetricResult]) -> list[MetricResult]:
        """The rows with the success metrics judged at the online-FDR alpha (unchanged without it)."""
        if self.fdr is None:
            return list(rows)
        return [self._at_fdr_alpha(row) if row.role == "success" else row for row in rows]

    def _at_fdr_alpha(self, row: MetricResult) -> MetricResult:
        """A success row judged at the online-FDR level, or at a group-sequential look's nominal alpha
        when that is smaller: ``decision_alpha`` says which level, for the trace and the projections."""
        alpha = min(self.fdr.alpha, row.decision_alpha if row.decision_alpha is not None else row.alpha)
        return replace(row, decision_alpha=alpha, outcome=classify(row.direction, row.effect, _tested_p(row), alpha))

    def judge(self, decision: Decision, rows: Sequence[MetricResult]) -> tuple[Decision, tuple[Check, ...]]:
        """The decision after the budget rule, and the budget checks; the online-FDR reason added."""
        if self.fdr is not None:
            decision = replace(decision, reasons=(*decision.reasons, self.fdr.reason()))
        variant = shipped_variant(decision.variant_verdicts, rows)
        checks = []
        for metric, budget in sorted(self.settings.budget.items()):
            current = next((row for row in rows if row.name == metric and row.variant == variant), None)
            checks.append(budget_check(budget_use(metric, budget, self.estimates.get(metric, ()), self.experiment,
                                                  current)))
        exceeded = [check for check in checks if not check.passed]
        if exceeded and self.settings.fail_on_budget:
            names = ", ".join(check.details["metric"] for check in exceeded)
            reason = Reason("release_budget", f"shipping would pass the release-train budget of {names} "
                            "(fail_on_budget = true): " + "; ".join(check.message for check in exceeded),
                            variant, exceeded[0].details["metric"],
                            details={"metrics": [check.details["metric"] for check in exceeded]})
            decision = overrule_ship(decision, reason)
        return decision, tuple(checks)


def _tested_p(row: MetricResult) -> float | None:
    return row.p_value_adjusted if row.p_value_adjusted is not None else row.p_value
