"""JUnit XML: the decision as test results a CI shows natively (GitLab, Jenkins, GitHub test reporters).

Rendered from the result's document only, with :mod:`xml.etree.ElementTree` (so every name and
message is escaped), deterministic: no timestamp or duration that the document does not hold.

One ``<testsuites>`` holding one ``<testsuite name="iterate.<experiment>">`` whose ``tests``,
``failures``, ``errors`` and ``skipped`` attributes count its ``<testcase>`` children (the
``<testsuites>`` element repeats the totals). Its ``<properties>`` hold ``experiment``, ``kind``
and, for an analysis, ``verdict``, ``exit_code``, ``control``, ``alpha``, and when the document has
them ``recommended_variant``, ``config_hash`` and ``iterate_version``.

Analysis: every input of the decision is one test case.

=====================================================  ==========================================
document row                                           test case
=====================================================  ==========================================
metric row (``classname`` ``<exp>.metrics.<variant>``,  ``name`` = the metric
``name`` the metric), and each segment row
(``<exp>.segments.<variant>``, ``name`` =
``<metric> [<segment> = <value>]``): the decision
judges segment values for harm too
- outcome ``worse`` (harm shown)                        ``<failure type="harm">``: effect, CI, p,
                                                        adjusted p, alpha (the look's alpha too)
- guardrail with a margin not shown non-inferior        ``<failure type="not_noninferior">``:
  (status ``ok``)                                       effect, margin, one-sided p, alpha
- status ``no_data``                                    ``<error type="no_data">``
- any other row not tested (``zero_variance``,          ``<skipped>`` with the status
  ``too_few_units``, ...)
- otherwise (better, or no difference yet)              passes; ``<system-out>`` holds the numbers
quality check (``<exp>.checks``, ``name`` = the check)
- failed, severity ``error``                            ``<failure type="check">`` with its message
- failed, severity ``warning``                          passes; ``<system-out>`` holds the warning
- passed                                                passes; ``<system-out>`` holds the message
=====================================================  ==========================================

A success metric with no significant difference passes: it is evidence still missing, not a
problem shown (the verdict ``continue`` and the exit code say that the release is not yet proven).

Plan: one test case per metric (``<exp>.plan``), skipped when its sample size cannot be computed
(no baseline data); its numbers in ``<system-out>``. Calibration: one test case per metric
(``<exp>.calibration``), failing (``type="false_positive_rate"``) when its A/A false-positive rate
is not within alpha (the rule of ``iterate calibrate``'s exit code).

Example:
    >>> from xml.etree import ElementTree
    >>> from iterate.report.junit import render
    >>> document = {"experiment": "x", "replicates": 10, "alpha": 0.05, "share": 0.5, "units": 100,
    ...             "metrics": [], "verdicts": {}, "verdict_rate": 0.0, "verdict_ci_low": 0.0,
    ...             "verdict_ci_high": 0.3, "seed": 0}
    >>> ElementTree.fromstring(render("calibration", document)).get("tests")
    '0'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from xml.etree import ElementTree as ET

from iterate.report import wording
from iterate.report.wording import Row

EXTENSION = ".junit.xml"
"""File extension of this format's report in an output folder."""

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters XML 1.0 cannot hold at all, even escaped (control characters, lone surrogates)."""


def render(kind: str, document: Mapping[str, Any], *, color: bool = False) -> str:
    """The document as a JUnit XML report (``color`` is ignored), ending with a newline."""
    builders: Mapping[str, Callable[[Row], tuple[list[tuple[str, Any]], list[ET.Element]]]] = {
        "analysis": _analysis, "plan": _plan, "calibration": _calibration, "rollout": _rollout,
    }
    properties, cases = builders[kind](document)
    suite = ET.Element("testsuite", {"name": _text(f"iterate.{document['experiment']}"), **_counts(cases)})
    listed = ET.SubElement(suite, "properties")
    for name, value in [("experiment", document["experiment"]), ("kind", kind), *properties]:
        ET.SubElement(listed, "property", {"name": name, "value": _text(value)})
    suite.extend(cases)
    root = ET.Element("testsuites", {"name": "iterate", **_counts(cases)})
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _counts(cases: Sequence[ET.Element]) -> dict[str, str]:
    def having(tag: str) -> int:
        return sum(1 for case in cases if case.find(tag) is not None)

    return {"tests": str(len(cases)), "failures": str(having("failure")), "errors": str(having("error")),
            "skipped": str(having("skipped"))}


# -- analysis ---------------------------------------------------------------------------------


def _analysis(report: Row) -> tuple[list[tuple[str, Any]], list[ET.Element]]:
    properties: list[tuple[str, Any]] = [
        ("verdict", report["verdict"]), ("exit_code", report["exit_code"]), ("control", report["control"]),
        ("alpha", report["alpha"]),
    ]
    recommendation = report.get("recommendation") or {}
    if recommendation.get("variant") is not None:
        properties.append(("recommended_variant", recommendation["variant"]))
    provenance = report.get("provenance") or {}
    properties += [(key, provenance[key]) for key in ("config_hash", "iterate_version") if provenance.get(key) is not None]
    experiment = report["experiment"]
    cases = [_comparison(row, f"{experiment}.metrics.{row['variant']}", row["name"]) for row in report["metrics"]]
    cases += [_comparison(row, f"{experiment}.segments.{row['variant']}",
                          f"{row['name']} [{row['segment']} = {row['segment_value']}]")
              for row in report["segments"]]
    cases += [_check(check, f"{experiment}.checks") for check in report["checks"]]
    return properties, cases


def _rollout(report: Row) -> tuple[list[tuple[str, Any]], list[ET.Element]]:
    """A rollout as an analysis is: its pooled (stratified, anytime-valid) comparisons, the inputs of
    its decision, and its checks; the verdict of the ramp's next step and the current stage as
    properties. Each stage's fixed-horizon effects are not decision inputs and are not test cases."""
    properties: list[tuple[str, Any]] = [
        ("rollout", report["rollout"]), ("verdict", report["verdict"]), ("exit_code", report["exit_code"]),
        ("control", report["control"]), ("alpha", report["alpha"]),
    ]
    if report.get("observational"):
        properties.append(("observational", "true (not randomized: difference-in-differences)"))
    if report["current_stage"] is not None:
        properties.append(("current_stage", report["current_stage"]))
    if report.get("canary"):
        properties += [("canary_score", report["canary"]["score"]), ("canary_verdict", report["canary"]["score_verdict"])]
    provenance = report.get("provenance") or {}
    properties += [(key, provenance[key]) for key in ("config_hash", "iterate_version") if provenance.get(key) is not None]
    experiment = report["experiment"]
    cases = [_comparison(row, f"{experiment}.rollout.{row['variant']}", row["name"]) for row in report["metrics"]]
    cases += [_check(check, f"{experiment}.checks") for check in report["checks"]]
    return properties, cases


