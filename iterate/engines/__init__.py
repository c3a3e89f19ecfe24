"""Engines: where the SQL runs. DuckDB (embedded) is the default; each engine is one module
implementing :class:`iterate.engines.base.Engine`, with its dialect in :mod:`iterate.engines.dialects`.

Nothing outside this package imports an engine's library: the rest of iterate holds an
:class:`Engine` and speaks to it through rendered queries.

Example:
    >>> from iterate.engines import open_engine
    >>> from iterate.templates import Query
    >>> with open_engine() as engine:
    ...     engine.execute(Query("example", "SELECT 1 AS one")).first()
    (1,)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module

from iterate.engines.base import Dialect, Engine, FileFormat, Rows, TypeClass
from iterate.errors import ConfigError

__all__ = ["ENGINES", "Dialect", "Engine", "FileFormat", "Rows", "TypeClass", "create_engine", "open_engine"]

ENGINES: dict[str, str] = {"duckdb": "iterate.engines.duckdb:DuckDBEngine"}
"""Engine kinds by name: the class implementing each, imported on first use."""


def create_engine(kind: str = "duckdb", **options: object) -> Engine:
    """A new engine of ``kind``; the caller closes it.

    Raises:
        ConfigError: ``kind`` is not a known engine.
    """
    if kind not in ENGINES:
        raise ConfigError(f"engine == {kind!r}, must be one of {', '.join(ENGINES)}")
    module, _, name = ENGINES[kind].partition(":")
    return getattr(import_module(module), name)(**options)


@contextmanager
def open_engine(engine: Engine | None = None, kind: str = "duckdb") -> Iterator[Engine]:
    """``engine`` as it is (its owner closes it), or a new engine of ``kind``, closed on exit."""
    if engine is not None:
        yield engine
        return
    created = create_engine(kind)
    try:
        yield created
    finally:
        created.close()
