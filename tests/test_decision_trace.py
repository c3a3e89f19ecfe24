"""The decision trace: every rule ``decide`` evaluates, in order, per variant, with its numbers and alpha.

On hand-built comparison rows the trace lists each rule with the rows' exact numbers (the extra units
to significance recomputed by hand from Phi^{-1}); on a real (simulated) analysis its last step is the
verdict and every metric appears; a property test over random rows checks that the trace explains
each arm's verdict and that nothing about the trace changes the verdict.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import pytest
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import stats

import iterate
from helpers import write_config
from iterate.cli import main
from iterate.decision import decide
from iterate.report.json import json_ready
from iterate.report.trace import explain
from iterate.result import Check, MetricResult

SRM = Check("srm", True, "sample ratio as planned", {"p_value": 0.3, "threshold": 0.001})
DUPLICATES = Check("duplicate_events", False, "12 duplicate events", {"extra_rows": 12}, "warning")


def metric_row(name: str, variant: str, effect: float | None, p_value: float | None, *, role: str = "success",
               direction: str = "increase", p_value_adjusted: float | None = None, alpha: float = 0.05,
               decision_alpha: float | None = None, **fields) -> MetricResult:
    """A comparison row whose outcome is judged as the pipeline judges it: the adjusted p-value
    (default: the raw one) against the decision alpha (default: alpha)."""
    adjusted = p_value if p_value_adjusted is None else p_value_adjusted
    level = alpha if decision_alpha is None else decision_alpha
    if effect is None or adjusted is None:
        outcome = "not_tested"
    elif adjusted >= level or effect == 0:
        outcome = "no_difference"
    else:
        outcome = "better" if (effect > 0) == (direction == "increase") else "worse"
    values = dict(
        name=name, variant=variant, role=role, type="mean", direction=direction, method="welch_t", status="ok",
        n_control=1000, n_treatment=1000, control_mean=1.0, treatment_mean=None if effect is None else 1 + effect,
        effect=effect, ci_low=None if effect is None else effect - 0.098, ci_high=None if effect is None else effect + 0.098,
        relative_effect=effect, relative_ci_low=None, relative_ci_high=None, p_value=p_value,
        p_value_adjusted=adjusted, std_error=0.05, alpha=alpha, outcome=outcome, decision_alpha=decision_alpha,
    )
    return MetricResult(**{**values, **fields})


def rules(trace) -> list[tuple]:
    return [(step.rule, step.variant, step.metric, step.outcome) for step in trace]


def test_a_ship_lists_every_rule_in_order_with_its_numbers() -> None:
    rows = [
        metric_row("conversion", "treatment", 0.2, 0.001, p_value_adjusted=0.002),
        metric_row("revenue", "treatment", 0.05, 0.3173, p_value_adjusted=0.3173),
        metric_row("crashes", "treatment", 0.01, 0.84, role="guardrail", direction="decrease",
                   noninferiority_margin=0.2, noninferiority_p_value=0.0002, noninferior=True),
        metric_row("errors", "treatment", -0.02, 0.69, role="deterioration", direction="decrease"),
    ]
    decision = decide(rows, [SRM, DUPLICATES])
    assert decision.verdict == "ship"
    assert rules(decision.trace) == [
        ("check_srm", None, None, "passed"),
        ("check_duplicate_events", None, None, "warning"),
        ("harm", "treatment", "conversion", "passed"),
        ("harm", "treatment", "revenue", "passed"),
        ("harm", "treatment", "crashes", "passed"),
        ("harm", "treatment", "errors", "passed"),
        ("segment_harm", "treatment", None, "not_applicable"),
        ("no_data", "treatment", None, "passed"),
        ("min_units", "treatment", None, "passed"),
        ("success", "treatment", "conversion", "met"),
        ("success", "treatment", "revenue", "not_met"),
        ("noninferiority", "treatment", "crashes", "met"),
        ("no_success_metric", "treatment", None, "passed"),
        ("planned_end", "treatment", None, "not_applicable"),
        ("verdict", "treatment", None, "ship"),
        ("recommended_arm", "treatment", "conversion", "fired"),
        ("verdict", None, None, "ship"),
    ]
    assert [step.step for step in decision.trace] == list(range(1, 18))
    steps = {(step.rule, step.metric): step for step in decision.trace}
    srm = steps[("check_srm", None)]
    assert srm.alpha == 0.001 and srm.numbers["p_value"] == 0.3
    harm = steps[("harm", "conversion")]
    assert harm.alpha == 0.05
    assert (harm.numbers["effect"], harm.numbers["p_value"], harm.numbers["p_value_adjusted"]) == (0.2, 0.001, 0.002)
    assert harm.numbers["ci_low"] == pytest.approx(0.102) and harm.numbers["ci_high"] == pytest.approx(0.298)
    revenue = steps[("success", "revenue")]
    assert "revenue is not shown better" in revenue.message and revenue.alpha == 0.05
    noninferiority = steps[("noninferiority", "crashes")]
    assert noninferiority.alpha == 0.05
    assert (noninferiority.numbers["margin"], noninferiority.numbers["one_sided_p_value"]) == (0.2, 0.0002)
    assert decision.trace[-1].numbers == {"variant_verdicts": {"treatment": "ship"}}


def test_a_group_sequential_look_is_judged_at_its_decision_alpha() -> None:
    # adjusted p 0.03 is below alpha 0.05 but not below the look's nominal 0.01
    rows = [metric_row("conversion", "treatment", 0.2, 0.03, decision_alpha=0.01)]
    decision = decide(rows, [SRM])
    assert decision.verdict == "continue"
    harm, success = (next(s for s in decision.trace if s.rule == rule) for rule in ("harm", "success"))
    assert harm.alpha == success.alpha == 0.01
    assert success.outcome == "not_met" and "alpha 0.01" in success.message
    assert decision.trace[-1].rule == "verdict" and decision.trace[-1].outcome == "continue"


def test_harm_ends_the_arm_and_a_worse_segment_fires() -> None:
    rows = [metric_row("conversion", "a", -0.2, 0.001), metric_row("conversion", "b", 0.02, 0.5)]
    segments = [metric_row("conversion", "b", -0.4, 0.001, segment="platform", segment_value="ios"),
                metric_row("conversion", "b", 0.1, 0.3, segment="platform", segment_value="web")]
    decision = decide(rows, [SRM], segments)
    assert decision.variant_verdicts == {"a": "rollback", "b": "rollback"}
    assert rules(decision.trace) == [
        ("check_srm", None, None, "passed"),
        ("harm", "a", "conversion", "fired"),
        ("segment_harm", "a", None, "not_applicable"),
        ("verdict", "a", None, "rollback"),
        ("harm", "b", "conversion", "passed"),
        ("segment_harm", "b", "conversion", "fired"),
        ("verdict", "b", None, "rollback"),
        ("recommended_arm", None, "conversion", "not_applicable"),
        ("verdict", None, None, "rollback"),
    ]
    segment = decision.trace[5]
    assert segment.numbers == {"segment_values": 2, "worse": ["platform = ios"], "smallest_p_value_adjusted": 0.001}


def test_a_failed_check_stops_the_decision() -> None:
    failed = Check("srm", False, "sample ratio mismatch", {"p_value": 1e-9, "threshold": 0.001})
    decision = decide([metric_row("conversion", "treatment", 0.2, 0.001)], [failed, DUPLICATES])
    assert decision.verdict == "invalid"
    assert rules(decision.trace) == [
        ("check_srm", None, None, "fired"),
        ("check_duplicate_events", None, None, "warning"),
        ("recommended_arm", None, "conversion", "not_applicable"),
        ("verdict", None, None, "invalid"),
    ]
    assert decision.trace[0].numbers["p_value"] == 1e-9


def test_evidence_rules_and_the_planned_end_fire() -> None:
    rows = [metric_row("conversion", "treatment", 0.2, 0.001),
            metric_row("crashes", "treatment", None, None, role="guardrail", direction="decrease", status="no_data")]
    shortfall = "too few units to ship: control 80 analyzed, below min_units_per_arm = 100 (20 more needed)"
    decision = decide(rows, [SRM], stopped="the planned 200 units are reached (180 analyzed)",
                      shortfalls={"treatment": shortfall})
    assert decision.verdict == "inconclusive"
    outcomes = {step.rule: step for step in decision.trace if step.variant == "treatment"}
    assert outcomes["harm"].outcome == "not_applicable"  # the last harm step: crashes, not tested
    assert outcomes["no_data"].outcome == "fired" and outcomes["no_data"].numbers == {"metrics": ["crashes"]}
    assert outcomes["min_units"].outcome == "fired" and outcomes["min_units"].message == shortfall
    assert outcomes["planned_end"].outcome == "fired" and outcomes["planned_end"].numbers == {"reached": True}
    assert decision.trace[-1].outcome == "inconclusive"


def test_no_success_metric_and_no_margin_fires() -> None:
    rows = [metric_row("crashes", "treatment", 0.01, 0.8, role="guardrail", direction="decrease")]
    decision = decide(rows, [SRM])
    step = next(step for step in decision.trace if step.rule == "no_success_metric")
    assert step.outcome == "fired" and decision.verdict == "continue"


def test_the_readable_trace_numbers_every_step() -> None:
    rows = [metric_row("conversion", "treatment", 0.2, 0.001)]
    decision = decide(rows, [SRM])
    document = {"experiment": "exp", "verdict": decision.verdict,
                "decision_trace": [asdict(step) for step in decision.trace]}
    text = explain(document)
    lines = text.splitlines()
    assert lines[0] == f"Decision trace of exp (verdict ship): {len(decision.trace)} steps"
    numbered = [line.split(".")[0].strip() for line in lines if line[:5].strip().rstrip(".").isdigit()]
    assert numbered == [str(i) for i in range(1, len(decision.trace) + 1)]
    assert " 2. harm  [treatment / conversion]  passed  alpha 0.05" in text
    assert "effect 0.2; ci_low 0.102; ci_high 0.298; p_value 0.001; p_value_adjusted 0.001" in text


# --------------------------------------------------------------------------- properties

_rows = st.builds(
    lambda name, variant, role, direction, effect, p, margin_p, status: metric_row(
        name, variant, None if status == "no_data" else effect, None if status == "no_data" else p, role=role,
        direction=direction, status=status,
        **({"noninferiority_margin": 0.1, "noninferiority_p_value": margin_p, "noninferior": margin_p < 0.05}
           if role == "guardrail" and status == "ok" else {})),
    st.sampled_from(["m1", "m2", "m3"]), st.sampled_from(["a", "b", "c"]),
    st.sampled_from(["success", "guardrail", "deterioration"]), st.sampled_from(["increase", "decrease"]),
    st.one_of(st.just(0.0), st.floats(1e-6, 1), st.floats(-1, -1e-6)), st.floats(1e-6, 1), st.floats(1e-6, 1),
    st.sampled_from(["ok", "ok", "no_data"]),
)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(_rows, max_size=9, unique_by=lambda row: (row.name, row.variant)),
       stopped=st.sampled_from([None, "the planned 1,000 units are reached"]),
       short=st.sets(st.sampled_from(["a", "b", "c"])), srm_fails=st.booleans())
@example(rows=[metric_row("m1", "a", 0.0, 1.0), metric_row("m1", "b", 1.0, 0.03125)],  # b ships, a continues:
         stopped=None, short=set(), srm_fails=False)  # the experiment ships only when b is distinguishable
def test_the_trace_explains_each_verdict_and_never_changes_it(rows, stopped, short, srm_fails) -> None:
    checks = [Check("srm", not srm_fails, "srm")]
    shortfalls = {variant: "too few units" for variant in short}
    decision = decide(rows, checks, stopped=stopped, shortfalls=shortfalls)
    assert decision.trace[-1].rule == "verdict" and decision.trace[-1].outcome == decision.verdict
    assert [step.step for step in decision.trace] == list(range(1, len(decision.trace) + 1))
    # a pairwise comparison (used only to name an arm) changes neither the verdicts nor the other reasons
    pairs = {(x.variant, y.variant): x for x in rows for y in rows if x.name == y.name and x.variant != y.variant}
    with_pairs = decide(rows, checks, stopped=stopped, shortfalls=shortfalls, pairwise=pairs)
    assert with_pairs.variant_verdicts == decision.variant_verdicts
    # ... except that an arm shown distinguishably better than the runner-up lets the experiment ship
    assert with_pairs.verdict == decision.verdict or (
        with_pairs.verdict == "ship" and with_pairs.recommendation.distinguishable
        and not decision.recommendation.distinguishable)
    assert ([r for r in with_pairs.reasons if r.rule != "recommended_arm"]
            == [r for r in decision.reasons if r.rule != "recommended_arm"])
    if srm_fails:
        assert decision.verdict == "invalid" and not any(step.rule == "harm" for step in decision.trace)
        return
    for variant, verdict in decision.variant_verdicts.items():
        steps = [step for step in decision.trace if step.variant == variant and step.rule != "recommended_arm"]
        fired = {step.rule for step in steps if step.outcome == "fired"}
        assert steps[-1].rule == "verdict" and steps[-1].outcome == verdict
        assert (verdict == "rollback") == bool(fired & {"harm", "segment_harm"})
        assert {row.name for row in rows if row.variant == variant} <= {s.metric for s in steps if s.rule == "harm"}
        if verdict == "ship":
            assert not fired & {"no_data", "min_units", "no_success_metric"}
            assert all(s.outcome == "met" for s in steps if s.rule == "noninferiority")
            success = [s.outcome for s in steps if s.rule == "success"]
            assert not success or "met" in success
        elif verdict != "rollback":
            assert (verdict == "inconclusive") == ("planned_end" in fired)


# ------------------------------------------------------------------------- a real analysis


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """Three arms of simulated logs: ``a`` lifts purchases, ``b`` lifts them too but crashes more."""
    folder = tmp_path_factory.mktemp("trace_logs")
    iterate.simulate_logs(folder, units=12_000, events=150_000, variants=["control", "a", "b"], seed=4,
                          effects={"a": {"purchase": 0.3}, "b": {"purchase": 0.3, "crash": 1.0}})
    metrics = [
        {"name": "purchasers", "type": "proportion", "event": "purchase"},
        {"name": "revenue", "type": "mean", "event": "purchase", "value": "value"},
        {"name": "crashes", "type": "count", "event": "crash", "role": "guardrail", "direction": "decrease",
         "margin": 0.5},
        {"name": "opens", "type": "count", "event": "app_open", "role": "guardrail", "direction": "increase",
         "margin": 0.1},
    ]
    config = write_config(folder, "trace.toml", name="checkout_v2",
                          expected_split={"control": 1 / 3, "a": 1 / 3, "b": 1 / 3}, metrics=metrics)
    return config, iterate.analyze(config, segments=["platform"])


def test_a_real_trace_ends_with_the_verdict_and_covers_every_metric(simulated) -> None:
    config, result = simulated
    trace = result.decision_trace
    assert trace[-1].rule == "verdict" and trace[-1].outcome == result.verdict
    assert result.variant_verdicts == {"a": "ship", "b": "rollback"}  # b doubles the crashes
    assert result.recommendation.variant == "a" and result.recommendation.runner_up == "b"
    assert trace[-2].rule == "recommended_arm" and trace[-2].variant == "a"
    assert "b does not ship (rollback), so a is the arm to ship" in trace[-2].message
    for variant, verdict in result.variant_verdicts.items():
        step = next(s for s in trace if s.rule == "verdict" and s.variant == variant)
        assert step.outcome == verdict
    harm = {(s.variant, s.metric) for s in trace if s.rule == "harm"}
    assert harm == {(row.variant, row.name) for row in result.metric_results}
    assert {s.metric for s in trace if s.rule == "segment_harm"} == {"purchasers", "revenue", "crashes", "opens"}
    for step in (s for s in trace if s.rule == "harm"):
        row = next(r for r in result.metric_results if (r.variant, r.name) == (step.variant, step.metric))
        assert step.numbers["p_value_adjusted"] == row.p_value_adjusted and step.numbers["effect"] == row.effect
        assert step.alpha == row.alpha
    document = result.as_document()
    assert document["decision_trace"] == [asdict(step) for step in trace]
    json.dumps(json_ready(document["decision_trace"]), allow_nan=False)


def test_explain_prints_the_trace_after_the_text_report(simulated) -> None:
    config, result = simulated
    output = CliRunner().invoke(main, ["analyze", str(config), "--segment", "platform", "--explain"])
    assert output.exit_code == result.exit_code
    report, _, trace = output.output.partition("\nDecision trace of checkout_v2")
    assert report.startswith("checkout_v2: ")
    assert trace.startswith(f" (verdict {result.verdict}): {len(result.decision_trace)} steps")
    without = CliRunner().invoke(main, ["analyze", str(config), "--segment", "platform"])
    assert without.output == report


def test_explain_with_json_keeps_standard_output_one_document(simulated) -> None:
    config, result = simulated
    output = CliRunner().invoke(main, ["analyze", str(config), "--segment", "platform", "--format", "json",
                                       "--explain"])
    document = json.loads(output.stdout)
    assert output.stderr.startswith("Decision trace of checkout_v2")
    assert len(document["decision_trace"]) == len(result.decision_trace)
    assert document["decision_trace"][-1]["outcome"] == result.verdict


def test_explain_with_a_report_file_prints_the_trace_on_standard_output(simulated, tmp_path) -> None:
    config, result = simulated
    report = tmp_path / "report.json"
    output = CliRunner().invoke(main, ["analyze", str(config), "--segment", "platform", "--format", "json",
                                       "--output", str(report), "--explain"])
    assert output.exit_code == result.exit_code
    assert output.stdout.startswith("Decision trace of checkout_v2")
    assert json.loads(report.read_text())["decision_trace"][-1]["outcome"] == result.verdict


def test_a_continue_ends_with_its_projection_in_units_and_days() -> None:
    from iterate.horizon import Horizon

    rows = [metric_row("revenue", "treatment", 0.05, 0.3173, p_value_adjusted=0.3173)]
    horizon = Horizon(elapsed_days=10.0, analyzed_units=2000)
    decision = decide(rows, [SRM], horizon=horizon)
    assert decision.verdict == "continue"
    projection = next(step for step in decision.trace if step.rule == "verdict_horizon")
    reason = next(reason for reason in decision.reasons if reason.rule == "verdict_horizon")
    assert projection.outcome == "not_met" and projection.message == reason.message
    # 80% power against the observed effect: n' = n ((z_0.975 + z_0.8) / z)^2 with z = 0.05 / 0.05 = 1
    needed = 1000 * (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) ** 2
    assert projection.numbers["extra_units_per_arm"] == pytest.approx(needed - 1000, abs=1)
    assert projection.numbers["days"] == math.ceil(projection.numbers["extra_units_per_arm"] / 100)
    assert [step.rule for step in decision.trace[-4:-2]] == ["verdict_horizon", "verdict"]
