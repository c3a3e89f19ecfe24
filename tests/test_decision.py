"""The risk-aware decision rule end to end (Schultzberg, Ankargren & Frånberg 2024), on seeded logs.

- guardrails with a non-inferiority margin must be shown non-inferior for a ship: the one-sided
  p-value is checked against a hand z computation (a relative margin is converted to the metric's
  units with the control mean; ``margin_type = "absolute"`` keeps it as given);
- success metrics are corrected as their own family, guardrails as theirs (Holm, statsmodels);
- a release without success metrics ships on its guardrails alone;
- at the planned sample (``planned_units``) or duration (``max_duration``) without a ship or
  rollback decision the verdict is ``inconclusive`` (exit code 12).

Per-unit counts and the Welch standard errors are recomputed with polars / NumPy from the rows.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

import iterate
from helpers import BASE, write_config, write_logs
from iterate.cli import main

DAY_US = 86_400 * 1_000_000
N_PER_ARM = 2000
NO_PRE_PERIOD = {"pre_period": False}


def make_logs(seed: int, rates: dict[str, tuple[float, float]], n_per_arm: int = N_PER_ARM):
    """Balanced arms; each unit does ``event`` Poisson(rate of its arm) times within 6 days of its
    exposure (exposures spread over the first 3 days)."""
    rng = np.random.default_rng(seed)
    n = 2 * n_per_arm
    users = np.array([f"u{i:05d}" for i in range(n)])
    variant = np.array(["control", "treatment"] * n_per_arm)
    base_us = int(np.datetime64(BASE, "us").astype(np.int64))
    exposure_us = base_us + rng.integers(0, 3 * DAY_US, size=n)
    ids, times, names = [], [], []
    for event, (control_rate, treatment_rate) in rates.items():
        counts = rng.poisson(np.where(variant == "control", control_rate, treatment_rate))
        ids.append(np.repeat(users, counts))
        times.append(np.repeat(exposure_us, counts) + rng.integers(0, 6 * DAY_US, size=int(counts.sum())))
        names.append(np.full(int(counts.sum()), event))
    events = pl.DataFrame({
        "user_id": np.concatenate(ids),
        "timestamp": np.concatenate(times).astype("datetime64[us]"),
        "event": np.concatenate(names),
    })
    exposures = pl.DataFrame({"user_id": users, "experiment": "exp", "variant": variant,
                              "timestamp": exposure_us.astype("datetime64[us]")})
    return events, exposures


def unit_counts(events: pl.DataFrame, exposures: pl.DataFrame, event: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit number of ``event`` in the 7 days after exposure, for control and treatment (zeros kept)."""
    counted = (
        events.filter(pl.col("event") == event)
        .join(exposures.select("user_id", pl.col("timestamp").alias("fe")), on="user_id")
        .filter((pl.col("timestamp") >= pl.col("fe")) & (pl.col("timestamp") < pl.col("fe") + timedelta(days=7)))
        .group_by("user_id").agg(pl.len().cast(pl.Float64).alias("y"))
    )
    table = exposures.join(counted, on="user_id", how="left").with_columns(pl.col("y").fill_null(0.0))
    return (table.filter(pl.col("variant") == "control")["y"].to_numpy(),
            table.filter(pl.col("variant") == "treatment")["y"].to_numpy())


def welch(control: np.ndarray, treatment: np.ndarray) -> dict[str, float]:
    se = math.sqrt(control.var(ddof=1) / control.size + treatment.var(ddof=1) / treatment.size)
    return {"effect": treatment.mean() - control.mean(), "se": se, "control_mean": control.mean(),
            "p": stats.ttest_ind(treatment, control, equal_var=False).pvalue}


def row(result, name: str):
    rows = [r for r in result.metric_results if r.name == name]
    assert len(rows) == 1
    return rows[0]


def reasons(result, rule: str) -> list:
    return [reason for reason in result.reasons if reason.rule == rule]


