"""Ingest: open the events and exposures logs, check them, expose them under default names.

Every problem of both logs is collected and raised as one :class:`DataError`. The normalized views
hold the default columns plus what the experiment reads: numeric value columns as
``"value:<column>"`` and dimensions (filters, segments) as ``"dim:<column>"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iterate.config import Experiment
from iterate.engines import Engine
from iterate.errors import DataError
from iterate.ingest.schema import (
    LogColumns,
    ValueReaders,
    non_finite_problems,
    condition_problems,
    PreparedLog,
    find_columns,
    normalized_view_query,
    row_problems,
    type_problems,
)
from iterate.ingest.sources import OpenedSource, open_source

__all__ = ["PreparedLog", "PreparedLogs", "dimension", "log_problems", "non_finite_covariates", "non_finite_values",
           "prepare_logs", "value_column"]

_TEXT_FORMATS = frozenset({"csv", "ndjson"})
_READER_TIME_CLASSES = frozenset({"timestamp", "time"})


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


@dataclass(frozen=True, slots=True)
class _Contract:
    """What one log must hold: default name -> the log's column, required and optional names, and
    the config table that maps its names (``[columns.events]`` for exposures taken from the events)."""

    mapping: Mapping[str, str]
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    section: str = "events"


def value_column(experiment: Experiment, value: str) -> str:
    """Normalized column name of a metric's ``value`` (``"value"`` follows [columns.events])."""
    actual = experiment.event_columns.get(value, value) if value == "value" else value
    return f"value:{actual}"


def dimension(column: str) -> str:
    """Normalized column name of a dimension (a filter or segment column)."""
    return f"dim:{column}"


def prepare_logs(
    engine: Engine, experiment: Experiment, events: Any, exposures: Any, *, events_only: bool = False
) -> PreparedLogs:
    """Open, validate and normalize both logs (only the events with ``events_only``, for planning:
    the exposures view is then the events view itself, to be replaced by the caller).

    Every stage (open, read the schema, find the columns, check the rows) runs for each log whose
    earlier stages succeeded, so that one message lists what can be found: a missing file does not
    hide the other log's problems, nor a missing column the null ids of the columns found.

    Raises:
        DataError: listing every problem found in either log.
    """
    from_events = events_only or experiment.exposure_event is not None
    sources = {"events": events} if from_events else {"events": events, "exposures": exposures}
    opened, problems = _open(engine, sources)
    if from_events and "events" in opened:
        opened["exposures"] = opened["events"]
    available = _describe(engine, opened, problems)
    exposure_dimensions, event_dimensions = _dimensions(experiment, available, from_events)
    contracts = {
        "events": _events_contract(experiment, event_dimensions),
        "exposures": _exposures_contract(experiment, exposure_dimensions, events_only, from_events),
    }
    covariates = {dimension(m.covariate) for m in experiment.metrics if m.covariate is not None}
    found = _columns(engine, opened, available, contracts, problems, covariates)
    found = _timestamps_as_text(engine, sources, opened, found)
    problems += _condition_problems(experiment, found, opened, exposure_dimensions, from_events)
    rows = _rows(engine, opened, found, from_events, _value_readers(experiment), problems)
    if problems:
        raise DataError(f"the input logs have {len(problems)} problem(s):", problems)
    views = _normalized_views(engine, opened, found, events_only, from_events)
    exposures_label = f"{opened['events'].label} (event {experiment.exposure_event})" if from_events else opened["exposures"].label
    return PreparedLogs(
        events=PreparedLog(views["events"], opened["events"].label, found["events"], rows["events"]),
        exposures=PreparedLog(views["exposures"], exposures_label, found["exposures"], rows["exposures"]),
        has_experiment_column="experiment" in found["exposures"].names,
        exposure_dimensions=frozenset(exposure_dimensions),
        event_dimensions=frozenset(event_dimensions),
    )


def log_problems(engine: Engine, sources: Mapping[str, Any]) -> list[str]:
    """What prevents reading the logs at all (a missing or unreadable file, a bad table), without
    an experiment: reported beside the problems of a configuration that cannot be loaded."""
    opened, problems = _open(engine, {role: source for role, source in sources.items() if source is not None})
    _describe(engine, opened, problems)
    return problems


def _open(engine: Engine, sources: Mapping[str, Any]) -> tuple[dict[str, OpenedSource], list[str]]:
    """Register the logs by role: those opened, and a problem for every source that cannot be."""
    problems: list[str] = []
    opened: dict[str, OpenedSource] = {}
    for role, source in sources.items():
        try:
            opened[role] = open_source(engine, source, role)
        except DataError as error:
            problems.append(str(error))
    return opened, problems


