"""The embedded default engine: DuckDB, in process, no server.

Reads Parquet, CSV and NDJSON files (scanned lazily, never loaded whole), tables of DuckDB
database files (attached read-only) and in-memory Arrow / pandas frames (registered zero-copy).
Every DuckDB exception is mapped here, in :func:`_translated`, and nowhere else.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from iterate.engines.base import FileFormat, Rows
from iterate.engines.dialects import DUCKDB
from iterate.errors import DataError
from iterate.templates import Query, quote_identifier

_COPY_OPTIONS: Mapping[str, str] = {
    "parquet": "FORMAT parquet, COMPRESSION zstd",
    "csv": "FORMAT csv, HEADER true",
    "ndjson": "FORMAT json",
}


class DuckDBEngine:
    """An in-memory DuckDB connection configured for reproducible analyses.

    Timestamps with an offset are converted to UTC (``TimeZone = 'UTC'``), so windows do not
    depend on the machine's zone. With ``keep_row_order`` false (the default) the engine may
    return unsorted rows in any order, which lets it stream freely: no query of an analysis
    relies on the order of rows it did not sort. Files written with :meth:`write_file` keep the
    query's order only with ``keep_row_order``. ``threads`` caps the threads it works with (all
    cores by default); results do not depend on it.

    Example:
        >>> from iterate.templates import Query
        >>> engine = DuckDBEngine()
        >>> engine.execute(Query("example", "SELECT 41 + $x AS Answer", {"x": 1})).dicts()
        [{'answer': 42}]
        >>> engine.close()
    """

    def __init__(self, *, keep_row_order: bool = False, threads: int | None = None) -> None:
        import duckdb

        self.dialect = DUCKDB
        self._con = duckdb.connect(database=":memory:")
        if threads is not None:
            self._con.execute(f"SET threads = {int(threads)}")
        self._con.execute("SET TimeZone = 'UTC'")
        self._con.execute("SET enable_progress_bar = false")
        self._con.execute(f"SET preserve_insertion_order = {'true' if keep_row_order else 'false'}")
        # the footers of a Parquet log are parsed once per analysis, not once per query reading it
        self._con.execute("SET parquet_metadata_cache = true")

    def execute(self, query: Query) -> Rows:
        with _translated(files=False):
            cursor = self._con.execute(query.text, dict(query.parameters))
            names = tuple(column[0].lower() for column in cursor.description or ())
            return Rows(names, cursor.fetchall() if names else [])

    def create_view(self, name: str, query: Query) -> str:
        quoted = quote_identifier(name)
        with _translated(files=False):
            self._con.execute(f"CREATE OR REPLACE TEMP VIEW {quoted} AS {query.text}", dict(query.parameters))
        return quoted

    def create_table(self, name: str, query: Query) -> str:
        quoted = quote_identifier(name)
        with _translated(files=False):
            self._con.execute(f"CREATE OR REPLACE TEMP TABLE {quoted} AS {query.text}", dict(query.parameters))
        return quoted

    def describe(self, relation: str) -> dict[str, str]:
        with _translated(files=True):
            rows = self._con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
        return {row[0]: str(row[1]) for row in rows}

    def register_files(self, name: str, files: Sequence[str], file_format: FileFormat, *,
                       text_columns: Sequence[str] = ()) -> str:
        """Register files as the view ``name``; ``text_columns`` of a CSV or NDJSON file are read as
        text (``VARCHAR``), whatever DuckDB's sniffer would make of them.

        The sniffer's types of a text file depend on the DuckDB version and on the rows it samples:
        ISO strings with an offset are ``TIMESTAMP WITH TIME ZONE`` in a CSV file, and in NDJSON
        ``VARCHAR`` on DuckDB 1.4, a naive UTC ``TIMESTAMP`` on 1.5 and ``TIMESTAMP WITH TIME ZONE``
        on 2.0; dates alone are ``DATE``; ``01/05/2026`` is 1 May when the sample allows day first.
        So iterate reads its timestamps as text and parses them itself
        (:meth:`iterate.engines.dialects.DuckDBDialect.to_timestamp`). That view is created from
        SQL text: DuckDB 1.4's ``DuckDBPyRelation.create_view`` drops the types given to ``read_csv``.
        The other columns a CSV log's contract needs are read as text too, and converted by ingest,
        so that a value past the sniffer's sample that does not fit is a counted row problem.
        """
        self._release(name)
        quoted = quote_identifier(name)
        with _translated(files=True):
            if file_format == "parquet":
                self._con.read_parquet(list(files), union_by_name=True).create_view(name, replace=True)
            elif file_format == "csv" and text_columns:
                scan = _text_scan(files, "csv", text_columns, {})
                self._con.execute(f"CREATE OR REPLACE TEMP VIEW {quoted} AS SELECT * FROM {scan}")
            elif file_format == "csv":
                self._con.read_csv(list(files), union_by_name=True, header=True).create_view(name, replace=True)
            else:
                relation = self._con.read_json(list(files), format="newline_delimited")
                if text_columns:
                    sniffed = dict(zip(relation.columns, map(str, relation.types)))
                    scan = _text_scan(files, "ndjson", text_columns, sniffed)
                    self._con.execute(f"CREATE OR REPLACE TEMP VIEW {quoted} AS SELECT * FROM {scan}")
                else:
                    relation.create_view(name, replace=True)
        return quoted

    def register_frame(self, name: str, frame: Any) -> str:
        self._release(name)
        with _translated(files=True):
            self._con.register(name, frame)
        return quote_identifier(name)

    def register_table(self, name: str, database: str, table: str) -> str:
        self._release(name)
        alias = self._attached(database)
        if alias is None:
            # one alias per database file, so that a view can be registered again from another file
            alias = "iterate_database_" + hashlib.sha256(str(Path(database).resolve()).encode()).hexdigest()[:16]
            try:
                with _translated(files=True):
                    self._con.execute(f"ATTACH {_literal(database)} AS {quote_identifier(alias)} (READ_ONLY)")
            except DataError as error:
                raise DataError(f"cannot open DuckDB database {database}: {error}") from error
        tables = {row[0] for row in self._con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = $db "
            "UNION SELECT view_name FROM duckdb_views() WHERE database_name = $db",
            {"db": alias},
        ).fetchall()}
        if table not in tables:
            found = ", ".join(sorted(tables)) or "none"
            raise DataError(f"table `{table}` not found in {database} (tables there: {found})")
        quoted = quote_identifier(name)
        self._con.execute(f"CREATE OR REPLACE TEMP VIEW {quoted} AS "
                          f"SELECT * FROM {quote_identifier(alias)}.{quote_identifier(table)}")
        return quoted

    def footer_null_counts(self, files: Sequence[str]) -> Mapping[str, int | None]:
        with _translated(files=True):
            rows = self._con.execute(
                "SELECT path_in_schema, sum(stats_null_count), count(*) - count(stats_null_count) "
                "FROM parquet_metadata($files) GROUP BY path_in_schema",
                {"files": list(files)},
            ).fetchall()
        return {path: None if missing_statistics else int(nulls or 0) for path, nulls, missing_statistics in rows}

    def footer_row_count(self, files: Sequence[str]) -> int | None:
        with _translated(files=True):
            (rows,) = self._con.execute("SELECT sum(num_rows) FROM parquet_file_metadata($files)",
                                        {"files": list(files)}).fetchone()
        return None if rows is None else int(rows)

    def write_file(self, query: Query, path: Path, file_format: FileFormat) -> int:
        parameters = {**query.parameters, "iterate_output_path": str(path)}
        with _translated(files=True):
            written = self._con.execute(
                f"COPY ({query.text}) TO $iterate_output_path ({_COPY_OPTIONS[file_format]})", parameters
            ).fetchone()
        return int(written[0])

    def close(self) -> None:
        self._con.close()

    def _release(self, name: str) -> None:
        """Forget what an earlier analysis on this engine registered as ``name``: a registered
        frame would otherwise shadow a view of the same name."""
        self._con.unregister(name)
        self._con.execute(f"DROP VIEW IF EXISTS {quote_identifier(name)}")

    def _attached(self, database: str) -> str | None:
        """Alias of the database file if already attached (both logs in one file): a file is
        attached once per connection."""
        wanted = str(Path(database).resolve())
        for name, attached_path in self._con.execute("SELECT database_name, path FROM duckdb_databases()").fetchall():
            if attached_path and str(Path(attached_path).resolve()) == wanted:
                return name
        return None


@contextmanager
def _translated(*, files: bool) -> Iterator[None]:
    """DuckDB's exceptions as iterate's: the one place where they are mapped.

    While a file is registered, described or written, any DuckDB error means it cannot be read
    or written (DuckDB raises many types for a malformed file): a :class:`DataError` carrying
    what DuckDB says of it, which the caller puts in context. During a query, a log that turns
    out unreadable mid-scan (a malformed CSV row past the sniffer's sample, a corrupt Parquet
    page) is a data error too, naming the file, the line and what is wrong with it when DuckDB
    tells; any other DuckDB error is a bug of iterate and propagates.
    """
    import duckdb

    try:
        yield
    except duckdb.Error as error:
        if files:
            raise DataError(_described(error)) from error
        if isinstance(error, (duckdb.IOException, duckdb.InvalidInputException, duckdb.ConversionException)):
            line = _csv_line_error(str(error))
            if line is not None:
                raise DataError(f"cannot read {line}; fix or remove that line") from error
            raise DataError(f"the engine could not read the input logs: {_first_line(error)}; "
                            "fix or remove the offending file") from error
        raise


def _described(error: Exception) -> str:
    """What DuckDB says of a file it cannot read: the line at fault for a CSV, else its first line."""
    line = _csv_line_error(str(error))
    return f"cannot read {line}" if line is not None else _first_line(error)


def _csv_line_error(text: str) -> str | None:
    """``"<file>, line N: <what is wrong> (the line: '...')"`` from DuckDB's report of a CSV line it
    cannot read, or ``None`` when ``text`` is not one."""
    line = re.search(r"CSV Error on Line: (\d+)", text)
    if line is None:
        return None
    file = re.search(r"^\s*file = (.+?)\s*$", text, re.MULTILINE)
    original = re.search(r"^Original Line: ?(.*)$", text, re.MULTILINE)
    fields = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
    converting = re.search(r'Error when converting column "(.+?)"\. (.+)', text)
    if fields is not None:
        what = f"{fields.group(2)} fields where the header has {fields.group(1)}"
    elif converting is not None:
        what = f"column `{converting.group(1)}`: {converting.group(2).rstrip('.')}"
    else:
        rest = [part.strip() for part in text.split("\n")[1:] if part.strip() and not part.startswith("Original Line")]
        what = rest[0].rstrip(".") if rest else "malformed line"
    where = f"{file.group(1)}, line {int(line.group(1)):,}" if file else f"line {int(line.group(1)):,}"
    shown = f" (the line: {original.group(1)[:200]!r})" if original is not None else ""
    return f"{where}: {what}{shown}"


def _text_scan(files: Sequence[str], file_format: FileFormat, text_columns: Sequence[str],
               sniffed: Mapping[str, str]) -> str:
    """The ``read_csv`` / ``read_json`` call reading ``text_columns`` as ``VARCHAR``: a CSV takes
    types for some columns, an NDJSON file needs every column's (the sniffed ones, except those)."""
    listed = "[" + ", ".join(_literal(file) for file in files) + "]"
    if file_format == "csv":
        types = ", ".join(f"{_literal(column)}: 'VARCHAR'" for column in text_columns)
        return f"read_csv({listed}, union_by_name = true, header = true, types = {{{types}}})"
    wanted = {**sniffed, **{column: "VARCHAR" for column in text_columns}}
    columns = ", ".join(f"{_literal(column)}: {_literal(column_type)}" for column, column_type in wanted.items())
    return f"read_json({listed}, format = 'newline_delimited', columns = {{{columns}}})"


def _literal(text: str) -> str:
    """A SQL string literal, for the statements that take no bind parameter (ATTACH, CREATE VIEW)."""
    return "'" + text.replace("'", "''") + "'"


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def connect_database(path: str, *, read_only: bool) -> Any:
    """A plain DuckDB connection to the database file ``path`` (the storage of the iteration
    history, :mod:`iterate.history.store`); a file DuckDB cannot open is a :class:`DataError`
    carrying what DuckDB says of it."""
    import duckdb

    with _translated(files=True):
        return duckdb.connect(path, read_only=read_only)