RATES = {"purchase": (1.0, 1.25), "crash": (0.5, 0.5), "app_open": (3.0, 3.0), "error": (0.4, 0.42)}
SUCCESS = {"name": "purchases", "type": "count", "event": "purchase"}


@pytest.fixture(scope="module")
def logs():
    return make_logs(11, RATES)


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory, logs):
    directory = tmp_path_factory.mktemp("risk_logs")
    write_logs(directory, *logs)
    return directory


def analyze(log_dir, filename: str, metrics: list[dict], **extra):
    config = write_config(log_dir, filename, metrics=metrics, experiment_extra={**NO_PRE_PERIOD, **extra})
    return iterate.analyze(config)


def test_guardrails_well_inside_their_margins_ship(log_dir, logs) -> None:
    metrics = [
        SUCCESS,
        {"name": "crashes", "type": "count", "event": "crash", "role": "guardrail", "direction": "decrease",
         "margin": 0.5},
        {"name": "opens", "type": "count", "event": "app_open", "role": "guardrail", "direction": "increase",
         "margin": 0.05},
    ]
    result = analyze(log_dir, "ship.toml", metrics)
    assert result.verdict == "ship" and result.exit_code == 0, result.reasons
    assert row(result, "purchases").outcome == "better"
    for name, event, margin, direction in (("crashes", "crash", 0.5, "decrease"), ("opens", "app_open", 0.05, "increase")):
        r = row(result, name)
        reference = welch(*unit_counts(*logs, event))
        assert r.effect == pytest.approx(reference["effect"], rel=1e-9, abs=1e-12)
        assert r.std_error == pytest.approx(reference["se"], rel=1e-9)
        absolute_margin = margin * abs(reference["control_mean"])
        assert r.noninferiority_margin == pytest.approx(absolute_margin, rel=1e-12)
        toward_good = reference["effect"] if direction == "increase" else -reference["effect"]
        expected_p = stats.norm.sf((toward_good + absolute_margin) / reference["se"])
        assert r.noninferiority_p_value == pytest.approx(expected_p, rel=1e-6)
        assert r.noninferiority_p_value < 0.05 and r.noninferior is True
        # the CI lies inside the margin on the bad side
        bad_end = -r.ci_high if direction == "decrease" else r.ci_low
        assert bad_end > -absolute_margin
    assert {reason.metric for reason in reasons(result, "noninferior")} == {"crashes", "opens"}
    assert reasons(result, "success")[0].metric == "purchases"


def test_guardrail_near_its_margin_keeps_collecting(log_dir, logs) -> None:
    """The success metric is clearly better, but a guardrail whose effect sits near the margin is not
    shown non-inferior: ``continue``, with a ``not_yet_noninferior`` reason naming the units needed."""
    reference = welch(*unit_counts(*logs, "error"))
    z_target = 0.8  # (toward_good + margin) / se: one-sided p of about 0.21
    absolute_margin = z_target * reference["se"] + reference["effect"]  # direction decrease: toward_good = -effect
    assert absolute_margin > 0 and reference["p"] > 0.05  # not harmful, just not proven safe
    relative_margin = float(absolute_margin / reference["control_mean"])
    metrics = [
        SUCCESS,
        {"name": "errors", "type": "count", "event": "error", "role": "guardrail", "direction": "decrease",
         "margin": relative_margin},
    ]
    result = analyze(log_dir, "near.toml", metrics)
    assert row(result, "purchases").outcome == "better"
    r = row(result, "errors")
    assert r.outcome == "no_difference"
    assert r.noninferiority_margin == pytest.approx(absolute_margin, rel=1e-9)
    assert r.noninferiority_p_value == pytest.approx(stats.norm.sf(z_target), rel=1e-6)
    assert r.noninferior is False
    assert result.verdict == "continue" and result.exit_code == 11
    unproven = reasons(result, "not_yet_noninferior")
    assert [reason.metric for reason in unproven] == ["errors"]
    # if the effect held, n' = n ((z_{1-alpha} + z_{0.8}) / z)^2 units per arm would show it with 80% power
    extra = math.ceil(N_PER_ARM * ((stats.norm.ppf(0.95) + stats.norm.ppf(0.8)) / z_target) ** 2 - N_PER_ARM)
    assert f"{extra:,} more units per arm" in unproven[0].message
    assert not reasons(result, "success") and not reasons(result, "harm")


