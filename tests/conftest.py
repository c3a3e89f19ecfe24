"""Shared helpers to build a small experiment on disk: logs (Parquet / CSV / NDJSON) and a TOML config.

The helpers are plain functions (imported by the tests as ``from conftest import ...``) and are
also exposed as fixtures (``write_logs``, ``write_config``) for tests that prefer injection.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping

import polars as pl
import pytest

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


@pytest.fixture(name="write_logs")
def write_logs_fixture():
    """The :func:`write_logs` helper, as a fixture."""
    return write_logs


@pytest.fixture(name="write_config")
def write_config_fixture():
    """The :func:`write_config` helper, as a fixture."""
    return write_config
