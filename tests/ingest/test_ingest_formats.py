"""One logical log, many physical forms: every accepted format, source kind, timestamp encoding,
column naming and unit id type gives the same metric rows, and no input file is modified.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import iterate
from helpers import BASE, file_hashes, write_config, write_frame, write_logs

METRICS = (
    {"name": "conversion", "type": "proportion", "event": "purchase"},
    {"name": "purchases", "type": "count", "event": "purchase"},
    {"name": "revenue", "type": "mean", "event": "purchase", "value": "value"},
    {"name": "views", "type": "mean", "event": "view"},
)
UNITS = 40


def logical_log(seed: int = 11) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Events and exposures with whole-second timestamps and values exact in binary."""
    rng = np.random.default_rng(seed)
    ids = [f"u{i:03d}" for i in range(UNITS)]
    exposed = [BASE + timedelta(hours=int(h)) for h in rng.integers(0, 72, size=UNITS)]
    exposures = pl.DataFrame({
        "user_id": ids,
        "experiment": ["exp"] * UNITS,
        "variant": ["control" if i % 2 == 0 else "treatment" for i in range(UNITS)],
        "timestamp": exposed,
    }).with_columns(pl.col("timestamp").cast(pl.Datetime("us")))
    rows = []
    for unit, start in zip(ids, exposed):
        for _ in range(int(rng.integers(0, 8))):
            offset = timedelta(seconds=int(rng.integers(-86400, 9 * 86400)))
            name = str(rng.choice(["purchase", "view", "view", "scroll"]))
            rows.append({"user_id": unit, "timestamp": start + offset, "event": name, "value": float(rng.integers(1, 80)) / 4})
    # an event exactly at an exposure and one exactly at exposure + 7d (boundaries survive conversions)
    rows.append({"user_id": ids[0], "timestamp": exposed[0], "event": "purchase", "value": 2.5})
    rows.append({"user_id": ids[1], "timestamp": exposed[1] + timedelta(days=7), "event": "purchase", "value": 9.75})
    events = pl.DataFrame(rows, schema={"user_id": pl.String, "timestamp": pl.Datetime("us"), "event": pl.String, "value": pl.Float64})
    return events, exposures


EVENTS, EXPOSURES = logical_log()


def metric_rows(result) -> pl.DataFrame:
    return result.metrics.sort("name", "variant")


def assert_same_rows(left: pl.DataFrame, right: pl.DataFrame) -> None:
    assert_frame_equal(left, right, check_exact=False, rel_tol=1e-12, abs_tol=1e-15)


def analyze_with_hashes(config, *inputs, **kwargs):
    """Analyze and check that every input file is byte-identical afterwards."""
    before = file_hashes(*inputs)
    result = iterate.analyze(config, **kwargs)
    assert file_hashes(*inputs) == before
    return result


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    path = tmp_path_factory.mktemp("baseline")
    write_logs(path, EVENTS, EXPOSURES)
    return metric_rows(iterate.analyze(write_config(path, metrics=METRICS)))


def test_baseline_matches_a_polars_computation(baseline):
    """The reference rows themselves are right (n and means of the per-unit values)."""
    first = EXPOSURES.group_by("user_id").agg(pl.col("timestamp").min().alias("first"), pl.col("variant").first())
    window = (
        EVENTS.join(first, on="user_id")
        .filter((pl.col("timestamp") >= pl.col("first")) & (pl.col("timestamp") < pl.col("first") + timedelta(days=7)))
    )
    per_unit = window.group_by("user_id").agg(
        purchases=(pl.col("event") == "purchase").sum(),
        revenue=pl.col("value").filter(pl.col("event") == "purchase").sum(),
        views=(pl.col("event") == "view").sum(),
    )
    units = first.join(per_unit, on="user_id", how="left").fill_null(0)
    means = {r["variant"]: r for r in units.group_by("variant").agg(
        pl.len().alias("n"), pl.col("purchases").mean(), pl.col("revenue").mean(), pl.col("views").mean(),
        (pl.col("purchases") > 0).mean().alias("conversion"),
    ).to_dicts()}
    for row in baseline.to_dicts():
        assert row["n_control"] == means["control"]["n"] == UNITS // 2
        assert row["n_treatment"] == means["treatment"]["n"] == UNITS // 2
        assert row["control_mean"] == pytest.approx(means["control"][row["name"]], rel=1e-12)
        assert row["treatment_mean"] == pytest.approx(means["treatment"][row["name"]], rel=1e-12)


# --------------------------------------------------------------------------------------------
# file formats and source kinds


