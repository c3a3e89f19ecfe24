"""Ingest: open the events and exposures logs, check them, expose them under default names.

Every problem of both logs is collected and raised as one :class:`DataError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iterate.config import Experiment
from iterate.errors import DataError
from iterate.ingest.schema import (
    PreparedLog,
    create_normalized_view,
    describe_columns,
    find_columns,
    is_integer_type,
    row_problems,
    type_problems,
)
from iterate.ingest.sources import open_source

if TYPE_CHECKING:
    import duckdb

__all__ = ["PreparedLogs", "prepare_logs", "value_column_name"]


@dataclass(frozen=True, slots=True)
class PreparedLogs:
    """Both logs of an analysis, validated and normalized."""

    events: PreparedLog
    exposures: PreparedLog
    has_experiment_column: bool


def value_column_name(experiment: Experiment, value: str) -> str:
    """Actual column of the events log holding a metric's ``value`` (``"value"`` follows [columns.events])."""
    return experiment.event_columns.get(value, value) if value == "value" else value


def prepare_logs(con: duckdb.DuckDBPyConnection, experiment: Experiment, events: Any, exposures: Any) -> PreparedLogs:
    """Open, validate and normalize both logs.

    Raises:
        DataError: listing every problem found in either log.
    """
    problems: list[str] = []
    opened = {}
    for role, source in (("events", events), ("exposures", exposures)):
        try:
            opened[role] = open_source(con, source, role)
        except DataError as error:
            problems.append(str(error))
    if problems:
        raise DataError("cannot read the input logs:", problems)

    value_columns = sorted({value_column_name(experiment, m.value) for m in experiment.metrics if m.value})
    event_mapping = {**experiment.event_columns, **{f"value:{c}": c for c in value_columns}}
    found = {}
    for role, mapping, required, optional in (
        ("events", event_mapping, ("user_id", "timestamp", "event", *(f"value:{c}" for c in value_columns)), ()),
        ("exposures", experiment.exposure_columns, ("user_id", "variant", "timestamp"), ("experiment",)),
    ):
        source = opened[role]
        try:
            available = describe_columns(con, source)
        except Exception as error:  # a malformed file surfaces when its schema is read
            problems.append(f"{source.label}: cannot read the file: {str(error).strip().splitlines()[0]}")
            continue
        columns, missing = find_columns(available, mapping, required, optional, role, source.label)
        numeric = tuple(name for name in columns.names if name.startswith("value:"))
        problems += missing + type_problems(columns, source.label, numeric)
        found[role] = columns
    if problems:
        raise DataError("the input logs do not match the data contract:", problems)

    rows = {}
    for role, not_null in (("events", ("user_id", "timestamp")), ("exposures", ("user_id", "variant", "timestamp"))):
        rows[role], row_issues = row_problems(con, opened[role], found[role], not_null, opened[role].label)
        problems += row_issues
    if problems:
        raise DataError("the input logs have invalid rows:", problems)

    unit_as_text = not (is_integer_type(found["events"].types["user_id"]) and is_integer_type(found["exposures"].types["user_id"]))
    events_view = create_normalized_view(
        con, opened["events"], found["events"], "iterate_events",
        unit_as_text=unit_as_text, text_columns=("event",),
        numeric_columns={name: found["events"].names[name] for name in found["events"].names if name.startswith("value:")},
    )
    exposures_view = create_normalized_view(
        con, opened["exposures"], found["exposures"], "iterate_exposures",
        unit_as_text=unit_as_text, text_columns=("variant", "experiment"), numeric_columns={},
    )
    return PreparedLogs(
        events=PreparedLog(events_view, opened["events"].label, found["events"], rows["events"]),
        exposures=PreparedLog(exposures_view, opened["exposures"].label, found["exposures"], rows["exposures"]),
        has_experiment_column="experiment" in found["exposures"].names,
    )
