"""The Markdown report parsed by a real CommonMark + GFM-tables parser (markdown-it-py): the first
line names the verdict, tables have the right rows, columns and cell texts, and hostile names
neither break a table nor produce HTML."""

from __future__ import annotations

import copy

import pytest
from markdown_it import MarkdownIt

from conftest import HOSTILE
from documents import calibration, plan
from iterate.report import markdown, render
from test_formats_end_to_end import _tables

PARSER = MarkdownIt("commonmark").enable("table")


def parse(text):
    return PARSER.parse(text)


def html_tokens(tokens):
    """Raw HTML the text produced, apart from the report's own <details> blocks."""
    found = [t.content for t in tokens if t.type == "html_block"]
    found += [child.content for t in tokens if t.type == "inline" for child in t.children if child.type == "html_inline"]
    return [html for html in found if not html.strip().startswith(("<details>", "</details>"))]


def test_metric_table_cells_are_the_row_values(by_verdict):
    result = by_verdict["ship"]
    table = _tables(parse(render(result, "markdown")))[0]
    assert table[0] == ["metric", "variant", "role", "effect [CI]", "relative [CI]", "p", "adjusted p", "outcome",
                        "non-inferiority margin", "one-sided p", "non-inferior"]
    assert len(table) == 1 + len(result.metric_results)
    for cells, row in zip(table[1:], result.metric_results):
        assert cells[:3] == [row.name, row.variant, row.role]
        assert cells[3] == f"{row.effect:+.4g} [{row.ci_low:+.4g}, {row.ci_high:+.4g}]"
        assert cells[4] == (f"{row.relative_effect * 100:+.2f}% [{row.relative_ci_low * 100:+.2f}%, "
                            f"{row.relative_ci_high * 100:+.2f}%]")
        assert cells[5:8] == [f"{row.p_value:.3g}", f"{row.p_value_adjusted:.3g}",
                              {"better": "better", "no_difference": "no difference"}[row.outcome]]
        if row.noninferiority_margin is None:
            assert cells[8:] == ["", "", ""]
        else:
            assert cells[8:] == [f"{row.noninferiority_margin:.4g}", f"{row.noninferiority_p_value:.3g}", "yes"]
    assert [cells[0] for cells in table[1:]] == ["purchases", HOSTILE]


def test_a_hostile_metric_name_is_text_everywhere(by_verdict):
    tokens = parse(render(by_verdict["ship"], "markdown"))
    assert html_tokens(tokens) == []
    for table in _tables(tokens):  # metrics, segments, timeline: the name is one cell, never a split one
        assert all(len(row) == len(table[0]) for row in table)
        assert any(HOSTILE in row for row in table)
    reasons = [t.content for t in tokens if t.type == "inline" and "shown non-inferior" in t.content]
    assert "".join(child.content for child in parse(reasons[0])[1].children).startswith(
        f"treatment guardrail {HOSTILE} is shown non-inferior")


def test_hostile_experiment_variant_and_segment_names(by_verdict):
    document = copy.deepcopy(by_verdict["ship"].as_document())
    hostile = {"experiment": "x</h2><img src=y onerror=alert(1)>", "variant": "t`|`\\|[l](javascript:alert(1))",
               "value": "a\nb | c & &lt; *em* ~~s~~ $x$ @team"}
    document["experiment"] = hostile["experiment"]
    for row in document["metrics"] + document["segments"]:
        row["variant"] = hostile["variant"]
    for row in document["segments"]:
        row["segment_value"] = hostile["value"]
    tokens = parse(markdown.render("analysis", document))
    assert html_tokens(tokens) == []
    assert not [c for t in tokens if t.type == "inline" for c in t.children
                if c.type in ("link_open", "em_open", "strong_open", "code_inline", "s_open")
                and hostile["variant"] in t.content]
    heading = "".join(child.content for child in tokens[1].children)
    assert heading == f"SHIP: {hostile['experiment']} (verdict ship, exit code 0)"
    metrics, segments = _tables(tokens)[:2]
    assert {row[1] for row in metrics[1:]} == {hostile["variant"]}
    assert all(len(row) == len(segments[0]) for row in segments)
    assert {row[1] for row in segments[1:] if row[1] != "(no value)"} == {hostile["value"].replace("\n", " ")}


def test_bayesian_columns_only_when_present(monitored, by_verdict):
    header = _tables(parse(render(monitored, "markdown")))[0][0]
    assert header[8:10] == ["chance to beat control", "expected loss"]
    assert "chance to beat control" not in _tables(parse(render(by_verdict["rollback"], "markdown")))[0][0]
    rows = _tables(parse(render(monitored, "markdown")))[0][1:]
    for cells, row in zip(rows, monitored.metric_results):
        assert cells[8:10] == [f"{row.chance_to_beat * 100:.1f}%", f"{row.expected_loss:.3g}"]


def test_notes_name_anytime_validity_and_cuped(monitored, looked):
    text = render(monitored, "markdown")
    assert "anytime-valid (mixture SPRT)" in text
    for row in monitored.metric_results:
        assert (f"{row.name} (treatment): CUPED reduced the variance by {row.variance_reduction * 100:.1f}%; "
                f"unadjusted effect {row.unadjusted_effect:+.4g}.") in text.replace("\\_", "_")
    look = looked.metric_results[0].decision_alpha
    assert f"Outcomes are judged at alpha = {look:.4g} (a group-sequential look's nominal alpha" in render(looked,
                                                                                                         "markdown")


