"""End to end on simulated logs with known true effects: the truth is recovered, A/A does not ship."""

from __future__ import annotations

from pathlib import Path

import pytest

import iterate
from iterate.config import Experiment, Metric, Source

LIFT = 0.20


def _experiment(directory: Path) -> Experiment:
    return Experiment(
        name="checkout_v2",
        control="control",
        window="7d",
        expected_split={"control": 0.5, "treatment": 0.5},
        events=Source(str(directory / "events.parquet")),
        exposures=Source(str(directory / "exposures.parquet")),
        metrics=(
            Metric(name="purchases", type="count", event="purchase"),
            Metric(name="revenue", type="mean", event="purchase", value="value"),
            Metric(name="crashes", type="count", event="crash", role="guardrail", direction="decrease"),
        ),
    )


@pytest.fixture(scope="module")
def lifted(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("lifted")
    iterate.simulate_logs(directory, units=30_000, events=600_000, effects={"treatment": {"purchase": LIFT}}, seed=11)
    return directory


def test_known_lift_is_inside_the_interval_and_ships(lifted):
    result = iterate.analyze(_experiment(lifted))
    rows = {row["name"]: row for row in result.metrics.iter_rows(named=True)}
    purchases = rows["purchases"]
    assert purchases["relative_ci_low"] < LIFT < purchases["relative_ci_high"]
    assert purchases["relative_effect"] == pytest.approx(LIFT, abs=0.06)
    assert purchases["outcome"] == "better"
    assert rows["crashes"]["outcome"] == "no_difference"
    assert result.verdict == "ship"
    assert result.exit_code == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_a_simulation_keeps_collecting(tmp_path, seed):
    iterate.simulate_logs(tmp_path, units=8_000, events=120_000, seed=seed)
    result = iterate.analyze(_experiment(tmp_path))
    assert result.verdict == "continue"
    assert result.checks[0].passed
    assert all(reason.rule in {"no_evidence_yet", "verdict_horizon"} for reason in result.reasons)
    assert [reason.rule for reason in result.reasons].count("verdict_horizon") == 1
