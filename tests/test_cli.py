"""The command line through click's CliRunner: exit codes are the verdicts (DESIGN.md CI contract),
the JSON report has the documented fields, and ``iterate --help`` stays light.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from helpers import at, file_hashes, write_config, write_logs
from iterate.cli import main

ROOT = Path(__file__).resolve().parents[1]
METRIC_FIELDS = {
    "name", "variant", "role", "type", "n_control", "n_treatment", "control_mean", "treatment_mean",
    "effect", "ci_low", "ci_high", "relative_effect", "relative_ci_low", "relative_ci_high", "relative_status", "p_value",
    "status", "method",
}


def arm_logs(arms: dict[str, tuple[int, dict[str, float]]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Deterministic logs: in an arm of n units, the first round(rate * n) units do the event once."""
    exposures, events = [], []
    for variant, (units, rates) in arms.items():
        for i in range(units):
            user = f"{variant}-{i}"
            exposures.append({"user_id": user, "experiment": "exp", "variant": variant, "timestamp": at(minutes=i)})
            for name, rate in rates.items():
                if i < round(rate * units):
                    events.append({"user_id": user, "timestamp": at(minutes=i, hours=1), "event": name, "value": 1.0})
    return pl.DataFrame(events), pl.DataFrame(exposures)


def metrics(crash_direction: str = "decrease"):
    return (
        {"name": "conversion", "type": "proportion", "event": "purchase", "role": "success", "direction": "increase"},
        {"name": "crashes", "type": "count", "event": "crash", "role": "guardrail", "direction": crash_direction},
    )


def setup(tmp_path, control: dict[str, float], treatment: dict[str, float], *, n_control=1000, n_treatment=1000,
          crash_direction="decrease") -> Path:
    events, exposures = arm_logs({"control": (n_control, control), "treatment": (n_treatment, treatment)})
    write_logs(tmp_path, events, exposures)
    return write_config(tmp_path, metrics=metrics(crash_direction))


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


SHIP = ({"purchase": 0.10, "crash": 0.05}, {"purchase": 0.30, "crash": 0.05})
ROLLBACK = ({"purchase": 0.10, "crash": 0.05}, {"purchase": 0.10, "crash": 0.20})
NO_DIFFERENCE = ({"purchase": 0.10, "crash": 0.05}, {"purchase": 0.10, "crash": 0.05})


def test_ship_exit_code_0(tmp_path):
    result = run("analyze", setup(tmp_path, *SHIP))
    assert result.exit_code == 0, result.output
    assert "SHIP" in result.output


def test_rollback_exit_code_10_when_a_guardrail_is_much_worse(tmp_path):
    result = run("analyze", setup(tmp_path, *ROLLBACK))
    assert result.exit_code == 10, result.output


def test_rollback_when_the_success_metric_is_much_worse(tmp_path):
    control, treatment = SHIP
    result = run("analyze", setup(tmp_path, treatment, control))
    assert result.exit_code == 10, result.output


def test_direction_is_respected(tmp_path):
    """More crashes is harm only when fewer is good; with direction increase, fewer crashes is harm."""
    control, treatment = ROLLBACK
    more_is_good = run("analyze", setup(tmp_path / "a", control, treatment, crash_direction="increase"))
    assert more_is_good.exit_code == 11, more_is_good.output
    fewer_is_bad = run("analyze", setup(tmp_path / "b", treatment, control, crash_direction="increase"))
    assert fewer_is_bad.exit_code == 10, fewer_is_bad.output
    fewer_is_good = run("analyze", setup(tmp_path / "c", treatment, control, crash_direction="decrease"))
    assert fewer_is_good.exit_code == 11, fewer_is_good.output


def test_invalid_exit_code_13_on_sample_ratio_mismatch(tmp_path):
    control, treatment = NO_DIFFERENCE
    config = setup(tmp_path, control, treatment, n_control=700, n_treatment=300)
    result = run("analyze", config, "--format", "json")
    assert result.exit_code == 13, result.output
    report = json.loads(result.output)
    assert report["verdict"] == "invalid"
    srm = next(check for check in report["checks"] if check["name"] == "srm")
    assert srm["passed"] is False
    # chi-square of 700/300 against 500/500 by hand: 2 * 200**2 / 500 = 160
    assert srm["details"]["statistic"] == pytest.approx(160.0)


def test_continue_exit_code_11_without_difference(tmp_path):
    result = run("analyze", setup(tmp_path, *NO_DIFFERENCE))
    assert result.exit_code == 11, result.output