def test_absolute_margin(log_dir, logs) -> None:
    reference = welch(*unit_counts(*logs, "crash"))
    metrics = [
        SUCCESS,
        {"name": "crashes", "type": "count", "event": "crash", "role": "guardrail", "direction": "decrease",
         "margin": 0.06, "margin_type": "absolute"},
    ]
    result = analyze(log_dir, "absolute.toml", metrics)
    r = row(result, "crashes")
    assert r.noninferiority_margin == 0.06
    expected = stats.norm.sf((-reference["effect"] + 0.06) / reference["se"])
    assert r.noninferiority_p_value == pytest.approx(expected, rel=1e-6)
    assert r.noninferior is bool(expected < 0.05)
    # the same number read as relative would be a margin of 6% of the control mean
    relative = analyze(log_dir, "relative.toml", [SUCCESS, {**metrics[1], "margin_type": "relative"}])
    assert row(relative, "crashes").noninferiority_margin == pytest.approx(0.06 * reference["control_mean"], rel=1e-12)


def test_success_and_guardrail_families_are_corrected_separately(tmp_path) -> None:
    rates = {"purchase": (1.0, 1.08), "signup": (0.3, 0.33),
             **{f"g{i}": (0.5 + 0.1 * i, 0.5 + 0.1 * i) for i in range(5)}}
    events, exposures = make_logs(25, rates)  # purchases p ~ 0.014: significant within its family only
    write_logs(tmp_path, events, exposures)
    metrics = [SUCCESS, {"name": "signed_up", "type": "proportion", "event": "signup"}]
    metrics += [{"name": f"guard{i}", "type": "count", "event": f"g{i}", "role": "guardrail",
                 "direction": "decrease"} for i in range(5)]
    result = iterate.analyze(write_config(tmp_path, metrics=metrics, experiment_extra=NO_PRE_PERIOD))

    # raw p-values against scipy / statsmodels
    assert row(result, "purchases").p_value == pytest.approx(welch(*unit_counts(events, exposures, "purchase"))["p"], rel=1e-7)
    control, treatment = unit_counts(events, exposures, "signup")
    _, p_signup = proportions_ztest([(treatment > 0).sum(), (control > 0).sum()], [treatment.size, control.size])
    assert row(result, "signed_up").p_value == pytest.approx(p_signup, rel=1e-7)

    rows = result.metric_results
    success = [r for r in rows if r.role == "success"]
    guardrails = [r for r in rows if r.role == "guardrail"]
    assert len(success) == 2 and len(guardrails) == 5
    for family in (success, guardrails):
        expected = multipletests([r.p_value for r in family], method="holm")[1]
        assert [r.p_value_adjusted for r in family] == pytest.approx(list(expected), rel=1e-12)
    # not the correction over all seven rows
    everything = multipletests([r.p_value for r in rows], method="holm")[1]
    assert any(abs(r.p_value_adjusted - e) > 1e-6 for r, e in zip(rows, everything) if r.role == "success")
    # and the decision reads the family-corrected p-value
    purchases = row(result, "purchases")
    assert purchases.p_value_adjusted < 0.05 <= everything[0], (purchases.p_value_adjusted, everything[0])
    assert purchases.outcome == "better" and result.verdict == "ship"


