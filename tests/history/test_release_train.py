"""A release train through the real pipeline: five releases' logs, each analyzed with
``iterate analyze --record``, the release-train budget and LORD++ read back from the history.

Why the guardrail loses 0.45-0.5% per release, not 0.8%: the risk-aware rule rolls back a release
whose guardrail is significantly worse, so a release ships only when its guardrail loss ``d`` is
shown non-inferior, ``d + z_{1-alpha} se < margin``, and not shown worse, ``d < z_{1-alpha/2} se``.
Both hold only when ``d < margin * z_{1-alpha/2} / (z_{1-alpha} + z_{1-alpha/2})`` = 0.54% at a 1%
margin and alpha = 0.05 (:func:`test_a_precisely_measured_loss_of_0_8_percent_is_harm_shown`
shows the 0.8% case rolling back). The train below sits inside that window: losses of 0.45-0.5%
at a relative standard error of about 0.28%, so each release alone ships; four of them use 1.9%
of a 1.8% budget.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from scipy import stats

from helpers import BASE, write_config, write_frame
from iterate.cli import main
from iterate.history.online_fdr import lord_alpha, lord_wealth

UNITS_PER_ARM = 2_000
MINUTES_SPREAD = 9.0
"""Standard deviation of a unit's session minutes (mean 100): relative standard error ~0.28%."""

GUARDRAIL_LOSSES = (0.0050, 0.0045, 0.0050, 0.0045, 0.0050)
"""Relative loss of session minutes of releases 1..5 (exact in the logs)."""

BUDGET = 0.018
MARGIN = 0.01
PURCHASE_RATES = (0.30, 0.36)
"""Share of units with a purchase, control and treatment: +20%, p ~ 5e-5 at 2,000 units per arm."""

MODEST_PURCHASE_RATES = (0.30, 0.335)
"""A smaller lift, p ~ 0.02: better at alpha 0.05, not at LORD++'s level of a third release."""

METRICS = (
    {"name": "purchasers", "type": "count", "event": "purchase", "role": "success", "direction": "increase"},
    {"name": "session_minutes", "type": "mean", "event": "session", "value": "value", "role": "guardrail",
     "direction": "increase", "margin": MARGIN},
)


def release_logs(experiment: str, seed: int, *, loss: float, purchase_rates: tuple[float, float] = PURCHASE_RATES,
                 spread: float = MINUTES_SPREAD) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One release's events and exposures: each unit has one session (its minutes) an hour after
    exposure; the first ``rate * n`` units of an arm purchase once. The minutes of an arm are
    centred and scaled so that the arm's mean is exactly 100 (control) or ``100 * (1 - loss)``."""
    rng = np.random.default_rng(seed)
    events, exposures = [], []
    for arm, rate, center in (("control", purchase_rates[0], 100.0),
                              ("treatment", purchase_rates[1], 100.0 * (1 - loss))):
        users = [f"{experiment}-{arm}-{i:05d}" for i in range(UNITS_PER_ARM)]
        exposed = [BASE + timedelta(minutes=i) for i in range(UNITS_PER_ARM)]
        noise = rng.standard_normal(UNITS_PER_ARM)
        minutes = center + spread * (noise - noise.mean()) / noise.std(ddof=1)
        buyers = round(rate * UNITS_PER_ARM)
        exposures.append(pl.DataFrame({"user_id": users, "experiment": experiment, "variant": arm,
                                       "timestamp": exposed}))
        events.append(pl.DataFrame({"user_id": users, "timestamp": [t + timedelta(hours=1) for t in exposed],
                                    "event": "session", "value": minutes}))
        events.append(pl.DataFrame({"user_id": users[:buyers],
                                    "timestamp": [t + timedelta(hours=2) for t in exposed[:buyers]],
                                    "event": "purchase", "value": 1.0}))
    return pl.concat(events), pl.concat(exposures)


def run(*args) -> "CliRunner":
    return CliRunner().invoke(main, [str(a) for a in args])


def analyze(config: Path, history: Path, *extra):
    result = run("analyze", config, "--record", history, "--format", "json", *extra)
    assert result.exit_code in (0, 10, 11, 12), result.output
    document = json.loads(result.stdout)
    assert result.exit_code == document["exit_code"]
    return document


