"""Planning from a baseline period of the user's own log: sample size, minimum detectable effect
and duration, for each metric and for the whole decision rule.

Every user active in the baseline period is a would-be unit, "exposed" at their first event there;
each unit-level metric is measured over its window after that, exactly as an analysis would (the
same SQL), giving its mean, variance and, with CUPED, the correlation with its pre-period value.
The rule of Schultzberg et al. (2024) then sets the sample: success metrics tested at alpha
divided by their number (Bonferroni), every guardrail shown non-inferior with power
1 - beta / (number of guardrails), so that the whole rule has power of about 1 - beta.

Example:
    >>> import iterate
    >>> plan = iterate.plan("sample_data/experiment.toml", mde=0.05)  # doctest: +SKIP
    >>> plan.units_per_arm, plan.days  # doctest: +SKIP
    (41230, 29)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

from iterate import aggregation
from iterate.config import Experiment, Metric
from iterate.engines import Engine
from iterate.errors import ConfigError, DataError
from iterate.aggregation.quality import log_time_range
from iterate.ingest import PreparedLog
from iterate.provenance import Provenance, data_fingerprint, provenance
from iterate.session import Session, open_session, resolve
from iterate.stats.cuped import cuped_correlation
from iterate.stats.power import (
    duration_days,
    minimum_detectable_effect,
    non_inferiority_sample_size,
    sample_size_per_arm,
)
from iterate.templates import Parameters, render

BASELINE_VARIANT = "baseline"
BASELINE_UNITS = "iterate_baseline_units"


@dataclass(frozen=True, slots=True)
class MetricPlan:
    """Planning numbers of one metric.

    Attributes:
        name: Metric name.
        role: ``success``, ``guardrail`` or ``deterioration``.
        type: Metric type.
        units: Baseline units measured.
        mean: Baseline mean (a proportion for binary metrics, the ratio for ratio metrics).
        std_dev: Per-unit standard deviation (linearized for ratios: Deng et al. 2018).
        cuped_correlation: Correlation with the pre-exposure covariate when CUPED is on.
        alpha: Level the metric is tested at in the rule (Bonferroni over success metrics).
        power: Power asked of this metric's test.
        units_per_arm: Units per arm the metric needs (for ``mde``, or the margin of a guardrail).
        mde: Relative minimum detectable effect at the planned units per arm.
    """

    name: str
    role: str
    type: str
    units: int
    mean: float
    std_dev: float
    cuped_correlation: float
    alpha: float
    power: float
    units_per_arm: int | None
    mde: float | None


@dataclass(frozen=True, slots=True)
class Plan:
    """A plan for the experiment: per-metric numbers and what the whole rule needs.

    ``requested_baseline_days`` is the baseline asked for; ``baseline_shortened`` says that the log
    holds fewer days before its last event, so that the baseline (``baseline_start`` to
    ``baseline_end``) is all of them.
    """

    experiment: str
    baseline_start: datetime
    baseline_end: datetime
    daily_units: float
    arms: int
    traffic_share: float
    alpha: float
    power: float
    mde: float | None
    metrics: tuple[MetricPlan, ...]
    units_per_arm: int | None
    days: int | None
    requested_baseline_days: int | None = None
    baseline_shortened: bool = False
    provenance: Provenance | None = None

    report_kind: ClassVar[str] = "plan"

    def as_document(self) -> dict[str, Any]:
        """Every field as plain Python values: the one source of every report format."""
        document = {"schema_version": 1, "kind": "plan",
                    **{f.name: getattr(self, f.name) for f in fields(self) if f.name != "provenance"}}
        document["metrics"] = [asdict(metric) for metric in self.metrics]
        if self.provenance is not None:
            document["provenance"] = self.provenance.as_document()
        return document

    def to_dict(self) -> dict[str, Any]:
        """The JSON report of the plan (NaN as ``None``, times as ISO-8601)."""
        from iterate.report.json import json_ready

        return json_ready(self.as_document())


def plan(
    config: Experiment | str | Path,
    *,
    events: Any = None,
    baseline_days: int = 14,
    mde: float | None = None,
    days: int | None = None,
    power: float = 0.8,
    traffic_share: float = 1.0,
    engine: Engine | None = None,
) -> Plan:
    """Plan the experiment from the last ``baseline_days`` of its events log (before any exposure).

    Give ``mde`` (relative, e.g. 0.02 for +2%) to get the units and days needed, or ``days`` to get
    the minimum detectable effect of each metric in that duration. A metric adjusted by a per-unit
    ``covariate`` column is planned without CUPED: that column lives in the exposures log, which
    planning does not read (so its plan is conservative).

    Raises:
        ConfigError: neither or both of ``mde`` and ``days``, or invalid numbers.
        DataError: the log is unreadable or has no activity in the baseline period.
    """
    _check_plan_arguments(mde, days, baseline_days)
    generated_at = datetime.now(timezone.utc).replace(tzinfo=None)
    experiment, events, _ = resolve(config, events, None, events_only=True)
    plannable = tuple(
        replace(m, covariate=None, cuped=False) if m.covariate is not None else m
        for m in experiment.metrics if m.kind.plannable
    )
    if not plannable:
        from iterate.metrics import METRIC_KINDS

        kinds = [name for name, kind in METRIC_KINDS.items() if kind.plannable]
        raise ConfigError(f"planning needs {', '.join(kinds[:-1])} or {kinds[-1]} metrics")
    arms = len(experiment.variants or ("control", "treatment"))
    baseline = experiment.replace(metrics=plannable, segments=(), where=(), exposure_event=None, expected_split=None,
                                  control=BASELINE_VARIANT, pre_period=experiment.pre_period)
    window = max((aggregation.metric_range(m, experiment).end or 0.0) for m in plannable) or 7 * 86400.0
    with open_session(baseline, events, None, engine=engine, events_only=True) as session:
        start, entry_end, end, groups, units = _baseline(session, baseline_days, window)
        data = data_fingerprint(session, {"events": events}, log_time_range(session.engine, session.logs.events.view))
    daily = units / ((entry_end - start).total_seconds() / 86400) * traffic_share
    successes = [m for m in plannable if m.role == "success"]
    guardrails = [m for m in plannable if m.role == "guardrail" and m.margin is not None]
    plans = []
    for metric in plannable:
        group = next(g for g in groups if g.metric == metric.name)
        plans.append(_metric_plan(metric, group, experiment, successes, guardrails, mde, days, daily, arms, power))
    deciding = {g.name for g in guardrails}
    needed = [p.units_per_arm for p in plans
              if p.units_per_arm is not None and (p.role == "success" or p.name in deciding)]
    if mde is not None:
        units_per_arm = max(needed) if needed else None
        total_days = duration_days(units_per_arm, daily, arms=arms) if units_per_arm else days
    else:
        units_per_arm, total_days = math.floor(daily * days / arms), days
    return Plan(experiment.name, start, end, daily, arms, traffic_share, experiment.alpha, power, mde,
                tuple(plans), units_per_arm, total_days, requested_baseline_days=baseline_days,
                baseline_shortened=end - start < timedelta(days=baseline_days),
                provenance=provenance(experiment, data, generated_at))


def _check_plan_arguments(mde: float | None, days: int | None, baseline_days: int) -> None:
    if (mde is None) == (days is None):
        raise ConfigError("give either --mde (relative effect to detect, e.g. 0.02) or --days (planned duration)")
    if mde is not None and not 0 < mde < 10:
        raise ConfigError(f"mde == {mde!r}, must be a relative effect such as 0.02 (2%)")
    if days is not None and days < 1:
        raise ConfigError(f"days == {days!r}, must be at least 1")
    if baseline_days < 2:
        raise ConfigError(f"baseline_days == {baseline_days!r}, must be at least 2")


def _baseline(session: Session, baseline_days: int, window: float):
    """The baseline period and its would-be units' moments, measured as an analysis would."""
    engine, logs, baseline = session.engine, session.logs, session.experiment
    start, end = _baseline_period(session, baseline_days)
    entry_end = end - timedelta(seconds=window)
    if entry_end <= start:
        available = (end - start).total_seconds() / 86400
        window_days = window / 86400
        if available < baseline_days:
            raise DataError(f"{logs.events.label} holds {available:.1f} days of events, fewer than the "
                            f"{window_days:g}-day metric window plus a day to enter units; a plan needs a longer log "
                            "(or a shorter window: [experiment] window or the metrics' window)")
        raise DataError(f"the baseline period ({baseline_days} days) is shorter than the {window_days:g}-day metric "
                        "window; use a longer --baseline-days")
    parameters = Parameters(engine.dialect)
    slots = {"start": parameters.bind(start), "entry_end": parameters.bind(entry_end),
             "variant": parameters.bind(BASELINE_VARIANT)}
    units_table = engine.create_table(
        BASELINE_UNITS, render("baseline_units", engine.dialect, parameters.values, events=logs.events.view, **slots))
    pseudo = replace(logs, exposures=PreparedLog(units_table, "baseline users", logs.exposures.columns, None),
                     has_experiment_column=False, exposure_dimensions=frozenset())
    measured = baseline.replace(as_of=end)
    spine = aggregation.build_spine(engine, measured, pseudo, materialize=False)
    if spine.first_exposure is None:
        raise DataError("no user is active in the baseline period; check the events log and --baseline-days")
    moments = aggregation.unit_metric_moments(engine, measured, pseudo, spine, (BASELINE_VARIANT,), end)
    return start, entry_end, end, moments.groups, moments.exposures.units.get(BASELINE_VARIANT, 0)


