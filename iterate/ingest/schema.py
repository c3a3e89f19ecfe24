"""Check a registered log against the data contract and expose it under the default names and types.

Checks run before any statistics and are collected, never stopped at the first: missing
columns, unusable types, null unit ids, missing or unparseable timestamps. Timestamps may be
timestamp / date columns, ISO-8601 strings (with or without an offset; offsets are converted to
UTC) or epoch seconds. The normalized log is a view (``iterate_events`` / ``iterate_exposures``):
nothing is materialized. Column types are judged by the class the engine's dialect gives them
(:data:`iterate.engines.TypeClass`); messages show the engine's own type names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from iterate.engines import Engine, TypeClass
from iterate.ingest.sources import OpenedSource
from iterate.templates import Query, quote_identifier, render

_EPOCH_SECONDS_LIMIT = 1e11  # epoch seconds beyond year 5138: these are milliseconds or nanoseconds
_UNIT_ID_CLASSES = {"integer", "text"}
_TIMESTAMP_CLASSES = {"timestamp", "time", "text", "integer", "number"}
_VALUE_CLASSES = {"integer", "number", "decimal", "boolean"}
_EPOCH_CLASSES = {"integer", "number", "decimal"}


@dataclass(frozen=True, slots=True)
class LogColumns:
    """Column names, engine type names and type classes found in a log, by the default name they stand for."""

    names: Mapping[str, str]
    types: Mapping[str, str]
    classes: Mapping[str, TypeClass]

    def with_type(self, default: str, type_name: str, type_class: TypeClass) -> LogColumns:
        """The same columns, the one standing for ``default`` now of another type."""
        return LogColumns(names=self.names, types={**self.types, default: type_name.upper()},
                          classes={**self.classes, default: type_class})


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
    role: str,
    label: str,
) -> tuple[LogColumns, list[str]]:
    """Resolve the configured names in a log, reporting each missing required column with the fix."""
    problems = []
    names, types, classes = {}, {}, {}
    lower = {name.lower(): name for name in available}
    for default in (*required, *optional):
        wanted = mapping.get(default, default)
        actual = wanted if wanted in available else lower.get(wanted.lower())
        if actual is not None:
            names[default], types[default] = actual, available[actual].upper()
            classes[default] = engine.dialect.type_class(available[actual])
        elif default in required:
            if default.startswith("value:"):
                hint, default = "; fix the metric's `value` key", "metric value"
            elif default.startswith("dim:"):
                hint, default = "; fix the `where` or `segments` that names it", "dimension"
            else:
                hint = f"; map it in the config: [columns.{role}] {default} = \"<your column>\""
            problems.append(
                f"{label}: column `{wanted}` ({default}) is missing; columns found: "
                f"{', '.join(available) or 'none'}{hint}"
            )
    return LogColumns(names=names, types=types, classes=classes), problems


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
            problems.append(f"{label}: value column `{columns.names[name]}` has type {columns.types[name]}; "
                            "it must be numeric")
    return problems


def row_problems(
    engine: Engine,
    source: OpenedSource,
    columns: LogColumns,
    not_null: tuple[str, ...],
    label: str,
) -> tuple[int | None, list[str]]:
    """Rows breaking the contract (null ids, unparseable timestamps), counted in one scan.

    A Parquet log whose timestamps are typed needs no scan: null counts come from the row-group
    statistics in the file footers, when the engine can read them.
    """
    checks = _row_checks(engine, columns, not_null)
    if not checks:
        return None, []
    counts = None
    if source.kind == "parquet" and "unparseable_timestamp" not in checks and "epoch_out_of_range" not in checks:
        counts = _footer_null_counts(engine, source, columns, not_null)
    if counts is None:
        fragments = ", ".join(f"count(*) FILTER (WHERE {condition}) AS {quote_identifier(name)}"
                              for name, condition in checks.items())
        row = engine.execute(render("column_problems", engine.dialect, checks=fragments, source=source.view)).first()
        counts = dict(zip(["rows", *checks], row))

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
    return counts.get("rows"), problems


def _row_checks(engine: Engine, columns: LogColumns, not_null: tuple[str, ...]) -> dict[str, str]:
    """The conditions of the rows to count, by check name."""
    checks: dict[str, str] = {}
    for default in not_null:
        if default in columns.names:
            checks[f"null_{default}"] = f"{quote_identifier(columns.names[default])} IS NULL"
    stamp_class = columns.classes.get("timestamp")
    if stamp_class is not None and stamp_class not in ("timestamp", "time"):
        raw = quote_identifier(columns.names["timestamp"])
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
    """
    dialect = engine.dialect
    selected = []
    unit = quote_identifier(columns.names["user_id"])
    selected.append(f"CAST({unit} AS {dialect.text_type}) AS \"user_id\"" if unit_as_text else f"{unit} AS \"user_id\"")
    stamp = dialect.to_timestamp(quote_identifier(columns.names["timestamp"]), columns.classes["timestamp"])
    selected.append(f"{stamp} AS \"timestamp\"")
    for default in text_columns:
        if default in columns.names:
            actual = quote_identifier(columns.names[default])
            cast = actual if columns.types[default] == dialect.text_type else f"CAST({actual} AS {dialect.text_type})"
            selected.append(f"{cast} AS {quote_identifier(default)}")
    for output, actual in numeric_columns.items():
        selected.append(f"CAST({quote_identifier(actual)} AS DOUBLE) AS {quote_identifier(output)}")
    for output, actual in (passthrough_columns or {}).items():
        selected.append(f"{quote_identifier(actual)} AS {quote_identifier(output)}")
    return render("normalize", dialect, columns=", ".join(selected), source=source.view)


def _footer_null_counts(engine: Engine, source: OpenedSource, columns: LogColumns,
                        not_null: tuple[str, ...]) -> dict[str, int] | None:
    wanted = {columns.names[d]: d for d in not_null if d in columns.names}
    nulls = engine.footer_null_counts(source.files)
    if nulls is None or any(nulls.get(column) is None for column in wanted):
        return None
    return {f"null_{default}": nulls[column] for column, default in wanted.items()}


def _unparseable_examples(engine: Engine, source: OpenedSource, columns: LogColumns) -> str:
    raw = quote_identifier(columns.names["timestamp"])
    converted = engine.dialect.to_timestamp(raw, columns.classes["timestamp"])
    query = render("unparseable_timestamps", engine.dialect, raw=raw, converted=converted, source=source.view)
    return ", ".join(repr(row[0]) for row in engine.execute(query).values)
