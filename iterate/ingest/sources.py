"""Open a log as a relation of the engine: files (Parquet, CSV, NDJSON; a path, a glob or a
folder), a table of a DuckDB database file, or an in-memory polars / Arrow / pandas frame.

Here a source is resolved (files listed, formats told, frames recognized) and handed to the
engine, which registers it. Nothing is copied or converted: files are scanned lazily and frames
registered zero-copy, so the events never become Python objects. Sources are opened read-only.
"""

from __future__ import annotations

import glob as globbing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from iterate.config import Source
from iterate.engines import Engine, FileFormat
from iterate.errors import DataError

_FORMATS: dict[str, FileFormat] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "ndjson",
}
_DATABASE_SUFFIXES = (".duckdb", ".db", ".ddb")
_DATE_TIMES = ("timestamp", "time")  # CSV columns read with their detected type (and format), not as text


@dataclass(frozen=True, slots=True)
class OpenedSource:
    """A log registered in the engine under ``view`` (already quoted), with what it came from.

    A CSV log is registered with its columns as text, but for the dates and times the reader
    recognizes (whose formats it detected), and ``declared_types`` holds the types the engine
    detects from its first rows: ingest converts each column it reads with a cast that gives null
    where a value does not convert, and counts those values as row problems (with examples), so
    that a bad value past the sniffer's sample is reported with the others instead of failing a
    query halfway through the log.
    """

    view: str
    label: str
    kind: Literal["parquet", "csv", "ndjson", "duckdb", "frame"]
    files: tuple[str, ...] = ()
    declared_types: Mapping[str, str] | None = None


def open_source(engine: Engine, source: Any, role: str, *, text_columns: tuple[str, ...] = ()) -> OpenedSource:
    """Register ``source`` in the engine as the view ``iterate_raw_<role>``.

    Args:
        engine: The engine of this analysis.
        source: A path, glob or folder (``str`` / ``Path`` / :class:`Source`), a :class:`Source` with a
            ``table`` in a DuckDB file, or a polars / Arrow / pandas frame.
        role: ``events`` or ``exposures``, used in view names and messages.
        text_columns: Columns of CSV / NDJSON files read as text, not typed by the engine's reader
            (the timestamps, which iterate parses itself).

    Raises:
        DataError: the source does not exist, has no files, mixes formats, or cannot be read.
    """
    view = f"iterate_raw_{role}"
    if source is None:
        raise DataError(f"no {role} log given: set [data] {role} in the config or pass --{role} PATH")
    if isinstance(source, Source) and source.table:
        return _open_database_table(engine, source, role, view)
    if isinstance(source, (str, Path, Source)):
        path = source.path if isinstance(source, Source) else str(source)
        if not path.strip():
            raise DataError(f"{role}: the path of the {role} log is empty; give a file, a glob or a folder")
        return _open_files(engine, path, role, view, text_columns)
    return _open_frame(engine, source, role, view)


def _open_frame(engine: Engine, frame: Any, role: str, view: str) -> OpenedSource:
    module = type(frame).__module__.split(".")[0]
    if module == "polars":
        if hasattr(frame, "collect"):
            frame = frame.collect()
        frame = frame.to_arrow()
    elif module not in {"pyarrow", "pandas"}:
        raise DataError(
            f"{role}: cannot read an object of type {type(frame).__name__}; pass a file path, "
            "a polars DataFrame, a pyarrow Table or a pandas DataFrame"
        )
    quoted = engine.register_frame(view, frame)
    return OpenedSource(view=quoted, label=f"{role} ({type(frame).__name__} in memory)", kind="frame")


def _open_database_table(engine: Engine, source: Source, role: str, view: str) -> OpenedSource:
    if not Path(source.path).is_file():
        raise DataError(f"{role}: DuckDB database {source.path} does not exist; check [data] {role}.path")
    try:
        quoted = engine.register_table(view, source.path, source.table)
    except DataError as error:
        raise DataError(f"{role}: {error}") from error
    return OpenedSource(view=quoted, label=source.describe(), kind="duckdb", files=(source.path,))


