"""The iteration history: one DuckDB file holding a record of every analysis recorded into it.

A record holds the experiment, its verdict and the variant recommended, the config hash, the data
fingerprint, the iterate version, every metric estimate (table ``metric_estimates``) and check
(table ``checks``), the reasons, the run time and the effective configuration (JSON, enough to
replay the analysis: :mod:`iterate.history.replay`).

Writes are safe between processes (two CI jobs recording at once): DuckDB lets one process open a
file for writing, so every access first takes a ``fcntl.flock`` on the sibling file
``<history>.lock`` (exclusive to write, shared to read), waiting at most ``timeout`` seconds,
then writes in one transaction. The schema carries its version (table ``iterate_history_schema``).

Example:
    >>> store = HistoryStore("history.duckdb")  # doctest: +SKIP
    >>> record_id = store.record(result, experiment, run_seconds=1.2)  # doctest: +SKIP
    >>> [release.verdict for release in store.releases()]  # doctest: +SKIP
    ['ship']
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iterate.errors import DataError, HistoryError

if TYPE_CHECKING:
    from iterate.config import Experiment
    from iterate.result import AnalysisResult, MetricResult

SCHEMA_VERSION = 1
DEFAULT_TIMEOUT = 60.0
"""Seconds to wait for another process's lock on the history before giving up."""

_SCHEMA = (
    "CREATE TABLE iterate_history_schema (version INTEGER NOT NULL, created_at TIMESTAMP NOT NULL)",
    """CREATE TABLE analyses (
        id INTEGER PRIMARY KEY, recorded_at TIMESTAMP NOT NULL, experiment VARCHAR NOT NULL,
        verdict VARCHAR NOT NULL, exit_code INTEGER NOT NULL, recommended_variant VARCHAR,
        variant_verdicts VARCHAR NOT NULL, config_hash VARCHAR, iterate_version VARCHAR NOT NULL,
        generated_at VARCHAR, fingerprint VARCHAR, config VARCHAR NOT NULL, reasons VARCHAR NOT NULL,
        run_seconds DOUBLE, fdr_alpha DOUBLE, fdr_wealth DOUBLE)""",
    """CREATE TABLE metric_estimates (
        analysis_id INTEGER NOT NULL, name VARCHAR NOT NULL, variant VARCHAR NOT NULL, role VARCHAR,
        direction VARCHAR, type VARCHAR, method VARCHAR, status VARCHAR, n_control BIGINT, n_treatment BIGINT,
        control_mean DOUBLE, treatment_mean DOUBLE, effect DOUBLE, ci_low DOUBLE, ci_high DOUBLE,
        relative_effect DOUBLE, relative_ci_low DOUBLE, relative_ci_high DOUBLE, p_value DOUBLE,
        p_value_adjusted DOUBLE, alpha DOUBLE, outcome VARCHAR, noninferiority_margin DOUBLE,
        noninferior BOOLEAN)""",
    """CREATE TABLE checks (
        analysis_id INTEGER NOT NULL, name VARCHAR NOT NULL, passed BOOLEAN NOT NULL, severity VARCHAR,
        message VARCHAR, details VARCHAR)""",
)
_ESTIMATE_COLUMNS = ("name", "variant", "role", "direction", "type", "method", "status", "n_control", "n_treatment",
                     "control_mean", "treatment_mean", "effect", "ci_low", "ci_high", "relative_effect",
                     "relative_ci_low", "relative_ci_high", "p_value", "p_value_adjusted", "alpha", "outcome",
                     "noninferiority_margin", "noninferior")
_RELEASE_COLUMNS = ("id", "recorded_at", "experiment", "verdict", "recommended_variant", "config_hash",
                    "iterate_version", "fdr_alpha", "fdr_wealth", "run_seconds")


@dataclass(frozen=True, slots=True)
class Release:
    """One recorded analysis, as the history lists it."""

    id: int
    recorded_at: datetime
    experiment: str
    verdict: str
    recommended_variant: str | None
    config_hash: str | None
    iterate_version: str
    fdr_alpha: float | None
    fdr_wealth: float | None
    run_seconds: float | None


@dataclass(frozen=True, slots=True)
class Estimate:
    """A metric's estimate in one recorded analysis, for one variant."""

    analysis_id: int
    experiment: str
    verdict: str
    recommended_variant: str | None
    variant: str
    direction: str
    relative_effect: float | None
    relative_ci_low: float | None
    relative_ci_high: float | None
    status: str


@dataclass(frozen=True, slots=True)
class StoredAnalysis:
    """What replaying a record needs: its configuration, fingerprint and verdict."""

    id: int
    experiment: str
    verdict: str
    config: dict[str, Any]
    fingerprint: dict[str, Any] | None
    config_hash: str | None


