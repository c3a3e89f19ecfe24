"""`iterate analyze --record / --replay` and `iterate history`, through click's CliRunner, on
simulated logs: records, listings, trajectories, figures, replays, [history] in the config, LORD++."""

from __future__ import annotations

import json
import shutil
import sys

import polars as pl
import pytest
from click.testing import CliRunner

import iterate
from iterate.cli import main
from iterate.history.online_fdr import lord_alpha, lord_wealth
from iterate.history.store import HistoryStore


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("simulated")
    iterate.simulate_logs(folder, units=4_000, events=80_000, seed=3, effects={"treatment": {"purchase": 0.3}})
    return folder


@pytest.fixture
def logs(simulated, tmp_path):
    for name in ("events.parquet", "exposures.parquet", "experiment.toml"):
        shutil.copy2(simulated / name, tmp_path / name)
    return tmp_path


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_record_then_list_and_trajectory(logs):
    history = logs / "history.duckdb"
    first = run("analyze", str(logs / "experiment.toml"), "--record", str(history), "--format", "json")
    second = run("analyze", str(logs / "experiment.toml"), "--record", str(history), "--as-of", "2026-01-12T00:00:00Z",
                 "--format", "json")
    documents = [json.loads(first.stdout), json.loads(second.stdout)]
    assert first.exit_code == documents[0]["exit_code"] and second.exit_code == documents[1]["exit_code"]

    listing = run("history", str(history))
    assert listing.exit_code == 0, listing.output
    lines = listing.output.splitlines()
    assert lines[0] == f"{history}: 2 analyses recorded"
    assert lines[1].split() == ["id", "recorded", "(UTC)", "experiment", "verdict", "variant", "config"]
    for line, document in zip(lines[2:], documents):
        assert line.split()[2:4] == ["checkout_v2", document["verdict"]]
        assert line.split()[-1] == document["provenance"]["config_hash"].removeprefix("sha256:")[:12]

    as_json = json.loads(run("history", str(history), "--format", "json").output)
    assert [r["config_hash"] for r in as_json["releases"]] == [d["provenance"]["config_hash"] for d in documents]
    assert as_json["releases"][0]["recommended_variant"] == ("treatment" if documents[0]["verdict"] == "ship" else None)

    trajectory = json.loads(run("history", str(history), "--metric", "purchasers", "--format", "json").output)
    rows = [next(m for m in d["metrics"] if m["name"] == "purchasers") for d in documents]
    assert [p["relative_effect"] for p in trajectory["points"]] == [r["relative_effect"] for r in rows]
    assert [p["relative_ci_low"] for p in trajectory["points"]] == [r["relative_ci_low"] for r in rows]
    low_first = rows[0]["relative_effect"] < rows[1]["relative_effect"]
    assert trajectory["sparkline"] == ("▁█" if low_first else "█▁")
    text = run("history", str(history), "--metric", "purchasers").output
    assert f"{rows[0]['relative_effect']:+.2%}" in text and text.rstrip().endswith(trajectory["sparkline"])


def test_plots_and_their_errors(logs, monkeypatch):
    history = logs / "history.duckdb"
    run("analyze", str(logs / "experiment.toml"), "--record", str(history))
    png, svg = logs / "t.png", logs / "t.svg"
    assert run("history", str(history), "--metric", "purchasers", "--plot", str(png)).exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run("history", str(history), "--metric", "purchasers", "--plot", str(svg)).exit_code == 0
    assert b"<svg" in svg.read_bytes()[:500]
    wrong = run("history", str(history), "--metric", "purchasers", "--plot", str(logs / "t.jpg"))
    assert wrong.exit_code == 2 and ".png or .svg" in wrong.output
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    missing = run("history", str(history), "--metric", "purchasers", "--plot", str(logs / "u.png"))
    assert missing.exit_code == 2 and "pip install 'iterate[plot]'" in missing.output
    assert not (logs / "u.png").exists()
    unknown = run("history", str(history), "--metric", "purchaser")
    assert unknown.exit_code == 2 and "did you mean `purchasers`" in unknown.output


def test_paths_that_are_not_histories_exit_2(logs):
    for path, fragment in ((logs / "events.parquet", "is not an iterate history file"),
                           (logs / "nothing.duckdb", "does not exist")):
        listed = run("history", str(path))
        assert listed.exit_code == 2 and fragment in listed.output and "Traceback" not in listed.output
    before = (logs / "events.parquet").read_bytes()
    recorded = run("analyze", str(logs / "experiment.toml"), "--record", str(logs / "events.parquet"))
    assert recorded.exit_code == 2 and "is not an iterate history file" in recorded.output
    assert (logs / "events.parquet").read_bytes() == before