def row(document: dict, metric: str) -> dict:
    return next(m for m in document["metrics"] if m["name"] == metric and m["variant"] == "treatment")


def check(document: dict, name: str) -> dict:
    return next(c for c in document["checks"] if c["name"] == name)


@pytest.fixture(scope="module")
def train(tmp_path_factory):
    """The logs of releases 1..5 (and a modest release 3 for the LORD++ stream), their configs,
    and the reports of three trains: budget as a warning, ``fail_on_budget``, and LORD++."""
    folder = tmp_path_factory.mktemp("train")
    frames = {}
    for k, loss in enumerate(GUARDRAIL_LOSSES, start=1):
        frames[k] = release_logs(f"release_{k}", seed=k, loss=loss)
    frames["3m"] = release_logs("release_3m", seed=33, loss=GUARDRAIL_LOSSES[2], purchase_rates=MODEST_PURCHASE_RATES)
    configs = {}
    for k, (events, exposures) in frames.items():
        write_frame(events, folder / f"events_{k}.parquet")
        write_frame(exposures, folder / f"exposures_{k}.parquet")
        common = dict(name=f"release_{k}", events=f"events_{k}.parquet", exposures=f"exposures_{k}.parquet",
                      metrics=METRICS, experiment_extra={"pre_period": False})
        budget = f"budget = {{ session_minutes = {BUDGET} }}"
        configs[k] = {
            "warn": write_config(folder, f"release_{k}.toml", **common, extra=f"[history]\n{budget}\n"),
            "strict": write_config(folder, f"release_{k}_strict.toml", **common,
                                   extra=f"[history]\n{budget}\nfail_on_budget = true\n"),
            "lord": write_config(folder, f"release_{k}_lord.toml", **common, extra='[history]\nfdr = "lord"\n'),
            "plain": write_config(folder, f"release_{k}_plain.toml", **common),
        }
    warn = [analyze(configs[k]["warn"], folder / "warn.duckdb") for k in range(1, 6)]
    strict = [analyze(configs[k]["strict"], folder / "strict.duckdb") for k in range(1, 4)]
    strict_4 = folder / "strict_4"
    strict_4_run = run("analyze", configs[4]["strict"], "--record", folder / "strict.duckdb",
                       "--format", "json,text,markdown", "--output-dir", strict_4)
    strict.append(json.loads((strict_4 / "release_4.json").read_text()))
    strict.append(analyze(configs[5]["strict"], folder / "strict.duckdb"))
    lord_stream = (1, 2, "3m", 4, 5)
    lord = [analyze(configs[k]["lord"], folder / "lord.duckdb") for k in lord_stream]
    return {"folder": folder, "frames": frames, "configs": configs, "warn": warn, "strict": strict,
            "strict_4_run": strict_4_run, "strict_4": strict_4, "lord": lord, "lord_stream": lord_stream}


def test_each_release_ships_on_its_own_with_the_guardrail_loss_of_its_logs(train):
    for k, (document, loss) in enumerate(zip(train["warn"], GUARDRAIL_LOSSES), start=1):
        events, exposures = train["frames"][k]
        minutes = (exposures.join(events.filter(pl.col("event") == "session"), on="user_id")
                   .group_by("variant").agg(pl.col("value")))
        per_arm = {variant: np.array(values) for variant, values in minutes.iter_rows()}
        by_hand = per_arm["treatment"].mean() / per_arm["control"].mean() - 1
        guardrail = row(document, "session_minutes")
        assert by_hand == pytest.approx(-loss, abs=1e-12)
        assert guardrail["relative_effect"] == pytest.approx(by_hand, rel=1e-9)
        welch = stats.ttest_ind(per_arm["treatment"], per_arm["control"], equal_var=False)
        assert guardrail["p_value"] == pytest.approx(welch.pvalue, rel=1e-6)
        assert 0.05 < guardrail["p_value"] < 0.2  # not shown worse, yet ...
        assert guardrail["noninferior"] is True and guardrail["relative_ci_low"] < -loss  # ... within the margin
        assert row(document, "purchasers")["relative_effect"] == pytest.approx(0.2, rel=1e-9)
        assert check(document, "pre_exposure_imbalance")["message"] == (
            "no pre-exposure period is compared (pre_period = false)")
        # alone (no history) the release ships too: the history changes nothing before the budget is used up
        alone = json.loads(run("analyze", train["configs"][k]["plain"], "--format", "json").stdout)
        assert alone["verdict"] == "ship" and document["verdict"] == "ship"