class HistoryStore:
    """The history file at ``path`` (created at the first record).

    Args:
        path: The DuckDB file of the history.
        timeout: Seconds to wait for another process holding it.
    """

    def __init__(self, path: str | os.PathLike, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.path = Path(path)
        self.timeout = timeout

    def record(self, result: AnalysisResult, experiment: Experiment, *, run_seconds: float | None = None,
               fdr_alpha: float | None = None, fdr_wealth: float | None = None) -> int:
        """Append one analysis (or rollout: its verdict is advance / hold / rollback / invalid, and it
        ships no variant); returns its record id (1, 2, ... in the order of recording).

        Raises:
            HistoryError: the file is not an iterate history, or stays locked beyond the timeout.
        """
        from iterate.config.document import experiment_document
        from iterate.report.json import json_ready

        document = json_ready(result.as_document())
        provenance = document.get("provenance") or {}
        with self._connection(write=True) as connection:
            connection.execute("BEGIN TRANSACTION")
            try:
                (record_id,) = connection.execute("SELECT coalesce(max(id), 0) + 1 FROM analyses").fetchone()
                connection.execute(
                    "INSERT INTO analyses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [record_id, _utc_now(), result.experiment, result.verdict, result.exit_code,
                     recommended_variant(result), _json(document.get("variants", {})), provenance.get("config_hash"),
                     _version(), provenance.get("generated_at"), _json(provenance.get("data")),
                     _json(experiment_document(experiment)), _json(document["reasons"]), run_seconds,
                     fdr_alpha, fdr_wealth],
                )
                rows = [[record_id, *(metric[column] for column in _ESTIMATE_COLUMNS)] for metric in document["metrics"]]
                if rows:
                    marks = ", ".join("?" * (len(_ESTIMATE_COLUMNS) + 1))
                    connection.executemany(f"INSERT INTO metric_estimates VALUES ({marks})", rows)
                checks = [[record_id, c["name"], c["passed"], c["severity"], c["message"], _json(c["details"])]
                          for c in document["checks"]]
                if checks:
                    connection.executemany("INSERT INTO checks VALUES (?, ?, ?, ?, ?, ?)", checks)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return int(record_id)

    def releases(self) -> list[Release]:
        """Every recorded analysis, in the order of recording (an absent file has none)."""
        if not self.path.exists():
            return []
        with self._connection(write=False) as connection:
            rows = connection.execute(f"SELECT {', '.join(_RELEASE_COLUMNS)} FROM analyses ORDER BY id").fetchall()
        return [Release(*row) for row in rows]

    def estimates(self, metric: str) -> list[Estimate]:
        """Every recorded estimate of ``metric``, in the order of recording (then by variant)."""
        if not self.path.exists():
            return []
        with self._connection(write=False) as connection:
            rows = connection.execute(
                "SELECT a.id, a.experiment, a.verdict, a.recommended_variant, m.variant, m.direction, "
                "m.relative_effect, m.relative_ci_low, m.relative_ci_high, m.status "
                "FROM metric_estimates m JOIN analyses a ON a.id = m.analysis_id "
                "WHERE m.name = ? ORDER BY a.id, m.variant", [metric]).fetchall()
        return [Estimate(*row) for row in rows]

    def metric_names(self) -> list[str]:
        """The names of the metrics recorded, sorted."""
        if not self.path.exists():
            return []
        with self._connection(write=False) as connection:
            return [row[0] for row in connection.execute(
                "SELECT DISTINCT name FROM metric_estimates ORDER BY name").fetchall()]

    def stored(self, record_id: int) -> StoredAnalysis:
        """The configuration, fingerprint and verdict of one record.

        Raises:
            HistoryError: no such file or record.
        """
        self._require_file()
        with self._connection(write=False) as connection:
            row = connection.execute("SELECT id, experiment, verdict, config, fingerprint, config_hash "
                                     "FROM analyses WHERE id = ?", [record_id]).fetchone()
            if row is None:
                (count,) = connection.execute("SELECT count(*) FROM analyses").fetchone()
        if row is None:
            raise HistoryError(f"{self.path} has no record #{record_id} (it holds records 1 to {count}); "
                               "list them with `iterate history PATH`")
        record_id, experiment, verdict, config, fingerprint, config_hash = row
        return StoredAnalysis(record_id, experiment, verdict, json.loads(config),
                              None if fingerprint is None else json.loads(fingerprint), config_hash)

    def _require_file(self) -> None:
        if not self.path.exists():
            raise HistoryError(f"history file {self.path} does not exist; record analyses into it with "
                               "`iterate analyze CONFIG --record PATH`")

    @contextmanager
    def _connection(self, *, write: bool) -> Iterator[Any]:
        """A connection to the file under its lock (exclusive to write, shared to read); the
        schema created by the first writer, and checked on every open."""
        from iterate.engines.duckdb import connect_database

        if self.path.is_dir():
            raise HistoryError(f"history path {self.path} is a folder; give the path of a DuckDB file, "
                               "such as history.duckdb")
        with _locked(self.path, exclusive=write, timeout=self.timeout):
            fresh = not self.path.exists() or self.path.stat().st_size == 0 and write
            if fresh and self.path.exists():
                self.path.unlink()  # an empty file (a lock or touch left it) becomes a new history
            if not fresh:
                _check_magic(self.path)
            try:
                connection = connect_database(str(self.path), read_only=not write)
            except DataError as error:
                raise HistoryError(f"{self.path} is not an iterate history file (DuckDB cannot open it: "
                                   f"{error}); give a new path or the file `--record` wrote") from None
            try:
                if fresh:
                    _create_schema(connection)
                else:
                    _check_schema(connection, self.path)
                yield connection
            finally:
                connection.close()


