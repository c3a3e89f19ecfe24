"""The embedded engine: an in-process DuckDB connection configured for reproducible analyses."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import duckdb


@contextmanager
def connect() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection with UTC time zone; closed on exit.

    Timestamps with an offset are converted to UTC, so windows do not depend on the machine's zone.
    """
    import duckdb

    con = duckdb.connect(database=":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        # no query of iterate relies on the order of rows it did not sort: let the engine stream freely
        con.execute("SET preserve_insertion_order = false")
        # the footers of a Parquet log are parsed once per analysis, not once per query reading it
        con.execute("SET parquet_metadata_cache = true")
        yield con
    finally:
        con.close()