def test_the_budget_check_adds_the_recorded_losses_and_fails_at_release_4(train):
    documents = train["warn"]
    recorded = [row(d, "session_minutes") for d in documents]
    for k, document in enumerate(documents, start=1):
        budget = check(document, "release_budget")
        used = -sum(r["relative_effect"] for r in recorded[:k])
        worst = -sum(r["relative_ci_low"] for r in recorded[:k])
        assert document["verdict"] == "ship"
        assert budget["severity"] == "warning" and budget["passed"] is (k <= 3)
        assert budget["details"]["used"] == pytest.approx(used, rel=1e-12)
        assert budget["details"]["worst_case"] == pytest.approx(worst, rel=1e-12)
        assert budget["details"]["releases"] == k
        assert budget["details"]["this_release"] == pytest.approx(-recorded[k - 1]["relative_effect"])
        assert [p["experiment"] for p in budget["details"]["previous"]] == [f"release_{j}" for j in range(1, k)]
        assert [p["record"] for p in budget["details"]["previous"]] == list(range(1, k))
        assert f"{used:.2%} relative loss over {k} shipped release(s)" in budget["message"]
        assert f"worst case (interval bounds) {worst:.2%}" in budget["message"]
    used_4 = check(documents[3], "release_budget")["details"]["used"]
    assert used_4 == pytest.approx(sum(GUARDRAIL_LOSSES[:4])) and used_4 > BUDGET
    assert check(documents[2], "release_budget")["details"]["used"] == pytest.approx(sum(GUARDRAIL_LOSSES[:3]))
    assert "past the budget of 1.80%" in check(documents[3], "release_budget")["message"]


def test_fail_on_budget_rolls_back_release_4_and_says_why(train):
    strict = train["strict"]
    assert [d["verdict"] for d in strict] == ["ship", "ship", "ship", "rollback", "rollback"]
    assert train["strict_4_run"].exit_code == 10
    for document in strict[3:]:
        first = document["reasons"][0]
        assert first["rule"] == "release_budget" and first["metric"] == "session_minutes"
        assert "fail_on_budget = true" in first["message"]
    # release 4 is not counted once rolled back: release 5 uses releases 1-3 and itself
    assert check(strict[4], "release_budget")["details"]["used"] == pytest.approx(
        sum(GUARDRAIL_LOSSES[:3]) + GUARDRAIL_LOSSES[4])
    used = check(strict[3], "release_budget")["details"]["used"]
    text = (train["strict_4"] / "release_4.txt").read_text()
    markdown = (train["strict_4"] / "release_4.md").read_text()
    assert text.startswith("release_4: ROLL BACK  (exit code 10)\n\nWhy:\n  - [treatment] shipping would pass the "
                           "release-train budget of session_minutes (fail_on_budget = true)")
    assert markdown.startswith("## ROLL BACK: release\\_4 (verdict rollback, exit code 10)")
    why = markdown.split("### Why\n\n", 1)[1]
    assert why.startswith("- **treatment** shipping would pass the release-train budget of session\\_minutes")
    for report in (text, why):
        assert f"{used:.2%} relative loss over 4 shipped release(s)" in report and "past the budget of 1.80%" in report
    # the arm that would have shipped is no longer recommended
    assert strict[3]["recommendation"]["variant"] is None
    assert strict[3]["recommendation"]["message"] == "no arm is recommended: none ships (treatment rollback)"
    assert "ship treatment" not in markdown.split("### Why", 1)[0]


