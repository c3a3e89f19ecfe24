"""Helpers shared by the tests, imported as ``from helpers import ...`` (``tests`` is on the path).

- small experiments on disk: logs (Parquet / CSV / NDJSON) and a TOML config;
- the real A/B-test datasets of ``../shared/datasets`` (skip a module cleanly when absent);
- statistics written by hand as references (the Fieller interval with ``numpy.roots``);
- engines for tests: :class:`RecordingEngine` (DuckDB, recording every query it runs) and
  :class:`FakeEngine` (no SQL at all: fixed rows per template, like httpx's ``MockTransport``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping

import polars as pl
import pytest

from iterate.engines.base import FileFormat, Rows
from iterate.engines.dialects import DUCKDB
from iterate.engines.duckdb import DuckDBEngine
from iterate.templates import Query, quote_identifier

BASE = datetime(2026, 1, 5, 10, 0, 0)
"""Reference time of the test logs (naive, meaning UTC)."""

DEFAULT_METRICS: tuple[dict[str, Any], ...] = (
    {"name": "conversion", "type": "proportion", "event": "purchase"},
)

_FORMAT_SUFFIX = {"parquet": ".parquet", "csv": ".csv", "ndjson": ".ndjson"}


def at(days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0) -> datetime:
    """``BASE`` plus an offset."""
    return BASE + timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def frame(rows: pl.DataFrame | Iterable[Mapping[str, Any]], schema: Mapping[str, Any] | None = None) -> pl.DataFrame:
    """A polars frame from explicit rows (list of dicts) or an existing frame."""
    if isinstance(rows, pl.DataFrame):
        return rows
    return pl.DataFrame(list(rows), schema=schema)


def write_frame(df: pl.DataFrame, path: Path, fmt: str = "parquet") -> Path:
    """Write ``df`` to ``path`` in ``fmt`` (parquet, csv or ndjson)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        df.write_parquet(path)
    elif fmt == "csv":
        df.write_csv(path)
    elif fmt == "ndjson":
        df.write_ndjson(path)
    else:  # pragma: no cover - test helper misuse
        raise ValueError(f"unknown format {fmt}")
    return path


def write_logs(tmp_path: Path, events_rows, exposures_rows, fmt: str = "parquet") -> tuple[Path, Path]:
    """Write ``events.<fmt>`` and ``exposures.<fmt>`` into ``tmp_path``; returns both paths.

    ``events_rows`` / ``exposures_rows`` are polars frames or lists of dicts (one dict per row).
    """
    suffix = _FORMAT_SUFFIX[fmt]
    events = write_frame(frame(events_rows), tmp_path / f"events{suffix}", fmt)
    exposures = write_frame(frame(exposures_rows), tmp_path / f"exposures{suffix}", fmt)
    return events, exposures