def _open_files(engine: Engine, path: str, role: str, view: str, text_columns: tuple[str, ...]) -> OpenedSource:
    files = _expand(path, role)
    empty = [file for file in files if Path(file).stat().st_size == 0]
    if empty:
        raise DataError(f"{role}: {', '.join(empty[:3])} {'is' if len(empty) == 1 else 'are'} empty (0 bytes); "
                        "write the log again, or remove the empty file")
    formats = {_format_of(file, role) for file in files}
    if len(formats) > 1:
        raise DataError(f"{role}: {path} mixes file formats ({', '.join(sorted(formats))}); keep one format per log")
    (file_format,) = formats
    try:
        quoted = engine.register_files(view, files, file_format, text_columns=text_columns)
        declared = engine.describe(quoted) if file_format == "csv" else None
    except DataError as error:
        raise DataError(f"{role}: cannot read {path} as {file_format}: {error}") from error
    if declared is not None:
        _check_csv_header(files[0], list(declared), role)
        try:
            text = [column for column, kind in declared.items()
                    if engine.dialect.type_class(kind) not in _DATE_TIMES or column in text_columns]
            quoted = engine.register_files(view, files, file_format, text_columns=text)
        except DataError as error:
            raise DataError(f"{role}: cannot read {path} as {file_format}: {error}") from error
    return OpenedSource(view=quoted, label=path, kind=file_format, files=files, declared_types=declared)


_CSV_DELIMITERS = ",;\t|"
_CSV_SAMPLE_LINES = 50


def _check_csv_header(file: str, columns: list[str], role: str) -> None:
    """Catch a CSV whose rows disagree with its header, which DuckDB's sniffer may silently misread.

    The header is read as the engine would: a UTF-8 byte order mark dropped, the delimiter sniffed
    from the first lines (``,``, ``;``, tab or ``|``; the suffix's, tab for ``.tsv``, when the lines
    do not tell). A header whose names are not all among the columns the engine found means that
    the rows do not split like the header (a field too many, another delimiter in the rows).
    """
    import csv
    import gzip

    opener = gzip.open if file.endswith(".gz") else open
    try:
        with opener(file, "rt", encoding="utf-8-sig", newline="") as stream:
            lines = [line for line, _ in zip(stream, range(_CSV_SAMPLE_LINES))]
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{role}: cannot read {file}: {error}") from None
    if not lines:
        return
    delimiter = "\t" if ".tsv" in Path(file).suffixes else ","
    try:
        delimiter = csv.Sniffer().sniff("".join(lines), delimiters=_CSV_DELIMITERS).delimiter
    except csv.Error:
        pass  # a single column, or lines that agree on no delimiter: the suffix's
    header = [name.strip() for name in next(csv.reader(lines[:1], delimiter=delimiter), [])]
    if header and not set(header) <= {name.strip() for name in columns}:
        raise DataError(
            f"{role}: {file} does not parse consistently with its header ({', '.join(header)}): the reader "
            f"found columns {', '.join(columns)}; check for rows with a different number of fields or another delimiter"
        )


def source_files(source: Any, role: str) -> tuple[str, ...]:
    """The files a source reads, sorted: its path, glob or folder expanded, its DuckDB database
    file, or none for an in-memory frame.

    Raises:
        DataError: the path matches no file.
    """
    if isinstance(source, Source):
        return (source.path,) if source.table else _expand(source.path, role)
    if isinstance(source, (str, Path)):
        return _expand(str(source), role)
    return ()


def _expand(path: str, role: str) -> tuple[str, ...]:
    candidate = Path(path)
    if candidate.is_dir():
        files = sorted(
            str(file) for file in candidate.rglob("*")
            if file.is_file() and file.suffix.lower() in _FORMATS and not file.name.startswith(".")
        )
        if not files:
            raise DataError(f"{role}: folder {path} holds no .parquet, .csv or .ndjson file")
        return tuple(files)
    if candidate.suffix.lower() in _DATABASE_SUFFIXES:
        raise DataError(
            f"{role}: {path} is a DuckDB database; name the table: "
            f"{role} = {{ path = \"{path}\", table = \"{role}\" }}"
        )
    if globbing.has_magic(path):
        files = sorted(globbing.glob(path, recursive=True))
        if not files:
            raise DataError(f"{role}: no file matches {path}")
        return tuple(files)
    if not candidate.is_file():
        raise DataError(f"{role}: file {path} does not exist; check the path in [data] {role} or --{role}")
    return (path,)


def _format_of(file: str, role: str) -> FileFormat:
    suffixes = [s.lower() for s in Path(file).suffixes]
    for suffix in reversed(suffixes):
        if suffix in _FORMATS:
            return _FORMATS[suffix]
    raise DataError(f"{role}: cannot tell the format of {file}; use a .parquet, .csv or .ndjson file")
