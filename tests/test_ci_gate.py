"""The CLI as a CI gate: several formats into a folder, ``--fail-on`` choosing which verdicts fail the
job (only the exit code changes, never a report), and every destination checked before the analysis."""

from __future__ import annotations

import json

import pytest

from helpers import file_hashes, without_run_time
from iterate.result import EXIT_CODES
from test_cli import NO_DIFFERENCE, ROLLBACK, SHIP, run, setup

CASES = {"ship": SHIP, "rollback": ROLLBACK, "continue": NO_DIFFERENCE}


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    return {verdict: setup(tmp_path_factory.mktemp(verdict), *arms) for verdict, arms in CASES.items()}


@pytest.mark.parametrize("verdict", list(CASES))
@pytest.mark.parametrize("fail_on", ["rollback,invalid", "continue", "ship,rollback,continue,inconclusive,invalid"])
def test_fail_on_changes_the_exit_code_and_nothing_else(configs, tmp_path, verdict, fail_on):
    default = run("analyze", configs[verdict], "--format", "json")
    chosen = run("analyze", configs[verdict], "--format", "json", "--fail-on", fail_on)
    assert json.loads(default.output)["verdict"] == verdict
    assert default.exit_code == (0 if verdict == "ship" else EXIT_CODES[verdict])
    assert chosen.exit_code == (EXIT_CODES[verdict] if verdict in fail_on.split(",") else 0)
    assert without_run_time(chosen.output) == without_run_time(default.output)


def test_several_formats_go_to_one_file_each(configs, tmp_path):
    folder = tmp_path / "reports" / "nested"
    result = run("analyze", configs["continue"], "--format", "json,text", "--output-dir", folder, "--fail-on",
                 "rollback")
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in folder.iterdir()) == ["exp.json", "exp.txt"]
    assert without_run_time((folder / "exp.json").read_text()) == without_run_time(
        run("analyze", configs["continue"], "--format", "json").output)
    assert (folder / "exp.txt").read_text() == run("analyze", configs["continue"]).output
    assert "continue (exit code 11); reports written to" in result.stderr


@pytest.mark.parametrize(("arguments", "message"), [
    (["--format", "json,text"], "give --output-dir DIR"),
    (["--format", "json,pdf"], "'pdf' given; choose among"),
    (["--format", ","], "nothing given"),
    (["--fail-on", "rollback,rolback"], "'rolback' given; choose among ship, rollback"),
    (["--output", "a.json", "--output-dir", "out"], "use --output FILE for one format or --output-dir DIR"),
])
def test_bad_output_options_are_refused_before_any_analysis(configs, tmp_path, monkeypatch, arguments, message):
    monkeypatch.chdir(tmp_path)
    result = run("analyze", configs["ship"], *arguments)
    assert result.exit_code == 2
    assert message in result.output
    assert list(tmp_path.iterdir()) == []


def test_an_output_dir_that_is_a_file_is_refused_and_kept(configs, tmp_path):
    occupied = tmp_path / "reports"
    occupied.write_text("not a folder")
    before = file_hashes(occupied)
    result = run("analyze", configs["ship"], "--format", "json,text", "--output-dir", occupied)
    assert result.exit_code == 2
    assert "is a file" in result.output
    assert file_hashes(occupied) == before


def test_a_hostile_experiment_name_stays_in_the_folder(tmp_path):
    from iterate.report.delivery import file_name

    assert file_name("../../etc/passwd", "json") == "_.._etc_passwd.json"
    assert file_name("..", "text") == "report.txt"


def test_every_format_declares_its_own_file_extension():
    from importlib import import_module

    from iterate.report import FORMATS

    extensions = [import_module(module).EXTENSION for module in FORMATS.values()]
    assert all(extension.startswith(".") for extension in extensions)
    assert len(set(extensions)) == len(extensions)


def test_a_ci_job_gets_json_markdown_and_junit_it_can_parse(configs, tmp_path):
    from xml.etree import ElementTree

    from markdown_it import MarkdownIt

    result = run("analyze", configs["rollback"], "--format", "json,markdown,junit", "--output-dir", tmp_path)
    assert result.exit_code == 10
    report = json.loads((tmp_path / "exp.json").read_text())
    assert report["verdict"] == "rollback"
    markdown = (tmp_path / "exp.md").read_text()
    assert "ROLL BACK" in markdown.splitlines()[0]
    assert any(token.type == "table_open" for token in MarkdownIt("commonmark").enable("table").parse(markdown))
    suite = ElementTree.parse(tmp_path / "exp.junit.xml").getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(report["metrics"]) + len(report["segments"]) + len(report["checks"])
    assert int(suite.get("failures")) >= 1