def toml_value(value: Any) -> str:
    """A TOML literal for str / bool / int / float / list / dict (dicts become inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


_UNSET = object()


def config_text(
    *,
    name: str = "exp",
    control: str = "control",
    window: str | None = "7d",
    expected_split: Mapping[str, float] | None | object = _UNSET,
    alpha: float | None = None,
    events: Any = "events.parquet",
    exposures: Any = "exposures.parquet",
    metrics: Iterable[Mapping[str, Any]] = DEFAULT_METRICS,
    columns: Mapping[str, Mapping[str, str]] | None = None,
    experiment_extra: Mapping[str, Any] | None = None,
    extra: str = "",
) -> str:
    """TOML text of an experiment config; ``None`` drops an optional key (window, split, data paths)."""
    if expected_split is _UNSET:
        expected_split = {control: 0.5, "treatment": 0.5}
    lines = ["[experiment]", f"name = {toml_value(name)}", f"control = {toml_value(control)}"]
    if alpha is not None:
        lines.append(f"alpha = {toml_value(alpha)}")
    if window is not None:
        lines.append(f"window = {toml_value(window)}")
    if expected_split is not None:
        lines.append(f"expected_split = {toml_value(expected_split)}")
    for key, value in (experiment_extra or {}).items():
        lines.append(f"{_key(key)} = {toml_value(value)}")
    data = {key: value for key, value in (("events", events), ("exposures", exposures)) if value is not None}
    if data:
        lines += ["", "[data]", *(f"{key} = {toml_value(value)}" for key, value in data.items())]
    for label, mapping in (columns or {}).items():
        lines += ["", f"[columns.{label}]", *(f"{_key(k)} = {toml_value(v)}" for k, v in mapping.items())]
    for metric in metrics:
        lines += ["", "[[metrics]]", *(f"{_key(k)} = {toml_value(v)}" for k, v in metric.items())]
    if extra:
        lines += ["", extra]
    return "\n".join(lines) + "\n"


def write_config(tmp_path: Path, filename: str = "experiment.toml", **overrides: Any) -> Path:
    """Write a valid experiment TOML into ``tmp_path`` (data paths relative to it); returns its path.

    Keyword overrides are those of :func:`config_text` (name, control, window, expected_split, alpha,
    events, exposures, metrics, columns, experiment_extra, extra).
    """
    path = tmp_path / filename
    path.write_text(config_text(**overrides), encoding="utf-8")
    return path


def file_hashes(*paths: Path) -> dict[str, str]:
    """SHA-256 of every file under the given files / folders, to check inputs are not modified."""
    hashes = {}
    for path in paths:
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            hashes[str(file)] = hashlib.sha256(file.read_bytes()).hexdigest()
    return hashes


# ------------------------------------------------------------------- statistics by hand


def fieller_by_hand(control: float, control_variance: float, treatment: float, treatment_variance: float,
                    q: float) -> tuple[float, float] | None:
    """Two-sided Fieller interval of ``treatment / control - 1``, solved with ``numpy.roots``.

    The confidence set of ``rho = mu_t / mu_c`` is ``(m_t - rho m_c)**2 <= q**2 (v_t + rho**2 v_c)``
    (Fieller 1954), i.e. ``A rho**2 - 2 m_t m_c rho + (m_t**2 - q**2 v_t) <= 0`` with
    ``A = m_c**2 - q**2 v_c``: the interval between the roots when ``A > 0``, unbounded (None)
    otherwise. Written independently of ``iterate.stats`` (the rho form, not its d = rho - 1 form).
    """
    import numpy as np

    leading = control**2 - q**2 * control_variance
    if leading <= 0:
        return None
    roots = np.roots([leading, -2 * treatment * control, treatment**2 - q**2 * treatment_variance])
    assert np.all(np.isreal(roots)), roots
    low, high = sorted(float(np.real(root)) - 1 for root in roots)
    return low, high


# ------------------------------------------------------------------------------- datasets


def datasets_folder() -> Path:
    """The datasets folder (which may not exist)."""
    configured = os.environ.get("ITERATE_DATASETS")
    if configured:
        return Path(configured).expanduser().resolve()
    return Path(__file__).resolve().parents[2] / "shared" / "datasets"


def dataset_file(*parts: str) -> Path:
    """Path of a file (or folder) of the datasets; skips the calling module when it is absent."""
    path = datasets_folder().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real dataset {path} is absent (set ITERATE_DATASETS to the datasets folder)",
                    allow_module_level=True)
    return path


# -------------------------------------------------------------------------------- engines


class RecordingEngine(DuckDBEngine):
    """The DuckDB engine, recording every query it is given (``queries``, in order)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.queries: list[Query] = []

    @property
    def templates(self) -> list[str]:
        """Names of the templates run, in order (each followed by those embedded in it)."""
        return [name for query in self.queries for name in (query.template, *query.includes)]

    def execute(self, query: Query) -> Rows:
        self.queries.append(query)
        return super().execute(query)

    def create_view(self, name: str, query: Query) -> str:
        self.queries.append(query)
        return super().create_view(name, query)

    def create_table(self, name: str, query: Query) -> str:
        self.queries.append(query)
        return super().create_table(name, query)

    def write_file(self, query: Query, path: Path, file_format: FileFormat) -> int:
        self.queries.append(query)
        return super().write_file(query, path, file_format)


Answer = Rows | Callable[[Query], Rows]


class FakeEngine:
    """An engine that runs no SQL: each template gets the fixed rows given for it.

    ``answers`` maps a template name to :class:`Rows` (or a function of the query returning them);
    a query of any other template fails the test, naming it. Logs are "registered" without being
    read: ``schemas`` gives the columns (name -> DuckDB type) that ``describe`` reports for the
    raw logs (``iterate_raw_events``, ``iterate_raw_exposures``).
    """

    dialect = DUCKDB

    def __init__(self, answers: Mapping[str, Answer], schemas: Mapping[str, Mapping[str, str]]) -> None:
        self.answers = dict(answers)
        self.schemas = {name: dict(columns) for name, columns in schemas.items()}
        self.queries: list[Query] = []

    def execute(self, query: Query) -> Rows:
        self.queries.append(query)
        if query.template not in self.answers:
            raise AssertionError(f"FakeEngine has no answer for template {query.template!r}")
        answer = self.answers[query.template]
        return answer(query) if callable(answer) else answer

    def create_view(self, name: str, query: Query) -> str:
        self.queries.append(query)
        return quote_identifier(name)

    def create_table(self, name: str, query: Query) -> str:
        self.queries.append(query)
        return quote_identifier(name)

    def describe(self, relation: str) -> dict[str, str]:
        return self.schemas[relation.strip('"')]

    def register_files(self, name: str, files: Sequence[str], file_format: FileFormat, *,
                       text_columns: Sequence[str] = ()) -> str:
        return quote_identifier(name)

    def register_frame(self, name: str, frame: Any) -> str:
        return quote_identifier(name)

    def register_table(self, name: str, database: str, table: str) -> str:
        return quote_identifier(name)

    def footer_null_counts(self, files: Sequence[str]) -> Mapping[str, int | None] | None:
        return None

    def footer_row_count(self, files: Sequence[str]) -> int | None:
        return None

    def write_file(self, query: Query, path: Path, file_format: FileFormat) -> int:
        raise AssertionError("FakeEngine writes no file")

    def close(self) -> None:
        pass


def rows(*records: Mapping[str, Any]) -> Rows:
    """:class:`Rows` from dicts sharing their keys (the first record's order)."""
    columns = tuple(records[0]) if records else ()
    return Rows(columns, [tuple(record.get(column) for column in columns) for record in records])


def without_run_time(report: str) -> str:
    """A report's text with the one field that holds the run's time (``provenance.generated_at``) masked."""
    import re

    return re.sub(r'"generated_at": "[^"]*"', '"generated_at": "<run time>"', report)