def _describe(engine: Engine, opened: Mapping[str, OpenedSource], problems: list[str]) -> dict[str, dict[str, str]]:
    """Column name to type of each log that can be read (a malformed file surfaces when its schema
    is read: a problem, and the log is left out)."""
    available = {}
    for role, source in opened.items():
        try:
            # a CSV is registered as text: its columns have the types detected from its first rows
            available[role] = (dict(source.declared_types) if source.declared_types is not None
                               else engine.describe(source.view))
        except DataError as error:
            problem = f"{source.label}: cannot read the file: {error}"
            if problem not in problems:  # the events read twice, as exposures, with exposure_event
                problems.append(problem)
    return available


def _dimensions(experiment: Experiment, available: Mapping[str, Mapping[str, str]],
                from_events: bool) -> tuple[set[str], set[str]]:
    """Dimension columns read from the exposures (unit filters, segments, covariates found
    there) and from the events (metric filters, and the unit dimensions the exposures lack).
    When the exposures log cannot be read, only the unit dimensions the events have are read there."""
    metric_dimensions = {condition.column for metric in experiment.metrics for side in metric.sides
                         for condition in side.where}
    unit_dimensions = {condition.column for condition in experiment.where} | set(experiment.segments)
    if from_events:
        exposure_dimensions = set()
    elif "exposures" not in available:
        exposure_dimensions = set()
        unit_dimensions = {c for c in unit_dimensions if _has(available.get("events", {}), c)}
    else:
        exposure_dimensions = {c for c in unit_dimensions if _has(available["exposures"], c)}
    exposure_dimensions |= {m.covariate for m in experiment.metrics if m.covariate is not None}
    return exposure_dimensions, metric_dimensions | (unit_dimensions - exposure_dimensions)


def _value_columns(experiment: Experiment) -> set[str]:
    """Value columns the metrics read (the log's names)."""
    return {value_column(experiment, side.value)[len("value:"):]
            for metric in experiment.metrics for side in metric.sides if side.value}


def _events_contract(experiment: Experiment, dimensions: set[str]) -> _Contract:
    values = _value_columns(experiment)
    mapping = {**experiment.event_columns, **{f"value:{c}": c for c in values}, **{dimension(c): c for c in dimensions}}
    required = ("user_id", "timestamp", "event", *(f"value:{c}" for c in sorted(values)),
                *(dimension(c) for c in sorted(dimensions)))
    return _Contract(mapping, required)


def _exposures_contract(experiment: Experiment, dimensions: set[str], events_only: bool, from_events: bool) -> _Contract:
    if events_only:
        return _Contract({key: experiment.event_columns[key] for key in ("user_id", "timestamp")},
                         ("user_id", "timestamp"))
    if from_events:
        covariates = sorted(m.covariate for m in experiment.metrics if m.covariate is not None)
        mapping = {**{key: experiment.event_columns[key] for key in ("user_id", "timestamp", "variant", "experiment", "event")},
                   **{dimension(c): c for c in covariates}}
        return _Contract(mapping, ("user_id", "variant", "timestamp", "event", *(dimension(c) for c in covariates)),
                         ("experiment",), section="events")
    mapping = {**experiment.exposure_columns, **{dimension(c): c for c in dimensions}}
    return _Contract(mapping, ("user_id", "variant", "timestamp", *(dimension(c) for c in sorted(dimensions))),
                     ("experiment",), section="exposures")


def _columns(engine: Engine, opened: Mapping[str, OpenedSource], available: Mapping[str, Mapping[str, str]],
             contracts: Mapping[str, _Contract], problems: list[str],
             covariates: set[str] = frozenset()) -> dict[str, LogColumns]:
    """The columns for its contract of each log that could be read; every missing column and
    unusable type (a value or a CUPED covariate that is not numeric...) is added to ``problems``."""
    found: dict[str, LogColumns] = {}
    for role, contract in contracts.items():
        if role not in available:
            continue
        source = opened[role]
        columns, missing = find_columns(engine, available[role], contract.mapping, contract.required,
                                        contract.optional, contract.section, source.label,
                                        as_text=source.declared_types is not None)
        numeric = tuple(name for name in columns.names if name.startswith("value:")
                        or role == "exposures" and name in covariates)
        problems += missing + type_problems(columns, source.label, numeric)
        found[role] = columns
    return found


def _timestamps_as_text(engine: Engine, sources: Mapping[str, Any], opened: Mapping[str, OpenedSource],
                        found: Mapping[str, LogColumns]) -> dict[str, LogColumns]:
    """Open again, reading it as text, every CSV / NDJSON log whose timestamp column the engine's
    file reader typed as a date or time: its ISO-8601 strings are then parsed by the dialect, like
    those of any text column, so that the same instants come out of every format and every
    version of the engine (whose reader guesses types from a sample, differently from version
    to version, and may read ``01/05/2026`` as 1 May). Epoch seconds stay numbers."""
    found = dict(found)
    for role, source in sources.items():
        if role not in found or role not in opened:
            continue  # a log that could not be read is reported already
        log, columns = opened[role], found[role]
        if log.kind not in _TEXT_FORMATS or columns.classes.get("timestamp") not in _READER_TIME_CLASSES:
            continue
        stamp = columns.names["timestamp"]
        open_source(engine, source, role, text_columns=(stamp,))
        text_type = engine.describe(log.view)[stamp]
        for other in found:  # the exposures of an exposure event are a view of the events log
            if opened[other].view == log.view and found[other].names.get("timestamp") == stamp:
                found[other] = found[other].with_type("timestamp", text_type, engine.dialect.type_class(text_type))
    return found


