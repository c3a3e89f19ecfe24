"""Every verdict of a real analysis in every report format: each renders, and each parses with a
standard parser (markdown-it-py for Markdown, ``xml.etree`` for JUnit, ``json`` for JSON)."""

from __future__ import annotations

import json
from xml.etree import ElementTree

import pytest
from markdown_it import MarkdownIt

from iterate.report import FORMATS, render
from iterate.report.wording import VERDICT_LABELS

VERDICTS = ("ship", "rollback", "continue", "inconclusive", "invalid")
EXIT_CODES = {"ship": 0, "rollback": 10, "continue": 11, "inconclusive": 12, "invalid": 13}


def test_the_simulations_produce_each_verdict(by_verdict):
    assert {verdict: result.verdict for verdict, result in by_verdict.items()} == {v: v for v in VERDICTS}


def test_every_format_is_tested_here():
    assert set(FORMATS) == {"text", "json", "markdown", "junit"}


@pytest.mark.parametrize("verdict", VERDICTS)
def test_text(by_verdict, verdict):
    result = by_verdict[verdict]
    first = render(result, "text").splitlines()[0]
    assert first == f"checkout_v2: {_text_label(verdict)}  (exit code {EXIT_CODES[verdict]})"


@pytest.mark.parametrize("verdict", VERDICTS)
def test_json(by_verdict, verdict):
    document = json.loads(render(by_verdict[verdict], "json"))
    assert document["verdict"] == verdict and document["exit_code"] == EXIT_CODES[verdict]
    assert len(document["metrics"]) == len(by_verdict[verdict].metric_results)


@pytest.mark.parametrize("verdict", VERDICTS)
def test_markdown(by_verdict, verdict):
    result = by_verdict[verdict]
    text = render(result, "markdown")
    assert text.splitlines()[0] == (f"## {VERDICT_LABELS[verdict]}: checkout\\_v2 "
                                    f"(verdict {verdict}, exit code {EXIT_CODES[verdict]})")
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    assert tokens[0].type == "heading_open" and tokens[1].children[0].content == (
        f"{VERDICT_LABELS[verdict]}: checkout_v2 (verdict {verdict}, exit code {EXIT_CODES[verdict]})")
    tables = _tables(tokens)
    metrics = tables[0]
    assert metrics[0][:8] == ["metric", "variant", "role", "effect [CI]", "relative [CI]", "p", "adjusted p", "outcome"]
    assert [row[:3] for row in metrics[1:]] == [[row.name, row.variant, row.role] for row in result.metric_results]
    assert all(len(row) == len(metrics[0]) for row in metrics)
    assert len(tables) == 1 + bool(result.segment_results) + (result.timeline is not None)
    assert not [token for token in tokens if token.type in ("html_inline",)]


@pytest.mark.parametrize("verdict", VERDICTS)
def test_junit(by_verdict, verdict):
    result = by_verdict[verdict]
    root = ElementTree.fromstring(render(result, "junit"))
    suite = root.find("testsuite")
    properties = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert properties["verdict"] == verdict and properties["exit_code"] == str(EXIT_CODES[verdict])
    assert properties["experiment"] == "checkout_v2"
    cases = suite.findall("testcase")
    comparisons = len(result.metric_results) + len(result.segment_results)
    assert len(cases) == comparisons + len(result.checks)
    assert [case.get("name") for case in cases[:len(result.metric_results)]] == [r.name for r in result.metric_results]
    assert [case.get("name") for case in cases[comparisons:]] == [check.name for check in result.checks]
    for element in (root, suite):
        assert element.get("tests") == str(len(cases))
        for tag, attribute in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            assert element.get(attribute) == str(sum(case.find(tag) is not None for case in cases))
    failures = [case for case in cases if case.find("failure") is not None]
    if verdict == "ship":
        assert not failures
    if verdict == "rollback":
        harm = [case for case in failures if case.find("failure").get("type") == "harm"]
        assert [case.get("name") for case in harm] == ["crashes"]
    if verdict == "invalid":
        assert [case.get("name") for case in failures] == ["srm"]


@pytest.mark.parametrize("report_format", ["text", "json", "markdown", "junit"])
def test_rendering_is_deterministic(by_verdict, report_format):
    for result in by_verdict.values():
        assert render(result, report_format) == render(result, report_format)


def _text_label(verdict):
    return {"ship": "SHIP", "rollback": "ROLL BACK", "continue": "KEEP COLLECTING", "inconclusive": "INCONCLUSIVE",
            "invalid": "INVALID: fix the experiment before deciding"}[verdict]


def _tables(tokens):
    """Every table as a list of rows of cell texts (header first)."""
    tables, rows, cells = [], None, None
    for token in tokens:
        if token.type == "table_open":
            rows = []
        elif token.type == "tr_open":
            cells = []
        elif token.type == "inline" and cells is not None:
            cells.append("".join(child.content for child in token.children))
        elif token.type == "tr_close":
            rows.append(cells)
            cells = None
        elif token.type == "table_close":
            tables.append(rows)
    return tables
