"""Ingest: open the events and exposures logs, check them, expose them under default names.

Every problem of both logs is collected and raised as one :class:`DataError`. The normalized views
hold the default columns plus what the experiment reads: numeric value columns as
``"value:<column>"`` and dimensions (filters, segments) as ``"dim:<column>"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iterate.config import Experiment
from iterate.errors import DataError
from iterate.ingest.schema import (
    LogColumns,
    PreparedLog,
    create_normalized_view,
    describe_columns,
    find_columns,
    is_integer_type,
    row_problems,
    type_problems,
)
from iterate.ingest.sources import OpenedSource, open_source

if TYPE_CHECKING:
    import duckdb

__all__ = ["PreparedLogs", "dimension", "prepare_logs", "value_column"]


@dataclass(frozen=True, slots=True)
class PreparedLogs:
    """Both logs of an analysis, validated and normalized.

    Attributes:
        events: The normalized events view.
        exposures: The normalized exposures view (a view of the events log with ``exposure_event``).
        has_experiment_column: Whether exposures carry an experiment name to filter on.
        exposure_dimensions: Dimension columns found in the exposures log.
        event_dimensions: Dimension columns found in the events log.
    """

    events: PreparedLog
    exposures: PreparedLog
    has_experiment_column: bool
    exposure_dimensions: frozenset[str]
    event_dimensions: frozenset[str]


def value_column(experiment: Experiment, value: str) -> str:
    """Normalized column name of a metric's ``value`` (``"value"`` follows [columns.events])."""
    actual = experiment.event_columns.get(value, value) if value == "value" else value
    return f"value:{actual}"


def dimension(column: str) -> str:
    """Normalized column name of a dimension (a filter or segment column)."""
    return f"dim:{column}"


def _metric_columns(experiment: Experiment) -> tuple[set[str], set[str]]:
    """Value columns and event-dimension columns the metrics read."""
    values, dimensions = set(), set()
    for metric in experiment.metrics:
        for side in metric.sides:
            if side.value:
                values.add(value_column(experiment, side.value)[len("value:"):])
            dimensions |= {condition.column for condition in side.where}
    return values, dimensions


def prepare_logs(
    con: duckdb.DuckDBPyConnection, experiment: Experiment, events: Any, exposures: Any, *, events_only: bool = False
) -> PreparedLogs:
    """Open, validate and normalize both logs (only the events with ``events_only``, for planning:
    the exposures view is then the events view itself, to be replaced by the caller).

    Raises:
        DataError: listing every problem found in either log.
    """
    from_events = events_only or experiment.exposure_event is not None
    problems: list[str] = []
    opened: dict[str, OpenedSource] = {}
    for role, source in (("events", events), ("exposures", None if from_events else exposures)):
        if role == "exposures" and from_events:
            continue
        try:
            opened[role] = open_source(con, source, role)
        except DataError as error:
            problems.append(str(error))
    if problems:
        raise DataError("cannot read the input logs:", problems)
    if from_events:
        opened["exposures"] = opened["events"]

    available = {}
    for role, source in opened.items():
        try:
            available[role] = describe_columns(con, source)
        except Exception as error:  # a malformed file surfaces when its schema is read
            problems.append(f"{source.label}: cannot read the file: {str(error).strip().splitlines()[0]}")
    if problems:
        raise DataError("the input logs cannot be read:", problems)

    values, metric_dimensions = _metric_columns(experiment)
    unit_dimensions = {condition.column for condition in experiment.where} | set(experiment.segments)
    exposure_dimensions = {c for c in unit_dimensions if _has(available["exposures"], c)} if not from_events else set()
    covariates = {m.covariate for m in experiment.metrics if m.covariate is not None}
    exposure_dimensions |= covariates  # per-unit CUPED covariates must be exposure columns
    event_dimensions = metric_dimensions | (unit_dimensions - exposure_dimensions)

    event_mapping = {**experiment.event_columns, **{f"value:{c}": c for c in values},
                     **{dimension(c): c for c in event_dimensions}}
    event_required = ("user_id", "timestamp", "event", *(f"value:{c}" for c in sorted(values)),
                      *(dimension(c) for c in sorted(event_dimensions)))
    if events_only:
        exposure_mapping = {key: experiment.event_columns[key] for key in ("user_id", "timestamp")}
        exposure_required, exposure_optional = ("user_id", "timestamp"), ()
    elif from_events:
        exposure_mapping = {**{key: experiment.event_columns[key] for key in ("user_id", "timestamp", "variant", "experiment", "event")},
                            **{dimension(c): c for c in covariates}}
        exposure_required = ("user_id", "variant", "timestamp", "event", *(dimension(c) for c in sorted(covariates)))
        exposure_optional = ("experiment",)
    else:
        exposure_mapping = {**experiment.exposure_columns, **{dimension(c): c for c in exposure_dimensions}}
        exposure_required = ("user_id", "variant", "timestamp", *(dimension(c) for c in sorted(exposure_dimensions)))
        exposure_optional = ("experiment",)

    found: dict[str, LogColumns] = {}
    for role, mapping, required, optional in (
        ("events", event_mapping, event_required, ()),
        ("exposures", exposure_mapping, exposure_required, exposure_optional),
    ):
        source = opened[role]
        columns, missing = find_columns(available[role], mapping, required, optional, role, source.label)
        numeric = tuple(name for name in columns.names if name.startswith("value:"))
        problems += missing + type_problems(columns, source.label, numeric)
        found[role] = columns
    if problems:
        raise DataError("the input logs do not match the data contract:", problems)

    rows = {}
    for role, not_null in (("events", ("user_id", "timestamp")), ("exposures", ("user_id", "variant", "timestamp"))):
        if role == "exposures" and from_events:
            rows[role] = rows["events"]
            continue
        rows[role], row_issues = row_problems(con, opened[role], found[role], not_null, opened[role].label)
        problems += row_issues
    if problems:
        raise DataError("the input logs have invalid rows:", problems)

    unit_as_text = not (is_integer_type(found["events"].types["user_id"]) and is_integer_type(found["exposures"].types["user_id"]))
    events_view = create_normalized_view(
        con, opened["events"], found["events"], "iterate_events",
        unit_as_text=unit_as_text, text_columns=("event",),
        numeric_columns={name: found["events"].names[name] for name in found["events"].names if name.startswith("value:")},
        passthrough_columns={name: found["events"].names[name] for name in found["events"].names if name.startswith("dim:")},
    )
    exposures_view = create_normalized_view(
        con, opened["exposures"], found["exposures"], "iterate_exposures",
        unit_as_text=unit_as_text,
        text_columns=() if events_only else ("variant", "experiment", "event") if from_events else ("variant", "experiment"),
        numeric_columns={},
        passthrough_columns={name: found["exposures"].names[name] for name in found["exposures"].names if name.startswith("dim:")},
    )
    exposures_label = f"{opened['events'].label} (event {experiment.exposure_event})" if from_events else opened["exposures"].label
    return PreparedLogs(
        events=PreparedLog(events_view, opened["events"].label, found["events"], rows["events"]),
        exposures=PreparedLog(exposures_view, exposures_label, found["exposures"], rows["exposures"]),
        has_experiment_column="experiment" in found["exposures"].names,
        exposure_dimensions=frozenset(exposure_dimensions),
        event_dimensions=frozenset(event_dimensions),
    )


def _has(available: dict[str, str], column: str) -> bool:
    return column in available or column.lower() in {name.lower() for name in available}