def test_replay_says_whether_data_and_verdict_changed(logs):
    history = logs / "history.duckdb"
    original = run("analyze", str(logs / "experiment.toml"), "--record", str(history), "--format", "json")
    same = run("analyze", "--replay", f"{history}#1", "--format", "json")
    replay_check = next(c for c in json.loads(same.stdout)["checks"] if c["name"] == "replay")
    assert replay_check["passed"] and replay_check["details"]["differences"] == []
    assert same.exit_code == original.exit_code
    assert "the data is unchanged; the verdict is the same" in replay_check["message"]

    events = pl.read_parquet(logs / "events.parquet")
    events.head(events.height // 2).write_parquet(logs / "events.parquet")
    changed = run("analyze", "--replay", str(history), "--format", "json")  # the latest record
    check = next(c for c in json.loads(changed.stdout)["checks"] if c["name"] == "replay")
    assert not check["passed"] and check["details"]["data_changed"]
    assert f"events: {events.height:,} rows then, {events.height // 2:,} now" in check["details"]["differences"]
    assert any("events: file" in d and "bytes" in d for d in check["details"]["differences"])
    assert check["details"]["config_hash_same"]

    for spec, fragment in ((f"{history}#x", "is not a record id"), (f"{history}#7", "no record #7")):
        bad = run("analyze", "--replay", spec)
        assert bad.exit_code == 2 and fragment in bad.output
    both = run("analyze", str(logs / "experiment.toml"), "--replay", f"{history}#1")
    assert both.exit_code == 2 and "not both" in both.output
    neither = run("analyze")
    assert neither.exit_code == 2 and "Missing argument 'CONFIG'" in neither.output


def test_history_table_of_the_config_records_relative_to_the_config(logs):
    config = logs / "experiment.toml"
    config.write_text(config.read_text() + '\n[history]\npath = "records/history.duckdb"\n'
                      'budget = { crashes_per_user = 0.5 }\n')
    (logs / "records").mkdir()
    result = run("analyze", str(config), "--format", "json")
    document = json.loads(result.stdout)
    assert [r.experiment for r in HistoryStore(logs / "records" / "history.duckdb").releases()] == ["checkout_v2"]
    budget = next(c for c in document["checks"] if c["name"] == "release_budget")
    crashes = next(m for m in document["metrics"] if m["name"] == "crashes_per_user")
    if document["verdict"] == "ship":  # this release counts only if it ships; crashes: decrease is good
        assert budget["details"]["this_release"] == pytest.approx(crashes["relative_effect"])
    else:
        assert budget["details"]["this_release"] is None


def test_online_fdr_sets_the_success_alpha_from_the_history(logs):
    config = logs / "experiment.toml"
    config.write_text(config.read_text() + '\n[history]\npath = "history.duckdb"\nfdr = "lord"\nw0 = 0.025\n')
    first = json.loads(run("analyze", str(config), "--format", "json").output)
    reason = next(r for r in first["reasons"] if r["rule"] == "online_fdr")
    assert reason["details"]["alpha"] == pytest.approx(lord_alpha(1, (), alpha=0.05, w0=0.025))
    assert reason["details"]["wealth"] == pytest.approx(0.025)
    assert f"alpha {reason['details']['alpha']:.4g}" in reason["message"]

    second_config = logs / "second.toml"
    second_config.write_text(config.read_text().replace('name = "checkout_v2"', 'name = "checkout_v3"', 1))
    (pl.read_parquet(logs / "exposures.parquet").with_columns(experiment=pl.lit("checkout_v3"))
     .write_parquet(logs / "exposures_v3.parquet"))
    second = json.loads(run("analyze", str(second_config), "--format", "json",
                            "--exposures", str(logs / "exposures_v3.parquet")).stdout)
    discoveries = (1,) if first["verdict"] == "ship" else ()
    reason = next(r for r in second["reasons"] if r["rule"] == "online_fdr")
    assert reason["details"]["release"] == 2 and tuple(reason["details"]["discoveries"]) == discoveries
    assert reason["details"]["alpha"] == pytest.approx(lord_alpha(2, discoveries, alpha=0.05, w0=0.025))
    assert reason["details"]["wealth"] == pytest.approx(lord_wealth(2, discoveries, alpha=0.05, w0=0.025))
    releases = HistoryStore(logs / "history.duckdb").releases()
    assert [r.fdr_alpha for r in releases] == pytest.approx([lord_alpha(1, (), alpha=0.05, w0=0.025),
                                                             reason["details"]["alpha"]])
