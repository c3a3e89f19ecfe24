"""Per-day timeline of cumulative effects with always-valid intervals.

Each day D is the analysis as it would have been run at D (events after D ignored), over the units
whose metric windows are complete by D (exposed by D minus the longest window), so that every day
estimates the same quantity; through the same SQL. The fixed-horizon interval of each day is shown beside the
always-valid one (mixture SPRT or confidence sequence, running intersection over the days), which
stays valid however many of the days were looked at. One events scan per day: for a long
experiment on a large log, prefer a coarser ``every``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from iterate import aggregation
from iterate.aggregation import GroupMoments
from iterate.comparisons import compare
from iterate.config import Experiment, Metric
from iterate.engines import Engine
from iterate.inference import tuning_std_error
from iterate.session import Session, open_session, resolve
from iterate.stats.sequential import confidence_sequence_path, default_mixing_variance, msprt_path


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    """One metric and variant at the end of one day."""

    day: datetime
    metric: str
    variant: str
    n_control: int
    n_treatment: int
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    always_valid_ci_low: float | None
    always_valid_ci_high: float | None
    always_valid_p_value: float | None


def timeline(
    config: Experiment | str | Path, *, events: Any = None, exposures: Any = None, every: timedelta = timedelta(days=1),
    engine: Engine | None = None,
) -> list[TimelinePoint]:
    """Cumulative effect of every per-unit metric at the end of each period since the first exposure."""
    experiment, events, exposures = resolve(config, events, exposures)
    per_unit = tuple(m for m in experiment.metrics if m.kind.per_unit)
    experiment = experiment.replace(metrics=per_unit, segments=())
    with open_session(experiment, events, exposures, engine=engine) as session:
        spine = session.exposed_spine()
        variants = session.variants(session.count_exposures(spine))
        per_look = _moments_per_look(session, spine, variants, every)
    points: list[TimelinePoint] = []
    for metric in per_unit:
        for variant in variants[1:]:
            points += _metric_points(experiment, metric, variant, per_look)
    return points


def _moments_per_look(session: Session, spine: aggregation.Spine, variants: Sequence[str],
                      every: timedelta) -> list[tuple[datetime, list[GroupMoments]]]:
    """The moments at the end of each period, over the units whose windows are complete by then."""
    experiment = session.experiment
    start = spine.first_exposure
    end = experiment.as_of or session.event_times(start, at=datetime.max).data_end
    window = _longest_window(experiment)
    looks = _looks(datetime(start.year, start.month, start.day) + every + (window or timedelta(0)), end, every)
    per_look = []
    for look in looks:
        at = experiment.replace(as_of=look)
        entered = experiment.replace(as_of=look - window) if window else at
        look_spine = aggregation.build_spine(session.engine, entered, session.logs, materialize=False)
        groups = aggregation.unit_metric_moments(session.engine, at, session.logs, look_spine, variants, look).groups
        per_look.append((look, groups))
    return per_look


def _looks(first: datetime, end: datetime, every: timedelta) -> list[datetime]:
    """The period ends from ``first`` on, before the data ``end``, then the end itself. A period end
    on the same date as the data end is left out: the end is the later look of that day (a report
    showing dates would print the day twice).

    Example:
        >>> [f"{look:%d %H:%M}" for look in _looks(datetime(2026, 1, 25), datetime(2026, 1, 27, 23, 3), timedelta(days=1))]
        ['25 00:00', '26 00:00', '27 23:03']
    """
    looks = []
    day = first
    while day < end:
        looks.append(day)
        day += every
    if looks and looks[-1].date() == end.date():
        looks.pop()
    return [*looks, end]


def _metric_points(experiment: Experiment, metric: Metric, variant: str,
                   per_look: list[tuple[datetime, list[GroupMoments]]]) -> list[TimelinePoint]:
    """One metric and variant across the looks: fixed-horizon and always-valid readings."""
    rows, days = [], []
    for day, groups in per_look:
        found = {g.variant: g for g in groups if g.metric == metric.name and g.segment is None}
        if experiment.control not in found or variant not in found:
            continue
        control, treated = found[experiment.control], found[variant]
        if min(control.moments.n, treated.moments.n) < 2:
            continue
        rows.append(compare(metric, variant, control.moments, treated.moments, experiment,
                            control_group=control, treatment_group=treated))
        days.append(day)
    usable = [(d, r) for d, r in zip(days, rows) if r.effect is not None and r.std_error]
    if not usable:
        return []
    path = _always_valid([r for _, r in usable], experiment)
    return [
        TimelinePoint(
            day=day, metric=metric.name, variant=variant, n_control=row.n_control, n_treatment=row.n_treatment,
            effect=row.effect, ci_low=row.ci_low, ci_high=row.ci_high, p_value=row.p_value,
            always_valid_ci_low=valid.ci_low, always_valid_ci_high=valid.ci_high,
            always_valid_p_value=valid.p_value,
        )
        for (day, row), valid in zip(usable, path)
    ]


def _longest_window(experiment: Experiment) -> timedelta | None:
    """The longest metric window: a look at D includes the units exposed by D minus it, whose
    windows are complete, so that every look estimates the same quantity (an always-valid
    interval is only meaningful for a fixed estimand). ``None`` when a metric has no window end."""
    ends = [aggregation.metric_range(m, experiment).end for m in experiment.metrics]
    if not ends or any(end is None for end in ends):
        return None
    return timedelta(seconds=max(ends) + experiment.exposure_delay_seconds)


def _always_valid(rows: list, experiment: Experiment):
    effects = [r.effect for r in rows]
    errors = [r.std_error for r in rows]
    if experiment.sequential_method == "confidence_sequence":
        ns = [r.n_control + r.n_treatment for r in rows]
        return confidence_sequence_path(effects, errors, ns, alpha=experiment.alpha,
                                        tuning_n=experiment.planned_units or ns[-1])
    # tuned once, at the planned size (or the last look's when no plan is given)
    tau2 = default_mixing_variance(alpha=experiment.alpha, std_error_at_planned_n=tuning_std_error(rows[-1], experiment))
    return msprt_path(effects, errors, alpha=experiment.alpha, mixing_variance=tau2)


def timeline_dicts(points: Sequence[TimelinePoint]) -> list[dict[str, Any]]:
    """JSON-ready timeline rows (dates as ISO strings, non-finite numbers as None)."""
    rows = []
    for point in points:
        row = asdict(point)
        row["day"] = point.day.isoformat()
        rows.append({k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()})
    return rows