def test_json_report_has_the_documented_fields(tmp_path):
    result = run("analyze", setup(tmp_path, *SHIP), "--format", "json")
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert report["schema_version"] == 1
    assert report["verdict"] == "ship"
    assert isinstance(report["reasons"], list) and report["reasons"]
    assert isinstance(report["checks"], list) and report["checks"]
    assert len(report["metrics"]) == 2
    for row in report["metrics"]:
        assert METRIC_FIELDS <= set(row), METRIC_FIELDS - set(row)
        assert row["variant"] == "treatment"
        assert (row["n_control"], row["n_treatment"]) == (1000, 1000)
    conversion = next(row for row in report["metrics"] if row["name"] == "conversion")
    assert (conversion["role"], conversion["type"], conversion["status"]) == ("success", "proportion", "ok")
    assert conversion["control_mean"] == pytest.approx(0.10)
    assert conversion["treatment_mean"] == pytest.approx(0.30)
    assert conversion["effect"] == pytest.approx(0.20)
    assert conversion["relative_effect"] == pytest.approx(2.0)
    assert conversion["ci_low"] < 0.20 < conversion["ci_high"]
    assert conversion["p_value"] < 1e-10


def test_output_file_gets_the_same_json_and_the_verdict_exit_code(tmp_path):
    config = setup(tmp_path, *SHIP)
    printed = run("analyze", config, "--format", "json")
    target = tmp_path / "report.json"
    inputs = file_hashes(tmp_path / "events.parquet", tmp_path / "exposures.parquet", config)
    written = run("analyze", config, "--format", "json", "--output", target)
    assert written.exit_code == printed.exit_code == 0
    # parallel aggregation may change the last bits of a variance between runs: compare to 1e-12
    file_report, printed_report = json.loads(target.read_text()), json.loads(printed.output)
    # the one field holding the time of the run differs between the two runs
    assert file_report["provenance"].pop("generated_at") != printed_report["provenance"].pop("generated_at")
    _assert_same(file_report, printed_report)
    assert file_hashes(tmp_path / "events.parquet", tmp_path / "exposures.parquet", config) == inputs
    # and a rollback written to a file still exits 10
    rollback = run("analyze", setup(tmp_path / "r", *ROLLBACK), "--format", "json", "--output", tmp_path / "r.json")
    assert rollback.exit_code == 10
    assert json.loads((tmp_path / "r.json").read_text())["verdict"] == "rollback"


def _assert_same(left, right):
    if isinstance(left, float) and isinstance(right, float):
        assert left == pytest.approx(right, rel=1e-12, abs=1e-300)
    elif isinstance(left, dict) and isinstance(right, dict):
        assert left.keys() == right.keys()
        for key in left:
            _assert_same(left[key], right[key])
    elif isinstance(left, list) and isinstance(right, list):
        assert len(left) == len(right)
        for a, b in zip(left, right):
            _assert_same(a, b)
    else:
        assert left == right


def test_help():
    result = run("--help")
    assert result.exit_code == 0
    assert "analyze" in result.output
    result = run("analyze", "--help")
    assert result.exit_code == 0
    assert "--format" in result.output


HEAVY = ("duckdb", "polars", "scipy")


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def test_python_m_iterate_help_does_not_import_heavy_modules():
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "iterate", "--help"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "analyze" in completed.stdout
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in completed.stderr.splitlines() if line.startswith("import time:")
    }
    assert "click" in imported  # the parsing works
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_importing_the_cli_does_not_import_heavy_modules():
    script = (
        "import sys, iterate.cli; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    completed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == ""


NUMPY_IMPORT_WATCH = """
import sys, traceback
import iterate
package = iterate.__file__.rsplit("/", 1)[0]
by_iterate = []


class Watch:
    def find_spec(self, name, path=None, target=None):
        if name in ("numpy", "scipy"):
            importer = [f.filename for f in traceback.extract_stack() if not f.filename.startswith("<")][-1]
            if importer.startswith(package):
                by_iterate.append(name)
        return None


sys.meta_path.insert(0, Watch())
result = iterate.analyze("sample_data/experiment.toml")
assert result.verdict == "ship", result.verdict
print(",".join(sorted(set(by_iterate))))
"""


def test_a_plain_analysis_imports_neither_numpy_nor_scipy():
    """Importing NumPy and SciPy costs about 0.3 s of CPU, taken from the engine on a small machine;
    proportions, means and counts without CUPED, sequential or Bayesian options need neither.
    (Some DuckDB versions import pandas, and so NumPy, themselves: only imports written in iterate count.)"""
    completed = subprocess.run([sys.executable, "-c", NUMPY_IMPORT_WATCH], cwd=ROOT, env=_env(), capture_output=True,
                               text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == ""