@pytest.mark.parametrize("fmt", ["parquet", "csv", "ndjson"])
def test_file_formats(tmp_path, baseline, fmt):
    events, exposures = write_logs(tmp_path, EVENTS, EXPOSURES, fmt=fmt)
    config = write_config(tmp_path, metrics=METRICS, events=events.name, exposures=exposures.name)
    result = analyze_with_hashes(config, events, exposures)
    assert_same_rows(metric_rows(result), baseline)


def _write_csv(frame: pl.DataFrame, path, *, separator: str = ",", bom: bool = False):
    text = frame.write_csv(separator=separator)
    path.write_text(text, encoding="utf-8-sig" if bom else "utf-8")
    return path


@pytest.mark.parametrize("separator, bom", [(",", True), (";", False), (";", True), ("\t", False), ("|", False)],
                         ids=["bom", "semicolon", "semicolon_bom", "tab_in_csv", "pipe"])
def test_csv_dialects_the_engine_reads(tmp_path, baseline, separator, bom):
    """A CSV saved with a UTF-8 byte order mark (Excel, Windows) or another delimiter was refused
    by the header check although the engine reads it."""
    events = _write_csv(EVENTS, tmp_path / "events.csv", separator=separator, bom=bom)
    exposures = _write_csv(EXPOSURES, tmp_path / "exposures.csv", separator=separator, bom=bom)
    config = write_config(tmp_path, metrics=METRICS, events=events.name, exposures=exposures.name)
    assert_same_rows(metric_rows(analyze_with_hashes(config, events, exposures)), baseline)


def test_csv_timestamps_in_a_day_first_format_are_refused_not_guessed(tmp_path):
    """A CSV reader guesses "05-01-2026" from a sample, differently from version to version (5 January
    or 1 May): iterate reads timestamps as text and parses ISO-8601 only, so the same log gives the
    same instants everywhere; another format is a clear input error naming examples and the fix."""
    events = EVENTS.with_columns(pl.col("timestamp").dt.strftime("%d-%m-%Y %H:%M:%S"))
    events_path = _write_csv(events, tmp_path / "events.csv")
    exposures_path = _write_csv(EXPOSURES, tmp_path / "exposures.csv")
    config = write_config(tmp_path, metrics=METRICS, events=events_path.name, exposures=exposures_path.name)
    with pytest.raises(iterate.DataError, match=r"cannot be parsed \(e\.g\. '0.-01-2026 .*use ISO-8601"):
        iterate.analyze(config)


@pytest.mark.parametrize("header, rows", [
    ("user_id,timestamp,event,value", "u1;2026-01-05T10:00:00;purchase;1\nu2;2026-01-05T11:00:00;purchase;2\n"),
    ("user_id;timestamp;event;value", "u1,2026-01-05T10:00:00,purchase,1\nu2,2026-01-05T11:00:00,purchase,2\n"),
    ("user_id,timestamp,event", "u1,2026-01-05T10:00:00,purchase,1\nu2,2026-01-05T11:00:00,purchase,2\n"),
], ids=["semicolon_rows", "semicolon_header", "field_too_many"])
def test_csv_rows_disagreeing_with_the_header_are_still_refused(tmp_path, header, rows):
    (tmp_path / "events.csv").write_text(f"{header}\n{rows}", encoding="utf-8")
    write_frame(EXPOSURES, tmp_path / "exposures.parquet")
    config = write_config(tmp_path, metrics=METRICS[:1], events="events.csv")
    with pytest.raises(iterate.DataError, match="does not parse consistently with its header"):
        iterate.analyze(config)


