"""Duplicate events: rows of an analyzed unit repeating another's event name and timestamp."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from iterate.aggregation.ranges import event_names, scan_conditions, scan_range, scan_upper
from iterate.aggregation.spine import Spine
from iterate.config import Experiment
from iterate.engines import Engine
from iterate.ingest import PreparedLogs
from iterate.templates import Parameters, render

DUPLICATE_CHECK_UNITS = 200_000


@dataclass(frozen=True, slots=True)
class Duplicates:
    """Events read by the metrics that repeat an event of the same unit, name and timestamp.

    Attributes:
        groups: Events logged more than once (``None`` when the check was skipped).
        extra_rows: Rows beyond the first of each.
        checked: Whether the check ran.
    """

    groups: int | None
    extra_rows: int | None
    checked: bool = True


def duplicate_events(engine: Engine, experiment: Experiment, logs: PreparedLogs, spine: Spine,
                     variants: Sequence[str], units: int) -> Duplicates:
    """Duplicate events among the metrics' events of analyzed units.

    It takes a scan of the events grouped by unit, event and time, about the cost of all the
    metrics together; so by default it runs up to ``DUPLICATE_CHECK_UNITS`` analyzed units and is
    skipped beyond (``check_duplicates = true`` forces it, ``false`` turns it off).
    """
    metrics = experiment.metrics
    wanted = experiment.check_duplicates
    if not metrics or wanted is False or (wanted is None and units > DUPLICATE_CHECK_UNITS):
        return Duplicates(None, None, checked=False)
    parameters = Parameters(engine.dialect)
    scan = scan_range(experiment, metrics)
    lower, upper = scan.lower(parameters), scan_upper(scan, parameters)
    conditions = scan_conditions(event_names(metrics), lower, upper, experiment, logs, parameters)
    unit_filter = f'AND x."variant" IN ({", ".join(parameters.bind(v) for v in variants)})'
    query = render("duplicate_events", engine.dialect, {**spine.parameters, **parameters.values},
                   events=logs.events.view, spine=spine.relation, unit_filter=unit_filter,
                   scan_conditions="\n      AND ".join(conditions))
    groups, extra = engine.execute(query).first()
    return Duplicates(int(groups), int(extra))
