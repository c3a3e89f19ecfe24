"""New app versions (``[rollout] kind = "version"``): observational, difference-in-differences.

The proof of issue 11: users self-select into the new version (heavy users update first) and the
version has no effect: the naive post-period comparison is biased (significantly positive), the
difference-in-differences is not (within 3 standard errors of 0), and every output says
"observational". A true -10% effect is found; differing pre-trends never advance; the per-unit
pre/post values equal a polars computation of the documented design; bad configs are ConfigErrors.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats

import iterate
from helpers import write_config, write_logs
from iterate.config import load_config
from iterate.errors import ConfigError
from iterate.report import FORMATS, json_schema, render

START = datetime(2026, 3, 2)  # midnight UTC: day 0 of the simulated logs
DAYS = 28
DAY_US = 86_400 * 1_000_000
PRE, POST = 7, 7
FIRST_UPDATE_DAY, LAST_UPDATE_DAY = 7, 20  # the update days whose windows fit in the 28 days
DRIFT = 0.05  # sessions per day added each day, to every user (a common trend)
GUARDRAIL = {"name": "sessions", "type": "count", "event": "session", "role": "guardrail", "direction": "increase",
             "margin": 0.2}


def version_logs(seed: int, *, units: int = 4000, effect: float = 0.0, updater_trend: float = 0.0):
    """Users seen on version "1.0" at day 0; each makes Poisson(rate) sessions a day, rate = its
    baseline activity (Gamma(2, 1) sessions a day) + ``DRIFT`` * day. A user updates to "2.0" with a
    probability rising with its baseline activity (heavy users update: self-selection), on a day from
    7 to 20 that is earlier the heavier it is (heavy users update first); from its update on, its
    rate is multiplied by ``1 + effect``. ``updater_trend`` adds that many sessions a day per day to
    the updaters only, before and after the update (a pre-trend that differs)."""
    rng = np.random.default_rng(seed)
    baseline = rng.gamma(2.0, 1.0, size=units)
    updates = rng.random(units) < 1 - np.exp(-0.5 * baseline)
    rank = stats.rankdata(-baseline) / units  # 0: the heaviest user
    span = LAST_UPDATE_DAY - FIRST_UPDATE_DAY + 1
    update_day = FIRST_UPDATE_DAY + np.minimum((rank * span + rng.integers(0, 4, size=units)).astype(int), span - 1)
    update_us = update_day * DAY_US + rng.integers(0, DAY_US, size=units)
    day = np.arange(DAYS)
    rate = baseline[:, None] + DRIFT * day[None, :] + np.where(updates, updater_trend, 0.0)[:, None] * day[None, :]
    counts = rng.poisson(rate)
    times, owners = [], []
    for user in range(units):
        stamps = np.concatenate([d * DAY_US + rng.integers(0, DAY_US, size=c) for d, c in enumerate(counts[user])])
        if updates[user] and effect:
            after = stamps >= update_us[user]
            keep = ~after | (rng.random(stamps.size) < 1 + effect)  # thinning: rate times (1 + effect)
            stamps = stamps[keep]
        times.append(stamps)
        owners.append(np.full(stamps.size, user))
    stamps, owner = np.concatenate(times), np.concatenate(owners)
    start_us = int(np.datetime64(START, "us").astype(np.int64))
    users = np.array([f"u{i:05d}" for i in range(units)])
    events = pl.DataFrame({"user_id": users[owner], "timestamp": (start_us + stamps).astype("datetime64[us]"),
                           "event": "session"})
    updated = np.flatnonzero(updates)
    exposures = pl.DataFrame({
        "user_id": np.concatenate([users, users[updated]]),
        "experiment": "app",
        "variant": np.concatenate([np.full(units, "1.0"), np.full(updated.size, "2.0")]),
        "timestamp": np.concatenate([np.full(units, start_us), start_us + update_us[updated]]).astype("datetime64[us]"),
    })
    truth = {"baseline": baseline, "updates": updates, "update_day": update_day}
    return events, exposures, truth


def version_config(folder, *, metrics=(GUARDRAIL,), rollout=None, as_of=START + timedelta(days=DAYS)):
    rollout = {"kind": "version", "new": "2.0"} if rollout is None else rollout
    lines = ["[rollout]", *(f"{key} = {json.dumps(value)}" for key, value in rollout.items())]
    extra = {"as_of": as_of.isoformat() + "Z"} if as_of else {}
    return write_config(folder, name="app", control="1.0", metrics=list(metrics), expected_split=None,
                        experiment_extra={"pre_period": False, **extra}, extra="\n".join(lines))


def run(tmp_path_factory, name, **simulation):
    folder = tmp_path_factory.mktemp(name)
    events, exposures, truth = version_logs(**simulation)
    write_logs(folder, events, exposures)
    return folder, events, exposures, truth, iterate.rollout(version_config(folder))


@pytest.fixture(scope="module")
def no_effect(tmp_path_factory):
    return run(tmp_path_factory, "version_null", seed=3)


@pytest.fixture(scope="module")
def harmful(tmp_path_factory):
    return run(tmp_path_factory, "version_harm", seed=5, effect=-0.10)


def row(rows, name="sessions"):
    return next(r for r in rows if r.name == name)


def test_self_selection_biases_the_naive_comparison_and_not_the_difference_in_differences(no_effect):
    *_, truth, result = no_effect
    naive, did = row(result.naive_results), row(result.metric_results)
    assert truth["baseline"][truth["updates"]].mean() > 1.3 * truth["baseline"][~truth["updates"]].mean()
    assert naive.effect > 5 * naive.std_error  # heavy users updated: several sessions a week "from" the version
    assert naive.p_value < 1e-6
    assert abs(did.effect) < 3 * did.std_error  # no effect, and the adjustment finds none
    assert did.std_error < naive.effect / 5
    assert result.kind == "version" and result.verdict == "advance"  # guardrail non-inferior, parallel pre-trends
    overlap = next(check for check in result.checks if check.name == "overlap")
    assert not overlap.passed and overlap.details["standardized_mean_difference"] > 0.25  # updaters differ in level


def test_every_output_says_observational(no_effect, tmp_path):
    *_, result = no_effect
    document = result.as_document()
    assert document["rollout"] == "version" and document["observational"] is True
    assert document["reasons"][0]["rule"] == "observational"
    assert any(check["name"] == "observational" for check in document["checks"])
    assert all("observational" in r["method"] for r in document["metrics"] + document["naive_metrics"])
    reports = {name: render(result, name) for name in FORMATS}
    assert all("observational" in text for text in reports.values())
    assert "observational" in reports["text"].splitlines()[0]
    assert "observational" in reports["markdown"].splitlines()[0]
    assert "Difference-in-differences (observational" in reports["text"]
    assert "Stages" not in reports["text"]
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(json.loads(reports["json"]), json.loads(json_schema()))


def test_a_true_ten_percent_loss_is_found_and_rolled_back(harmful):
    _, events, exposures, truth, result = harmful
    did = row(result.metric_results)
    updaters = truth["updates"] & (truth["update_day"] >= FIRST_UPDATE_DAY) & (truth["update_day"] <= LAST_UPDATE_DAY)
    # the updaters' expected post-window sessions without the version, days d+1 .. d+7
    post_days = truth["update_day"][updaters][:, None] + 1 + np.arange(POST)[None, :]
    expected = -0.10 * (POST * truth["baseline"][updaters] + DRIFT * post_days.sum(axis=1)).mean()
    assert did.effect < 0 and did.p_value < 1e-6
    assert abs(did.effect - expected) < 3 * did.std_error
    assert result.verdict == "rollback" and result.exit_code == 10
    assert [reason.rule for reason in result.reasons][:2] == ["observational", "harm"]


def test_pre_trends_that_differ_never_advance(tmp_path_factory):
    *_, result = run(tmp_path_factory, "version_trend", seed=7, updater_trend=0.03)
    check = next(check for check in result.checks if check.name == "pretrend")
    assert not check.passed and check.details["p_value"] < 0.05
    assert result.verdict == "hold"
    pretrend = next(reason for reason in result.reasons if reason.rule == "pretrend")
    assert "trend apart" in pretrend.message and pretrend.metric == "sessions"


def hand_values(events: pl.DataFrame, exposures: pl.DataFrame, pre_days=PRE, post_days=POST, end_day=DAYS):
    """The documented design in polars: per-unit pre, post, early, late values of the sessions count."""
    seen = exposures.group_by("user_id").agg(
        pl.col("timestamp").filter(pl.col("variant") == "2.0").min().alias("updated_at"),
        pl.col("timestamp").filter(pl.col("variant") != "2.0").min().alias("old_seen"))
    seen = seen.with_columns(pl.col("updated_at").dt.truncate("1d").alias("day"))
    first_day = events["timestamp"].min().replace(hour=0, minute=0, second=0, microsecond=0)
    end = START + timedelta(days=end_day)
    pre, post = timedelta(days=pre_days), timedelta(days=post_days)
    eligible = seen.filter(pl.col("day").is_not_null() & (pl.col("old_seen") <= pl.col("day") - pre)
                           & (pl.col("day") - pre >= first_day) & (pl.col("day") + timedelta(days=1) + post <= end))
    days = eligible.group_by("day").len().sort("day")
    weights = dict(zip(days["day"], (days["len"] / days["len"].sum()).to_list()))
    earliest = min(weights) - pre
    comparison = seen.filter(pl.col("updated_at").is_null() & (pl.col("old_seen") <= earliest))

    def windows(units, group):
        frames = []
        for day, weight in weights.items():
            chosen = units.filter(pl.col("day") == day) if group == "updaters" else units
            frames.append(chosen.select("user_id").with_columns(
                pl.lit(day).alias("d"), pl.lit(1.0 if group == "updaters" else weight).alias("w")))
        return pl.concat(frames)

    values = {}
    for group, units in (("updaters", eligible), ("comparison", comparison)):
        w = windows(units, group)
        joined = w.join(events, on="user_id", how="left")

        def count(start, stop):
            inside = (joined["timestamp"] >= joined["d"] + start) & (joined["timestamp"] < joined["d"] + stop)
            return joined.with_columns(inside.fill_null(False).alias("x")).group_by("user_id", "d", "w").agg(
                pl.col("x").sum().alias("v"))

        spans = {"pre": (-pre, timedelta(0)), "post": (timedelta(days=1), timedelta(days=1) + post),
                 "early": (-pre, -pre / 2), "late": (-pre / 2, timedelta(0))}
        per_unit = None
        for name, (start, stop) in spans.items():
            part = count(start, stop).group_by("user_id").agg((pl.col("w") * pl.col("v")).sum().alias(name))
            per_unit = part if per_unit is None else per_unit.join(part, on="user_id")
        values[group] = per_unit.with_columns((pl.col("post") - pl.col("pre")).alias("change"),
                                              (pl.col("late") - pl.col("early")).alias("trend"))
    return values, weights


def test_per_unit_values_equal_a_polars_computation(no_effect):
    folder, events, exposures, _, result = no_effect
    from iterate.aggregation.versions import version_cohorts, version_sums
    from iterate.rollout.version import cohort_windows, moments
    from iterate.session import open_session, resolve

    experiment, event_log, exposure_log = resolve(version_config(folder))
    with open_session(experiment, event_log, exposure_log) as session:
        cohorts = version_cohorts(session.engine, experiment, session.logs)
        windows = cohort_windows(experiment, cohorts, events["timestamp"].min(), START + timedelta(days=DAYS))
        sums = version_sums(session.engine, experiment, session.logs, windows)
    values, weights = hand_values(events, exposures)
    assert {w.day: w.weight for w in windows} == pytest.approx({d.date(): v for d, v in weights.items()}, rel=1e-12)
    for group, frame in values.items():
        for quantity in ("pre", "post", "change", "trend"):
            found = moments(sums, group, "sessions", quantity)
            assert found.n == frame.height
            assert found.mean == pytest.approx(frame[quantity].mean(), rel=1e-9, abs=1e-12)
            assert found.variance == pytest.approx(frame[quantity].var(), rel=1e-9)
    # the DiD row is Welch's test on these per-unit changes (scipy as the reference)
    did = row(result.metric_results)
    reference = stats.ttest_ind(values["updaters"]["change"].to_numpy(), values["comparison"]["change"].to_numpy(),
                                equal_var=False)
    assert did.effect == pytest.approx(values["updaters"]["change"].mean() - values["comparison"]["change"].mean(),
                                       rel=1e-9)
    assert did.p_value == pytest.approx(reference.pvalue, rel=1e-6)
    naive = row(result.naive_results)
    assert naive.effect == pytest.approx(values["updaters"]["post"].mean() - values["comparison"]["post"].mean(),
                                         rel=1e-9)


def test_no_updater_with_complete_windows_holds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("version_early")
    events, exposures, _ = version_logs(3, units=500)
    write_logs(folder, events, exposures)
    result = iterate.rollout(version_config(folder, as_of=START + timedelta(days=10)))
    assert result.verdict == "hold"
    assert [reason.rule for reason in result.reasons] == ["observational", "no_traffic"]
    assert "complete pre window" in result.reasons[1].message
    rollback = iterate.rollout(version_config(folder, as_of=START + timedelta(days=10),
                                              rollout={"kind": "version", "new": "2.0", "on_no_data": "rollback"}))
    assert rollback.verdict == "rollback"


@pytest.mark.parametrize(("rollout", "message"), [
    ({"kind": "version"}, "[rollout] new == None"),
    ({"kind": "version", "new": "2.0", "pre_period": "a week"}, "pre_period == 'a week', must be a duration"),
    ({"kind": "version", "new": "2.0", "post_period": "0d"}, "post_period == '0d', must be longer than 0"),
    ({"kind": "version", "new": "2.0", "max_pretrend_p": 1.5}, "max_pretrend_p == 1.5, must be in (0, 1)"),
    ({"kind": "version", "new": "2.0", "stage_column": "stage"}, "`stage_column` only applies to kind = \"ramp\""),
    ({"kind": "ramp", "stage_column": "stage", "new": "2.0"}, "`new` only applies to kind = \"version\""),
])
def test_bad_version_configs_are_config_errors(tmp_path, rollout, message):
    with pytest.raises(ConfigError) as error:
        load_config(version_config(tmp_path, rollout=rollout))
    assert message in str(error.value)


def test_every_problem_is_listed_at_once(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_config(version_config(tmp_path, rollout={"kind": "version", "pre_period": "x", "max_pretrend_p": 0}))
    text = str(error.value)
    assert "new == None" in text and "pre_period == 'x'" in text and "max_pretrend_p == 0" in text


def test_a_ratio_metric_is_refused_with_the_kinds_that_work(tmp_path):
    events, exposures, _ = version_logs(3, units=300)
    write_logs(tmp_path, events, exposures)
    ratio = {"name": "per_session", "type": "ratio", "numerator": {"event": "session"},
             "denominator": {"event": "session"}}
    capped = {**GUARDRAIL, "name": "capped", "cap": 10}
    with pytest.raises(ConfigError) as error:
        iterate.rollout(version_config(tmp_path, metrics=[GUARDRAIL, ratio, capped]))
    assert "per_session: type = \"ratio\" is not available for a new app version" in str(error.value)
    assert "a window's total or whether an event happened" in str(error.value)
    assert "capped: `cap` is not applied" in str(error.value)
    with pytest.raises(ConfigError, match="per_session"):  # refused before any window is found, too
        iterate.rollout(version_config(tmp_path, metrics=[ratio], as_of=START + timedelta(days=3)))


def test_the_standardized_mean_difference_is_stuarts():
    from iterate.stats import Moments
    from iterate.stats.balance import standardized_mean_difference

    rng = np.random.default_rng(1)
    a, b = rng.normal(1, 2, 500), rng.normal(2, 1, 400)
    smd = standardized_mean_difference(Moments(a.size, a.mean(), a.var(ddof=1)), Moments(b.size, b.mean(), b.var(ddof=1)))
    assert smd == pytest.approx((b.mean() - a.mean()) / math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2), rel=1e-12)
    assert standardized_mean_difference(Moments(0, 0.0, 0.0), Moments(3, 1.0, 1.0)) is None


def test_the_command_line_judges_a_new_version_with_its_exit_codes(no_effect, harmful):
    from click.testing import CliRunner

    from iterate.cli import main

    for (folder, *_), code in ((no_effect, 0), (harmful, 10)):
        printed = CliRunner().invoke(main, ["rollout", str(folder / "experiment.toml"), "--format", "json"])
        assert printed.exit_code == code, printed.output
        report = json.loads(printed.output)
        assert (report["rollout"], report["observational"]) == ("version", True)


def test_the_readme_example_is_a_valid_config():
    import tomllib
    from pathlib import Path

    from iterate.config import parse_config

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Rollouts: new app versions"):]
    block = section[section.index("```toml\n") + len("```toml\n"):section.index("```\n", section.index("```toml\n") + 8)]
    experiment = parse_config(tomllib.loads(block))
    assert (experiment.rollout.kind, experiment.rollout.new, experiment.rollout.pre_seconds) == ("version", "5.2.0", 7 * 86400)
