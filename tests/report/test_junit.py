"""The JUnit report parsed with ``xml.etree``: one case per comparison and check, counts that
equal the children, and failure messages carrying the numbers of the decision."""

from __future__ import annotations

import copy
from xml.etree import ElementTree

from documents import calibration, plan
from iterate.report import junit, render


def suite_of(text):
    root = ElementTree.fromstring(text)
    [suite] = root.findall("testsuite")
    return root, suite, suite.findall("testcase")


def test_harm_is_a_failure_with_its_numbers(by_verdict):
    result = by_verdict["rollback"]
    _, _, cases = suite_of(render(result, "junit"))
    crashes = next(row for row in result.metric_results if row.name == "crashes")
    [case] = [case for case in cases if case.get("name") == "crashes"]
    failure = case.find("failure")
    assert case.get("classname") == "checkout_v2.metrics.treatment" and failure.get("type") == "harm"
    assert failure.get("message") == (
        f"crashes (treatment) is worse (decrease is good): effect {crashes.effect:+.4g}, CI [{crashes.ci_low:+.4g}, "
        f"{crashes.ci_high:+.4g}], relative {crashes.relative_effect * 100:+.2f}% [{crashes.relative_ci_low * 100:+.2f}%, "
        f"{crashes.relative_ci_high * 100:+.2f}%], p = {crashes.p_value:.3g}, adjusted p = "
        f"{crashes.p_value_adjusted:.3g}, alpha = 0.05")
    assert f"p_value_adjusted = {crashes.p_value_adjusted!r}" in failure.text.splitlines()
    assert crashes.outcome == "worse"


def test_guardrail_not_shown_noninferior_is_a_failure_with_margin_and_one_sided_p(by_verdict):
    result = by_verdict["continue"]
    crashes = next(row for row in result.metric_results if row.name == "crashes")
    assert crashes.noninferior is False
    _, _, cases = suite_of(render(result, "junit"))
    failure = next(case for case in cases if case.get("name") == "crashes").find("failure")
    assert failure.get("type") == "not_noninferior"
    assert failure.get("message") == (
        f"guardrail crashes (treatment) is not shown non-inferior: effect {crashes.effect:+.4g}, margin "
        f"{crashes.noninferiority_margin:.4g}, one-sided p = {crashes.noninferiority_p_value:.3g}, alpha = 0.05")


def test_no_data_is_an_error_and_not_tested_is_skipped(by_verdict):
    document = copy.deepcopy(by_verdict["ship"].as_document())
    document["metrics"][0].update(status="no_data", outcome="not_tested", p_value=None, p_value_adjusted=None)
    _, suite, cases = suite_of(junit.render("analysis", document))
    assert cases[0].find("error").get("type") == "no_data"
    skipped = [case for case in cases if case.find("skipped") is not None]
    zero_variance = [row for row in document["segments"] if row["status"] == "zero_variance"]
    assert len(skipped) == len(zero_variance) > 0
    assert skipped[0].find("skipped").get("message").endswith("not tested (status zero_variance)")
    assert (suite.get("errors"), suite.get("skipped")) == ("1", str(len(zero_variance)))


def test_segment_cases_are_named_by_segment_and_value(by_verdict):
    result = by_verdict["ship"]
    _, _, cases = suite_of(render(result, "junit"))
    segment_cases = [case for case in cases if case.get("classname") == "checkout_v2.segments.treatment"]
    assert [case.get("name") for case in segment_cases] == [
        f"{row.name} [{row.segment} = {row.segment_value}]" for row in result.segment_results]


def test_failed_error_check_fails_and_warning_passes_with_its_message(by_verdict):
    document = copy.deepcopy(by_verdict["invalid"].as_document())
    warning = next(check for check in document["checks"] if check["severity"] == "warning")
    warning.update(passed=False, message="only 0.5% of units have events <check the join>")
    root, suite, cases = suite_of(junit.render("analysis", document))
    srm = next(case for case in cases if case.get("name") == "srm")
    srm_check = next(check for check in document["checks"] if check["name"] == "srm")
    assert srm.find("failure").get("type") == "check" and srm.find("failure").get("message") == srm_check["message"]
    assert f"p_value = {srm_check['details']['p_value']}" in srm.find("failure").text
    warned = next(case for case in cases if case.get("name") == warning["name"])
    assert warned.find("failure") is None
    assert warned.find("system-out").text == "warning: only 0.5% of units have events <check the join>"
    assert root.get("failures") == suite.get("failures") == "1"


def test_properties_include_optional_provenance_and_recommendation(by_verdict):
    document = copy.deepcopy(by_verdict["ship"].as_document())
    document["provenance"] = {"config_hash": "abc123", "iterate_version": "0.9.1"}
    document["recommendation"] = {"variant": "treatment", "message": "ship it"}
    _, suite, _ = suite_of(junit.render("analysis", document))
    properties = [(p.get("name"), p.get("value")) for p in suite.find("properties")]
    assert properties == [("experiment", "checkout_v2"), ("kind", "analysis"), ("verdict", "ship"), ("exit_code", "0"),
                          ("control", "control"), ("alpha", "0.05"), ("recommended_variant", "treatment"),
                          ("config_hash", "abc123"), ("iterate_version", "0.9.1")]


def test_names_xml_cannot_hold_are_escaped(by_verdict):
    document = copy.deepcopy(by_verdict["ship"].as_document())
    document["metrics"][0]["name"] = "a\x01<b>&\"'"
    _, _, cases = suite_of(junit.render("analysis", document))
    assert cases[0].get("name") == "a\\x01<b>&\"'"


def test_plan_one_case_per_metric_skipped_when_unplanned():
    root, suite, cases = suite_of(render(plan(), "junit"))
    assert [case.get("name") for case in cases] == ["purchasers", "latency|<b>"]
    assert cases[0].find("skipped") is None and "units_per_arm = 18853" in cases[0].find("system-out").text
    assert cases[1].find("skipped") is not None
    assert (root.get("tests"), root.get("skipped"), root.get("failures")) == ("2", "1", "0")


def test_calibration_fails_the_metric_whose_false_positive_rate_is_not_within_alpha():
    root, suite, cases = suite_of(render(calibration(), "junit"))
    assert [case.find("failure") is not None for case in cases] == [False, True]
    failure = cases[1].find("failure")
    assert failure.get("type") == "false_positive_rate"
    assert failure.get("message") == ("revenue: significant in 12 of 100 A/A replays, rate 12.0% [6.4%, 20.0%] at "
                                      "alpha = 0.05: too many false positives")
    assert (root.get("tests"), root.get("failures")) == ("2", "1")


def test_the_output_is_deterministic_and_has_no_clock_time(by_verdict):
    text = render(by_verdict["ship"], "junit")
    assert text == render(by_verdict["ship"], "junit")
    assert "timestamp" not in text and " time=" not in text
    assert text.startswith("<?xml version='1.0' encoding='utf-8'?>\n<testsuites ")
