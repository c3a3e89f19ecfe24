"""The JSON Schema of the reports: valid draft 2020-12, printed by ``iterate schema``, in step with
the result classes, and strict enough to reject a broken report. (Every JSON report of the whole
suite is validated against it by conftest.py.)"""

from __future__ import annotations

import json
from dataclasses import fields

import jsonschema
import pytest
from click.testing import CliRunner

import iterate
from iterate.calibration import CalibrationResult
from iterate.cli import main
from iterate.planning import Plan
from iterate.report import json_schema, render
from iterate.rollout.result import StageSummary
from iterate.result import Check, Heterogeneity, MetricResult, Reason, Recommendation, TraceStep
from iterate.timeline import TimelinePoint
from schema_validation import VALIDATED, assert_follows_schema

SCHEMA = json.loads(json_schema())


@pytest.fixture(scope="module")
def report():
    result = iterate.analyze("sample_data/experiment.toml", segments="platform")
    return json.loads(render(result, "json"))


def test_the_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_iterate_schema_prints_the_shipped_file():
    printed = CliRunner().invoke(main, ["schema"])
    assert printed.exit_code == 0
    assert json.loads(printed.output) == SCHEMA


def test_an_analysis_report_follows_the_schema_and_the_suite_hook_saw_it(report):
    before = len(VALIDATED)
    render(iterate.analyze("sample_data/experiment.toml"), "json")
    assert len(VALIDATED) == before + 1 and VALIDATED[-1] == "analysis"
    assert_follows_schema(report)


@pytest.mark.parametrize("breakage", [
    lambda r: r.update(verdict="maybe"),
    lambda r: r.pop("metrics"),
    lambda r: r["metrics"][0].update(p_value="0.01"),
    lambda r: r["metrics"][0].update(surprise=1),
    lambda r: r["checks"][0].update(severity="fatal"),
    lambda r: r.update(schema_version=2),
    lambda r: r.update(exit_code=3),
])
def test_a_broken_report_is_rejected(report, breakage):
    broken = json.loads(json.dumps(report))
    breakage(broken)
    with pytest.raises(AssertionError, match="breaks iterate/report/schema.json"):
        assert_follows_schema(broken)


@pytest.mark.parametrize(("definition", "record"), [
    ("metric_row", MetricResult), ("reason", Reason), ("check", Check), ("heterogeneity", Heterogeneity),
    ("timeline_point", TimelinePoint), ("trace_step", TraceStep), ("recommendation", Recommendation),
    ("rollout_stage", StageSummary),
])
def test_each_row_definition_lists_exactly_the_fields_of_its_class(definition, record):
    assert list(SCHEMA["$defs"][definition]["properties"]) == [field.name for field in fields(record)]


def test_the_analysis_definition_lists_exactly_the_document_keys(report):
    analysis = SCHEMA["$defs"]["analysis"]
    assert set(report) <= set(analysis["properties"])
    assert set(analysis["required"]) <= set(report)


@pytest.mark.parametrize(("kind", "record"), [("plan", Plan), ("calibration", CalibrationResult)])
def test_the_plan_and_calibration_definitions_list_exactly_their_fields(kind, record):
    assert list(SCHEMA["$defs"][kind]["properties"]) == ["schema_version", "kind", *(f.name for f in fields(record))]


def test_the_history_listings_follow_the_schema(tmp_path):
    history = tmp_path / "history.duckdb"
    runner = CliRunner()
    assert runner.invoke(main, ["analyze", "sample_data/experiment.toml", "--record", str(history)]).exit_code == 0
    listing = json.loads(runner.invoke(main, ["history", str(history), "--format", "json"]).stdout)
    trajectory = json.loads(runner.invoke(main, ["history", str(history), "--metric", "purchasers", "--format",
                                                 "json"]).stdout)
    for report, kind in ((listing, "history"), (trajectory, "trajectory")):
        assert report["kind"] == kind
        assert_follows_schema(report)
    assert [release["verdict"] for release in listing["releases"]] == ["ship"]
    broken = {**listing, "releases": [{**listing["releases"][0], "verdict": "maybe"}]}
    with pytest.raises(AssertionError, match="breaks iterate/report/schema.json"):
        assert_follows_schema(broken)
