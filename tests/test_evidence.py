"""When iterate refuses to decide: the evidence rules end to end (iterate/evidence.py).

Each case is a way a gate could pass on nothing: a misspelt event, a window without data, a
metric without variance, logs that do not join, an empty log, arms too small to ship on, and
SRM alarms raised by looking every day. Logs are seeded; numbers are recomputed here.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from scipy import special, stats

import iterate
from helpers import BASE, write_config, write_logs
from iterate.cli import main
from iterate.stats import sample_ratio_mismatch, sequential_sample_ratio_mismatch

DAY_US = 86_400 * 1_000_000


def make_logs(seed: int = 0, n_per_arm: int = 400, rates: dict[str, tuple[float, float]] | None = None,
              integer_ids: bool = False, shift_events: timedelta = timedelta(0)):
    """Balanced arms; each unit does each event Poisson(its arm's rate) times within 6 days of exposure."""
    rng = np.random.default_rng(seed)
    rates = rates or {"purchase": (1.0, 1.5), "crash": (0.3, 0.3), "app_open": (4.0, 4.0)}
    n = 2 * n_per_arm
    users = np.arange(n) if integer_ids else np.array([f"u{i:05d}" for i in range(n)])
    variant = np.array(["control", "treatment"] * n_per_arm)
    exposure_us = int(np.datetime64(BASE, "us").astype(np.int64)) + rng.integers(0, 3 * DAY_US, size=n)
    ids, times, names = [], [], []
    for event, (control_rate, treatment_rate) in rates.items():
        counts = rng.poisson(np.where(variant == "control", control_rate, treatment_rate))
        ids.append(np.repeat(users, counts))
        times.append(np.repeat(exposure_us, counts) + rng.integers(0, 6 * DAY_US, size=int(counts.sum())))
        names.append(np.full(int(counts.sum()), event))
    events = pl.DataFrame({"user_id": np.concatenate(ids),
                           "timestamp": (np.concatenate(times)).astype("datetime64[us]"),
                           "event": np.concatenate(names)})
    events = events.with_columns(pl.col("timestamp") + shift_events)
    exposures = pl.DataFrame({"user_id": users, "experiment": "exp", "variant": variant,
                              "timestamp": exposure_us.astype("datetime64[us]")})
    return events, exposures


PURCHASES = {"name": "purchases", "type": "count", "event": "purchase"}
CRASHES = {"name": "crashes", "type": "count", "event": "crash", "role": "guardrail", "direction": "decrease"}


def run(tmp_path, metrics, logs=None, **extra):
    write_logs(tmp_path, *(logs or make_logs()))
    config = write_config(tmp_path, metrics=metrics, experiment_extra={"pre_period": False, **extra})
    outcome = CliRunner().invoke(main, ["analyze", str(config), "--format", "json"])
    return outcome, config


def test_a_misspelt_guardrail_event_is_a_config_error_not_a_ship(tmp_path):
    typo = {**CRASHES, "event": "crsh"}
    outcome, _ = run(tmp_path, [PURCHASES, typo, {"name": "opens", "type": "count", "event": "app_opn"}])
    assert outcome.exit_code == 2, outcome.output
    assert "2 metric event(s) never occur" in outcome.output
    assert "metric `crashes` reads the event `crsh`, which never occurs in the events log; nearest event " \
           "names: `crash`" in outcome.output
    assert "metric `opens` reads the event `app_opn`" in outcome.output and "`app_open`" in outcome.output
    assert "Traceback" not in outcome.output


def test_a_missing_exposure_event_names_the_nearest_events(tmp_path):
    events, exposures = make_logs()
    exposure_rows = exposures.select("user_id", "timestamp", pl.lit("exposure").alias("event"), "variant")
    (tmp_path / "single").mkdir()
    pl.concat([events.with_columns(pl.lit(None, dtype=pl.String).alias("variant")), exposure_rows]).write_parquet(
        tmp_path / "single" / "events.parquet")
    config = write_config(tmp_path / "single", events="events.parquet", exposures=None, metrics=[PURCHASES])
    config.write_text(config.read_text().replace("[data]\n", '[data]\nexposure_event = "exposures"\n'))
    outcome = CliRunner().invoke(main, ["analyze", str(config)])
    assert outcome.exit_code == 2
    assert "[data] exposure_event `exposures` never occurs in the events log; nearest event names: `exposure`" \
        in outcome.output


def test_a_window_without_data_never_counts_toward_ship(tmp_path):
    # the crash events all happen 10 days after exposure, outside the 7-day window: the guardrail is blind
    events, exposures = make_logs()
    events = events.with_columns(
        pl.when(pl.col("event") == "crash").then(pl.col("timestamp") + timedelta(days=10))
        .otherwise(pl.col("timestamp")).alias("timestamp"))
    outcome, _ = run(tmp_path, [PURCHASES, CRASHES], logs=(events, exposures))
    report = iterate.analyze(_config(tmp_path)).to_dict()
    crashes = next(row for row in report["metrics"] if row["name"] == "crashes")
    purchases = next(row for row in report["metrics"] if row["name"] == "purchases")
    assert purchases["outcome"] == "better"  # the success metric alone would ship
    assert crashes["status"] == "no_data" and crashes["outcome"] == "not_tested" and crashes["p_value"] is None
    check = next(check for check in report["checks"] if check["name"] == "metric_evidence")
    assert not check["passed"] and "crashes: no unit has a non-zero value in any arm" in check["message"]
    assert report["verdict"] == "continue" and outcome.exit_code == 11
    assert any(reason["rule"] == "no_data" and reason["metric"] == "crashes" for reason in report["reasons"])


def _config(tmp_path):
    return tmp_path / "experiment.toml"


def test_no_variance_in_any_arm_is_no_data(tmp_path):
    events, exposures = make_logs(rates={"purchase": (1.0, 1.5)})
    everyone = exposures.select("user_id", (pl.col("timestamp") + timedelta(hours=1)), pl.lit("app_open").alias("event"))
    outcome, config = run(tmp_path, [PURCHASES, {"name": "opened", "type": "proportion", "event": "app_open",
                                                  "role": "guardrail"}],
                          logs=(pl.concat([events, everyone]), exposures))
    opened = next(row for row in iterate.analyze(config).metric_results if row.name == "opened")
    assert opened.status == "no_data" and opened.control_mean == opened.treatment_mean == 1.0
    assert outcome.exit_code == 11


def test_an_empty_events_log_is_bad_input(tmp_path):
    events, exposures = make_logs()
    outcome, _ = run(tmp_path, [PURCHASES], logs=(events.head(0), exposures))
    assert outcome.exit_code == 2 and "the events log has no rows" in outcome.output


def test_logs_whose_ids_do_not_join_are_invalid_with_the_likely_cause(tmp_path):
    events, exposures = make_logs(integer_ids=True)
    exposures = exposures.with_columns(("user-" + pl.col("user_id").cast(pl.String)).alias("user_id"))
    outcome, _ = run(tmp_path, [PURCHASES], logs=(events, exposures))
    assert outcome.exit_code == 13, outcome.output
    report = iterate.analyze(_config(tmp_path)).to_dict()
    check = next(check for check in report["checks"] if check["name"] == "events_join_exposures")
    assert not check["passed"] and check["severity"] == "error"
    assert "0 of 800 exposed units (0.00%)" in check["message"]
    assert "ids are BIGINT in the events (e.g. '0') and VARCHAR in the exposures (e.g. 'user-0')" in check["message"]


def test_logs_from_different_periods_are_invalid_and_say_so(tmp_path):
    outcome, _ = run(tmp_path, [PURCHASES], logs=make_logs(shift_events=timedelta(days=200)))
    assert outcome.exit_code == 13
    assert "the time ranges do not overlap" in outcome.output


def test_a_low_share_of_units_with_events_is_a_warning(tmp_path):
    events, exposures = make_logs(rates={"purchase": (0.05, 0.05)})
    report = iterate.analyze(run(tmp_path, [PURCHASES], logs=(events, exposures), min_active_share=0.2)[1]).to_dict()
    check = next(check for check in report["checks"] if check["name"] == "events_join_exposures")
    per_unit = events.filter(pl.col("event") == "purchase").join(exposures, on="user_id").filter(
        (pl.col("timestamp") >= pl.col("timestamp_right"))
        & (pl.col("timestamp") < pl.col("timestamp_right") + timedelta(days=7)))["user_id"].n_unique()
    assert check["details"]["units_with_events"] == per_unit
    assert not check["passed"] and check["severity"] == "warning" and "below min_active_share = 0.2" in check["message"]


def test_too_few_units_never_ship_but_harm_still_rolls_back(tmp_path):
    strong = make_logs(n_per_arm=60, rates={"purchase": (1.0, 3.0)})
    (tmp_path / "a").mkdir()
    outcome, config = run(tmp_path / "a", [PURCHASES], logs=strong)
    result = iterate.analyze(config)
    assert result.metric_results[0].outcome == "better" and result.verdict == "continue"
    reason = next(reason for reason in result.reasons if reason.rule == "too_few_units")
    assert reason.message == ("too few units to ship: control 60, treatment 60 analyzed, below min_units_per_arm "
                              "= 100 (40 more needed)")
    assert iterate.analyze(iterate.load_config(config).replace(min_units_per_arm=50)).verdict == "ship"
    (tmp_path / "b").mkdir()
    harmful = make_logs(n_per_arm=60, rates={"purchase": (3.0, 1.0)})
    assert iterate.analyze(run(tmp_path / "b", [PURCHASES], logs=harmful)[1]).verdict == "rollback"


def _log_bayes_factor(counts, shares, k=100.0):
    """Lindon & Malek (2022), eq. 4, with SciPy's log-gamma."""
    counts, shares = np.asarray(counts, float), np.asarray(shares, float) / sum(shares)
    prior = k * shares
    return (special.gammaln(prior.sum()) - special.gammaln(prior.sum() + counts.sum())
            + np.sum(special.gammaln(prior + counts) - special.gammaln(prior)) - np.sum(counts * np.log(shares)))


@pytest.mark.parametrize("counts", [(5000, 5000), (5000, 5300), (10_000, 10_900, 9_700), (3, 9)])
def test_anytime_valid_srm_is_the_dirichlet_multinomial_bayes_factor(counts):
    names = [f"v{i}" for i in range(len(counts))]
    result = sequential_sample_ratio_mismatch(dict(zip(names, counts)), dict.fromkeys(names, 1.0))
    assert result.statistic == pytest.approx(_log_bayes_factor(counts, [1.0] * len(counts)), rel=1e-12, abs=1e-12)
    assert result.p_value == pytest.approx(min(1.0, math.exp(-result.statistic)), rel=1e-12)


def test_large_n_tiny_imbalance_alarms_the_fixed_test_not_the_anytime_valid_one_nor_the_floor(tmp_path):
    counts = {"control": 2_000_000, "treatment": 2_008_000}  # 0.2% imbalance
    assert sample_ratio_mismatch(counts, {"control": 1, "treatment": 1}).mismatch
    assert not sequential_sample_ratio_mismatch(counts, {"control": 1, "treatment": 1}).mismatch
    from iterate.checks import srm_check

    experiment = iterate.Experiment(name="e", control="control", metrics=(iterate.Metric(
        name="m", type="count", event="e"),), expected_split={"control": 0.5, "treatment": 0.5})
    assert not srm_check(experiment, counts, ("control", "treatment")).passed
    floor = srm_check(experiment.replace(srm_min_deviation=0.01), counts, ("control", "treatment"))
    assert floor.passed and "below srm_min_deviation = 1.00%" in floor.message
    assert srm_check(experiment, counts, ("control", "treatment"), anytime_valid=True).passed


def test_sequential_analyses_and_timelines_use_the_anytime_valid_srm(tmp_path):
    _, config = run(tmp_path, [PURCHASES])

    def srm(result):
        return next(check for check in result.checks if check.name == "srm")

    assert srm(iterate.analyze(config)).details["method"] == "chi_square"
    with_timeline = iterate.analyze(config, timeline=True)
    assert srm(with_timeline).details["method"] == "dirichlet_multinomial" and with_timeline.timeline
    sequential = srm(iterate.analyze(iterate.load_config(config).replace(sequential=True)))
    assert sequential.details["method"] == "dirichlet_multinomial" and "anytime-valid test" in sequential.message


@pytest.mark.slow
def test_srm_false_alarms_with_daily_looks_over_30_days():
    """Under a correct 50/50 split, checking every day for 30 days: the chi-square test's chance
    of ever raising an alarm grows with the looks; the anytime-valid test's stays below alpha."""
    rng = np.random.default_rng(20261202)
    experiments, days, daily, alpha = 4000, 30, 2000, 0.01
    totals = np.cumsum(rng.poisson(daily, size=(experiments, days)), axis=1)
    control = np.cumsum(rng.binomial(np.diff(totals, prepend=0, axis=1), 0.5), axis=1)
    chi2 = (2 * control - totals) ** 2 / totals
    fixed_alarm = (stats.chi2.sf(chi2, 1) < alpha).any(axis=1).mean()
    treatment = totals - control
    log_bf = (special.gammaln(100.0) - special.gammaln(100.0 + totals) + special.gammaln(50.0 + control)
              + special.gammaln(50.0 + treatment) - 2 * special.gammaln(50.0) + totals * math.log(2))
    anytime_alarm = (np.exp(-log_bf) < alpha).any(axis=1).mean()
    assert fixed_alarm > 3 * alpha  # peeking inflates the fixed test's false alarms
    assert anytime_alarm <= alpha  # Ville's inequality: at most alpha, however often one looks
    one = sequential_sample_ratio_mismatch({"c": int(control[0, -1]), "t": int(treatment[0, -1])}, {"c": 1, "t": 1})
    assert one.statistic == pytest.approx(log_bf[0, -1], rel=1e-9, abs=1e-9)
