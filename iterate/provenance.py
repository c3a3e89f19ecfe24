"""Where an analysis came from: the hash of its configuration and a fingerprint of its data.

Every analysis result carries a :class:`Provenance` (document key ``provenance``)::

    {"config_hash": "sha256:...", "iterate_version": "0.1.0", "generated_at": "2026-01-20T08:00:00.123456Z",
     "data": {"events": {...}, "exposures": {...}}}

``generated_at`` is the one field of a report that holds the time of the run; everything else is
the same for the same inputs and configuration.

**Config hash.** SHA-256 of the canonical JSON (keys sorted, no spaces, UTF-8) of the effective
experiment (:func:`iterate.config.document.experiment_document`, after overrides such as
``--as-of`` and ``--segment``), so that comments, key order and spelling variants of the TOML
file (``day = 1`` or ``days = [1, 1]``) do not change it. Left out of the hash: where the logs are
(``[data] events`` / ``exposures``: the data fingerprint describes them, and absolute paths differ
from one checkout to another) and where the history is recorded (``[history] path``).

**Data fingerprint.** Per log: the files read (path, size in bytes, modification time in UTC;
a glob or a folder expanded, sorted), the row count and the time range of its timestamps. Both
cost no scan of their own: the rows come from the Parquet footers or from the row check that
ingest runs anyway, and the events' time range is the event-time query of the checks. Only the
exposures' time range is one more query, on the exposures log (small next to the events).
A frame passed from Python is described as ``in-memory frame`` with its row count.

Example:
    >>> from iterate.config import Experiment, Metric
    >>> experiment = Experiment(name="x", control="control", metrics=(Metric("m", "count", event="open"),))
    >>> config_hash(experiment)[:7]
    'sha256:'
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from iterate.config import Experiment, Source
from iterate.config.document import experiment_document

if TYPE_CHECKING:
    from iterate.session import Session

_UNHASHED = ("events", "exposures")


def config_hash(experiment: Experiment) -> str:
    """``sha256:`` and the hex digest of the canonical JSON of ``experiment`` (see the module docstring)."""
    document = experiment_document(experiment)
    for key in _UNHASHED:
        document.pop(key)
    if document.get("history") is not None:
        document["history"].pop("path")
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class FileStamp:
    """One file of a log: its path, size in bytes and modification time (ISO-8601, UTC)."""

    path: str
    size: int
    modified_at: str


@dataclass(frozen=True, slots=True)
class LogFingerprint:
    """What a log was when it was analyzed.

    Attributes:
        source: The path, glob or folder as given, ``path (table t)`` for a DuckDB table, or
            ``in-memory frame``.
        files: Every file read, sorted by path (none for a frame).
        rows: Row count (``None`` when the engine could not tell without a scan).
        first: Earliest timestamp (naive UTC), ``None`` for an empty log.
        last: Latest timestamp.
        exposure_event: For exposures taken from the events log, the exposure event.
    """

    source: str
    files: tuple[FileStamp, ...]
    rows: int | None
    first: datetime | None
    last: datetime | None
    exposure_event: str | None = None

    def as_document(self) -> dict[str, Any]:
        """Plain values; times as ISO-8601 strings."""
        document = {
            "source": self.source,
            "files": [{"path": f.path, "size": f.size, "modified_at": f.modified_at} for f in self.files],
            "rows": self.rows,
            "time_range": {"min": _iso(self.first), "max": _iso(self.last)},
        }
        if self.exposure_event is not None:
            document["exposure_event"] = self.exposure_event
        return document


@dataclass(frozen=True, slots=True)
class Provenance:
    """Config hash, iterate version, time of the run and the fingerprint of each log."""

    config_hash: str
    iterate_version: str
    generated_at: datetime
    data: Mapping[str, LogFingerprint]

    def as_document(self) -> dict[str, Any]:
        """The document's ``provenance`` value (``generated_at`` in UTC with a ``Z``)."""
        return {
            "config_hash": self.config_hash,
            "iterate_version": self.iterate_version,
            "generated_at": self.generated_at.isoformat() + "Z",
            "data": {role: fingerprint.as_document() for role, fingerprint in self.data.items()},
        }


def provenance(experiment: Experiment, data: Mapping[str, LogFingerprint], generated_at: datetime) -> Provenance:
    """The provenance of an analysis of ``experiment`` on logs fingerprinted as ``data``."""
    from iterate import __version__

    return Provenance(config_hash(experiment), __version__, generated_at, dict(data))


