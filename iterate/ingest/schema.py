"""Check a registered log against the data contract and expose it under the default names and types.

Checks run before any statistics and are collected, never stopped at the first: missing
columns, unusable types, null unit ids, missing or unparseable timestamps. Timestamps may be
timestamp / date columns, ISO-8601 strings (with or without an offset; offsets are converted to
UTC) or epoch seconds. The normalized log is a view (``iterate_events`` / ``iterate_exposures``):
nothing is materialized.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from iterate.ingest.sources import OpenedSource
from iterate.templates import quote_identifier, render

if TYPE_CHECKING:
    import duckdb

_INTEGER_TYPES = {
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
    "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
}
_NUMBER_TYPES = _INTEGER_TYPES | {"FLOAT", "DOUBLE", "REAL"}
_TEXT_TYPES = {"VARCHAR", "UUID"}
_EPOCH_SECONDS_LIMIT = 1e11  # epoch seconds beyond year 5138: these are milliseconds or nanoseconds


@dataclass(frozen=True, slots=True)
class LogColumns:
    """Column names and DuckDB types found in a log, by the default name they stand for."""

    names: Mapping[str, str]
    types: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class PreparedLog:
    """A validated log: the normalized view (quoted name) and what it was made from."""

    view: str
    label: str
    columns: LogColumns
    rows: int | None


def describe_columns(con: duckdb.DuckDBPyConnection, source: OpenedSource) -> dict[str, str]:
    """Column name to DuckDB type of a registered log."""
    rows = con.execute(f"DESCRIBE SELECT * FROM {source.view}").fetchall()
    return {row[0]: str(row[1]) for row in rows}


def find_columns(
    available: Mapping[str, str],
    mapping: Mapping[str, str],
    required: tuple[str, ...],
    optional: tuple[str, ...],
    role: str,
    label: str,
) -> tuple[LogColumns, list[str]]:
    """Resolve the configured names in a log, reporting each missing required column with the fix."""
    problems = []
    names, types = {}, {}
    lower = {name.lower(): name for name in available}
    for default in (*required, *optional):
        wanted = mapping.get(default, default)
        actual = wanted if wanted in available else lower.get(wanted.lower())
        if actual is not None:
            names[default], types[default] = actual, _base_type(available[actual])
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
    return LogColumns(names=names, types=types), problems


def type_problems(columns: LogColumns, label: str, numeric: tuple[str, ...] = ()) -> list[str]:
    """Columns whose type cannot serve their role (unit ids, timestamps, numeric values)."""
    problems = []
    unit_type = columns.types.get("user_id")
    if unit_type is not None and unit_type not in _INTEGER_TYPES | _TEXT_TYPES:
        problems.append(f"{label}: unit id column `{columns.names['user_id']}` has type {unit_type}; use integers or strings")
    stamp_type = columns.types.get("timestamp")
    if stamp_type is not None and not _is_time(stamp_type) and stamp_type not in _TEXT_TYPES | _NUMBER_TYPES:
        problems.append(
            f"{label}: timestamp column `{columns.names['timestamp']}` has type {stamp_type}; "
            "use a timestamp, an ISO-8601 string or epoch seconds"
        )
    for name in numeric:
        value_type = columns.types.get(name)
        if value_type is not None and value_type not in _NUMBER_TYPES | {"BOOLEAN"} and not value_type.startswith("DECIMAL"):
            problems.append(f"{label}: value column `{columns.names[name]}` has type {value_type}; it must be numeric")
    return problems


def timestamp_expression(column: str, column_type: str) -> str:
    """SQL turning a timestamp column of any accepted type into a UTC ``TIMESTAMP``."""
    quoted = quote_identifier(column)
    if column_type == "TIMESTAMP":
        return quoted
    if _is_time(column_type):
        return f"CAST({quoted} AS TIMESTAMP)"
    if column_type in _NUMBER_TYPES or column_type.startswith("DECIMAL"):
        return f"CAST(to_timestamp(CAST({quoted} AS DOUBLE)) AS TIMESTAMP)"
    return f"CAST(try_cast({quoted} AS TIMESTAMPTZ) AS TIMESTAMP)"


def row_problems(
    con: duckdb.DuckDBPyConnection,
    source: OpenedSource,
    columns: LogColumns,
    not_null: tuple[str, ...],
    label: str,
) -> tuple[int | None, list[str]]:
    """Rows breaking the contract (null ids, unparseable timestamps), counted in one scan.

    A Parquet log whose timestamps are typed needs no scan: null counts come from the row-group
    statistics in the file footers.
    """
    checks: dict[str, str] = {}
    for default in not_null:
        if default in columns.names:
            checks[f"null_{default}"] = f"{quote_identifier(columns.names[default])} IS NULL"
    stamp_type = columns.types.get("timestamp")
    if stamp_type is not None and not _is_time(stamp_type):
        raw = quote_identifier(columns.names["timestamp"])
        converted = timestamp_expression(columns.names["timestamp"], stamp_type)
        if stamp_type in _NUMBER_TYPES or stamp_type.startswith("DECIMAL"):
            checks["epoch_out_of_range"] = f"abs(CAST({raw} AS DOUBLE)) >= {_EPOCH_SECONDS_LIMIT:.0f}"
        else:
            checks["unparseable_timestamp"] = f"{raw} IS NOT NULL AND {converted} IS NULL"
    if not checks:
        return None, []

    counts = None
    if source.kind == "parquet" and "unparseable_timestamp" not in checks and "epoch_out_of_range" not in checks:
        counts = _parquet_null_counts(con, source, columns, not_null)
    if counts is None:
        fragments = ", ".join(f"count(*) FILTER (WHERE {condition}) AS {quote_identifier(name)}" for name, condition in checks.items())
        row = con.execute(render("column_problems", checks=fragments, source=source.view)).fetchone()
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
        examples = _unparseable_examples(con, source, columns)
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


def create_normalized_view(
    con: duckdb.DuckDBPyConnection,
    source: OpenedSource,
    columns: LogColumns,
    name: str,
    *,
    unit_as_text: bool,
    text_columns: tuple[str, ...],
    numeric_columns: Mapping[str, str],
    passthrough_columns: Mapping[str, str] | None = None,
) -> str:
    """Create the temp view ``name`` holding the log under default names and types; returns it quoted.

    Args:
        unit_as_text: cast unit ids to text (when the other log stores them as text).
        text_columns: default names cast to ``VARCHAR`` (event names, variants, experiments).
        numeric_columns: output name to actual column name, each cast to ``DOUBLE``.
        passthrough_columns: output name to actual column name, kept as they are (dimensions).
    """
    selected = []
    unit = quote_identifier(columns.names["user_id"])
    selected.append(f"CAST({unit} AS VARCHAR) AS \"user_id\"" if unit_as_text else f"{unit} AS \"user_id\"")
    selected.append(f"{timestamp_expression(columns.names['timestamp'], columns.types['timestamp'])} AS \"timestamp\"")
    for default in text_columns:
        if default in columns.names:
            actual = quote_identifier(columns.names[default])
            cast = actual if columns.types[default] == "VARCHAR" else f"CAST({actual} AS VARCHAR)"
            selected.append(f"{cast} AS {quote_identifier(default)}")
    for output, actual in numeric_columns.items():
        selected.append(f"CAST({quote_identifier(actual)} AS DOUBLE) AS {quote_identifier(output)}")
    for output, actual in (passthrough_columns or {}).items():
        selected.append(f"{quote_identifier(actual)} AS {quote_identifier(output)}")
    query = render("normalize", columns=", ".join(selected), source=source.view)
    quoted = quote_identifier(name)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {quoted} AS {query}")
    return quoted


def is_integer_type(column_type: str | None) -> bool:
    """Whether a DuckDB type is an integer type."""
    return column_type in _INTEGER_TYPES


def _parquet_null_counts(con, source: OpenedSource, columns: LogColumns, not_null: tuple[str, ...]) -> dict[str, int] | None:
    wanted = {columns.names[d]: d for d in not_null if d in columns.names}
    rows = con.execute(
        "SELECT path_in_schema, sum(stats_null_count), count(*) - count(stats_null_count) "
        "FROM parquet_metadata($files) GROUP BY path_in_schema",
        {"files": list(source.files)},
    ).fetchall()
    counts: dict[str, int] = {}
    for path, nulls, missing_stats in rows:
        if path in wanted:
            if missing_stats:
                return None
            counts[f"null_{wanted[path]}"] = int(nulls or 0)
    if len(counts) != len(wanted):
        return None
    return counts


def _unparseable_examples(con, source: OpenedSource, columns: LogColumns) -> str:
    raw = quote_identifier(columns.names["timestamp"])
    converted = timestamp_expression(columns.names["timestamp"], columns.types["timestamp"])
    rows = con.execute(
        f"SELECT DISTINCT CAST({raw} AS VARCHAR) FROM {source.view} WHERE {raw} IS NOT NULL AND {converted} IS NULL LIMIT 3"
    ).fetchall()
    return ", ".join(repr(row[0]) for row in rows)


def _base_type(column_type: str) -> str:
    return column_type.upper()


def _is_time(column_type: str) -> bool:
    return column_type.startswith("TIMESTAMP") or column_type == "DATE"