def test_checks_fail_first_and_passed_ones_collapsed(by_verdict):
    result = by_verdict["invalid"]
    text = render(result, "markdown")
    srm = next(check for check in result.checks if check.name == "srm")
    checks = text[text.index("### Checks"):]
    first = checks.splitlines()[2]
    assert first.startswith("- **FAILED** sample ratio mismatch") and not srm.passed
    passed = sum(check.passed for check in result.checks)
    assert f"<details>\n<summary>{passed} passed checks</summary>\n\n- " in checks


def test_what_would_change_it_lists_pending_reasons_with_their_amounts(by_verdict):
    document = copy.deepcopy(by_verdict["continue"].as_document())
    document["reasons"].append({"rule": "custom_pending", "message": "purchases needs more data", "variant": "treatment",
                                "metric": "purchases", "details": {"extra_units_per_arm": 1200, "days": 3.5}})
    text = markdown.render("analysis", document)
    section = text[text.index("### What would change it"):].split("\n\n")[1].splitlines()
    pending = [reason for reason in document["reasons"] if reason["rule"] != "success"]
    assert len(section) == len(pending)
    assert section[-1] == ("- **treatment** purchases needs more data (`custom_pending`): "
                           "**about 1,200 more units per arm, about 3.5 more days at the observed traffic**")
    assert "not\\_yet\\_noninferior" not in section[0] and "(`not_yet_noninferior`)" in section[0]
    assert "### What would change it" not in render(by_verdict["ship"], "markdown")


def test_optional_keys_render_when_present(by_verdict):
    document = copy.deepcopy(by_verdict["ship"].as_document())
    document["recommendation"] = {"variant": "treatment", "message": "ship treatment <now>"}
    document["decision_trace"] = [{"rule": "checks_pass", "message": "every check passed"},
                                  {"rule": "success", "message": "purchases is better"}]
    document["provenance"] = {"config_hash": "sha256:abc123", "iterate_version": "0.9.1", "generated_at": "now",
                              "data": {"events": {"source": "e.parquet", "files": [{"path": "e.parquet", "size": 9,
                                                                                     "modified_at": "t"}],
                                                  "rows": 1234567, "time_range": {"min": "2026-01-03T01:45:12Z",
                                                                                  "max": "2026-01-27T23:03:59Z"}}}}
    text = markdown.render("analysis", document)
    assert text.splitlines()[2] == "**Recommendation `treatment`:** ship treatment \\<now\\>"
    assert "1. `checks_pass`: every check passed\n2. `success`: purchases is better" in text
    assert text.rstrip().endswith("Reported by iterate 0.9.1; config sha256:abc123; events 1,234,567 rows, 2026-01-03 01:45 to 2026-01-27 23:03 UTC, 1 file.")
    assert html_tokens(parse(text)) == []


def test_plan_table():
    text = render(plan(), "markdown")
    assert text.splitlines()[0] == "## Plan: checkout"
    [table] = _tables(parse(text))
    assert table == [
        ["metric", "role", "type", "mean", "sd", "CUPED correlation", "alpha", "units per arm"],
        ["purchasers", "success", "proportion", "0.25", "0.433", "0.00", "0.05", "18,853"],
        ["latency|<b>", "guardrail", "mean", "nan", "nan", "0.00", "0.05", "n/a"],
    ]
    assert "**Whole rule** (detect +5.0% on each success metric" in text and "18,853 units per arm, about 31 days." in text


def test_calibration_table():
    text = render(calibration(), "markdown")
    assert text.splitlines()[0] == "## A/A calibration: checkout (1 metric(s) fire too often)"
    [table] = _tables(parse(text))
    assert table[1:] == [
        ["purchasers", "success", "6 / 100", "6.0%", "[2.2%, 12.6%]", "ok"],
        ["revenue", "success", "12 / 100", "12.0%", "[6.4%, 20.0%]", "too many false positives"],
    ]


@pytest.mark.parametrize("text", ["a|b", "<script>", "x\\", "`code`", "[l](u)", "&amp;", "*a*", "_a_", "~~s~~", "#"])
def test_escape_is_literal_text_in_a_table_cell(text):
    source = "| h |\n| --- |\n| " + markdown.escape(text) + " |\n"
    tokens = parse(source)
    assert _tables(tokens) == [[["h"], [text]]]
    assert {child.type for t in tokens if t.type == "inline" for child in t.children} == {"text"}


def test_a_report_too_long_for_a_pull_request_comment_leaves_out_its_details_first():
    import iterate
    from iterate.report.markdown import COMMENT_LIMIT

    result = iterate.analyze("sample_data/experiment.toml", segments="platform")
    document = result.as_document()
    long_trace = [{**step, "message": "x" * 2000} for step in document["decision_trace"]] * 3
    fits = markdown.render("analysis", {**document, "decision_trace": document["decision_trace"]})
    too_long = markdown.render("analysis", {**document, "decision_trace": long_trace})
    assert len(fits) < COMMENT_LIMIT and "Decision trace" in fits and "Left out" not in fits
    assert len(too_long) <= COMMENT_LIMIT
    assert "Decision trace" not in too_long and "### Segments" in too_long  # the trace goes first
    assert too_long.splitlines()[0] == fits.splitlines()[0]
    assert f"Left out to fit GitHub's comment limit: {len(long_trace):,} decision trace rows" in too_long
    segments = [{**row, "name": "y" * 400} for row in document["segments"]] * 60
    shortest = markdown.render("analysis", {**document, "decision_trace": long_trace, "segments": segments})
    assert len(shortest) <= COMMENT_LIMIT and "### Segments" not in shortest and "### Metrics" in shortest