def _condition_problems(experiment: Experiment, found: Mapping[str, LogColumns], opened: Mapping[str, OpenedSource],
                        exposure_dimensions: set[str], from_events: bool) -> list[str]:
    """Every ``where`` value that its column's type cannot be compared with, naming the config key."""
    sites = [("[experiment] where", condition,
              "exposures" if condition.column in exposure_dimensions and not from_events else "events")
             for condition in experiment.where]
    for position, metric in enumerate(experiment.metrics, start=1):
        for side in metric.sides:
            part = ("numerator " if side is metric.numerator else "denominator " if side is metric.denominator else "")
            key = f"[[metrics]] #{position} ({metric.name}) {part}where"
            sites += [(key, condition, "events") for condition in side.where]
    problems: list[str] = []
    for key, condition, role in sites:
        if role not in found:
            continue
        for problem in condition_problems(key, condition, dimension(condition.column), found[role], opened[role].label):
            if problem not in problems:
                problems.append(problem)
    return problems


def _rows(engine: Engine, opened: Mapping[str, OpenedSource], found: Mapping[str, LogColumns],
          from_events: bool, values: Mapping[str, ValueReaders], problems: list[str]) -> dict[str, int | None]:
    """Row counts of the logs whose columns were found, and every row breaking the contract (null
    ids, unparseable timestamps, NaN or infinite values that the metrics read) in the columns found,
    added to ``problems``."""
    rows: dict[str, int | None] = {}
    for role, not_null in (("events", ("user_id", "timestamp")), ("exposures", ("user_id", "variant", "timestamp"))):
        if role not in found:
            continue
        if role == "exposures" and from_events:
            rows[role] = rows.get("events")
            continue
        rows[role], row_issues = row_problems(engine, opened[role], found[role], not_null, opened[role].label,
                                              values if role == "events" else None)
        problems += row_issues
    return rows


def _value_readers(experiment: Experiment) -> dict[str, ValueReaders]:
    """The events log's value columns (normalized names) with the metrics and events reading them."""
    metrics: dict[str, list[str]] = {}
    events: dict[str, list[str] | None] = {}
    for metric in experiment.metrics:
        for side in metric.sides:
            if not side.value:
                continue
            column = value_column(experiment, side.value)
            metrics.setdefault(column, [])
            if metric.name not in metrics[column]:
                metrics[column].append(metric.name)
            names = events.setdefault(column, [])
            if names is not None and not side.event:
                events[column] = None  # read on every row
            elif names is not None and side.event not in names:
                names.append(side.event)
    return {column: ValueReaders(tuple(names), tuple(events[column] or ())) for column, names in metrics.items()}


def _normalized_views(engine: Engine, opened: Mapping[str, OpenedSource], found: Mapping[str, LogColumns],
                      events_only: bool, from_events: bool) -> dict[str, str]:
    """The views ``iterate_events`` and ``iterate_exposures`` under default names and types; unit
    ids are text in both unless both logs store integers."""
    unit_as_text = not (found["events"].classes["user_id"] == "integer"
                        and found["exposures"].classes["user_id"] == "integer")
    events, exposures = found["events"], found["exposures"]
    events_query = normalized_view_query(
        engine, opened["events"], events, unit_as_text=unit_as_text, text_columns=("event",),
        numeric_columns={name: events.names[name] for name in events.names if name.startswith("value:")},
        passthrough_columns={name: events.names[name] for name in events.names if name.startswith("dim:")},
    )
    exposures_query = normalized_view_query(
        engine, opened["exposures"], exposures, unit_as_text=unit_as_text,
        text_columns=() if events_only else ("variant", "experiment", "event") if from_events else ("variant", "experiment"),
        numeric_columns={},
        passthrough_columns={name: exposures.names[name] for name in exposures.names if name.startswith("dim:")},
    )
    return {"events": engine.create_view("iterate_events", events_query),
            "exposures": engine.create_view("iterate_exposures", exposures_query)}


def _has(available: Mapping[str, str], column: str) -> bool:
    return column in available or column.lower() in {name.lower() for name in available}


def non_finite_values(engine: Engine, experiment: Experiment, logs: PreparedLogs) -> list[str]:
    """NaN and infinite values of the events log that the metrics read, one problem per column."""
    return non_finite_problems(engine, logs.events, _value_readers(experiment))


def non_finite_covariates(engine: Engine, logs: PreparedLogs, readers: Mapping[str, tuple[str, ...]]) -> list[str]:
    """NaN and infinite values of the exposures' CUPED covariate columns (column -> metrics)."""
    values = {dimension(column): ValueReaders(metrics) for column, metrics in readers.items()}
    return non_finite_problems(engine, logs.exposures, values)
