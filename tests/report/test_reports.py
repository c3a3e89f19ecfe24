"""Reports: one registry of formats (the CLI's choices), every format rendered from one document.

Plan, calibration and timeline results are built by hand here, so their text is checked line by
line against what a reader expects, with no analysis behind them.
"""

from __future__ import annotations

import json
import math
import sys
import types
from datetime import date, datetime

import click
from click.testing import CliRunner
import pytest

from iterate.calibration import CalibrationResult, MetricRate
from iterate.cli import main
from iterate.planning import MetricPlan, Plan
from iterate.report import FORMATS, render
from iterate.report.json import json_ready
from iterate.result import AnalysisResult, Check, Reason
from iterate.timeline import TimelinePoint


def render_lines(kind, document, *, color=False):
    """A format defined in a test: one ``key=value`` line per top-level scalar of the document."""
    return "".join(f"{key}={value}\n" for key, value in document.items() if isinstance(value, (str, int, float)))


def _plan() -> Plan:
    metric = MetricPlan(name="purchasers", role="success", type="proportion", units=4000, mean=0.25,
                        std_dev=math.sqrt(0.25 * 0.75), cuped_correlation=0.0, alpha=0.05, power=0.8,
                        units_per_arm=18_853, mde=None)
    undefined = MetricPlan(name="latency", role="guardrail", type="mean", units=0, mean=float("nan"),
                           std_dev=float("nan"), cuped_correlation=0.0, alpha=0.05, power=0.8, units_per_arm=None,
                           mde=None)
    return Plan("checkout", datetime(2026, 1, 1), datetime(2026, 1, 15), 1234.4, 2, 1.0, 0.05, 0.8, 0.05,
                (metric, undefined), 18_853, 31)


def _calibration() -> CalibrationResult:
    rate = MetricRate("purchasers", "success", significant=6, replicates=100, rate=0.06, ci_low=0.0223,
                      ci_high=0.126, within_alpha=True)
    return CalibrationResult("checkout", 100, 0.05, 0.5, 20_000, (rate,), {"continue": 95, "ship": 5}, 0.05,
                             0.0164, 0.1128, 7)


def _analysis(timeline=None) -> AnalysisResult:
    result = AnalysisResult(
        experiment="checkout", verdict="continue", reasons=(Reason("no_evidence_yet", "purchasers: not yet", "treatment"),),
        checks=(Check("srm", True, "sample ratio as planned"),), metric_results=(), variant_verdicts={"treatment": "continue"},
        units={"control": 10, "treatment": 12}, excluded_units={"multiple_variants": 0}, alpha=0.05, window="7d",
        control="control",
    )
    return result if timeline is None else result.with_timeline(timeline)


def test_the_registry_is_the_clis_format_choices():
    for command in ("plan", "calibrate"):
        option = next(p for p in main.commands[command].params if p.name == "report_format")
        assert isinstance(option.type, click.Choice) and list(option.type.choices) == list(FORMATS)
    refused = CliRunner().invoke(main, ["analyze", "sample_data/experiment.toml", "--format", "pdf"])
    assert refused.exit_code == 2
    assert f"choose among {', '.join(FORMATS)} (comma-separated)" in refused.output


def test_a_new_format_is_one_module_and_one_registry_line(monkeypatch):
    module = types.ModuleType("lines_format")
    module.render = render_lines
    monkeypatch.setitem(sys.modules, "lines_format", module)
    monkeypatch.setitem(FORMATS, "lines", "lines_format")
    assert render(_calibration(), "lines") == (
        "schema_version=1\nkind=calibration\nexperiment=checkout\nreplicates=100\nalpha=0.05\nshare=0.5\n"
        "units=20000\nverdict_rate=0.05\nverdict_ci_low=0.0164\nverdict_ci_high=0.1128\nseed=7\n"
    )


def test_json_ready_turns_non_finite_numbers_and_dates_into_json_values():
    value = {"a": [float("inf"), -float("inf"), float("nan"), 1.5], "b": (date(2026, 1, 5), datetime(2026, 1, 5, 7))}
    assert json_ready(value) == {"a": [None, None, None, 1.5], "b": ["2026-01-05", "2026-01-05T07:00:00"]}


def test_plan_text_from_its_document():
    assert render(_plan(), "text").splitlines() == [
        "checkout: plan from the baseline 2026-01-01 to 2026-01-15",
        "  1,234 new eligible units a day, 2 arms, alpha = 0.05, power = 80%",
        "",
        "metric                   role             mean         sd  cuped r   alpha  units/arm",
        "purchasers               success          0.25      0.433     0.00    0.05     18,853",
        "latency                  guardrail         nan        nan     0.00    0.05        n/a",
        "",
        "Whole rule (detect +5.0% on each success metric, every guardrail with a margin shown non-inferior): "
        "18,853 units per arm, about 31 days.",
    ]


def test_plan_json_has_no_nan():
    document = json.loads(render(_plan(), "json"))
    assert document["kind"] == "plan" and document["baseline_start"] == "2026-01-01T00:00:00"
    assert document["metrics"][1]["mean"] is None and document["metrics"][1]["std_dev"] is None
    assert document == _plan().to_dict()


