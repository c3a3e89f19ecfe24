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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from iterate import aggregation, checks
from iterate.aggregation.unit_metrics import Replicates
from iterate.analysis import check_variants, engine_errors_as_data_errors, resolve
from iterate.comparisons import overall_rows
from iterate.config import Experiment
from iterate.decision import decide
from iterate.engine import connect
from iterate.errors import ConfigError
from iterate.ingest import prepare_logs
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

    def to_dict(self) -> dict[str, Any]:
        """The JSON report of the calibration."""
        return {"schema_version": 1, "kind": "calibration", **asdict(self)}


def calibrate(
    config: Experiment | str | Path,
    *,
    events: Any = None,
    exposures: Any = None,
    replicates: int = 200,
    seed: int = 0,
) -> CalibrationResult:
    """Replay A/A tests on the experiment's own units and report the false-positive rates.

    Raises:
        ConfigError: the configuration is invalid, or ``replicates`` < 10.
        DataError: a log is unreadable or breaks the data contract.
    """
    if not isinstance(replicates, int) or replicates < 10:
        raise ConfigError(f"replicates == {replicates!r}, must be a whole number >= 10 (200 or more for useful rates)")
    experiment, events, exposures = resolve(config, events, exposures)
    variants_declared = experiment.variants
    share = 0.5
    if variants_declared is not None and experiment.expected_split:
        control_share = experiment.expected_split[experiment.control]
        treatment_share = experiment.expected_split[variants_declared[1]]
        share = control_share / (control_share + treatment_share)
    unit_level = tuple(m for m in experiment.metrics if m.type != "quantile")
    if not unit_level:
        raise ConfigError("calibration replays unit-level metrics; this experiment has only quantile metrics")
    experiment = experiment.replace(metrics=unit_level, segments=())

    with connect() as con, engine_errors_as_data_errors():
        logs = prepare_logs(con, experiment, events, exposures)
        spine = aggregation.build_spine(con, experiment, logs)
        counts = aggregation.count_exposures(con, spine)
        variants = check_variants(experiment, counts, logs.exposures.label)
        times = aggregation.event_times(con, logs, _now(), spine.first_exposure)
        moments = aggregation.unit_metric_moments(
            con, experiment, logs, spine, variants, experiment.as_of or times.data_end,
            replicates=Replicates(count=replicates, share=share, seed=seed),
        )

    aa = experiment.replace(control="A", expected_split={"A": share, "B": 1 - share})
    by_replicate = defaultdict(list)
    for group in moments.groups:
        by_replicate[group.replicate].append(group)
    significant: Counter[str] = Counter()
    verdicts: Counter[str] = Counter()
    units = 0
    for groups in by_replicate.values():
        arms = {g.variant: g.moments.n + g.missing_units for g in groups if g.metric == unit_level[0].name}
        units = sum(arms.values())
        quality = (checks.srm_check(aa, arms, ("A", "B")), checks.pre_exposure_check(aa, groups, ("A", "B")))
        rows = overall_rows(aa, ("A", "B"), groups, {})
        significant.update(row.name for row in rows if row.p_value_adjusted is not None and row.p_value_adjusted < aa.alpha)
        verdicts[decide(rows, quality).verdict] += 1

    total = len(by_replicate)
    rates = []
    for metric in unit_level:
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


def render_calibration(result: CalibrationResult) -> str:
    """Terminal report of a calibration."""
    lines = [
        f"{result.experiment}: A/A calibration, {result.replicates} re-randomizations of {result.units:,} units "
        f"({result.share:.0%} / {1 - result.share:.0%}), alpha = {result.alpha}",
        "",
        f"{'metric':<24} {'role':<12} {'significant':>11} {'rate':>7}  95% interval       verdict",
    ]
    for rate in result.metrics:
        judgement = "ok" if rate.within_alpha else "TOO MANY false positives"
        lines.append(f"{rate.name:<24} {rate.role:<12} {rate.significant:>11} {rate.rate:>7.1%}  "
                     f"[{rate.ci_low:.1%}, {rate.ci_high:.1%}]   {judgement}")
    verdicts = ", ".join(f"{verdict} {count}" for verdict, count in sorted(result.verdicts.items()))
    lines += [
        "",
        f"Whole decision: ship or rollback in {result.verdict_rate:.1%} of A/A replays "
        f"[{result.verdict_ci_low:.1%}, {result.verdict_ci_high:.1%}] ({verdicts}).",
    ]
    return "\n".join(lines) + "\n"


def _now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).replace(tzinfo=None)
