"""Check a registered log against the data contract and expose it under the default names and types.

Checks run before any statistics and are collected, never stopped at the first: missing
columns, unusable types, null unit ids, missing or unparseable timestamps. Timestamps may be
timestamp / date columns, ISO-8601 strings (with or without an offset; offsets are converted to
UTC) or epoch seconds. The normalized log is a view (``iterate_events`` / ``iterate_exposures``):
nothing is materialized. Column types are judged by the class the engine's dialect gives them
(:data:`iterate.engines.TypeClass`); messages show the engine's own type names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Mapping

from iterate.config import Condition, parse_timestamp
from iterate.engines import Engine, TypeClass
from iterate.errors import DataError
from iterate.ingest.sources import OpenedSource
from iterate.templates import Parameters, Query, quote_identifier, render

_EPOCH_SECONDS_LIMIT = 1e11  # epoch seconds beyond year 5138: these are milliseconds or nanoseconds
_UNIT_ID_CLASSES = {"integer", "text"}
_TIMESTAMP_CLASSES = {"timestamp", "time", "text", "integer", "number"}
_VALUE_CLASSES = {"integer", "number", "decimal", "boolean"}
_EPOCH_CLASSES = {"integer", "number", "decimal"}
_READ_AS_TEXT = {"user_id", "event", "variant", "experiment"}  # from a text log, whatever their first rows look like


@dataclass(frozen=True, slots=True)
class LogColumns:
    """Column names, engine type names and type classes found in a log, by the default name they stand for.

    ``converted`` holds the columns of a log registered as text (CSV) that are read as another
    type: DOUBLE for values and epoch timestamps, else the type detected from the first rows; each
    value is converted to it (null where it does not convert, counted by :func:`row_problems`).
    Unit ids, event names, variants and experiments of such a log stay text.
    """

    names: Mapping[str, str]
    types: Mapping[str, str]
    classes: Mapping[str, TypeClass]
    converted: Mapping[str, str] = field(default_factory=dict)

    def with_type(self, default: str, type_name: str, type_class: TypeClass) -> LogColumns:
        """The same columns, the one standing for ``default`` now of another type."""
        return LogColumns(names=self.names, types={**self.types, default: type_name.upper()},
                          classes={**self.classes, default: type_class},
                          converted={name: kind for name, kind in self.converted.items() if name != default})


@dataclass(frozen=True, slots=True)
class PreparedLog:
    """A validated log: the normalized view (quoted name) and what it was made from."""

    view: str
    label: str
    columns: LogColumns
    rows: int | None


def find_columns(
    engine: Engine,
    available: Mapping[str, str],
    mapping: Mapping[str, str],
    required: tuple[str, ...],
    optional: tuple[str, ...],
    section: str,
    label: str,
    *,
    as_text: bool = False,
) -> tuple[LogColumns, list[str]]:
    """Resolve the configured names in a log, reporting each missing required column with the fix:
    the ``[columns.<section>]`` entry that maps it.

    With ``as_text`` (a log registered as text, whose ``available`` types were detected from its
    first rows), columns are read as text or converted to their detected type (see :class:`LogColumns`).
    """
    problems = []
    names, types, classes, converted = {}, {}, {}, {}
    lower = {name.lower(): name for name in available}
    for default in (*required, *optional):
        wanted = mapping.get(default, default)
        actual = wanted if wanted in available else lower.get(wanted.lower())
        if actual is not None:
            names[default], types[default] = actual, available[actual].upper()
            classes[default] = engine.dialect.type_class(available[actual])
            if as_text:
                _read_from_text(engine, default, types, classes, converted)
        elif default in required:
            if default.startswith("value:"):
                hint, default = "; fix the metric's `value` key", "metric value"
            elif default.startswith("dim:"):
                hint, default = "; fix the `where`, `segments` or metric `covariate` that names it", "dimension"
            else:
                hint = f"; map it in the config: [columns.{section}] {default} = \"<your column>\""
            problems.append(
                f"{label}: column `{wanted}` ({default}) is missing; columns found: "
                f"{', '.join(available) or 'none'}{hint}"
            )
    return LogColumns(names=names, types=types, classes=classes, converted=converted), problems


def _read_from_text(engine: Engine, default: str, types: dict[str, str], classes: dict[str, TypeClass],
                    converted: dict[str, str]) -> None:
    """How the column ``default`` of a log registered as text is read (``types`` and ``classes``
    hold its detected type on entry). Dates and times were read with their detected type (and
    format), not as text. Of the others, unit ids and names are text; numbers (values, epoch
    timestamps) DOUBLE whatever the first rows looked like; the rest their detected type."""
    kind = classes[default]
    is_value = default.startswith("value:")
    if kind in ("timestamp", "time"):
        return
    if (is_value and kind != "boolean") or (default == "timestamp" and kind in _EPOCH_CLASSES):
        types[default], classes[default], converted[default] = "DOUBLE", "number", "DOUBLE"
    elif kind in ("text", "other") or default in _READ_AS_TEXT:
        types[default], classes[default] = engine.dialect.text_type, "text"
    else:
        converted[default] = types[default]


def type_problems(columns: LogColumns, label: str, numeric: tuple[str, ...] = ()) -> list[str]:
    """Columns whose type cannot serve their role (unit ids, timestamps, numeric values)."""
    problems = []
    if "user_id" in columns.classes and columns.classes["user_id"] not in _UNIT_ID_CLASSES:
        problems.append(f"{label}: unit id column `{columns.names['user_id']}` has type {columns.types['user_id']}; "
                        "use integers or strings")
    if "timestamp" in columns.classes and columns.classes["timestamp"] not in _TIMESTAMP_CLASSES:
        problems.append(
            f"{label}: timestamp column `{columns.names['timestamp']}` has type {columns.types['timestamp']}; "
            "use a timestamp, an ISO-8601 string or epoch seconds"
        )
    for name in numeric:
        if name in columns.classes and columns.classes[name] not in _VALUE_CLASSES:
            role = "value" if name.startswith("value:") else "CUPED covariate"
            problems.append(f"{label}: {role} column `{columns.names[name]}` has type {columns.types[name]}; "
                            "it must be numeric")
    return problems


def condition_problems(key: str, condition: Condition, column: str, columns: LogColumns, label: str) -> list[str]:
    """A ``where`` condition whose values cannot be compared with its column's type (a text column
    with a number, a numeric column with a word...), which the engine would refuse mid-query.

    Args:
        key: The config key holding the condition (``[experiment] where``, ``[[metrics]] #1 (x) where``).
        condition: The condition.
        column: The condition column's name in ``columns`` (its normalized name).
        columns: The columns found in the log the condition reads.
        label: The log, for the message.
    """
    type_class = columns.classes.get(column)
    if type_class == "other":
        return [f"{key}: `{condition.column}` is compared with a value, but column `{columns.names[column]}` of {label} "
                f"has type {columns.types[column]}, which iterate cannot compare; filter on a column of text, numbers, "
                "booleans or times"]
    if type_class is None or type_class not in _COMPARABLE:
        return []  # a missing column is reported by find_columns
    accepts, expected, example = _COMPARABLE[type_class]
    values = condition.value if condition.operator in ("in", "not_in") else (condition.value,)
    wrong = [value for value in values if not accepts(value)]
    if not wrong:
        return []
    shown = ", ".join(_describe_value(value) for value in wrong)
    if type_class == "text" and isinstance(wrong[0], (int, float)):  # the same value, quoted
        example = json.dumps(str(wrong[0]).lower() if isinstance(wrong[0], bool) else str(wrong[0]))
    return [f"{key}: `{condition.column}` is compared with {shown}, but column `{columns.names[column]}` of {label} "
            f"has type {columns.types[column]}; write {expected}: {_toml_condition(condition, example)}"]


def _toml_condition(condition: Condition, value: str) -> str:
    """The condition as written in TOML, with ``value`` (a TOML literal) as its value."""
    if condition.operator == "eq":
        return f"{{ {condition.column} = {value} }}"
    if condition.operator == "in":
        return f"{{ {condition.column} = [{value}] }}"
    if condition.operator == "not_in":
        return f"{{ {condition.column} = {{ not_in = [{value}] }} }}"
    return f"{{ {condition.column} = {{ {condition.operator} = {value} }} }}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parses(convert, value: Any) -> bool:
    try:
        convert(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def _is_time(value: Any) -> bool:
    return isinstance(value, (datetime, date)) or (isinstance(value, str) and _parses(parse_timestamp, value))


_COMPARABLE = {
    # type class: (accepts a value, what to write, an example); strings the engine converts exactly are accepted
    "text": (lambda v: isinstance(v, str), "a string (in quotes)", '"ios"'),
    "integer": (lambda v: _is_number(v) or (isinstance(v, str) and _parses(int, v)), "a number (no quotes)", "10"),
    "number": (lambda v: _is_number(v) or (isinstance(v, str) and _parses(float, v)), "a number (no quotes)", "10"),
    "decimal": (lambda v: _is_number(v) or (isinstance(v, str) and _parses(float, v)), "a number (no quotes)", "10"),
    "boolean": (lambda v: isinstance(v, bool) or (isinstance(v, str) and v.lower() in ("true", "false")),
                "true or false", "true"),
    "timestamp": (_is_time, "a date-time", "2026-01-20T00:00:00Z"),
    "time": (_is_time, "a date-time", "2026-01-20T00:00:00Z"),
}


def _describe_value(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if _is_number(value):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string \"{value}\""
    return f"{type(value).__name__} {value!r}"


@dataclass(frozen=True, slots=True)
class ValueReaders:
    """Who reads a numeric column: the metrics (named in messages) and the events they read it on
    (every row when empty)."""

    metrics: tuple[str, ...]
    events: tuple[str, ...] = ()


def row_problems(
    engine: Engine,
    source: OpenedSource,
    columns: LogColumns,
    not_null: tuple[str, ...],
    label: str,
    values: Mapping[str, ValueReaders] | None = None,
) -> tuple[int | None, list[str]]:
    """Rows breaking the contract (null ids, unparseable timestamps, NaN or infinite values the
    metrics read), counted in one scan.

    A Parquet log whose timestamps are typed needs no scan for the null counts: they come from the
    row-group statistics in the file footers, when the engine can read them. Only floating-point
    value columns can hold NaN or infinities; they are scanned (on the rows of the events that
    the metrics read them on), the other checks are not.

    Args:
        values: Numeric columns (default names) the metrics read, checked for NaN and infinities.
    """
    parameters = Parameters(engine.dialect)
    checks = _row_checks(engine, columns, not_null)
    finite = _finite_checks(engine, columns, values or {}, parameters)
    counts: dict[str, int | None] = {}
    if source.kind == "parquet" and "unparseable_timestamp" not in checks and "epoch_out_of_range" not in checks:
        footer = _footer_null_counts(engine, source, columns, not_null)
        if footer is not None:
            # no scan is needed for the rest: NaN and infinities, which footers do not count, are
            # then found by the analysis (a non-finite moment: see non_finite_problems)
            counts, checks, finite = dict(footer), {}, {}
    checks |= finite
    if checks:
        fragments = ", ".join(f"count(*) FILTER (WHERE {condition}) AS {quote_identifier(name)}"
                              for name, condition in checks.items())
        query = render("column_problems", engine.dialect, parameters.values, checks=fragments, source=source.view)
        try:
            counts |= dict(zip(["rows", *checks], engine.execute(query).first()))
        except DataError as error:  # a malformed line the reader's sample did not show (the first full scan)
            return None, [f"{label}: {error}"]

    problems = []
    for default in not_null:
        bad = counts.get(f"null_{default}", 0) or 0
        if bad:
            problems.append(
                f"{label}: {bad:,} row(s) have a null {default} in column `{columns.names[default]}`; "
                "drop or fill them before the analysis"
            )
    if counts.get("unparseable_timestamp"):
        examples = _unparseable_examples(engine, source, columns)
        problems.append(
            f"{label}: {counts['unparseable_timestamp']:,} timestamp(s) in column `{columns.names['timestamp']}` "
            f"cannot be parsed (e.g. {examples}); use ISO-8601 like 2026-01-05T10:00:00Z or epoch seconds"
        )
    if counts.get("epoch_out_of_range"):
        problems.append(
            f"{label}: {counts['epoch_out_of_range']:,} numeric timestamp(s) in column `{columns.names['timestamp']}` "
            "are too large for epoch seconds (milliseconds?); divide by 1000 or store ISO-8601 timestamps"
        )
    for default, declared in columns.converted.items():
        bad = counts.get(f"unconverted:{default}") or 0
        if bad:
            raw = quote_identifier(columns.names[default])
            examples = _examples(engine, source, raw, _read(engine, columns, default))
            what = ("numbers" if declared == "DOUBLE" else
                    f"of the type {declared} that the column's first rows have")
            problems.append(
                f"{label}: {bad:,} value(s) in column `{columns.names[default]}` are not {what} (e.g. {examples}); "
                "correct or remove those rows" + ("; a value column holds numbers only (an empty field for no value)"
                                                  if default.startswith("value:") else "")
            )
    for default, readers in (values or {}).items():
        bad = counts.get(f"not_finite:{default}") or 0
        if bad:
            problems.append(_non_finite_problem(label, columns.names[default], bad, readers))
    return counts.get("rows"), problems


def _non_finite_problem(label: str, column: str, count: int, readers: ValueReaders) -> str:
    among = f" (among the {', '.join(readers.events)} events)" if readers.events else ""
    return (f"{label}: {count:,} value(s) in column `{column}`{among} are NaN or infinite, read by "
            f"metric(s) {', '.join(readers.metrics)}; drop those rows or fill them with a number "
            "(or leave them empty) before the analysis")


def non_finite_problems(engine: Engine, log: PreparedLog, values: Mapping[str, ValueReaders]) -> list[str]:
    """NaN and infinite values the metrics read, counted on the normalized log: asked only when an
    analysis met a non-finite moment, so that a clean Parquet log costs no scan for them."""
    parameters = Parameters(engine.dialect)
    checks = {}
    for default, readers in values.items():
        condition = engine.dialect.is_not_finite(quote_identifier(default))
        if readers.events:
            condition = f'"event" IN ({", ".join(parameters.bind(name) for name in readers.events)}) AND {condition}'
        checks[default] = condition
    if not checks:
        return []
    fragments = ", ".join(f"count(*) FILTER (WHERE {condition}) AS {quote_identifier(name)}"
                          for name, condition in checks.items())
    query = render("column_problems", engine.dialect, parameters.values, checks=fragments, source=log.view)
    counts = dict(zip(["rows", *checks], engine.execute(query).first()))
    return [_non_finite_problem(log.label, log.columns.names.get(default, default.split(":", 1)[-1]),
                                counts[default], values[default])
            for default in checks if counts[default]]


def _finite_checks(engine: Engine, columns: LogColumns, values: Mapping[str, ValueReaders],
                   parameters: Parameters) -> dict[str, str]:
    """The conditions of NaN or infinite values, for the floating-point columns of ``values``."""
    checks = {}
    event = quote_identifier(columns.names["event"]) if "event" in columns.names else None
    for default, readers in values.items():
        if columns.classes.get(default) != "number":
            continue  # integers, decimals and booleans are always finite; a missing column is reported elsewhere
        condition = engine.dialect.is_not_finite(_read(engine, columns, default))
        if readers.events and event is not None:
            condition = f"{event} IN ({', '.join(parameters.bind(name) for name in readers.events)}) AND {condition}"
        checks[f"not_finite:{default}"] = condition
    return checks


def _row_checks(engine: Engine, columns: LogColumns, not_null: tuple[str, ...]) -> dict[str, str]:
    """The conditions of the rows to count, by check name."""
    checks: dict[str, str] = {}
    for default in not_null:
        if default in columns.names:
            checks[f"null_{default}"] = f"{quote_identifier(columns.names[default])} IS NULL"
    for default in columns.converted:
        raw = quote_identifier(columns.names[default])
        checks[f"unconverted:{default}"] = f"{raw} IS NOT NULL AND {_read(engine, columns, default)} IS NULL"
    stamp_class = columns.classes.get("timestamp")
    # a timestamp of an unusable type is reported by type_problems, not parsed
    if stamp_class in _TIMESTAMP_CLASSES and stamp_class not in ("timestamp", "time"):
        raw = _read(engine, columns, "timestamp")
        if stamp_class in _EPOCH_CLASSES:
            checks["epoch_out_of_range"] = f"abs(CAST({raw} AS DOUBLE)) >= {_EPOCH_SECONDS_LIMIT:.0f}"
        else:
            checks["unparseable_timestamp"] = f"{raw} IS NOT NULL AND {engine.dialect.to_timestamp(raw, stamp_class)} IS NULL"
    return checks


def normalized_view_query(
    engine: Engine,
    source: OpenedSource,
    columns: LogColumns,
    *,
    unit_as_text: bool,
    text_columns: tuple[str, ...],
    numeric_columns: Mapping[str, str],
    passthrough_columns: Mapping[str, str] | None = None,
) -> Query:
    """The query of the log under default names and types (a view of the raw log).

    Args:
        unit_as_text: cast unit ids to text (when the other log stores them as text).
        text_columns: default names cast to text (event names, variants, experiments).
        numeric_columns: output name to actual column name, each cast to ``DOUBLE``.
        passthrough_columns: output name to actual column name, kept as they are (dimensions).

    Columns of a log registered as text are converted to their detected types first (see :class:`LogColumns`).
    """
    dialect = engine.dialect
    selected = []
    unit = _read(engine, columns, "user_id")
    selected.append(f"CAST({unit} AS {dialect.text_type}) AS \"user_id\"" if unit_as_text else f"{unit} AS \"user_id\"")
    stamp = dialect.to_timestamp(_read(engine, columns, "timestamp"), columns.classes["timestamp"])
    selected.append(f"{stamp} AS \"timestamp\"")
    for default in text_columns:
        if default in columns.names:
            actual = quote_identifier(columns.names[default])
            cast = actual if columns.types[default] == dialect.text_type else f"CAST({actual} AS {dialect.text_type})"
            selected.append(f"{cast} AS {quote_identifier(default)}")
    for output, actual in numeric_columns.items():
        selected.append(f"CAST({_read(engine, columns, output, actual)} AS DOUBLE) AS {quote_identifier(output)}")
    for output, actual in (passthrough_columns or {}).items():
        selected.append(f"{_read(engine, columns, output, actual)} AS {quote_identifier(output)}")
    return render("normalize", dialect, columns=", ".join(selected), source=source.view)


def _footer_null_counts(engine: Engine, source: OpenedSource, columns: LogColumns,
                        not_null: tuple[str, ...]) -> dict[str, int] | None:
    wanted = {columns.names[d]: d for d in not_null if d in columns.names}
    nulls = engine.footer_null_counts(source.files)
    if nulls is None or any(nulls.get(column) is None for column in wanted):
        return None
    return {f"null_{default}": nulls[column] for column, default in wanted.items()}


def _read(engine: Engine, columns: LogColumns, default: str, actual: str | None = None) -> str:
    """The column standing for ``default`` (named ``actual``, by default the one found), as the
    analysis reads it: as stored, or converted from text to its detected type (null where a value
    does not convert)."""
    raw = quote_identifier(actual if actual is not None else columns.names[default])
    if default in columns.converted and (actual is None or actual == columns.names[default]):
        return engine.dialect.try_cast(raw, columns.converted[default])
    return raw


def _unparseable_examples(engine: Engine, source: OpenedSource, columns: LogColumns) -> str:
    converted = engine.dialect.to_timestamp(_read(engine, columns, "timestamp"), columns.classes["timestamp"])
    return _examples(engine, source, quote_identifier(columns.names["timestamp"]), converted)


def _examples(engine: Engine, source: OpenedSource, raw: str, converted: str) -> str:
    """Up to three distinct values of the column ``raw`` whose conversion ``converted`` is null, quoted."""
    query = render("unconverted_values", engine.dialect, raw=raw, converted=converted, source=source.view)
    return ", ".join(repr(row[0]) for row in engine.execute(query).values)
