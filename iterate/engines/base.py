"""What iterate asks of a SQL engine: the :class:`Engine` and :class:`Dialect` protocols.

An engine executes rendered queries (:class:`iterate.templates.Query`) with their bind
parameters and returns :class:`Rows` with lower-cased column names; registers the logs as
relations (files, database tables, in-memory frames) without copying them into Python; describes
a relation's columns; and maps its own exceptions to :class:`iterate.errors.IterateError`
subclasses in one place, so that nothing above ``iterate/engines/`` ever sees them.

A dialect holds the SQL spellings that differ between engines: everything else in the templates
is standard SQL (double-quoted identifiers, ``FILTER (WHERE ...)``, ``GROUPING SETS``,
``var_samp`` / ``covar_samp``). Adding an engine is one module implementing :class:`Engine` and
one entry in :data:`iterate.engines.dialects.DIALECTS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from iterate.templates import Query

FileFormat = Literal["parquet", "csv", "ndjson"]
TypeClass = Literal["timestamp", "time", "integer", "number", "decimal", "boolean", "text", "other"]
"""What a column type can serve as: ``timestamp`` is the engine's naive timestamp (used as is),
``time`` any other date or time type (converted), ``number`` a floating-point type."""


@dataclass(frozen=True, slots=True)
class Rows:
    """What a query returned: lower-cased column names and the rows as tuples.

    Example:
        >>> rows = Rows(("variant", "units"), [("control", 10), ("treatment", 12)])
        >>> rows.dicts()[1]
        {'variant': 'treatment', 'units': 12}
    """

    columns: tuple[str, ...]
    values: Sequence[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        """Each row as a dict keyed by column name."""
        return [dict(zip(self.columns, row)) for row in self.values]

    def first(self) -> tuple[Any, ...]:
        """The first row (queries that aggregate everything into one)."""
        return tuple(self.values[0])


class Dialect(Protocol):
    """The SQL spellings of one engine: fragments the templates and the query builders need.

    Constant spellings are attributes, which templates can name as ``{dialect.<attribute>}``;
    fragments with arguments are methods, called by the Python that fills the slots.
    """

    name: str
    materialized_cte: str
    """How a CTE that must be computed once is introduced: ``AS MATERIALIZED`` or plain ``AS``."""
    text_type: str
    """The variable-length string type (``VARCHAR``, ``STRING``)."""
    hash_type: str
    """The type of the values of :meth:`hash_combine`."""

    def placeholder(self, name: str) -> str:
        """The bind-parameter marker for parameter ``name`` (``$name``, ``:name``)."""

    def seconds(self, seconds: str) -> str:
        """An interval of ``seconds`` (a numeric SQL expression), to add to a timestamp."""

    def epoch_seconds(self, timestamp: str) -> str:
        """Seconds since 1970-01-01 of a timestamp, as a number."""

    def utc_date(self, timestamp: str) -> str:
        """The calendar date of a (naive UTC) timestamp."""

    def exact_sum(self, column: str) -> str:
        """A sum of floating-point values that does not depend on the order of the rows
        (exact: a compensated sum alone still depends on it), so that means are reproducible and
        exact for large values."""

    def quantile(self, column: str, probability: str) -> str:
        """The interpolated (type 7) quantile of ``column`` at ``probability``, an aggregate."""

    def arg_min(self, value: str, order: str) -> str:
        """``value`` at the row with the smallest ``order``, among rows whose value is not null."""

    def arg_min_keep_null(self, value: str, order: str) -> str:
        """``value`` at the row with the smallest ``order``, even when that value is null."""

    def integer_range(self, count: str, alias: str, column: str) -> str:
        """A FROM item with one row per integer 0 .. count - 1, named ``alias(column)``."""

    def unnest_range(self, count: str) -> str:
        """A select-list expression turning each row into ``count`` rows numbered 0 .. count - 1."""

    def hash_combine(self, first: str, second: str) -> str:
        """A 64-bit hash of ``first`` XOR ``second`` (counter-based randomness: the same inputs give
        the same hash, whatever the threads and the order of the rows). ``second`` is a stream: a
        random 63-bit constant, or a hash, independent of the keys; two small keys would collide."""

    def uniform_from_hash(self, hashed: str) -> str:
        """A uniform number on [0, 1) from a 64-bit hash value."""

    def hash_uniform(self, key: str, stream: str) -> str:
        """A uniform number on [0, 1) from the integer expressions ``key`` and ``stream``."""

    def unit_uniform(self, unit: str, draw: str, seed: str) -> str:
        """A uniform number on [0, 1) from a hash of a unit id (string or integer), an integer
        draw number and an integer seed (any sign): the same unit, draw and seed give the same number."""

    def timestamp_from_microseconds(self, microseconds: str) -> str:
        """A timestamp from microseconds since 1970-01-01."""

    def type_class(self, column_type: str) -> TypeClass:
        """What a column of the engine's type ``column_type`` can serve as."""

    def to_timestamp(self, column: str, type_class: TypeClass) -> str:
        """SQL turning a column of any accepted type class into a naive UTC timestamp (strings
        that cannot be parsed become null): the same instant whatever the session's time zone and
        the file format the value came from. ISO-8601 strings keep their offset (converted to
        UTC); a string without one, a date alone, a date type or a naive timestamp is UTC."""

    def is_not_finite(self, column: str) -> str:
        """A condition true where the numeric ``column`` holds NaN or an infinity (false where null)."""

    def try_cast(self, expression: str, column_type: str) -> str:
        """``expression`` converted to the engine's type ``column_type``, null where it does not convert."""


class Engine(Protocol):
    """A SQL engine that runs iterate's queries where the logs live."""

    dialect: Dialect

    def execute(self, query: Query) -> Rows:
        """Run a query and return its rows (column names lower-cased)."""

    def create_view(self, name: str, query: Query) -> str:
        """Register ``query`` as the (temporary) view ``name``; returns its quoted name."""

    def create_table(self, name: str, query: Query) -> str:
        """Compute ``query`` once into the (temporary) table ``name``; returns its quoted name."""

    def describe(self, relation: str) -> dict[str, str]:
        """Column name to the engine's type name of a relation (quoted name)."""

    def register_files(self, name: str, files: Sequence[str], file_format: FileFormat, *,
                       text_columns: Sequence[str] = ()) -> str:
        """Register files of one format as the view ``name`` (columns united by name); quoted name.

        ``text_columns`` of a CSV or NDJSON file are read as text, not typed by the engine's
        reader (whose guesses vary with its version and the rows it samples, and fail the query
        reading a later value that does not fit): iterate converts them itself (timestamps with
        :meth:`Dialect.to_timestamp`). Parquet columns keep the types the file declares.
        """

    def register_frame(self, name: str, frame: Any) -> str:
        """Register an in-memory Arrow table or pandas frame as the view ``name``, without copying it."""

    def register_table(self, name: str, database: str, table: str) -> str:
        """Register table ``table`` of the database file ``database`` (opened read-only) as the view ``name``."""

    def footer_null_counts(self, files: Sequence[str]) -> Mapping[str, int | None] | None:
        """Null counts per column of Parquet files from their footers (no scan): ``None`` for a
        column some file has no statistics for, and instead of the mapping when the engine
        cannot read footers."""

    def footer_row_count(self, files: Sequence[str]) -> int | None:
        """Rows of Parquet files from their footers (no scan), ``None`` when the engine cannot read them."""

    def write_file(self, query: Query, path: Path, file_format: FileFormat) -> int:
        """Write the result of ``query`` to ``path``; returns the number of rows written."""

    def close(self) -> None:
        """Release the engine's resources."""