def _comparison(row: Row, classname: str, name: str) -> ET.Element:
    case = _case(classname, name)
    numbers = _numbers(row)
    scope = f"{name} ({row['variant']})"
    if row["status"] == "no_data":
        _outcome(case, "error", "no_data", f"{scope} has no data in its windows and cannot be judged", numbers)
    elif row["outcome"] == "worse":
        _outcome(case, "failure", "harm", f"{scope} is worse ({row['direction']} is good): " + _estimate(row), numbers)
    elif row["status"] != "ok" or row["outcome"] == "not_tested":
        ET.SubElement(case, "skipped", {"message": _text(f"{scope} not tested (status {row['status']})")})
        _output(case, numbers)
    elif row.get("noninferiority_margin") is not None and row.get("noninferior") is False:
        _outcome(case, "failure", "not_noninferior",
                 f"guardrail {scope} is not shown non-inferior: effect {wording.number(row['effect'], signed=True)}, "
                 f"margin {wording.number(row['noninferiority_margin'])}, one-sided p = "
                 f"{wording.p_value(row['noninferiority_p_value'])}, alpha = {_alpha(row)}", numbers)
    else:
        shown = ""
        if row.get("noninferior"):
            shown = (f"; non-inferior within the margin {wording.number(row['noninferiority_margin'])} "
                     f"(one-sided p = {wording.p_value(row['noninferiority_p_value'])})")
        _output(case, f"{wording.outcome(row)}: {_estimate(row)}{shown}\n{numbers}")
    return case