def test_calibration_text_from_its_document():
    assert render(_calibration(), "text").splitlines() == [
        "checkout: A/A calibration, 100 re-randomizations of 20,000 units (50% / 50%), alpha = 0.05",
        "",
        "metric                   role         significant    rate  95% interval       verdict",
        "purchasers               success                6    6.0%  [2.2%, 12.6%]   ok",
        "",
        "Whole decision: ship or rollback in 5.0% of A/A replays [1.6%, 11.3%] (continue 95, ship 5).",
    ]


def test_timeline_is_part_of_the_analysis_document():
    point = TimelinePoint(day=datetime(2026, 1, 8), metric="purchasers", variant="treatment", n_control=500,
                          n_treatment=510, effect=0.0123, ci_low=-0.01, ci_high=0.0346, p_value=0.28,
                          always_valid_ci_low=-float("inf"), always_valid_ci_high=float("inf"), always_valid_p_value=1.0)
    plain, with_timeline = _analysis(), _analysis((point,))
    document = json.loads(render(with_timeline, "json"))
    assert list(document) == [*json.loads(render(plain, "json")), "timeline"]
    assert document["timeline"] == [{
        "day": "2026-01-08T00:00:00", "metric": "purchasers", "variant": "treatment", "n_control": 500,
        "n_treatment": 510, "effect": 0.0123, "ci_low": -0.01, "ci_high": 0.0346, "p_value": 0.28,
        "always_valid_ci_low": None, "always_valid_ci_high": None, "always_valid_p_value": 1.0,
    }]
    text = render(with_timeline, "text")
    assert text.startswith(render(plain, "text"))
    assert text.splitlines()[-1] == (
        "2026-01-08 purchasers             treatment      500/510        +0.0123       [-0.01, +0.0346]"
        "           [-inf, +inf]                1"
    )


def test_text_verdict_in_color_only_when_asked():
    assert render(_analysis(), "text", color=True).startswith("checkout: \x1b[1;33mKEEP COLLECTING\x1b[0m")
    assert render(_analysis(), "text").startswith("checkout: KEEP COLLECTING  (exit code 11)")


@pytest.mark.parametrize("report_format", list(FORMATS))
def test_every_format_renders_every_kind(report_format):
    for result in (_analysis(), _plan(), _calibration()):
        assert render(result, report_format).endswith("\n")


# -- relative intervals: the Fieller status travels from the estimate to every output --------------


def _relative_rows():
    """Rows of ``compare``: a mean metric whose control is far from 0 (bounded relative interval) and
    one whose control mean is not significantly different from 0 (unbounded), both significant."""
    from iterate.comparisons import compare
    from iterate.config import Experiment, Metric
    from iterate.stats import RatioMoments

    experiment = Experiment(name="checkout", control="control",
                            metrics=(Metric(name="revenue", type="mean", event="purchase", value="value"),
                                     Metric(name="profit", type="mean", event="purchase", value="value")))
    bounded = compare(experiment.metrics[0], "treatment", RatioMoments(2000, 10.0, 1.0, 16.0, 0.0, 0.0),
                      RatioMoments(2000, 10.5, 1.0, 16.0, 0.0, 0.0), experiment)
    # control 0.05 with standard error 0.089: the ratio's confidence set is unbounded
    unbounded = compare(experiment.metrics[1], "treatment", RatioMoments(2000, 0.05, 1.0, 16.0, 0.0, 0.0),
                        RatioMoments(2000, 0.5, 1.0, 16.0, 0.0, 0.0), experiment)
    return experiment, bounded, unbounded


def test_metric_rows_carry_the_relative_status():
    _, bounded, unbounded = _relative_rows()
    assert bounded.relative_status == "ok" and bounded.relative_ci_low > 0 and bounded.ci_low > 0
    assert unbounded.relative_status == "unbounded" and unbounded.ci_low > 0
    assert unbounded.relative_effect == pytest.approx(9.0)
    assert unbounded.relative_ci_low is None and unbounded.relative_ci_high is None


def test_unbounded_relative_interval_in_json_text_and_reasons():
    from iterate.decision import decide

    experiment, bounded, unbounded = _relative_rows()
    decision = decide([bounded, unbounded], [Check("srm", True, "sample ratio as planned")])
    result = AnalysisResult(
        experiment="checkout", verdict=decision.verdict, reasons=decision.reasons,
        checks=(Check("srm", True, "sample ratio as planned"),), metric_results=(bounded, unbounded),
        variant_verdicts=decision.variant_verdicts, units={"control": 2000, "treatment": 2000},
        excluded_units={"multiple_variants": 0}, alpha=0.05, window="7d", control="control",
    )
    rows = json.loads(render(result, "json"))["metrics"]
    assert [(row["name"], row["relative_status"]) for row in rows] == [("revenue", "ok"), ("profit", "unbounded")]
    assert rows[1]["relative_ci_low"] is None and rows[1]["relative_ci_high"] is None
    assert result.metrics["relative_status"].to_list() == ["ok", "unbounded"]

    text = render(result, "text")
    revenue = next(line for line in text.splitlines() if line.startswith("revenue"))
    profit = next(line for line in text.splitlines() if line.startswith("profit"))
    assert f"+5.00% [{bounded.relative_ci_low:+.2%}, {bounded.relative_ci_high:+.2%}]" in revenue
    assert "+900.00% [unbounded]" in profit

    message = next(reason.message for reason in decision.reasons if reason.metric == "profit")
    assert message.startswith("profit is better (effect +0.45, +900.00% relative (relative interval unbounded), 95% CI [")