def recommended_variant(result: AnalysisResult) -> str | None:
    """The variant a ``ship`` verdict ships (see :func:`shipped_variant`); ``None`` for another verdict."""
    if result.verdict != "ship":
        return None
    return shipped_variant(result.variant_verdicts, result.metric_results)


def shipped_variant(variant_verdicts: Mapping[str, str], rows: Sequence[MetricResult]) -> str | None:
    """The variant that ships: the one treatment with verdict ``ship``, or of several, the one whose
    first success metric has the largest relative effect in its good direction (ties: first by name)."""
    shipped = sorted(variant for variant, verdict in variant_verdicts.items() if verdict == "ship")
    if len(shipped) <= 1:
        return shipped[0] if shipped else None
    success = [row for row in rows if row.role == "success" and row.variant in shipped]
    first = success[0].name if success else None

    def gain(variant: str) -> float:
        row = next((r for r in success if r.name == first and r.variant == variant), None)
        if row is None or row.relative_effect is None:
            return float("-inf")
        return row.relative_effect if row.direction == "increase" else -row.relative_effect

    best = max(gain(variant) for variant in shipped)
    return next(variant for variant in shipped if gain(variant) == best)


def _create_schema(connection: Any) -> None:
    connection.execute("BEGIN TRANSACTION")
    for statement in _SCHEMA:
        connection.execute(statement)
    connection.execute("INSERT INTO iterate_history_schema VALUES (?, ?)", [SCHEMA_VERSION, _utc_now()])
    connection.execute("COMMIT")


_MAGIC = b"DUCK"
_MAGIC_OFFSET = 8
"""A DuckDB database file holds ``DUCK`` at byte 8 (after the block checksum)."""


def _check_magic(path: Path) -> None:
    """Refuse a file that is not a DuckDB database before DuckDB opens it (it may open other
    formats, such as a Parquet file, as a database)."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(_MAGIC_OFFSET + len(_MAGIC))
    except OSError as error:
        raise HistoryError(f"cannot read history file {path}: {error.strerror}") from None
    if head[_MAGIC_OFFSET:] != _MAGIC:
        raise HistoryError(f"{path} is not an iterate history file (not a DuckDB database); give a new path "
                           "or the file `--record` wrote")


def _check_schema(connection: Any, path: Path) -> None:
    tables = {row[0] for row in connection.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
    if "iterate_history_schema" not in tables:
        raise HistoryError(f"{path} is a DuckDB database but not an iterate history (no table "
                           "iterate_history_schema); give a new path or the file `--record` wrote")
    (version,) = connection.execute("SELECT max(version) FROM iterate_history_schema").fetchone()
    if version is None or version > SCHEMA_VERSION:
        raise HistoryError(f"{path} is a history of schema version {version}, newer than this iterate reads "
                           f"({SCHEMA_VERSION}); upgrade iterate")


@contextmanager
def _locked(path: Path, *, exclusive: bool, timeout: float) -> Iterator[None]:
    """Hold ``fcntl.flock`` on ``<path>.lock``, polling every 50 ms for at most ``timeout`` seconds."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        handle = open(lock_path, "a+b")
    except OSError as error:
        raise HistoryError(f"cannot open the lock file {lock_path} of the history: {error.strerror}; "
                           "check that its folder exists and is writable") from None
    mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(handle, mode)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise HistoryError(f"history file {path} is still locked by another process after "
                                       f"{timeout:g} s (lock file {lock_path}); retry when that job is done") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, allow_nan=False)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _version() -> str:
    from iterate import __version__

    return __version__


def releases_by_experiment(releases: Sequence[Release]) -> dict[str, list[Release]]:
    """Records grouped by experiment, each group in the order of recording."""
    grouped: dict[str, list[Release]] = {}
    for release in releases:
        grouped.setdefault(release.experiment, []).append(release)
    return grouped


__all__ = ["DEFAULT_TIMEOUT", "Estimate", "HistoryStore", "Release", "SCHEMA_VERSION", "StoredAnalysis",
           "recommended_variant", "shipped_variant", "releases_by_experiment"]
