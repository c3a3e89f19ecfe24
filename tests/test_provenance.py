"""Provenance of an analysis: the config hash (canonical, blind to comments and key order) and the
data fingerprint (files, row counts, time ranges) checked against the files and polars."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone

import polars as pl
import pytest

import iterate
from helpers import at, write_config, write_logs
from iterate.config import load_config
from iterate.config.document import experiment_document, experiment_from_document
from iterate.provenance import config_hash, fingerprint_differences

METRICS = ({"name": "conversion", "type": "proportion", "event": "purchase"},
           {"name": "opens", "type": "count", "event": "app_open", "role": "guardrail", "direction": "increase",
            "margin": 0.05})


def _logs(units: int = 400) -> tuple[list[dict], list[dict]]:
    exposures = [{"user_id": f"u{i}", "experiment": "exp", "variant": "control" if i % 2 else "treatment",
                  "timestamp": at(hours=i % 48)} for i in range(units)]
    events = [{"user_id": f"u{i}", "timestamp": at(hours=i % 48, minutes=30 + k), "event": event, "value": 1.0}
              for i in range(units) for k, event in enumerate(["app_open", "purchase"] if i % 3 else ["app_open"])]
    return events, exposures


@pytest.fixture
def experiment_dir(tmp_path):
    events, exposures = _logs()
    write_logs(tmp_path, events, exposures)
    write_config(tmp_path, metrics=METRICS)
    return tmp_path


def test_document_carries_hash_version_time_and_fingerprint(experiment_dir):
    events, exposures = _logs()
    result = iterate.analyze(experiment_dir / "experiment.toml")
    document = result.to_dict()["provenance"]
    canonical = json.dumps({k: v for k, v in experiment_document(load_config(experiment_dir / "experiment.toml")).items()
                            if k not in ("events", "exposures")}, sort_keys=True, separators=(",", ":"))
    assert document["config_hash"] == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    assert document["iterate_version"] == iterate.__version__
    generated = datetime.fromisoformat(document["generated_at"].replace("Z", "+00:00"))
    assert abs((datetime.now(timezone.utc) - generated).total_seconds()) < 120
    for role, rows in (("events", events), ("exposures", exposures)):
        log = document["data"][role]
        path = experiment_dir / f"{role}.parquet"
        assert log["files"] == [{"path": str(path), "size": path.stat().st_size,
                                 "modified_at": datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
                                 .replace(tzinfo=None).isoformat() + "Z"}]
        assert log["rows"] == len(rows) == pl.read_parquet(path).height
        stamps = [row["timestamp"] for row in rows]
        assert log["time_range"] == {"min": min(stamps).isoformat() + "Z", "max": max(stamps).isoformat() + "Z"}


def test_row_counts_cost_no_scan_of_a_parquet_log(experiment_dir):
    from helpers import RecordingEngine

    engine = RecordingEngine()
    try:
        iterate.analyze(experiment_dir / "experiment.toml", engine=engine)
    finally:
        engine.close()
    # the row check of a typed Parquet log reads the footers (no column_problems scan), and the
    # fingerprint adds only the exposures' time range (one query on the exposures log)
    assert "column_problems" not in engine.templates
    assert engine.templates.count("event_time_range") == 2


def test_hash_ignores_comments_key_order_and_log_paths_but_not_settings(tmp_path):
    first = write_config(tmp_path, "a.toml", metrics=METRICS, experiment_extra={"alpha": 0.05, "pre_period": "7d"})
    text = first.read_text()
    reordered = text.replace('alpha = 0.05\npre_period = "7d"', '# the team agreed on these\npre_period = "7d"\nalpha = 0.05')
    assert reordered != text
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "b.toml").write_text(reordered)
    assert config_hash(load_config(first)) == config_hash(load_config(tmp_path / "other" / "b.toml"))
    stricter = write_config(tmp_path, "c.toml", metrics=METRICS, experiment_extra={"alpha": 0.01})
    assert config_hash(load_config(stricter)) != config_hash(load_config(first))


def test_overrides_are_part_of_the_hash(experiment_dir):
    config = experiment_dir / "experiment.toml"
    plain = iterate.analyze(config).to_dict()["provenance"]["config_hash"]
    as_of = iterate.analyze(config, as_of=at(days=3)).to_dict()["provenance"]["config_hash"]
    again = iterate.analyze(config, as_of=at(days=3)).to_dict()["provenance"]["config_hash"]
    assert plain != as_of == again
    assert as_of == config_hash(load_config(config).replace(as_of=at(days=3)))


def test_frames_from_python_are_in_memory_frames_with_their_rows(experiment_dir):
    events, exposures = _logs()
    result = iterate.analyze(load_config(experiment_dir / "experiment.toml"), events=pl.DataFrame(events),
                             exposures=pl.DataFrame(exposures))
    data = result.to_dict()["provenance"]["data"]
    assert data["events"]["source"] == data["exposures"]["source"] == "in-memory frame"
    assert data["events"]["files"] == []
    assert (data["events"]["rows"], data["exposures"]["rows"]) == (len(events), len(exposures))


def test_a_folder_is_expanded_and_sorted_and_csv_rows_are_counted(tmp_path):
    events, exposures = _logs()
    folder = tmp_path / "events"
    folder.mkdir()
    half = len(events) // 2
    for name, part in (("b.csv", events[:half]), ("a.csv", events[half:])):
        pl.DataFrame(part).write_csv(folder / name)
    write_logs(tmp_path, events[:1], exposures)
    config = write_config(tmp_path, events="events", metrics=METRICS)
    log = iterate.analyze(config).to_dict()["provenance"]["data"]["events"]
    assert [f["path"] for f in log["files"]] == [str(folder / "a.csv"), str(folder / "b.csv")]
    assert [f["size"] for f in log["files"]] == [os.path.getsize(folder / n) for n in ("a.csv", "b.csv")]
    assert log["rows"] == len(events)


def test_exposures_from_an_exposure_event_share_the_events_fingerprint(tmp_path):
    events, exposures = _logs()
    rows = events + [{"user_id": e["user_id"], "timestamp": e["timestamp"], "event": "exposure", "value": None,
                      "variant": e["variant"]} for e in exposures]
    rows = [{**row, "variant": row.get("variant")} for row in rows]
    pl.DataFrame(rows, infer_schema_length=None).write_parquet(tmp_path / "events.parquet")
    config = write_config(tmp_path, metrics=METRICS, exposures=None, extra="")
    text = config.read_text().replace('events = "events.parquet"', 'events = "events.parquet"\nexposure_event = "exposure"')
    config.write_text(text)
    data = iterate.analyze(config).to_dict()["provenance"]["data"]
    assert data["exposures"]["exposure_event"] == "exposure"
    assert data["exposures"]["rows"] == data["events"]["rows"] == len(rows)


def test_stored_config_round_trips_and_differences_are_named(experiment_dir):
    experiment = load_config(experiment_dir / "experiment.toml").replace(as_of=at(days=2), segments=("platform",))
    document = json.loads(json.dumps(experiment_document(experiment)))
    assert experiment_from_document(document) == experiment
    old = {"events": {"files": [{"path": "a", "size": 1, "modified_at": "t0"}], "rows": 5,
                      "time_range": {"min": "m", "max": "x"}}}
    new = {"events": {"files": [{"path": "a", "size": 2, "modified_at": "t1"}, {"path": "b", "size": 1, "modified_at": "t"}],
                      "rows": 6, "time_range": {"min": "m", "max": "y"}}}
    assert fingerprint_differences(old, new) == [
        "events: file b is new", "events: file a was 1 bytes, is 2", "events: 5 rows then, 6 now",
        "events: last timestamp x then, y now"]
    assert fingerprint_differences(old, old) == []


def test_the_text_and_markdown_reports_end_with_the_provenance():
    from iterate.report import render

    result = iterate.analyze("sample_data/experiment.toml")
    logs = {log: pl.read_parquet(f"sample_data/{log}.parquet") for log in ("events", "exposures")}

    def described(log: str) -> str:
        times = logs[log]["timestamp"]
        return (f"{log} {logs[log].height:,} rows, {times.min():%Y-%m-%d %H:%M} to {times.max():%Y-%m-%d %H:%M} UTC, "
                "1 file")

    expected = (f"iterate {iterate.__version__}; config {result.provenance.config_hash}; "
                f"{described('events')}; {described('exposures')}")
    assert render(result, "text").splitlines()[-1] == f"From: {expected}"
    assert render(result, "markdown").rstrip().splitlines()[-1] == f"Reported by {expected}."


def test_plan_and_calibration_reports_carry_the_same_config_hash_and_their_logs():
    import polars as pl

    from iterate.report import render

    analysis = json.loads(render(iterate.analyze("sample_data/experiment.toml"), "json"))["provenance"]
    plan = json.loads(render(iterate.plan("sample_data/experiment.toml", mde=0.05), "json"))["provenance"]
    calibration = json.loads(render(iterate.calibrate("sample_data/experiment.toml", replicates=10), "json"))["provenance"]
    assert plan["config_hash"] == calibration["config_hash"] == analysis["config_hash"]
    assert list(plan["data"]) == ["events"]  # a plan reads the events log only
    assert calibration["data"] == analysis["data"]
    events = pl.read_parquet("sample_data/events.parquet")
    assert plan["data"]["events"]["rows"] == events.height
    assert plan["data"]["events"]["time_range"]["max"] == events["timestamp"].max().isoformat() + "Z"
