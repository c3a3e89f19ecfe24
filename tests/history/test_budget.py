"""The release-train budget over a train of five releases, each losing 0.8% on a guardrail with a
1% margin (hand-built rows decided by the real decision rule, recorded in a real store)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from history_rows import metric_row, result_of
from iterate.config import Experiment, History, Metric
from iterate.decision import decide
from iterate.history.gate import HistoryGate
from iterate.history.store import HistoryStore


def _experiment(name: str, *, fail_on_budget: bool) -> Experiment:
    return Experiment(
        name=name, control="control",
        metrics=(Metric("conversion", "proportion", event="purchase"),
                 Metric("retention_7", "retention", event="app_open", role="guardrail", days=(7, 7), margin=0.01)),
        history=History(budget={"retention_7": 0.03}, fail_on_budget=fail_on_budget),
    )


def _rows():
    # each release: conversion better; retention_7 -0.8% with interval [-0.95%, -0.65%], non-inferior at 1%
    return [metric_row("conversion", relative=0.02, low=0.01, high=0.03, p_value=0.001, outcome="better"),
            metric_row("retention_7", role="guardrail", relative=-0.008, low=-0.0095, high=-0.0065, margin=0.01,
                       noninferior=True)]


def _run_train(path, *, fail_on_budget: bool):
    store = HistoryStore(path)
    outcomes = []
    for release in range(1, 6):
        experiment = _experiment(f"release_{release}", fail_on_budget=fail_on_budget)
        rows = _rows()
        gate = HistoryGate.load(store, experiment)
        decision, checks = gate.judge(decide(rows, ()), rows)
        result = replace(result_of(experiment.name, decision.verdict, rows), reasons=decision.reasons,
                         checks=checks, variant_verdicts=decision.variant_verdicts)
        store.record(result, experiment)
        outcomes.append((decision, checks[0]))
    return outcomes


def test_the_budget_is_exceeded_at_the_fourth_release_with_a_warning(tmp_path):
    outcomes = _run_train(tmp_path / "history.duckdb", fail_on_budget=False)
    assert [decision.verdict for decision, _ in outcomes] == ["ship"] * 5
    assert [check.passed for _, check in outcomes] == [True, True, True, False, False]
    for release, (_, check) in enumerate(outcomes, start=1):
        assert check.name == "release_budget" and check.severity == "warning"
        assert check.details["used"] == pytest.approx(0.008 * release)
        assert check.details["worst_case"] == pytest.approx(0.0095 * release)
        assert check.details["releases"] == release
        assert [p["experiment"] for p in check.details["previous"]] == [f"release_{k}" for k in range(1, release)]
    fourth = outcomes[3][1]
    assert "3.20% relative loss over 4 shipped release(s) (this release +0.80%), past the budget of 3.00%" in fourth.message
    assert "worst case (interval bounds) 3.80%" in fourth.message


def test_with_fail_on_budget_the_fourth_release_is_rolled_back(tmp_path):
    outcomes = _run_train(tmp_path / "history.duckdb", fail_on_budget=True)
    assert [decision.verdict for decision, _ in outcomes] == ["ship", "ship", "ship", "rollback", "rollback"]
    fourth = outcomes[3][0]
    assert fourth.reasons[0].rule == "release_budget"
    assert fourth.reasons[0].details == {"metrics": ["retention_7"]}
    # the rolled-back fourth release spends nothing: the fifth is judged on three shipped releases
    assert outcomes[4][1].details["used"] == pytest.approx(0.032)
    assert [p["experiment"] for p in outcomes[4][1].details["previous"]] == ["release_1", "release_2", "release_3"]


def test_a_gain_offsets_a_loss_and_a_decrease_metric_counts_its_increase_as_loss(tmp_path):
    from iterate.history.budget import loss, worst_loss

    assert loss("increase", 0.01) == -0.01 and loss("decrease", 0.01) == 0.01
    assert worst_loss("increase", -0.02, 0.01) == 0.02 and worst_loss("decrease", -0.02, 0.01) == 0.01
    assert worst_loss("decrease", -0.02, None) is None


def test_a_release_that_does_not_ship_adds_nothing(tmp_path):
    store = HistoryStore(tmp_path / "history.duckdb")
    experiment = _experiment("release_1", fail_on_budget=True)
    rows = [metric_row("conversion", relative=0.0, p_value=0.6),
            metric_row("retention_7", role="guardrail", relative=-0.05, low=-0.06, high=-0.04, margin=0.01,
                       noninferior=False)]
    decision, (check,) = HistoryGate.load(store, experiment).judge(decide(rows, ()), rows)
    assert decision.verdict == "continue"
    assert check.passed and check.details["used"] == 0 and check.details["this_release"] is None
