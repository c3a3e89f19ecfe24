"""``iterate rollout`` as a CI / progressive-delivery gate: exit codes per verdict (0 advance, 10
rollback, 11 hold, 2 bad input), every format (the JSON validated against the schema by conftest),
``--fail-on`` and ``--explain``."""

from __future__ import annotations

import json
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt

from helpers import write_logs, without_run_time
from iterate.cli import main
from schema_validation import assert_follows_schema
from test_ramp import ramp_config, ramp_logs


def run(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args])


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    """A harmless ramp (advance), a harmful one (+50% crashes: rollback), and the harmless one judged
    during its first stage (hold: 1% of 2,000 units is too few to show the guardrail non-inferior)."""
    made = {}
    for name, crash_rate in (("advance", (0.1, 0.1)), ("rollback", (0.1, 0.15))):
        folder = tmp_path_factory.mktemp(name)
        events, exposures, _ = ramp_logs(11, crash_rate=crash_rate, scale=0.2)
        write_logs(folder, events, exposures)
        made[name] = ramp_config(folder)
    folder = tmp_path_factory.mktemp("hold")
    events, exposures, _ = ramp_logs(11, stages=1, scale=0.2)
    write_logs(folder, events, exposures)
    made["hold"] = ramp_config(folder)
    return made


@pytest.mark.parametrize(("verdict", "code"), [("advance", 0), ("rollback", 10), ("hold", 11)])
def test_each_verdict_has_its_exit_code_and_every_format_parses(configs, tmp_path, verdict, code):
    result = run("rollout", configs[verdict], "--format", "text,json,markdown,junit", "--output-dir", tmp_path)
    assert result.exit_code == code, result.output
    report = json.loads((tmp_path / "exp.json").read_text())
    assert_follows_schema(report)
    assert (report["kind"], report["rollout"], report["verdict"], report["exit_code"]) == ("rollout", "ramp", verdict,
                                                                                          code)
    text = (tmp_path / "exp.txt").read_text()
    assert text.splitlines()[0].startswith(f"exp (ramp): {verdict.upper().replace('ROLLBACK', 'ROLL BACK')}")
    markdown = (tmp_path / "exp.md").read_text()
    assert markdown.splitlines()[0].startswith(f"## {verdict.upper().replace('ROLLBACK', 'ROLL BACK')}: exp (ramp")
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    assert sum(token.type == "table_open" for token in tokens) >= 2  # stages and metrics
    suite = ElementTree.parse(tmp_path / "exp.junit.xml").getroot().find("testsuite")
    assert len(suite.findall("testcase")) == len(report["metrics"]) + len(report["checks"])
    properties = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert (properties["verdict"], properties["exit_code"]) == (verdict, str(code))
    failures = [case.find("failure") for case in suite.findall("testcase") if case.find("failure") is not None]
    assert any(f.get("type") == "harm" for f in failures) is (verdict == "rollback")


def test_the_harmful_ramp_names_the_harm_with_its_numbers(configs):
    report = json.loads(run("rollout", configs["rollback"], "--format", "json").stdout)
    harm = next(reason for reason in report["reasons"] if reason["rule"] == "harm")
    crashed = next(row for row in report["metrics"] if row["name"] == "crashed")
    assert harm["metric"] == "crashed" and crashed["outcome"] == "worse"
    assert f"{crashed['effect']:+.4g}" in harm["message"]


def test_fail_on_changes_only_the_exit_code(configs):
    default = run("rollout", configs["hold"], "--format", "json")
    lenient = run("rollout", configs["hold"], "--format", "json", "--fail-on", "rollback,invalid")
    assert (default.exit_code, lenient.exit_code) == (11, 0)
    assert without_run_time(default.stdout) == without_run_time(lenient.stdout)


def test_explain_lists_the_rules_and_ends_with_the_verdict(configs):
    result = run("rollout", configs["advance"], "--explain")
    trace = result.stdout.partition("\nDecision trace of exp")[2]
    assert trace.startswith(" (verdict advance)")
    steps = [line.split()[1] for line in trace.splitlines() if line[:6].strip().rstrip(".").isdigit()]
    assert steps[0].startswith("check_srm") and "noninferiority" in steps and steps[-1] == "verdict"


@pytest.mark.parametrize(("arguments", "message"), [
    (["--fail-on", "advanse"], "'advanse' given; choose among advance, rollback, hold, invalid"),
    (["--format", "pdf"], "'pdf' given; choose among"),
])
def test_bad_options_exit_2(configs, arguments, message):
    result = run("rollout", configs["advance"], *arguments)
    assert result.exit_code == 2 and message in result.output


def test_a_config_without_a_rollout_table_is_refused_with_the_fix(tmp_path):
    result = run("rollout", "sample_data/experiment.toml")
    assert result.exit_code == 2
    assert "[rollout]" in result.output


def test_record_appends_the_rollout_to_the_history_beside_analyses(configs, tmp_path):
    history = tmp_path / "history.duckdb"
    assert run("analyze", "sample_data/experiment.toml", "--record", history).exit_code == 0
    assert run("rollout", configs["hold"], "--record", history).exit_code == 11
    assert run("rollout", configs["advance"], "--record", history).exit_code == 0
    listing = json.loads(run("history", history, "--format", "json").stdout)
    assert_follows_schema(listing)
    assert [(r["experiment"], r["verdict"], r["recommended_variant"]) for r in listing["releases"]] == [
        ("checkout_v2", "ship", "treatment"), ("exp", "hold", None), ("exp", "advance", None)]
    trajectory = json.loads(run("history", history, "--metric", "crashed", "--format", "json").stdout)
    advance = json.loads(run("rollout", configs["advance"], "--format", "json").stdout)
    crashed = next(row for row in advance["metrics"] if row["name"] == "crashed")
    assert trajectory["points"][-1]["relative_effect"] == pytest.approx(crashed["relative_effect"], rel=1e-12)


def test_record_into_a_file_that_is_not_a_history_is_refused_before_the_judgement(configs, tmp_path):
    from helpers import file_hashes

    log = configs["advance"].parent / "events.parquet"
    before = file_hashes(log)
    result = run("rollout", configs["advance"], "--record", log)
    assert result.exit_code == 2 and "is not an iterate history file" in result.output
    assert file_hashes(log) == before
