"""Analyses of simulated logs with known effects, one per verdict, shared by the report tests.

Each is a real analysis (``iterate.simulate_logs`` then ``iterate.analyze`` on a config written
with ``write_config``), small enough to run in about a second in all, computed once per session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import iterate
from helpers import write_config
from iterate.result import AnalysisResult

PURCHASES = {"name": "purchases", "type": "count", "event": "purchase", "role": "success"}
CRASHES = {"name": "crashes", "type": "count", "event": "crash", "role": "guardrail", "direction": "decrease"}
APP_OPENS = {"name": "app_opens", "type": "count", "event": "app_open", "role": "success"}
HOSTILE = "a|b<script>"
"""A metric name that would break a Markdown table and inject HTML if it were not escaped."""
HOSTILE_GUARDRAIL = {"name": HOSTILE, "type": "count", "event": "app_open", "role": "guardrail", "margin": 0.2}
CRASHES_WITH_MARGIN = {**CRASHES, "margin": 0.5}
OPENS_WITH_MARGIN = {"name": "app_opens", "type": "count", "event": "app_open", "role": "guardrail", "margin": 0.2}


@pytest.fixture(scope="session")
def lifted_logs(tmp_path_factory) -> Path:
    """6,000 units; treatment lifts purchases by 30% and multiplies crashes by 2.5."""
    folder = tmp_path_factory.mktemp("lifted")
    iterate.simulate_logs(folder, units=6_000, events=120_000, seed=3,
                          effects={"treatment": {"purchase": 0.3, "crash": 1.5}})
    return folder


@pytest.fixture(scope="session")
def tiny_logs(tmp_path_factory) -> Path:
    """300 units, no effect: too little data to decide."""
    folder = tmp_path_factory.mktemp("tiny")
    iterate.simulate_logs(folder, units=300, events=3_000, seed=5)
    return folder


def analysis(folder: Path, label: str, *, timeline: bool = False, **config) -> AnalysisResult:
    """The analysis of ``folder``'s logs under a config written as ``<label>.toml``."""
    path = write_config(folder, filename=f"{label}.toml", name="checkout_v2", **config)
    return iterate.analyze(path, timeline=timeline)


@pytest.fixture(scope="session")
def by_verdict(lifted_logs, tiny_logs) -> dict[str, AnalysisResult]:
    """One real analysis per verdict.

    - ship: the purchase lift, a guardrail with a hostile name shown non-inferior, segments by
      platform and the timeline;
    - rollback: the crash guardrail is worse;
    - continue: 300 units, no effect, a crash guardrail that so few units cannot show non-inferior;
    - inconclusive: no effect on app opens, and the 1-day maximum duration is long past;
    - invalid: a declared split of 80/20 for a 50/50 experiment (sample ratio mismatch).
    """
    return {
        "ship": analysis(lifted_logs, "ship", metrics=[PURCHASES, HOSTILE_GUARDRAIL],
                         experiment_extra={"segments": ["platform"]}, timeline=True),
        "rollback": analysis(lifted_logs, "rollback", metrics=[PURCHASES, CRASHES]),
        "continue": analysis(tiny_logs, "continue", metrics=[PURCHASES, CRASHES_WITH_MARGIN]),
        "inconclusive": analysis(lifted_logs, "inconclusive", metrics=[APP_OPENS],
                                 experiment_extra={"max_duration": "1d"}),
        "invalid": analysis(lifted_logs, "invalid", metrics=[PURCHASES],
                            expected_split={"control": 0.8, "treatment": 0.2}),
    }


@pytest.fixture(scope="session")
def monitored(lifted_logs) -> AnalysisResult:
    """Everything the decision can read: Bayesian view, CUPED, anytime-valid (mSPRT) inference,
    a guardrail (app opens, no true effect) with a non-inferiority margin."""
    return analysis(lifted_logs, "monitored", metrics=[PURCHASES, OPENS_WITH_MARGIN],
                    experiment_extra={"inference": "both", "cuped": "2d", "sequential": True})


@pytest.fixture(scope="session")
def looked(lifted_logs) -> AnalysisResult:
    """A group-sequential design (4 looks over 12,000 planned units) with the Bayesian view only."""
    return analysis(lifted_logs, "looked", metrics=[PURCHASES, OPENS_WITH_MARGIN],
                    experiment_extra={"inference": "bayesian", "looks": 4, "planned_units": 12_000})