def _write_parts(folder, frame, parts):
    size = -(-frame.height // parts)
    for index in range(parts):
        write_frame(frame.slice(index * size, size), folder / f"part-{index}.parquet")


def test_folder_of_parquet_files(tmp_path, baseline):
    _write_parts(tmp_path / "events", EVENTS, 3)
    _write_parts(tmp_path / "exposures", EXPOSURES, 2)
    config = write_config(tmp_path, metrics=METRICS, events="events", exposures="exposures")
    result = analyze_with_hashes(config, tmp_path / "events", tmp_path / "exposures")
    assert_same_rows(metric_rows(result), baseline)


def test_glob_of_parquet_files(tmp_path, baseline):
    _write_parts(tmp_path / "events", EVENTS, 4)
    _write_parts(tmp_path / "exposures", EXPOSURES, 3)
    (tmp_path / "events" / "notes.txt").write_text("not a log")  # not matched by the glob
    config = write_config(tmp_path, metrics=METRICS, events="events/part-*.parquet", exposures="exposures/*.parquet")
    result = analyze_with_hashes(config, tmp_path / "events", tmp_path / "exposures")
    assert_same_rows(metric_rows(result), baseline)


def test_duckdb_database_tables(tmp_path, baseline):
    database = tmp_path / "app.duckdb"
    with duckdb.connect(str(database)) as con:
        con.register("events_frame", EVENTS.to_arrow())
        con.register("exposures_frame", EXPOSURES.to_arrow())
        con.execute("CREATE TABLE events AS SELECT * FROM events_frame")
        con.execute("CREATE TABLE exposures AS SELECT * FROM exposures_frame")
    config = write_config(
        tmp_path, metrics=METRICS,
        events={"path": "app.duckdb", "table": "events"},
        exposures={"path": "app.duckdb", "table": "exposures"},
    )
    listing = sorted(p.name for p in tmp_path.iterdir())
    result = analyze_with_hashes(config, database)
    assert_same_rows(metric_rows(result), baseline)
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # no .wal or lock file left


def test_duckdb_database_tables_in_two_files(tmp_path, baseline):
    for name, frame in (("events", EVENTS), ("exposures", EXPOSURES)):
        with duckdb.connect(str(tmp_path / f"{name}.duckdb")) as con:
            con.register("frame", frame.to_arrow())
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
    config = write_config(
        tmp_path, metrics=METRICS,
        events={"path": "events.duckdb", "table": "events"},
        exposures={"path": "exposures.duckdb", "table": "exposures"},
    )
    result = analyze_with_hashes(config, tmp_path / "events.duckdb", tmp_path / "exposures.duckdb")
    assert_same_rows(metric_rows(result), baseline)


@pytest.mark.parametrize("kind", ["polars", "polars_lazy", "pyarrow", "pandas"])
def test_in_memory_frames(tmp_path, baseline, kind):
    convert = {
        "polars": lambda f: f,
        "polars_lazy": lambda f: f.lazy(),
        "pyarrow": lambda f: f.to_arrow(),
        "pandas": lambda f: f.to_pandas(),
    }[kind]
    events, exposures = convert(EVENTS), convert(EXPOSURES)
    config = write_config(tmp_path, metrics=METRICS, events=None, exposures=None)
    result = iterate.analyze(config, events=events, exposures=exposures)
    assert_same_rows(metric_rows(result), baseline)
    if kind == "pandas":  # the caller's objects are not modified
        assert list(events.columns) == EVENTS.columns and len(events) == EVENTS.height


def test_paths_given_at_analysis_time_override_the_config(tmp_path, baseline):
    events, exposures = write_logs(tmp_path, EVENTS, EXPOSURES)
    config = write_config(tmp_path, metrics=METRICS, events="missing.parquet", exposures="missing.parquet")
    result = iterate.analyze(config, events=events, exposures=exposures)
    assert_same_rows(metric_rows(result), baseline)


# --------------------------------------------------------------------------------------------
# timestamp encodings


def _iso(fmt: str, shift: timedelta = timedelta(0)):
    return lambda column: (pl.col(column) + shift).dt.strftime(fmt)


TIMESTAMP_ENCODINGS = {
    "timestamp_ns": lambda c: pl.col(c).cast(pl.Datetime("ns")),
    "timestamp_ms": lambda c: pl.col(c).cast(pl.Datetime("ms")),
    "timestamptz_utc": lambda c: pl.col(c).dt.replace_time_zone("UTC"),
    "timestamptz_paris": lambda c: pl.col(c).dt.replace_time_zone("UTC").dt.convert_time_zone("Europe/Paris"),
    "iso_naive": _iso("%Y-%m-%dT%H:%M:%S"),
    "iso_space": _iso("%Y-%m-%d %H:%M:%S"),
    "iso_fraction": _iso("%Y-%m-%dT%H:%M:%S%.3f"),
    "iso_z": _iso("%Y-%m-%dT%H:%M:%SZ"),
    "iso_offset_plus2": _iso("%Y-%m-%dT%H:%M:%S+02:00", timedelta(hours=2)),
    "iso_offset_minus0530": _iso("%Y-%m-%dT%H:%M:%S-05:30", timedelta(hours=-5, minutes=-30)),
    "epoch_seconds_int": lambda c: pl.col(c).dt.epoch("s"),
    "epoch_seconds_int32": lambda c: pl.col(c).dt.epoch("s").cast(pl.Int32),
    "epoch_seconds_float": lambda c: pl.col(c).dt.epoch("s").cast(pl.Float64),
}


@pytest.mark.parametrize("encoding", sorted(TIMESTAMP_ENCODINGS))
def test_timestamp_encodings(tmp_path, baseline, encoding):
    convert = TIMESTAMP_ENCODINGS[encoding]
    events = EVENTS.with_columns(convert("timestamp"))
    exposures = EXPOSURES.with_columns(convert("timestamp"))
    paths = write_logs(tmp_path, events, exposures)
    result = analyze_with_hashes(write_config(tmp_path, metrics=METRICS), *paths)
    assert_same_rows(metric_rows(result), baseline)


@pytest.mark.parametrize("encoding", ["iso_z", "epoch_seconds_int", "iso_offset_plus2"])
def test_timestamp_encodings_mixed_between_logs(tmp_path, baseline, encoding):
    """Events in one encoding, exposures as TIMESTAMP: both end up in UTC."""
    events = EVENTS.with_columns(TIMESTAMP_ENCODINGS[encoding]("timestamp"))
    paths = write_logs(tmp_path, events, EXPOSURES)
    result = analyze_with_hashes(write_config(tmp_path, metrics=METRICS), *paths)
    assert_same_rows(metric_rows(result), baseline)


def test_iso_strings_in_csv(tmp_path, baseline):
    events = EVENTS.with_columns(TIMESTAMP_ENCODINGS["iso_offset_plus2"]("timestamp"))
    exposures = EXPOSURES.with_columns(TIMESTAMP_ENCODINGS["iso_z"]("timestamp"))
    paths = write_logs(tmp_path, events, exposures, fmt="csv")
    config = write_config(tmp_path, metrics=METRICS, events="events.csv", exposures="exposures.csv")
    assert_same_rows(metric_rows(analyze_with_hashes(config, *paths)), baseline)


# --------------------------------------------------------------------------------------------
# column names and unit id types


@pytest.mark.parametrize("value_key", ["value", "amount"])
def test_column_remapping(tmp_path, baseline, value_key):
    events = EVENTS.rename({"user_id": "uid", "timestamp": "ts", "event": "name", "value": "amount"})
    exposures = EXPOSURES.rename({"user_id": "uid", "timestamp": "ts", "variant": "arm", "experiment": "study"})
    paths = write_logs(tmp_path, events, exposures)
    metrics = [dict(m, value=value_key) if "value" in m else m for m in METRICS]
    config = write_config(
        tmp_path, metrics=metrics,
        columns={
            "events": {"user_id": "uid", "timestamp": "ts", "event": "name", "value": "amount"},
            "exposures": {"user_id": "uid", "timestamp": "ts", "variant": "arm", "experiment": "study"},
        },
    )
    result = analyze_with_hashes(config, *paths)
    assert_same_rows(metric_rows(result), baseline)


def _numeric_ids(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("user_id").str.slice(1).cast(pl.Int64))


@pytest.mark.parametrize(
    ("events_ids", "exposures_ids"),
    [("int", "int"), ("int", "str"), ("str", "int")],
)
def test_unit_ids_as_strings_and_integers_join(tmp_path, baseline, events_ids, exposures_ids):
    def ids(frame, kind):
        numeric = _numeric_ids(frame)
        return numeric if kind == "int" else numeric.with_columns(pl.col("user_id").cast(pl.String))

    paths = write_logs(tmp_path, ids(EVENTS, events_ids), ids(EXPOSURES, exposures_ids))
    result = analyze_with_hashes(write_config(tmp_path, metrics=METRICS), *paths)
    assert_same_rows(metric_rows(result), baseline)


def test_csv_with_integer_ids_and_parquet_with_string_ids(tmp_path, baseline):
    events = _numeric_ids(EVENTS)
    exposures = _numeric_ids(EXPOSURES).with_columns(pl.col("user_id").cast(pl.String))
    write_frame(events, tmp_path / "events.csv", "csv")
    write_frame(exposures, tmp_path / "exposures.parquet")
    config = write_config(tmp_path, metrics=METRICS, events="events.csv")
    result = analyze_with_hashes(config, tmp_path / "events.csv", tmp_path / "exposures.parquet")
    assert_same_rows(metric_rows(result), baseline)


def test_timezone_aware_input_does_not_depend_on_utc_session(tmp_path, baseline):
    """The same instants written with different zones give the same windows."""
    events = EVENTS.with_columns(pl.col("timestamp").dt.replace_time_zone("UTC").dt.convert_time_zone("Asia/Tokyo"))
    exposures = EXPOSURES.with_columns(pl.col("timestamp").dt.replace_time_zone("UTC"))
    paths = write_logs(tmp_path, events, exposures)
    result = analyze_with_hashes(write_config(tmp_path, metrics=METRICS), *paths)
    assert_same_rows(metric_rows(result), baseline)