def test_the_history_lists_the_releases_and_the_guardrail_trajectory(train):
    history = train["folder"] / "warn.duckdb"
    listing = run("history", history)
    assert listing.exit_code == 0, listing.output
    lines = listing.output.splitlines()
    assert lines[0] == f"{history}: 5 analyses recorded"
    assert [line.split()[2:5] for line in lines[2:]] == [[f"release_{k}", "ship", "treatment"] for k in range(1, 6)]
    trajectory = json.loads(run("history", history, "--metric", "session_minutes", "--format", "json").stdout)
    recorded = [row(d, "session_minutes") for d in train["warn"]]
    points = trajectory["points"]
    assert [p["experiment"] for p in points] == [f"release_{k}" for k in range(1, 6)]
    assert [p["relative_effect"] for p in points] == [r["relative_effect"] for r in recorded]
    assert [p["relative_ci_low"] for p in points] == [r["relative_ci_low"] for r in recorded]
    assert all(p["shipped"] for p in points)
    strict = json.loads(run("history", train["folder"] / "strict.duckdb", "--format", "json").stdout)
    assert [r["verdict"] for r in strict["releases"]] == ["ship", "ship", "ship", "rollback", "rollback"]
    assert [r["recommended_variant"] for r in strict["releases"]] == ["treatment"] * 3 + [None] * 2


def test_lord_levels_follow_the_recorded_discoveries(train):
    documents = train["lord"]
    history = json.loads(run("history", train["folder"] / "lord.duckdb", "--format", "json").stdout)["releases"]
    assert [r["experiment"] for r in history] == [f"release_{k}" for k in train["lord_stream"]]
    discoveries: list[int] = []
    for t, (document, record) in enumerate(zip(documents, history), start=1):
        level = lord_alpha(t, discoveries, alpha=0.05, w0=0.005)
        reason = next(r for r in document["reasons"] if r["rule"] == "online_fdr")
        assert reason["details"]["release"] == t and reason["details"]["discoveries"] == discoveries
        assert reason["details"]["alpha"] == pytest.approx(level, rel=1e-12)
        assert reason["details"]["wealth"] == pytest.approx(lord_wealth(t, discoveries, alpha=0.05, w0=0.005))
        assert record["fdr_alpha"] == pytest.approx(level, rel=1e-12)
        success = row(document, "purchasers")
        assert (document["verdict"] == "ship") is (success["p_value_adjusted"] < level)
        assert record["verdict"] == document["verdict"]
        assert document["recommendation"]["variant"] == ("treatment" if document["verdict"] == "ship" else None)
        assert document["decision_trace"][-1]["rule"] == "verdict"
        # the level is the one the success metric is judged at, in the row, the trace and the projection
        assert success["decision_alpha"] == pytest.approx(level, rel=1e-12)
        step = next(s for s in document["decision_trace"] if s["rule"] == "success" and s["metric"] == "purchasers")
        assert step["alpha"] == pytest.approx(level, rel=1e-12)
        projection = next((r for r in document["reasons"] if r["rule"] == "verdict_horizon"), None)
        assert (projection is None) is (document["verdict"] == "ship")
        if projection is not None:
            assert projection["details"]["alpha"] == pytest.approx(level, rel=1e-12)  # one success metric: m = 1
        if record["verdict"] == "ship":
            discoveries.append(t)
    assert discoveries == [1, 2, 4, 5]
    # the modest third release is better at alpha 0.05, and ships without LORD++
    modest = row(documents[2], "purchasers")
    assert lord_alpha(3, [1, 2], alpha=0.05, w0=0.005) < modest["p_value"] < 0.05
    alone = json.loads(run("analyze", train["configs"]["3m"]["plain"], "--format", "json").stdout)
    assert alone["verdict"] == "ship" and documents[2]["verdict"] != "ship"


def test_a_precisely_measured_loss_of_0_8_percent_is_harm_shown(tmp_path):
    events, exposures = release_logs("exp", seed=8, loss=0.008, spread=1.0)  # relative se ~0.03%
    write_frame(events, tmp_path / "events.parquet")
    write_frame(exposures, tmp_path / "exposures.parquet")
    config = write_config(tmp_path, name="exp", metrics=METRICS, experiment_extra={"pre_period": False})
    document = json.loads(run("analyze", config, "--format", "json").stdout)
    guardrail = row(document, "session_minutes")
    assert guardrail["relative_effect"] == pytest.approx(-0.008, rel=1e-9)
    assert guardrail["noninferior"] is True and guardrail["outcome"] == "worse"
    assert document["verdict"] == "rollback" and document["reasons"][0]["rule"] == "harm"
