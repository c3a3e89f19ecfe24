"""Staged ramps (``iterate.rollout``): stages from a schedule or a column, per-stage tests equal to
SciPy / statsmodels, the stratified effect equal to the hand formula, and the proof of issue 11: with
no treatment effect, a changing allocation and a drifting baseline, the naive pooled estimate is
biased and the stratified one is not. No traffic and no data never advance.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

import iterate
from helpers import BASE, write_config, write_logs
from iterate.config import parse_config
from iterate.errors import ConfigError

DAY_US = 86_400 * 1_000_000
SHARES = (0.01, 0.05, 0.25, 0.5)
DRIFT = (1.0, 1.5, 2.0, 3.0)  # purchases per unit of the units first exposed in each stage, both arms
STAGE_UNITS = (10_000, 10_000, 20_000, 60_000)  # the 50% stage runs longest, as ramps do
SCHEDULE = [{"start": (BASE + timedelta(days=day)).isoformat() + "Z", "share": share}
            for day, share in enumerate(SHARES)]
METRICS = [
    {"name": "purchases", "type": "count", "event": "purchase"},
    {"name": "crashed", "type": "proportion", "event": "crash", "role": "guardrail", "direction": "decrease",
     "margin": 0.2},
]


def ramp_logs(seed: int, *, stages: int = 4, crash_rate=(0.1, 0.1), scale: float = 1.0):
    """Units first exposed on day s of the ramp (``STAGE_UNITS`` of them, times ``scale``) get the
    treatment with the stage's share; each makes Poisson(DRIFT[s]) purchases (both arms: no effect)
    and crashes with ``crash_rate`` (control, treatment) within a day of its exposure."""
    rng = np.random.default_rng(seed)
    stage = np.repeat(np.arange(stages), [round(units * scale) for units in STAGE_UNITS[:stages]])
    treated = rng.random(stage.size) < np.array(SHARES)[stage]
    users = np.array([f"u{i:06d}" for i in range(stage.size)])
    exposure_us = (int(np.datetime64(BASE, "us").astype(np.int64)) + stage * DAY_US
                   + rng.integers(0, DAY_US, size=stage.size))
    purchases = rng.poisson(np.array(DRIFT)[stage])
    crashed = rng.random(stage.size) < np.where(treated, crash_rate[1], crash_rate[0])
    counts = purchases + crashed
    names = np.concatenate([np.repeat("purchase", purchases.sum()), np.repeat("crash", crashed.sum())])
    owners = np.concatenate([np.repeat(np.arange(stage.size), purchases), np.flatnonzero(crashed)])
    events = pl.DataFrame({
        "user_id": users[owners],
        "timestamp": (exposure_us[owners] + rng.integers(1, DAY_US, size=owners.size)).astype("datetime64[us]"),
        "event": names,
    })
    exposures = pl.DataFrame({
        "user_id": users, "experiment": "exp", "variant": np.where(treated, "treatment", "control"),
        "timestamp": exposure_us.astype("datetime64[us]"), "stage": (stage + 1).astype(str),
    })
    assert int(counts.sum()) == events.height
    per_unit = {"stage": stage, "treated": treated, "purchases": purchases.astype(float),
                "crashed": crashed.astype(float)}
    return events, exposures, per_unit


def ramp_config(folder, *, metrics=METRICS, rollout=None, as_of=None):
    rollout = {"kind": "ramp", "stages": SCHEDULE} if rollout is None else rollout
    lines = ["[rollout]", *(f"{key} = {_toml(value)}" for key, value in rollout.items())]
    extra = {"as_of": as_of} if as_of else {}
    return write_config(folder, metrics=metrics, expected_split=None, experiment_extra={"pre_period": False, **extra},
                        extra="\n".join(lines))


def _toml(value):
    if isinstance(value, list):
        return "[" + ", ".join("{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in item.items()) + " }"
                               for item in value) + "]"
    return f'"{value}"' if isinstance(value, str) else repr(value)


@pytest.fixture(scope="module")
def no_effect(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ramp")
    events, exposures, per_unit = ramp_logs(11)
    write_logs(folder, events, exposures)
    return folder, per_unit, iterate.rollout(ramp_config(folder))


def hand_stage(per_unit, stage, metric):
    inside = per_unit["stage"] == stage
    control = per_unit[metric][inside & ~per_unit["treated"]]
    treatment = per_unit[metric][inside & per_unit["treated"]]
    return control, treatment


def hand_stratified(per_unit, metric, stages=range(4)):
    effects, errors, sizes, control_means = [], [], [], []
    for stage in stages:
        control, treatment = hand_stage(per_unit, stage, metric)
        effects.append(treatment.mean() - control.mean())
        errors.append(math.sqrt(control.var(ddof=1) / control.size + treatment.var(ddof=1) / treatment.size))
        sizes.append(control.size + treatment.size)
        control_means.append(control.mean())
    weights = np.array(sizes) / sum(sizes)
    return (float(weights @ np.array(effects)), math.sqrt(float(weights ** 2 @ np.array(errors) ** 2)),
            float(weights @ np.array(control_means)))


def test_the_naive_pooled_estimate_is_biased_and_the_stratified_one_is_not(no_effect):
    _, per_unit, result = no_effect
    naive = next(row for row in result.naive_results if row.name == "purchases")
    pooled = next(row for row in result.metric_results if row.name == "purchases")
    # by hand: the pooled arms' means mix the stages in different proportions
    treated, purchases = per_unit["treated"], per_unit["purchases"]
    naive_by_hand = purchases[treated].mean() - purchases[~treated].mean()
    assert naive.effect == pytest.approx(naive_by_hand, rel=1e-9)
    assert abs(naive.effect) > 4 * naive.std_error  # biased: about +0.9 purchases from nothing
    effect, std_error, control_mean = hand_stratified(per_unit, "purchases")
    assert pooled.effect == pytest.approx(effect, rel=1e-9, abs=1e-12)
    assert pooled.std_error == pytest.approx(std_error, rel=1e-9)
    assert pooled.control_mean == pytest.approx(control_mean, rel=1e-9)
    assert pooled.relative_effect == pytest.approx(effect / control_mean, rel=1e-9)
    assert abs(pooled.effect) < 3 * pooled.std_error  # unbiased: within 3 standard errors of 0
    assert pooled.ci_low <= 0 <= pooled.ci_high and pooled.outcome == "no_difference"
    # anytime-valid: wider than the fixed-horizon interval of the same estimate
    assert pooled.ci_high - pooled.ci_low > 2 * stats.norm.ppf(0.975) * std_error
    assert "msprt" in pooled.method and pooled.method.startswith("stratified(")


def test_each_stage_is_its_own_welch_and_proportion_test(no_effect):
    _, per_unit, result = no_effect
    assert [row.segment_value for row in result.stage_results if row.name == "purchases"] == [
        "stage 1", "stage 2", "stage 3", "stage 4"]
    for stage in range(4):
        control, treatment = hand_stage(per_unit, stage, "purchases")
        row = next(r for r in result.stage_results if r.name == "purchases" and r.segment_value == f"stage {stage + 1}")
        welch = stats.ttest_ind(treatment, control, equal_var=False)
        assert (row.segment, row.n_control, row.n_treatment) == ("stage", control.size, treatment.size)
        assert row.effect == pytest.approx(treatment.mean() - control.mean(), rel=1e-9, abs=1e-12)
        assert row.p_value == pytest.approx(welch.pvalue, rel=1e-6)
        crashed_control, crashed_treatment = hand_stage(per_unit, stage, "crashed")
        crash = next(r for r in result.stage_results if r.name == "crashed" and r.segment_value == f"stage {stage + 1}")
        _, p_value = proportions_ztest([crashed_treatment.sum(), crashed_control.sum()],
                                       [crashed_treatment.size, crashed_control.size])
        assert crash.effect == pytest.approx(crashed_treatment.mean() - crashed_control.mean(), rel=1e-9, abs=1e-12)
        assert crash.p_value == pytest.approx(p_value, rel=1e-6)
        summary = result.stages[stage]
        assert summary.units == {"control": control.size, "treatment": treatment.size}
        assert summary.planned_share == SHARES[stage]
        assert summary.observed_share == pytest.approx(treatment.size / (control.size + treatment.size))
        assert summary.start == BASE + timedelta(days=stage)


def test_a_harmless_ramp_with_enough_units_advances(no_effect):
    _, per_unit, result = no_effect
    assert result.verdict == "advance" and result.exit_code == 0
    assert result.current_stage == "stage 4"
    crash = next(row for row in result.metric_results if row.name == "crashed")
    effect, _, control_mean = hand_stratified(per_unit, "crashed")
    assert crash.noninferior is True
    assert crash.noninferiority_margin == pytest.approx(0.2 * control_mean, rel=1e-9)
    assert crash.effect == pytest.approx(effect, rel=1e-9, abs=1e-12)
    assert [reason.rule for reason in result.reasons] == ["noninferior"]
    # stage 1 alone (1% of 10,000 units: about 100 treated) cannot show the guardrail non-inferior
    assert result.stages[0].verdict == "hold"
    assert result.stages[-1].verdict == "advance"
    assert all(check.passed for check in result.checks if check.name.startswith("srm:stage="))
    assert [step.rule for step in result.decision_trace][-1] == "verdict"
    document = result.to_dict()
    assert (document["kind"], document["rollout"], document["verdict"], document["exit_code"]) == (
        "rollout", "ramp", "advance", 0)
    assert {"stages", "metrics", "naive_metrics", "stage_metrics", "decision_trace", "provenance",
            "current_stage"} <= set(document)
    assert document["stages"][0]["start"] == "2026-01-05T10:00:00"
    assert result.metrics.height == 2 and result.stages_frame.height == 4


def test_the_stage_column_gives_the_same_stages(no_effect):
    folder, _, by_schedule = no_effect
    result = iterate.rollout(ramp_config(folder, rollout={"kind": "ramp", "stage_column": "stage"}))
    assert [stage.stage for stage in result.stages] == ["1", "2", "3", "4"]
    assert [dict(s.units) for s in result.stages] == [dict(s.units) for s in by_schedule.stages]
    assert [row.effect for row in result.metric_results] == pytest.approx(
        [row.effect for row in by_schedule.metric_results], rel=1e-12)
    assert result.stages[0].planned_share is None and result.verdict == "advance"


def test_a_harmful_guardrail_rolls_the_ramp_back(tmp_path):
    events, exposures, per_unit = ramp_logs(12, crash_rate=(0.1, 0.15))
    write_logs(tmp_path, events, exposures)
    result = iterate.rollout(ramp_config(tmp_path))
    assert result.verdict == "rollback" and result.exit_code == 10
    crash = next(row for row in result.metric_results if row.name == "crashed")
    assert crash.outcome == "worse"
    assert crash.effect == pytest.approx(hand_stratified(per_unit, "crashed")[0], rel=1e-9)
    assert [(reason.rule, reason.metric) for reason in result.reasons] == [("harm", "crashed")]


def test_a_stage_without_traffic_holds_or_rolls_back(tmp_path):
    events, exposures, _ = ramp_logs(13, stages=3)  # the 50% stage has started, but no unit reached it
    write_logs(tmp_path, events, exposures)
    as_of = (BASE + timedelta(days=3, hours=12)).isoformat() + "Z"
    result = iterate.rollout(ramp_config(tmp_path, as_of=as_of))
    assert result.current_stage == "stage 4" and result.stages[-1].units == {"control": 0, "treatment": 0}
    assert result.verdict == "hold" and result.exit_code == 11
    rules = {reason.rule for reason in result.reasons}
    assert {"min_units", "no_data"} <= rules
    assert any("stage 4" in reason.message for reason in result.reasons if reason.rule == "min_units")
    strict = iterate.rollout(ramp_config(tmp_path, as_of=as_of, rollout={
        "kind": "ramp", "stages": SCHEDULE, "on_no_data": "rollback"}))
    assert strict.verdict == "rollback" and strict.exit_code == 10


def test_a_metric_without_events_holds_and_names_it(tmp_path):
    events, exposures, _ = ramp_logs(14, scale=0.25)
    write_logs(tmp_path, events, exposures)
    metrics = [*METRICS, {"name": "anr", "type": "proportion", "event": "app_not_responding", "role": "guardrail",
                          "direction": "decrease", "margin": 0.5}]
    result = iterate.rollout(ramp_config(tmp_path, metrics=metrics))
    assert result.verdict == "hold"
    no_data = [reason for reason in result.reasons if reason.rule == "no_data"]
    assert [reason.metric for reason in no_data] == ["anr"]
    assert next(row for row in result.metric_results if row.name == "anr").status == "no_data"
    strict = iterate.rollout(ramp_config(tmp_path, metrics=metrics, rollout={
        "kind": "ramp", "stages": SCHEDULE, "on_no_data": "rollback"}))
    assert strict.verdict == "rollback"


def test_no_unit_exposed_and_no_event_hold_without_a_traceback(tmp_path):
    events, exposures, _ = ramp_logs(15, scale=0.05)
    write_logs(tmp_path, events, exposures.with_columns(pl.lit("other").alias("experiment")))
    as_of = (BASE + timedelta(days=5)).isoformat() + "Z"
    result = iterate.rollout(ramp_config(tmp_path, as_of=as_of))
    assert result.verdict == "hold" and not result.metric_results
    assert [reason.rule for reason in result.reasons] == ["no_traffic"]
    assert "experiments found: other" in result.reasons[0].message
    write_logs(tmp_path, events.filter(pl.col("event") == "none"), exposures)
    quiet = iterate.rollout(ramp_config(tmp_path, as_of=as_of))
    assert quiet.verdict == "hold"
    assert {reason.metric for reason in quiet.reasons if reason.rule == "no_data"} == {"purchases", "crashed"}


def test_the_stratified_effect_is_the_hand_formula():
    from iterate.stats import stratified_effect

    effects, errors, units = [0.2, -0.1, 0.05], [0.1, 0.05, 0.02], [100, 400, 1500]
    estimate = stratified_effect(effects, errors, units, control_means=[1.0, 2.0, 4.0])
    weights = [n / 2000 for n in units]
    assert estimate.effect == pytest.approx(sum(w * d for w, d in zip(weights, effects)), rel=1e-15)
    assert estimate.std_error == pytest.approx(math.sqrt(sum((w * s) ** 2 for w, s in zip(weights, errors))), rel=1e-15)
    assert estimate.control_mean == pytest.approx(0.05 * 1 + 0.2 * 2 + 0.75 * 4)
    with pytest.raises(ValueError, match="one value per stratum"):
        stratified_effect([0.1], [0.1, 0.2], [10])
    with pytest.raises(ValueError, match="sum to more than 0"):
        stratified_effect([0.1], [0.1], [0])


MINIMAL = {"experiment": {"name": "exp", "control": "control"},
           "metrics": [{"name": "m", "type": "count", "event": "e"}]}


@pytest.mark.parametrize("rollout, expected", [
    ({"kind": "canary"}, "[rollout] interval is missing"),
    ({"kind": "version"}, "[rollout] new == None"),
    ({"kind": "ramp"}, "give exactly one of `stages`"),
    ({"kind": "ramp", "stage_column": "stage", "stages": [{"start": "2026-01-05T00:00:00Z", "share": 0.1}]},
     "give exactly one of `stages`"),
    ({"kind": "ramp", "stagess": []}, "unknown key `stagess`; did you mean `stages`?"),
    ({"kind": "ramp", "stages": [{"start": "2026-01-05T00:00:00Z", "share": 1.5}]}, "share == 1.5, must be"),
    ({"kind": "ramp", "stages": [{"start": "2026-01-05T00:00:00Z", "share": 0.5},
                                 {"start": "2026-01-04T00:00:00Z", "share": 0.6}]}, "is not after the previous"),
    ({"kind": "ramp", "stages": [{"start": "2026-01-05T00:00:00Z", "share": 0.5},
                                 {"start": "2026-01-06T00:00:00Z", "share": 0.2}]}, "below the previous stage's"),
    ({"kind": "ramp", "stages": [{"start": "not a time", "share": 0.5}]}, "must be a date-time"),
    ({"kind": "ramp", "stages": [{"share": 0.5}]}, "`start` is missing"),
    ({"kind": "ramp", "stage_column": "s", "on_no_data": "rolback"}, "did you mean `rollback`?"),
    ({"kind": "ramp", "stage_column": "s", "min_units_per_stage": 1}, "min_units_per_stage == 1"),
])
def test_bad_rollout_tables_are_config_errors(rollout, expected):
    with pytest.raises(ConfigError) as raised:
        parse_config({**MINIMAL, "rollout": rollout})
    assert any(expected in problem for problem in raised.value.problems), raised.value.problems


def test_rollout_refuses_what_it_cannot_judge(tmp_path):
    events, exposures, _ = ramp_logs(16, scale=0.02)
    write_logs(tmp_path, events, exposures)
    plain = write_config(tmp_path, filename="plain.toml", metrics=METRICS[:1])
    with pytest.raises(ConfigError, match=r"has no \[rollout\] table"):
        iterate.rollout(plain)
    quantile = [{"name": "p90", "type": "quantile", "event": "purchase", "value": "value", "quantile": 0.9}]
    with pytest.raises(ConfigError, match="not available in a ramp yet"):
        iterate.rollout(ramp_config(tmp_path, metrics=quantile))
    with pytest.raises(ConfigError, match=r"\[rollout\] new == None: name the new version"):
        iterate.rollout(ramp_config(tmp_path, rollout={"kind": "version"}))
    with pytest.raises(ConfigError, match=r"kind == 'rampe', must be one of ramp, canary, version"):
        iterate.rollout(ramp_config(tmp_path, rollout={"kind": "rampe", "stages": SCHEDULE}))
    missing_column = ramp_config(tmp_path, rollout={"kind": "ramp", "stage_column": "phase"})
    with pytest.raises(iterate.DataError, match=r"exposures log has no column `phase` \(\[rollout\] stage_column\)"):
        iterate.rollout(missing_column)
