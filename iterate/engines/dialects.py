"""SQL dialects: the spellings that differ between engines, one entry per engine.

Only the fragments listed by :class:`iterate.engines.base.Dialect` differ; the rest of iterate's
SQL is standard. A new engine adds its dialect here and to :data:`DIALECTS`.
"""

from __future__ import annotations

from collections.abc import Mapping

from iterate.engines.base import Dialect, TypeClass

_DUCKDB_INTEGERS = frozenset({
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
    "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
})
_DUCKDB_FLOATS = frozenset({"FLOAT", "DOUBLE", "REAL"})
_DUCKDB_TEXTS = frozenset({"VARCHAR", "UUID"})
_TWO_POW_MINUS_53 = 2.0**-53
_TWO_POW_64 = 2**64


class DuckDBDialect:
    """DuckDB's spellings (DuckDB >= 2.0.1).

    Times become naive UTC timestamps by arithmetic on their instant (:meth:`to_timestamp`:
    ``make_timestamp(epoch_us(...))``), never by ``CAST(... AS TIMESTAMP)`` from a
    ``TIMESTAMP WITH TIME ZONE``: that cast depends on the session's ``TimeZone``, and DuckDB 2.0.0
    and 2.0.1 push it into a CSV scan whose column is read only through it, where the reader then
    parses the text as a naive timestamp and drops its UTC offset.

    Example:
        >>> DUCKDB.seconds("$p0"), DUCKDB.type_class("TIMESTAMP WITH TIME ZONE")
        ('to_seconds($p0)', 'time')
    """

    name = "duckdb"
    materialized_cte = "AS MATERIALIZED"
    text_type = "VARCHAR"
    hash_type = "UBIGINT"

    def placeholder(self, name: str) -> str:
        return f"${name}"

    def seconds(self, seconds: str) -> str:
        return f"to_seconds({seconds})"

    def epoch_seconds(self, timestamp: str) -> str:
        return f"epoch({timestamp})"

    def utc_date(self, timestamp: str) -> str:
        return f"CAST({timestamp} AS DATE)"

    def exact_sum(self, column: str) -> str:
        # exact, correctly rounded from DuckDB 2.0.1; before it Kahan-Babuska compensated, whose last
        # digits depend on the order in which the threads add rows (hence the floor in pyproject.toml)
        return f"fsum({column})"

    def quantile(self, column: str, probability: str) -> str:
        return f"quantile_cont({column}, {probability})"

    def arg_min(self, value: str, order: str) -> str:
        return f"arg_min({value}, {order})"

    def arg_min_keep_null(self, value: str, order: str) -> str:
        return f"arg_min_null({value}, {order})"

    def integer_range(self, count: str, alias: str, column: str) -> str:
        return f"range({count}) AS {alias}({column})"

    def unnest_range(self, count: str) -> str:
        return f"unnest(range({count}))"

    def hash_combine(self, first: str, second: str) -> str:
        # one hash of both: hash(a, b) in DuckDB combines its inputs' hashes by XOR, which would
        # tie streams together
        return f"hash(xor({first}, {second}))"

    def uniform_from_hash(self, hashed: str) -> str:
        return f"(CAST({hashed} >> 11 AS DOUBLE) * {_TWO_POW_MINUS_53!r})"  # the top 53 bits

    def hash_uniform(self, key: str, stream: str) -> str:
        return self.uniform_from_hash(self.hash_combine(f"CAST(({key}) AS BIGINT)", f"CAST({stream} AS BIGINT)"))

    def unit_uniform(self, unit: str, draw: str, seed: str) -> str:
        # the draw is spread over 64 bits (Fibonacci hashing), then the seed is added modulo 2^64
        # (any integer seed, negative ones included)
        spread = f"{draw} * 11400714819323198485 % {_TWO_POW_64}"
        mixed = f"CAST((({spread} + {seed}) % {_TWO_POW_64} + {_TWO_POW_64}) % {_TWO_POW_64} AS {self.hash_type})"
        return self.uniform_from_hash(self.hash_combine(f"hash({unit})", mixed))

    def timestamp_from_microseconds(self, microseconds: str) -> str:
        return f"make_timestamp({microseconds})"

    def type_class(self, column_type: str) -> TypeClass:
        upper = column_type.upper()
        if upper == "TIMESTAMP":
            return "timestamp"
        if upper.startswith("TIMESTAMP") or upper == "DATE":
            return "time"
        if upper in _DUCKDB_INTEGERS:
            return "integer"
        if upper in _DUCKDB_FLOATS:
            return "number"
        if upper.startswith("DECIMAL"):
            return "decimal"
        if upper == "BOOLEAN":
            return "boolean"
        if upper in _DUCKDB_TEXTS:
            return "text"
        return "other"

    def to_timestamp(self, column: str, type_class: TypeClass) -> str:
        # every branch goes through the instant in microseconds since 1970-01-01 UTC, which no
        # session setting changes: a TIMESTAMPTZ's instant is absolute, a DATE or a naive
        # TIMESTAMP_S / _MS / _NS is read as UTC, an ISO-8601 string with an offset ('+05:45',
        # '-03:30', 'Z') is parsed to its instant, and one without an offset (or a date alone)
        # is UTC because the engine's session time zone is UTC (DuckDBEngine sets it)
        if type_class == "timestamp":
            return column
        if type_class == "time":
            return f"make_timestamp(epoch_us({column}))"
        if type_class in ("integer", "number", "decimal"):
            return f"make_timestamp(epoch_us(to_timestamp(CAST({column} AS DOUBLE))))"
        return f"make_timestamp(epoch_us(try_cast({column} AS TIMESTAMPTZ)))"

    def is_not_finite(self, column: str) -> str:
        return f"NOT isfinite(CAST({column} AS DOUBLE))"

    def try_cast(self, expression: str, column_type: str) -> str:
        return f"TRY_CAST({expression} AS {column_type})"


DUCKDB: Dialect = DuckDBDialect()

DIALECTS: Mapping[str, Dialect] = {"duckdb": DUCKDB}
"""Every dialect by engine name."""
