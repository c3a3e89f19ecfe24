"""A/A calibration on the user's own log: how often would each metric, and the whole decision,
fire when nothing differs?

The analyzed units are re-randomized into two arms many times (a hash of unit and replicate, inside
the engine); each replicate runs the same tests, corrections, checks and decision rule as
``iterate analyze``. With valid tests the false-positive rate of a metric is alpha and the verdict
is ``ship`` or ``rollback`` rarely; heavy tails, dependence between units or a too-eager rule show
up as rates outside the binomial interval. Quantile metrics are not replayed.

Example:
    >>> import iterate
    >>> result = iterate.calibrate("sample_data/experiment.toml", replicates=100)  # doctest: +SKIP
    >>> result.verdict_rate  # doctest: +SKIP
    0.03
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

from iterate import aggregation, checks
from iterate.aggregation import GroupMoments, Replicates
from iterate.comparisons import overall_rows
from iterate.config import Experiment
from iterate.decision import decide
from iterate.engines import Engine
from iterate.errors import ConfigError
from iterate.provenance import Provenance, data_fingerprint, provenance
from iterate.session import open_session, resolve
from iterate.stats.binomial import binomial_interval


@dataclass(frozen=True, slots=True)
class MetricRate:
    """How often one metric's test was significant across the A/A replicates."""

    name: str
    role: str
    significant: int
    replicates: int
    rate: float
    ci_low: float
    ci_high: float
    within_alpha: bool


@dataclass(frozen=True, slots=True)
class CalibrationResult:
    """False-positive rates of each metric test and of the verdict over A/A replicates.

    Attributes:
        experiment: Experiment name.
        replicates: Number of re-randomizations.
        alpha: Nominal level of each test.
        share: Share of units put in arm A.
        units: Units re-randomized.
        metrics: Rate of significant results (adjusted p below alpha) per metric, with a 95%
            Clopper-Pearson interval; ``within_alpha`` when the interval contains alpha or lies below.
        verdicts: How many replicates ended in each verdict.
        verdict_rate: Share of replicates whose verdict was ``ship`` or ``rollback``.
        verdict_ci_low: Lower end of its 95% interval.
        verdict_ci_high: Upper end of its 95% interval.
        seed: Seed of the re-randomization.
    """

    experiment: str
    replicates: int
    alpha: float
    share: float
    units: int
    metrics: tuple[MetricRate, ...]
    verdicts: dict[str, int]
    verdict_rate: float
    verdict_ci_low: float
    verdict_ci_high: float
    seed: int
    provenance: Provenance | None = None

    report_kind: ClassVar[str] = "calibration"

    def as_document(self) -> dict[str, Any]:
        """Every field as plain Python values: the one source of every report format."""
        document = {"schema_version": 1, "kind": "calibration",
                    **{f.name: getattr(self, f.name) for f in fields(self) if f.name != "provenance"}}
        document["metrics"] = [asdict(rate) for rate in self.metrics]
        if self.provenance is not None:
            document["provenance"] = self.provenance.as_document()
        return document

    def to_dict(self) -> dict[str, Any]:
        """The JSON report of the calibration."""
        from iterate.report.json import json_ready

        return json_ready(self.as_document())


def calibrate(
    config: Experiment | str | Path,
    *,
    events: Any = None,
    exposures: Any = None,
    replicates: int = 200,
    seed: int = 0,
    engine: Engine | None = None,
) -> CalibrationResult:
    """Replay A/A tests on the experiment's own units and report the false-positive rates.

    Raises:
        ConfigError: the configuration is invalid, or ``replicates`` < 10.
        DataError: a log is unreadable or breaks the data contract.
    """
    if not isinstance(replicates, int) or replicates < 10:
        raise ConfigError(f"replicates == {replicates!r}, must be a whole number >= 10 (200 or more for useful rates)")
    generated_at = datetime.now(timezone.utc).replace(tzinfo=None)
    experiment, events, exposures = resolve(config, events, exposures)
    share = _share_of_first_arm(experiment)
    per_unit = tuple(m for m in experiment.metrics if m.kind.per_unit)
    if not per_unit:
        raise ConfigError("calibration replays unit-level metrics; this experiment has only quantile metrics")
    configured, experiment = experiment, experiment.replace(metrics=per_unit, segments=())
    with open_session(experiment, events, exposures, engine=engine) as session:
        spine = session.exposed_spine()
        variants = session.variants(session.count_exposures(spine))
        times = session.event_times(spine.first_exposure)
        moments = aggregation.unit_metric_moments(
            session.engine, experiment, session.logs, spine, variants, experiment.as_of or times.data_end,
            replicates=Replicates(count=replicates, share=share, seed=seed),
        )
        data = data_fingerprint(session, {"events": events, "exposures": exposures}, (times.first_event,
                                                                                      times.last_event))
    by_replicate: defaultdict[int | None, list[GroupMoments]] = defaultdict(list)
    for group in moments.groups:
        by_replicate[group.replicate].append(group)
    return replace(_rates(experiment, share, seed, by_replicate), provenance=provenance(configured, data, generated_at))


def _share_of_first_arm(experiment: Experiment) -> float:
    """The share of arm A in the replays: the control's share of the control and first treatment."""
    variants_declared = experiment.variants
    if variants_declared is None or not experiment.expected_split:
        return 0.5
    control_share = experiment.expected_split[experiment.control]
    treatment_share = experiment.expected_split[variants_declared[1]]
    return control_share / (control_share + treatment_share)


def _rates(experiment: Experiment, share: float, seed: int,
           by_replicate: Mapping[int | None, Sequence[GroupMoments]]) -> CalibrationResult:
    """Each replicate through the same tests, corrections, checks and decision as an analysis."""
    aa = experiment.replace(control="A", expected_split={"A": share, "B": 1 - share})
    first_metric = experiment.metrics[0].name
    significant: Counter[str] = Counter()
    verdicts: Counter[str] = Counter()
    units = 0
    for groups in by_replicate.values():
        arms = {g.variant: g.moments.n + g.missing_units for g in groups if g.metric == first_metric}
        units = sum(arms.values())
        quality = (checks.srm_check(aa, arms, ("A", "B")), checks.pre_exposure_check(aa, groups, ("A", "B")))
        rows = overall_rows(aa, ("A", "B"), groups, {})
        significant.update(row.name for row in rows if row.p_value_adjusted is not None and row.p_value_adjusted < aa.alpha)
        verdicts[decide(rows, quality).verdict] += 1
    total = len(by_replicate)
    rates = []
    for metric in experiment.metrics:
        low, high = binomial_interval(significant[metric.name], total)
        rates.append(MetricRate(metric.name, metric.role, significant[metric.name], total,
                                significant[metric.name] / total, low, high, low <= experiment.alpha))
    fired = verdicts["ship"] + verdicts["rollback"]
    low, high = binomial_interval(fired, total)
    return CalibrationResult(
        experiment=experiment.name, replicates=total, alpha=experiment.alpha, share=share, units=units,
        metrics=tuple(rates), verdicts=dict(verdicts), verdict_rate=fired / total,
        verdict_ci_low=low, verdict_ci_high=high, seed=seed,
    )