def data_fingerprint(session: Session, sources: Mapping[str, Any], events_range: tuple[datetime | None, datetime | None],
                     ) -> dict[str, LogFingerprint]:
    """The fingerprint of both logs of a session.

    Args:
        session: The open session (its engine and prepared logs).
        sources: ``events`` and ``exposures`` as the analysis was given them (paths, sources, frames);
            without ``exposures`` (a plan), the events only.
        events_range: The events' first and last time, from the event-time query the checks run.
    """
    from iterate.aggregation.quality import log_time_range

    logs, engine = session.logs, session.engine
    events = _fingerprint(engine, sources["events"], "events", logs.events.rows, events_range)
    exposure_event = session.experiment.exposure_event
    if "exposures" not in sources:  # a plan reads the events only
        return {"events": events}
    if exposure_event is not None:
        exposures = LogFingerprint(events.source, events.files, events.rows, events.first, events.last, exposure_event)
    else:
        exposures = _fingerprint(engine, sources["exposures"], "exposures", logs.exposures.rows,
                                 log_time_range(engine, logs.exposures.view))
    return {"events": events, "exposures": exposures}


def _fingerprint(engine: Any, source: Any, role: str, rows: int | None,
                 time_range: tuple[datetime | None, datetime | None]) -> LogFingerprint:
    from iterate.ingest.sources import source_files

    files = source_files(source, role)
    if rows is None and files and not (isinstance(source, Source) and source.table):
        rows = engine.footer_row_count(files)
    if isinstance(source, Source):
        label = source.describe()
    elif isinstance(source, (str, os.PathLike)):
        label = str(source)
    else:
        label = "in-memory frame"
    return LogFingerprint(label, tuple(_stamp(file) for file in files), rows, *time_range)


def _stamp(path: str) -> FileStamp:
    status = os.stat(path)
    modified = datetime.fromtimestamp(status.st_mtime, timezone.utc).replace(tzinfo=None)
    return FileStamp(path, status.st_size, modified.isoformat() + "Z")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat() + "Z"


def fingerprint_differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """What differs between two fingerprint documents (``provenance.data``): files added, removed or
    changed (size, modification time), row counts and time ranges, one sentence each.

    Example:
        >>> old = {"events": {"files": [], "rows": 10, "time_range": {"min": "a", "max": "b"}}}
        >>> new = {"events": {"files": [], "rows": 12, "time_range": {"min": "a", "max": "b"}}}
        >>> fingerprint_differences(old, new)
        ['events: 10 rows then, 12 now']
    """
    differences = []
    for role in sorted(set(recorded) | set(current)):
        before, now = recorded.get(role), current.get(role)
        if before is None or now is None:
            differences.append(f"{role}: {'no' if before is None else 'a'} log then, {'no' if now is None else 'a'} log now")
            continue
        differences += _file_differences(role, before.get("files", []), now.get("files", []))
        if before.get("rows") != now.get("rows"):
            differences.append(f"{role}: {_count(before.get('rows'))} rows then, {_count(now.get('rows'))} now")
        for end in ("min", "max"):
            then, later = before.get("time_range", {}).get(end), now.get("time_range", {}).get(end)
            if then != later:
                label = "first" if end == "min" else "last"
                differences.append(f"{role}: {label} timestamp {then} then, {later} now")
    return differences


def _file_differences(role: str, before: list[Mapping[str, Any]], now: list[Mapping[str, Any]]) -> list[str]:
    then = {f["path"]: f for f in before}
    later = {f["path"]: f for f in now}
    differences = [f"{role}: file {path} is gone" for path in sorted(set(then) - set(later))]
    differences += [f"{role}: file {path} is new" for path in sorted(set(later) - set(then))]
    for path in sorted(set(then) & set(later)):
        old, new = then[path], later[path]
        if old["size"] != new["size"]:
            differences.append(f"{role}: file {path} was {old['size']:,} bytes, is {new['size']:,}")
        elif old["modified_at"] != new["modified_at"]:
            differences.append(f"{role}: file {path} was modified at {new['modified_at']} "
                               f"(recorded: {old['modified_at']})")
    return differences


def _count(rows: int | None) -> str:
    return "an unknown number of" if rows is None else f"{rows:,}"
