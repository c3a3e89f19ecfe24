"""Exceptions of iterate: one root, one subclass per layer.

Every error a user can cause is an :class:`IterateError`; the CLI turns it into a clear message
and exit code 2, never a traceback. An engine's own exceptions never leave ``iterate/engines/``:
each engine maps them, in one place (its ``errors()`` context manager), to the most specific
class below, raised ``from`` the original.

::

    IterateError                 root: a problem the user can fix (exit code 2)
    ├── ConfigError              the experiment configuration (TOML or Python objects) is invalid
    ├── DataError                an input log is unreadable or breaks the data contract
    ├── StatsError               summary statistics handed to iterate.stats are invalid
    ├── OutputError              an output path cannot be written, or writing it would destroy something
    └── HistoryError             a history file is not one, is busy beyond the wait, or lacks a record

Each carries an optional list of ``problems``, so that validation reports every failure at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class IterateError(Exception):
    """Root of every error that iterate raises on purpose."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = list(problems or [])
        super().__init__(message)

    def __str__(self) -> str:
        head = super().__str__()
        if not self.problems:
            return head
        return head + "\n" + "\n".join(f"  - {problem}" for problem in self.problems)


class ConfigError(IterateError):
    """The experiment configuration (TOML file or Python objects) is invalid.

    ``logs`` holds the logs an invalid configuration names (``events`` / ``exposures`` of its
    [data] table, when they could be read), so that a caller can report what is wrong with them
    together with the configuration's problems.
    """

    def __init__(self, message: str, problems: list[str] | None = None, *,
                 logs: Mapping[str, Any] | None = None) -> None:
        super().__init__(message, problems)
        self.logs = dict(logs or {})


class DataError(IterateError):
    """An input log is unreadable or breaks the data contract (columns, types, variants)."""


class StatsError(IterateError):
    """Summary statistics handed to iterate.stats are invalid (negative counts, bad alpha...)."""


class OutputError(IterateError):
    """An output path cannot be written (missing or read-only folder, read-only file, a folder), or
    writing it would destroy something (an input of the analysis, files of an earlier run)."""


class HistoryError(IterateError):
    """A history file (``--record``, ``iterate history``, ``--replay``) is not an iterate history,
    stays locked by another process beyond the wait, or has no such record."""