def _estimate(row: Row) -> str:
    parts = [f"effect {wording.number(row['effect'], signed=True)}",
             f"CI {wording.interval(row['ci_low'], row['ci_high'])}"]
    if row["relative_effect"] is not None:
        parts.append(f"relative {wording.relative_with_interval(row)}")
    parts += [f"p = {wording.p_value(row['p_value'])}", f"adjusted p = {wording.p_value(row['p_value_adjusted'])}",
              f"alpha = {_alpha(row)}"]
    return ", ".join(parts)


def _alpha(row: Row) -> str:
    look = row.get("decision_alpha")
    return f"{row['alpha']:.4g}" if look is None else f"{look:.4g} (judged at; overall {row['alpha']:.4g})"


_NUMBERS = ("n_control", "n_treatment", "control_mean", "treatment_mean", "effect", "ci_low", "ci_high",
            "relative_effect", "relative_ci_low", "relative_ci_high", "p_value", "p_value_adjusted", "alpha",
            "decision_alpha", "method", "status", "noninferiority_margin", "noninferiority_p_value", "noninferior",
            "variance_reduction", "unadjusted_effect", "chance_to_beat", "expected_loss")


def _numbers(row: Row) -> str:
    """Every number the decision read from the row, one ``key = value`` a line (missing ones left out)."""
    return "\n".join(f"{key} = {row[key]!r}" if isinstance(row[key], float) else f"{key} = {row[key]}"
                     for key in _NUMBERS if row.get(key) is not None)


def _check(check: Row, classname: str) -> ET.Element:
    case = _case(classname, check["name"])
    if check["passed"]:
        _output(case, check["message"])
    elif check["severity"] == "error":
        _outcome(case, "failure", "check", check["message"], _details(check["details"]))
    else:
        _output(case, f"warning: {check['message']}")
    return case


def _details(details: Mapping[str, Any]) -> str:
    return "\n".join(f"{key} = {value}" for key, value in details.items())


# -- plan and calibration ---------------------------------------------------------------------


def _plan(plan: Row) -> tuple[list[tuple[str, Any]], list[ET.Element]]:
    properties = [(key, plan[key]) for key in ("alpha", "power", "mde", "units_per_arm", "days") if plan[key] is not None]
    cases = []
    for metric in plan["metrics"]:
        case = _case(f"{plan['experiment']}.plan", metric["name"])
        numbers = "\n".join(f"{key} = {value}" for key, value in metric.items())
        if metric["units_per_arm"] is None and metric["mde"] is None:
            ET.SubElement(case, "skipped", {"message": _text(f"{metric['name']}: no sample size or MDE "
                                                             "(no usable baseline data)")})
        _output(case, numbers)
        cases.append(case)
    return properties, cases


def _calibration(calibration: Row) -> tuple[list[tuple[str, Any]], list[ET.Element]]:
    properties = [(key, calibration[key]) for key in ("alpha", "replicates", "units", "seed", "verdict_rate")]
    cases = []
    for rate in calibration["metrics"]:
        case = _case(f"{calibration['experiment']}.calibration", rate["name"])
        summary = (f"{rate['name']}: significant in {rate['significant']} of {rate['replicates']} A/A replays, "
                   f"rate {rate['rate']:.1%} [{rate['ci_low']:.1%}, {rate['ci_high']:.1%}] at alpha = "
                   f"{calibration['alpha']}")
        if rate["within_alpha"]:
            _output(case, summary)
        else:
            _outcome(case, "failure", "false_positive_rate", summary + ": too many false positives",
                     "\n".join(f"{key} = {value}" for key, value in rate.items()))
        cases.append(case)
    return properties, cases


# -- elements ---------------------------------------------------------------------------------


def _case(classname: str, name: str) -> ET.Element:
    return ET.Element("testcase", {"classname": _text(classname), "name": _text(name)})


def _outcome(case: ET.Element, tag: str, kind: str, message: str, body: str) -> None:
    element = ET.SubElement(case, tag, {"type": kind, "message": _text(message)})
    element.text = _text(f"{message}\n{body}" if body else message)


def _output(case: ET.Element, text: str) -> None:
    ET.SubElement(case, "system-out").text = _text(text)


def _text(value: Any) -> str:
    """``value`` as text XML can hold: characters it cannot (control characters) as ``\\xNN``."""
    return _NOT_XML.sub(lambda match: f"\\x{ord(match.group()):02x}", str(value))
