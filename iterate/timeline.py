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
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from iterate import aggregation
from iterate.aggregation.unit_metrics import metric_range
from iterate.analysis import check_variants, engine_errors_as_data_errors, resolve
from iterate.comparisons import compare
from iterate.config import Experiment
from iterate.designs import tuning_std_error
from iterate.engine import connect
from iterate.ingest import prepare_logs
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
    config: Experiment | str | Path, *, events: Any = None, exposures: Any = None, every: timedelta = timedelta(days=1)
) -> list[TimelinePoint]:
    """Cumulative effect of every unit-level metric at the end of each period since the first exposure."""
    experiment, events, exposures = resolve(config, events, exposures)
    unit_level = tuple(m for m in experiment.metrics if m.type != "quantile")
    experiment = experiment.replace(metrics=unit_level, segments=())
    per_look: list[tuple[datetime, list]] = []
    with connect() as con, engine_errors_as_data_errors():
        logs = prepare_logs(con, experiment, events, exposures)
        spine = aggregation.build_spine(con, experiment, logs)
        variants = check_variants(experiment, aggregation.count_exposures(con, spine), logs.exposures.label)
        start = spine.first_exposure
        end = experiment.as_of or aggregation.event_times(con, logs, datetime.max, start).data_end
        window = _longest_window(experiment)
        day = datetime(start.year, start.month, start.day) + every + (window or timedelta(0))
        looks = []
        while day < end:
            looks.append(day)
            day += every
        looks.append(end)
        for look in looks:
            at = experiment.replace(as_of=look)
            entered = experiment.replace(as_of=look - window) if window else at
            look_spine = aggregation.build_spine(con, entered, logs, materialize=False)
            groups = aggregation.unit_metric_moments(con, at, logs, look_spine, variants, look).groups
            per_look.append((look, groups))

    points: list[TimelinePoint] = []
    for metric in unit_level:
        for variant in variants[1:]:
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
                continue
            path = _always_valid([r for _, r in usable], experiment)
            for (day, row), valid in zip(usable, path):
                points.append(TimelinePoint(
                    day=day, metric=metric.name, variant=variant, n_control=row.n_control, n_treatment=row.n_treatment,
                    effect=row.effect, ci_low=row.ci_low, ci_high=row.ci_high, p_value=row.p_value,
                    always_valid_ci_low=valid.ci_low, always_valid_ci_high=valid.ci_high,
                    always_valid_p_value=valid.p_value,
                ))
    return points


def _longest_window(experiment: Experiment) -> timedelta | None:
    """The longest metric window: a look at D includes the units exposed by D minus it, whose
    windows are complete, so that every look estimates the same quantity (an always-valid
    interval is only meaningful for a fixed estimand). ``None`` when a metric has no window end."""
    ends = [metric_range(m, experiment).end for m in experiment.metrics]
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


def timeline_dicts(points: list[TimelinePoint]) -> list[dict[str, Any]]:
    """JSON-ready timeline rows (dates as ISO strings, non-finite numbers as None)."""
    rows = []
    for point in points:
        row = asdict(point)
        row["day"] = point.day.isoformat()
        rows.append({k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()})
    return rows


def render_timeline(points: list[TimelinePoint]) -> str:
    """Terminal table of the timeline."""
    lines = ["Timeline (cumulative; always-valid = valid however often it was looked at):", "",
             f"{'day':<11} {'metric':<22} {'variant':<10} {'n ctl/trt':>15} {'effect':>10} "
             f"{'fixed CI':>22} {'always-valid CI':>22} {'p (always-valid)':>16}"]
    for p in points:
        def interval(low, high):
            return "n/a" if low is None or high is None else f"[{low:+.4g}, {high:+.4g}]"
        lines.append(
            f"{p.day:%Y-%m-%d} {p.metric:<22} {p.variant:<10} {p.n_control:>7,}/{p.n_treatment:<7,} "
            f"{p.effect:>+10.4g} {interval(p.ci_low, p.ci_high):>22} "
            f"{interval(p.always_valid_ci_low, p.always_valid_ci_high):>22} "
            f"{'n/a' if p.always_valid_p_value is None else format(p.always_valid_p_value, '.3g'):>16}"
        )
    return "\n".join(lines) + "\n"
