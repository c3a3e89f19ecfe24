"""One log, three formats, the same instants: Parquet with UTC timestamps, CSV with ISO-8601 strings
at +09:00 and NDJSON at -06:00 give byte-identical analysis, timeline, plan and calibration JSON,
and per-unit instants equal to the Parquet ones, on every path that reads a log (the analysis, the
timeline that prepares the logs again, planning that reads the events only, calibration, the CLI).

Regression (issue 9): DuckDB 2.0.0 and 2.0.1 pushed ``CAST(<TIMESTAMP WITH TIME ZONE> AS TIMESTAMP)``
into the CSV scan, whose reader then parsed the text as a naive timestamp and dropped the offset:
the +09:00 log's plan had other daily counts and its timeline ended a day late, while its metrics
(whose windows only depend on differences of times in one log) looked right. The timestamps of
text files are now read as text and parsed by the dialect, through their instant. The log here
crosses UTC midnight at both offsets, the timeline and the plan depend on calendar days, and
the mixed case (events in CSV, exposures in NDJSON) moves metric windows if either offset is lost.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import iterate
from helpers import write_config, write_frame
from iterate.cli import main
from iterate.engines.duckdb import DuckDBEngine
from iterate.errors import DataError
from iterate.ingest import prepare_logs
from iterate.report import render
from iterate.templates import Query

ZONES = {"csv": "Asia/Tokyo", "ndjson": "Etc/GMT+6"}  # +09:00 and -06:00 all year (no DST in either)
ISO = "%Y-%m-%dT%H:%M:%S%.6f%:z"
METRICS = (
    {"name": "purchasers", "type": "proportion", "event": "purchase", "role": "success", "direction": "increase"},
    {"name": "revenue", "type": "mean", "event": "purchase", "value": "value", "role": "success",
     "direction": "increase", "cuped": "7d"},
    {"name": "crashes_per_open", "type": "ratio", "numerator": {"event": "crash"}, "denominator": {"event": "app_open"},
     "role": "guardrail", "direction": "decrease", "margin": 0.1},
    {"name": "latency_p90", "type": "quantile", "event": "page_load", "value": "value", "quantile": 0.9,
     "direction": "decrease", "role": "guardrail"},
    {"name": "active_days", "type": "active_days", "event": "app_open"},
    {"name": "day1_retention", "type": "retention", "event": "app_open", "day": 1},
    {"name": "hours_to_purchase", "type": "time_to_event", "event": "purchase"},
)
FORMS = ("parquet", "csv", "ndjson", "mixed")


def _written(frame: pl.DataFrame, fmt: str) -> pl.DataFrame:
    """The log's naive UTC timestamps as Parquet writes them (UTC-aware) or as ISO strings in the format's zone."""
    utc = pl.col("timestamp").dt.replace_time_zone("UTC")
    if fmt == "parquet":
        return frame.with_columns(utc)
    return frame.with_columns(utc.dt.convert_time_zone(ZONES[fmt]).dt.strftime(ISO))


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict[str, Path]:
    """The config of each form of one simulated log (the reference log is naive UTC Parquet)."""
    folder = tmp_path_factory.mktemp("timestamp_formats")
    iterate.simulate_logs(folder / "simulated", units=1_000, events=12_000, seed=9, days=8,
                          effects={"treatment": {"purchase": 0.15}})
    events = pl.read_parquet(folder / "simulated" / "events.parquet")
    exposures = pl.read_parquet(folder / "simulated" / "exposures.parquet")
    configs = {}
    for form in FORMS:
        events_format, exposures_format = ("csv", "ndjson") if form == "mixed" else (form, form)
        written = folder / form
        write_frame(_written(events, events_format), written / f"events.{events_format}", events_format)
        write_frame(_written(exposures, exposures_format), written / f"exposures.{exposures_format}", exposures_format)
        configs[form] = write_config(written, name="checkout_v2", metrics=METRICS, events=f"events.{events_format}",
                                     exposures=f"exposures.{exposures_format}")
    assert "+09:00," in (folder / "csv" / "events.csv").read_text().splitlines()[1]
    assert '-06:00"' in (folder / "ndjson" / "events.ndjson").read_text().splitlines()[0]
    return configs


def _each_form(logs: dict[str, Path], report, forms: tuple[str, ...] = FORMS) -> dict[str, str]:
    return {form: report(logs[form]) for form in forms}


def _assert_all_equal(reports: dict[str, str]) -> None:
    for form in reports:
        assert reports[form] == reports["parquet"], form


def _without_files(report: str) -> str:
    """A JSON report with what differs by format only (the files read, the run's time) left out of its
    provenance; its row counts and time ranges (in absolute time) stay and are compared."""
    document = json.loads(report)
    provenance = document.pop("provenance", None)
    if provenance is not None:
        document["provenance_data"] = {role: {"rows": log["rows"], "time_range": log["time_range"]}
                                       for role, log in provenance["data"].items()}
    return json.dumps(document, indent=2)


def test_analysis_json_is_identical(logs):
    reports = _each_form(logs, lambda config: _without_files(render(iterate.analyze(config), "json")))
    _assert_all_equal(reports)
    assert '"first_event"' in reports["parquet"]  # the event time range, in absolute time, is compared too
    assert '"time_range"' in reports["parquet"]


def _cli(*arguments: str):
    def run(config: Path) -> str:
        result = CliRunner().invoke(main, [arguments[0], str(config), *arguments[1:], "--format", "json"])
        assert result.exit_code in (0, 10, 11, 12, 13), result.output
        return _without_files(result.output)

    return run


def test_timeline_json_is_identical(logs):
    """``iterate analyze --timeline``: the days are UTC calendar days."""
    reports = _each_form(logs, _cli("analyze", "--timeline"), FORMS[:3])
    _assert_all_equal(reports)
    assert reports["parquet"].count('"day"') > 10


def test_plan_json_is_identical(logs):
    """``iterate plan``: the baseline period and the daily units come from the events alone."""
    reports = _each_form(logs, _cli("plan", "--mde", "0.05"), FORMS[:3])  # the mixed log's events are the CSV's
    _assert_all_equal(reports)
    csv, parquet = (_without_files(json.dumps(iterate.plan(logs[form], mde=0.05).to_dict())) for form in ("csv", "parquet"))
    assert csv == parquet


def test_calibration_json_is_identical(logs):
    reports = _each_form(logs, lambda config: _without_files(render(iterate.calibrate(config, replicates=20, seed=3),
                                                                     "json")), FORMS[:3])
    _assert_all_equal(reports)


def _normalized_rows(config: Path, *, events_only: bool = False, events=None, exposures=None) -> dict[str, list]:
    """Every row of the normalized views (what every query reads), in a fixed order."""
    experiment = iterate.load_config(config)
    engine = DuckDBEngine()
    try:
        prepared = prepare_logs(engine, experiment, experiment.events if events is None else events,
                                experiment.exposures if exposures is None else exposures, events_only=events_only)
        views = {"events": prepared.events.view, **({} if events_only else {"exposures": prepared.exposures.view})}
        # unit ids compared as text: a CSV log's ids are read as text, a Parquet log's as integers
        return {role: sorted((str(row[0]), *row[1:]) for row in engine.execute(Query("rows", f"SELECT * FROM {view}")).values)
                for role, view in views.items()}
    finally:
        engine.close()


@pytest.mark.parametrize("events_only", [False, True], ids=["analysis", "planning"])
def test_per_unit_instants_equal_the_parquet_ones(logs, events_only):
    reference = _normalized_rows(logs["parquet"], events_only=events_only)
    simulated = pl.read_parquet(logs["parquet"].parent.parent / "simulated" / "events.parquet")
    # the reference itself: the simulated naive UTC times
    assert sorted(row[1] for row in reference["events"]) == sorted(simulated["timestamp"].to_list())
    for form in FORMS[1:]:
        assert _normalized_rows(logs[form], events_only=events_only) == reference, form


# --------------------------------------------------------------------------------------------
# edge cases, against Python's own reading of each string

EDGE_STRINGS = (
    "2026-01-05T10:00:00+05:45",  # Kathmandu
    "2026-01-05T10:00:00-03:30",  # St John's
    "2026-01-05T00:30:00+05:45",  # the previous UTC day
    "2026-01-05T22:45:00-03:30",  # the next UTC day
    "2026-01-05T10:00:00Z",
    "2026-01-05T10:00:00+00:00",
    "2026-01-05T10:00:00",  # no offset: UTC
    "2026-01-05 10:00:00.250",
    "2026-01-05",  # a date alone: midnight UTC
    "2026-03-08T02:30:00",  # no offset, in the US spring-forward gap: UTC has none
    "2026-11-01T01:30:00",  # no offset, in the US fall-back overlap: UTC has none
    "2026-03-29T02:30:00+02:00",  # Paris just after its change, offset given
)


def _utc(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    return parsed.astimezone(timezone.utc).replace(tzinfo=None) if parsed.tzinfo else parsed


def _edge_log(folder: Path, fmt: str, stamps: tuple[str, ...]) -> Path:
    units = [f"u{i:02d}" for i in range(len(stamps))]
    events = pl.DataFrame({"user_id": units, "timestamp": list(stamps), "event": ["purchase"] * len(stamps)})
    exposures = pl.DataFrame({"user_id": units, "variant": [("control", "treatment")[i % 2] for i in range(len(units))],
                              "timestamp": ["2025-12-01T00:00:00Z"] * len(stamps)})
    write_frame(events, folder / f"events.{fmt}", fmt)
    write_frame(exposures, folder / f"exposures.{fmt}", fmt)
    return write_config(folder, events=f"events.{fmt}", exposures=f"exposures.{fmt}")


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet"])
def test_offsets_z_naive_and_dates_are_read_as_their_utc_instant(tmp_path, fmt):
    config = _edge_log(tmp_path, fmt, EDGE_STRINGS)
    rows = _normalized_rows(config)["events"]
    assert {row[0]: row[1] for row in rows} == {f"u{i:02d}": _utc(text) for i, text in enumerate(EDGE_STRINGS)}


READER_GUESSES = {  # what DuckDB's CSV reader would type each column as
    "date": ("2026-01-05", "2026-01-06"),
    "timestamp": ("2026-01-05T10:00:00", "2026-01-05 23:30:00.250"),
    "timestamp_with_time_zone": ("2026-01-05T10:00:00+05:45", "2026-01-05T22:45:00-03:30"),
    "varchar": ("2026-01-05", "2026-01-05T22:45:00-03:30"),
}


@pytest.mark.parametrize("guess", sorted(READER_GUESSES))
def test_whatever_type_the_csv_reader_would_guess(tmp_path, guess):
    """The instants do not depend on the type the reader would have given the column."""
    stamps = READER_GUESSES[guess]
    config = _edge_log(tmp_path, "csv", stamps)
    assert [row[1] for row in sorted(_normalized_rows(config)["events"])] == [_utc(text) for text in stamps]


def test_a_day_first_date_is_refused_not_guessed(tmp_path):
    """DuckDB's CSV reader types ``01/05/2026`` as 1 May (day first) when the rows it samples
    allow it; iterate reads ISO-8601 only, and says so."""
    config = _edge_log(tmp_path, "csv", ("01/05/2026 10:00:00", "02/06/2026 11:00:00"))
    with pytest.raises(DataError, match=r"cannot be parsed \(e\.g\. '01/05/2026 10:00:00'.*use ISO-8601"):
        iterate.analyze(config)


def test_ndjson_with_nested_and_oddly_named_columns(tmp_path):
    """An NDJSON log read again with its timestamps as text keeps its other columns and types."""
    lines = [
        '{"user_id": "u1", "timestamp": "2026-01-05T10:00:00+09:00", "event": "purchase", '
        '"props": {"a": 1, "b": [1, 2]}, "it\'s odd": 2.5}',
        '{"user_id": "u2", "timestamp": "2026-01-05T20:00:00-06:00", "event": "purchase", '
        '"props": {"a": 2, "b": []}, "it\'s odd": null}',
    ]
    (tmp_path / "events.ndjson").write_text("\n".join(lines) + "\n")
    write_frame(pl.DataFrame({"user_id": ["u1", "u2"], "variant": ["control", "treatment"],
                              "timestamp": ["2026-01-05T00:00:00Z"] * 2}), tmp_path / "exposures.ndjson", "ndjson")
    config = write_config(tmp_path, events="events.ndjson", exposures="exposures.ndjson",
                          metrics=({"name": "odd", "type": "mean", "event": "purchase", "value": "it's odd"},))
    rows = _normalized_rows(config)["events"]
    assert [row[:3] for row in rows] == [("u1", datetime(2026, 1, 5, 1), "purchase"),
                                         ("u2", datetime(2026, 1, 6, 2), "purchase")]
    assert [row[3] for row in rows] == [2.5, None]


def test_a_folder_of_csv_files_with_different_columns(tmp_path):
    folder = tmp_path / "events"
    write_frame(pl.DataFrame({"user_id": ["u1"], "timestamp": ["2026-01-05T10:00:00+09:00"], "event": ["purchase"]}),
                folder / "a.csv", "csv")
    write_frame(pl.DataFrame({"event": ["purchase"], "platform": ["ios"], "timestamp": ["2026-01-05T10:00:00-06:00"],
                              "user_id": ["u2"]}), folder / "b.csv", "csv")
    write_frame(pl.DataFrame({"user_id": ["u1", "u2"], "variant": ["control", "treatment"],
                              "timestamp": ["2026-01-05T00:00:00Z"] * 2}), tmp_path / "exposures.csv", "csv")
    config = write_config(tmp_path, events="events", exposures="exposures.csv")
    assert [row[:2] for row in _normalized_rows(config)["events"]] == [("u1", datetime(2026, 1, 5, 1)),
                                                                       ("u2", datetime(2026, 1, 5, 16))]


def test_frames_with_zoned_times_or_offset_strings(tmp_path):
    """The Python API's frames: the same instants as the files."""
    instants = [datetime(2026, 1, 5, 23, 30) + timedelta(hours=h) for h in range(0, 48, 7)]
    units = [f"u{i}" for i in range(len(instants))]
    utc = pl.Series(instants).dt.replace_time_zone("UTC")
    exposures = pl.DataFrame({"user_id": units, "variant": ["control", "treatment"] * 3 + ["control"],
                              "timestamp": [datetime(2026, 1, 1)] * len(units)})
    config = write_config(tmp_path, events=None, exposures=None)
    for stamps in (utc.dt.convert_time_zone("Asia/Tokyo"), utc.dt.convert_time_zone("Etc/GMT+6").dt.strftime(ISO)):
        events = pl.DataFrame({"user_id": units, "timestamp": stamps, "event": ["purchase"] * len(units)})
        rows = _normalized_rows(config, events=events, exposures=exposures)["events"]
        assert [row[1] for row in rows] == instants