def test_no_success_metric_ships_on_guardrails_alone(log_dir) -> None:
    guardrails = [
        {"name": "crashes", "type": "count", "event": "crash", "role": "guardrail", "direction": "decrease",
         "margin": 0.5},
        {"name": "opens", "type": "count", "event": "app_open", "role": "guardrail", "margin": 0.05},
    ]
    result = analyze(log_dir, "guardrails_only.toml", guardrails)
    assert all(r.noninferior for r in result.metric_results)
    assert result.verdict == "ship", result.reasons
    assert {reason.rule for reason in result.reasons} == {"noninferior"}
    runner = CliRunner()
    outcome = runner.invoke(main, ["analyze", str(log_dir / "guardrails_only.toml"), "--format", "json"])
    assert outcome.exit_code == 0, outcome.output
    assert json.loads(outcome.stdout)["verdict"] == "ship"

    # a guardrail that is not yet shown non-inferior keeps it collecting
    tight = analyze(log_dir, "guardrails_tight.toml", [guardrails[0], {**guardrails[1], "margin": 0.001}])
    assert tight.verdict == "continue"
    assert [reason.metric for reason in reasons(tight, "not_yet_noninferior")] == ["opens"]

    # without margins nothing can show the release is good
    none = analyze(log_dir, "no_margins.toml", [{k: v for k, v in g.items() if k != "margin"} for g in guardrails])
    assert none.verdict == "continue" and reasons(none, "no_success_metric")


@pytest.fixture(scope="module")
def flat_dir(tmp_path_factory):
    """A/A log: nothing differs."""
    directory = tmp_path_factory.mktemp("flat_logs")
    events, exposures = make_logs(23, {"purchase": (1.0, 1.0), "crash": (0.5, 0.5)})
    write_logs(directory, events, exposures)
    return directory, events, exposures


def run_cli(config) -> tuple[int, dict]:
    outcome = CliRunner().invoke(main, ["analyze", str(config), "--format", "json"])
    assert outcome.exit_code in (0, 10, 11, 12, 13), outcome.output
    return outcome.exit_code, json.loads(outcome.stdout)


def test_planned_units_reached_without_decision_is_inconclusive(flat_dir) -> None:
    directory, events, exposures = flat_dir
    metrics = [SUCCESS, {"name": "crashes", "type": "count", "event": "crash", "role": "guardrail",
                         "direction": "decrease"}]
    analyzed = exposures.height
    reached = write_config(directory, "reached.toml", metrics=metrics,
                           experiment_extra={**NO_PRE_PERIOD, "planned_units": analyzed})
    code, report = run_cli(reached)
    assert (code, report["verdict"]) == (12, "inconclusive")
    assert report["reasons"][0]["rule"] == "planned_end_reached"
    assert f"{analyzed:,}" in report["reasons"][0]["message"]
    assert row(iterate.analyze(reached), "purchases").outcome == "no_difference"

    short = write_config(directory, "short.toml", metrics=metrics,
                         experiment_extra={**NO_PRE_PERIOD, "planned_units": analyzed + 1})
    code, report = run_cli(short)
    assert (code, report["verdict"]) == (11, "continue")
    assert "planned_end_reached" not in {reason["rule"] for reason in report["reasons"]}


def test_planned_end_does_not_block_a_ship(log_dir, logs) -> None:
    _, exposures = logs
    config = write_config(log_dir, "ship_at_end.toml", metrics=[SUCCESS],
                          experiment_extra={**NO_PRE_PERIOD, "planned_units": exposures.height})
    code, report = run_cli(config)
    assert (code, report["verdict"]) == (0, "ship")


def test_max_duration_reached_without_decision_is_inconclusive(flat_dir) -> None:
    directory, events, exposures = flat_dir
    elapsed = events["timestamp"].max() - exposures["timestamp"].min()
    assert timedelta(days=6) < elapsed < timedelta(days=10)
    for duration, expected in (("5d", (12, "inconclusive")), ("240h", (11, "continue")), ("30d", (11, "continue"))):
        config = write_config(directory, f"duration_{duration}.toml", metrics=[SUCCESS],
                              experiment_extra={**NO_PRE_PERIOD, "max_duration": duration})
        code, report = run_cli(config)
        assert (code, report["verdict"]) == expected, (duration, report["reasons"])
        if expected[1] == "inconclusive":
            assert report["reasons"][0]["rule"] == "planned_end_reached"
            assert f"{elapsed / timedelta(days=1):.1f} days" in report["reasons"][0]["message"]