def _baseline_period(session: Session, baseline_days: int) -> tuple[datetime, datetime]:
    first, last = session.engine.execute(
        render("event_time_range", session.engine.dialect, events=session.logs.events.view)).first()
    if first is None:
        raise DataError(f"{session.logs.events.label} has no events")
    return max(first, last - timedelta(days=baseline_days)), last


def _metric_plan(metric: Metric, group: aggregation.GroupMoments, experiment: Experiment, successes: list[Metric],
                 guardrails: list[Metric], mde: float | None, days: int | None, daily: float, arms: int,
                 power: float) -> MetricPlan:
    moments = group.moments
    mean = moments.ratio if moments.denominator_mean else float("nan")
    variance = moments.ratio_variance * moments.n if moments.n else float("nan")
    rho = 0.0
    if experiment.uses_cuped(metric) and group.joint is not None:
        rho = cuped_correlation(group.joint)
    alpha = experiment.alpha / max(1, len(successes)) if metric.role == "success" else experiment.alpha
    metric_power = power
    if metric.role == "guardrail" and metric.margin is not None:
        metric_power = 1 - (1 - power) / max(1, len(guardrails))
    n_needed, detectable = None, None
    usable = moments.n >= 2 and variance > 0 and mean == mean and mean != 0
    if usable and mde is not None and (metric.role == "success" or metric.margin is not None):
        if metric.role == "guardrail" and metric.margin is not None:
            margin = metric.margin if metric.margin_type == "relative" else metric.margin / abs(mean)
            n_needed = non_inferiority_sample_size(margin * abs(mean), variance=variance, alpha=alpha, power=metric_power,
                                                   direction=metric.direction, cuped_correlation=rho)
        else:
            n_needed = sample_size_per_arm(variance=variance, mde=mde * abs(mean), alpha=alpha, power=metric_power,
                                           cuped_correlation=rho)
    if usable and days is not None:
        n = max(2.0, daily * days / arms)
        detectable = minimum_detectable_effect(n, variance=variance, alpha=alpha, power=metric_power,
                                               cuped_correlation=rho) / abs(mean)
    return MetricPlan(metric.name, metric.role, metric.type, moments.n, mean, math.sqrt(variance) if variance == variance else float("nan"),
                      rho, alpha, metric_power, n_needed, detectable)
