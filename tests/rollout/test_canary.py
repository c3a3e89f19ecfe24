"""The canary judge (``[rollout] kind = "canary"``): hand-built interval values with known
classifications and scores, Mann-Whitney equal to SciPy, an end-to-end canary from polars-built
logs whose interval values equal a polars computation and whose verdicts are advance / hold /
rollback for no change / a marginal score / a clear regression; zero traffic and no data hold;
the CLI's exit codes.
"""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from scipy import stats

import iterate
from helpers import BASE, write_config, write_logs
from iterate.cli import main
from iterate.config import parse_config
from iterate.errors import ConfigError
from iterate.result import Check
from iterate.rollout.canary_decision import CanaryEvidence, judge_canary
from iterate.stats import canary_score, mann_whitney
from iterate.stats.rates import sequential_rate_test

INTERVAL_S = 600
INTERVALS = 12
UNITS = 600  # per arm and interval: enough for 12 intervals to show an unchanged canary within 10%
METRICS = [
    {"name": "latency", "type": "mean", "event": "request", "value": "value", "direction": "decrease",
     "role": "guardrail", "critical": True, "group": "performance", "tolerance": 0.05},
    {"name": "errors", "type": "count", "event": "error", "direction": "decrease", "role": "guardrail",
     "group": "performance", "tolerance": 0.2},
    {"name": "conversion", "type": "proportion", "event": "purchase", "group": "business", "tolerance": 0.1},
]
WEIGHTS = {"performance": 80, "business": 20}


def canary_logs(seed: int, *, latency=(100.0, 100.0), errors=(0.5, 0.5), conversion=(0.3, 0.3),
                intervals: int = INTERVALS, canary_intervals: int | None = None):
    """``UNITS`` units per arm first exposed at a uniform time in each 10-minute interval from
    ``BASE``; each makes one request (latency Normal(mean, 10)), Poisson(rate) errors and buys with
    a probability, per arm ``(baseline, canary)``, all within 5 minutes of its exposure. The canary
    gets units in its first ``canary_intervals`` intervals only (all by default)."""
    rng = np.random.default_rng(seed)
    canary_intervals = intervals if canary_intervals is None else canary_intervals
    interval = np.repeat(np.arange(intervals), 2 * UNITS)
    canary = np.tile(np.repeat([False, True], UNITS), intervals)
    keep = ~canary | (interval < canary_intervals)
    interval, canary = interval[keep], canary[keep]
    size = interval.size
    users = np.array([f"u{i:06d}" for i in range(size)])
    base_us = int(np.datetime64(BASE, "us").astype(np.int64))
    exposure_us = base_us + interval * INTERVAL_S * 1_000_000 + rng.integers(0, INTERVAL_S * 1_000_000, size=size)
    arm = canary.astype(int)
    latency_value = rng.normal(np.array(latency)[arm], 10.0)
    error_count = rng.poisson(np.array(errors)[arm])
    bought = rng.random(size) < np.array(conversion)[arm]
    owners = np.concatenate([np.arange(size), np.repeat(np.arange(size), error_count), np.flatnonzero(bought)])
    names = np.concatenate([np.repeat("request", size), np.repeat("error", error_count.sum()),
                            np.repeat("purchase", bought.sum())])
    values = np.concatenate([latency_value, np.full(error_count.sum() + bought.sum(), np.nan)])
    events = pl.DataFrame({
        "user_id": users[owners],
        "timestamp": (exposure_us[owners] + rng.integers(1, 300 * 1_000_000, size=owners.size)).astype("datetime64[us]"),
        "event": names, "value": values,
    }).with_columns(pl.col("value").fill_nan(None))
    exposures = pl.DataFrame({
        "user_id": users, "experiment": "exp", "variant": np.where(canary, "canary", "baseline"),
        "timestamp": exposure_us.astype("datetime64[us]"),
    })
    return events, exposures


def canary_config(folder, *, metrics=METRICS, rollout=None):
    rollout = {"kind": "canary", "interval": "10m", "group_weights": WEIGHTS} if rollout is None else rollout
    lines = ["[rollout]", *(f"{key} = {_toml(value)}" for key, value in rollout.items())]
    return write_config(folder, metrics=metrics, control="baseline", expected_split=None, window="1h",
                        experiment_extra={"pre_period": False}, extra="\n".join(lines))


def _toml(value):
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {_toml(item)}" for key, item in value.items()) + " }"
    return f'"{value}"' if isinstance(value, str) else repr(value)


def run(tmp_path, name, **effects):
    folder = tmp_path / name
    folder.mkdir()
    events, exposures = canary_logs(7, **effects)
    write_logs(folder, events, exposures)
    return events, exposures, iterate.rollout(canary_config(folder))


# ------------------------------------------------------------------ hand-built intervals


def passing(name="m"):
    """Interleaved values: no shift beyond any band."""
    return mann_whitney([10.0, 10.2, 9.9, 10.1, 10.05, 9.95], [10.0, 10.1, 9.8, 10.2, 10.0, 9.9], tolerance=0.05,
                        bad_direction="increase")


def test_hand_built_intervals_classify_and_score_as_computed_by_hand():
    baseline = [100.0, 102.0, 98.0, 101.0, 99.0, 100.5]
    slower = [x * 1.3 for x in baseline]  # +30%: every pairwise difference is between 26 and 34.6
    latency = mann_whitney(slower, baseline, tolerance=0.1, bad_direction="increase")
    differences = np.subtract.outer(slower, baseline).ravel()
    assert latency.shift == pytest.approx(np.median(differences))
    assert latency.tolerance_band == pytest.approx(0.1 * np.median(baseline))
    assert (latency.classification, latency.outcome) == ("high", "fail")
    scipy_test = stats.mannwhitneyu(slower, baseline, alternative="two-sided")
    assert latency.u_statistic == scipy_test.statistic == 36.0  # every canary value above every baseline value
    assert latency.p_value == pytest.approx(scipy_test.pvalue, rel=1e-12)
    faster = mann_whitney([x * 0.7 for x in baseline], baseline, tolerance=0.1, bad_direction="increase")
    assert (faster.classification, faster.outcome) == ("low", "pass")  # better is not a failure
    thin = mann_whitney([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert (thin.status, thin.outcome) == ("too_few", "nodata")  # 3 a side cannot give a 95% interval

    # groups weighted 80 / 20: performance (latency, errors), business (conversion)
    results = {"latency": latency, "errors": passing(), "conversion": passing()}
    groups = {"latency": "performance", "errors": "performance", "conversion": "business"}
    score = canary_score(results, groups=groups, group_weights=WEIGHTS)
    assert score.score == pytest.approx(80 * 1 / 2 + 20 * 1)  # 60: fail
    assert score.verdict == "fail" and [r.rule for r in score.rules] == ["metric_failed", "score_below_marginal"]
    marginal = canary_score({"latency": passing(), "errors": passing(), "conversion": latency}, groups=groups,
                            group_weights=WEIGHTS)
    assert (marginal.score, marginal.verdict) == (80.0, "marginal")
    critical = canary_score(results, groups=groups, group_weights=WEIGHTS, critical=["latency"])
    assert (critical.score, critical.weighted_score, critical.verdict) == (0.0, 60.0, "fail")

    evidence = CanaryEvidence("2026-01-05T10:50:00")
    assert judge_canary(results, score, {}, [], evidence).verdict == "rollback"
    assert judge_canary({**results, "latency": passing()}, marginal, {}, [], evidence).verdict == "hold"
    clean = {"latency": passing(), "errors": passing(), "conversion": passing()}
    clean_score = canary_score(clean, groups=groups, group_weights=WEIGHTS)
    decision = judge_canary(clean, clean_score, {}, [], evidence)
    assert (clean_score.score, decision.verdict) == (100.0, "advance")
    assert [step.rule for step in decision.trace][-2:] == ["within_tolerance", "verdict"]
    # a critical metric without data scores 0 but is not harm: hold (no data, no pass), never rollback
    lacking = {**clean, "latency": thin}
    lacking_score = canary_score(lacking, groups=groups, group_weights=WEIGHTS, critical=["latency"])
    held = judge_canary(lacking, lacking_score, {}, [], evidence)
    assert (lacking_score.score, held.verdict) == (0.0, "hold")
    assert [r.rule for r in held.reasons] == ["no_data"] and held.reasons[0].metric == "latency"
    rolled = judge_canary(lacking, lacking_score, {}, [], CanaryEvidence("x", on_no_data="rollback"))
    assert rolled.verdict == "rollback"
    # the anytime-valid rate test rolls back on its own, and a failed error check is invalid
    regression = sequential_rate_test(40, 1_000.0, 90, 1_000.0)
    assert judge_canary(clean, clean_score, {"errors": regression}, [], evidence).verdict == "rollback"
    broken = Check("multiple_exposures", False, "too many", {}, "error")
    assert judge_canary(clean, clean_score, {}, [broken], evidence).verdict == "invalid"
    assert judge_canary(clean, clean_score, {}, [], CanaryEvidence("x", shortfall="canary 0")).verdict == "hold"


# ------------------------------------------------------------------ end to end, from logs


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("canary")
    return {name: run(folder, name, **effects) for name, effects in {
        "no_change": {}, "marginal": {"conversion": (0.3, 0.2)}, "regression": {"latency": (100.0, 130.0)},
        "errors": {"errors": (0.5, 0.8)},
    }.items()}


def polars_interval_values(events, exposures, metric):
    """Each interval's value per arm, computed with polars alone: units by the 10-minute interval of
    their first exposure, their metric within 1 hour of it, the mean per interval and arm."""
    first = exposures.group_by("user_id").agg(pl.col("timestamp").min().alias("exposed"), pl.col("variant").first())
    event = {"latency": "request", "errors": "error", "conversion": "purchase"}[metric]
    window = events.filter(pl.col("event") == event).join(first, on="user_id").filter(
        (pl.col("timestamp") >= pl.col("exposed")) & (pl.col("timestamp") < pl.col("exposed") + timedelta(hours=1)))
    value = {"latency": pl.col("value").sum(), "errors": pl.len(), "conversion": pl.lit(1)}[metric]
    per_unit = first.join(window.group_by("user_id").agg(value.cast(pl.Float64).alias("y")), on="user_id", how="left")
    per_unit = per_unit.with_columns(pl.col("y").fill_null(0.0),
                                     (pl.col("exposed").dt.epoch("s") // INTERVAL_S).alias("interval"))
    means = per_unit.group_by("interval", "variant").agg(pl.col("y").mean()).sort("interval")
    return {variant: means.filter(pl.col("variant") == variant)["y"].to_list() for variant in ("baseline", "canary")}


def test_interval_values_equal_polars_and_the_comparison_equals_scipy(outcomes):
    events, exposures, result = outcomes["no_change"]
    assert result.kind == "canary" and len(result.stages) == INTERVALS
    assert [stage.stage for stage in result.stages][:2] == ["2026-01-05T10:00:00", "2026-01-05T10:10:00"]
    assert all(stage.units == {"baseline": UNITS, "canary": UNITS} for stage in result.stages)
    for metric in ("latency", "errors", "conversion"):
        expected = polars_interval_values(events, exposures, metric)
        values = result.canary.values[metric]
        assert [v.baseline for v in values] == pytest.approx(expected["baseline"], rel=1e-12)
        assert [v.canary for v in values] == pytest.approx(expected["canary"], rel=1e-12)
        comparison = result.canary.comparisons[metric]
        reference = stats.mannwhitneyu(expected["canary"], expected["baseline"], alternative="two-sided")
        assert comparison.u_statistic == reference.statistic
        assert comparison.p_value == pytest.approx(reference.pvalue, rel=1e-9)
        row = next(r for r in result.metric_results if r.name == metric)
        differences = np.subtract.outer(expected["canary"], expected["baseline"]).ravel()
        assert row.effect == pytest.approx(np.median(differences), rel=1e-12, abs=1e-15)
        assert (row.p_value, row.ci_low, row.ci_high) == (comparison.p_value, comparison.ci_low, comparison.ci_high)
        assert (row.n_control, row.n_treatment) == (UNITS * INTERVALS, UNITS * INTERVALS)
    errors = result.canary.rate_tests["errors"]
    canary_errors = int(events.filter(pl.col("event") == "error").join(
        exposures.filter(pl.col("variant") == "canary"), on="user_id").height)
    assert (errors.treatment_events, errors.treatment_exposure) == (canary_errors, float(UNITS * INTERVALS))
    assert set(result.canary.rate_tests) == {"errors"}  # only count metrics have one


@pytest.mark.parametrize("case, verdict, score, rules", [
    ("no_change", "advance", 100.0, ["canary_pass"]),
    ("marginal", "hold", 80.0, ["metric_failed", "score_below_pass"]),
    ("regression", "rollback", 0.0, ["critical_metric_failed", "score_below_marginal"]),
    ("errors", "rollback", 60.0, ["rate_regression"]),
])
def test_verdicts_follow_the_score_and_the_rate_test(outcomes, case, verdict, score, rules):
    _, _, result = outcomes[case]
    assert (result.verdict, result.canary.score.score, [r.rule for r in result.reasons]) == (verdict, score, rules)
    assert result.exit_code == {"advance": 0, "hold": 11, "rollback": 10}[verdict]
    document = result.to_dict()
    assert document["rollout"] == "canary" and document["canary"]["score"] == score
    assert [step["rule"] for step in document["decision_trace"]][-1] == "verdict"
    # the first three intervals cannot bound a shift at 95% (3 values a side): never advanced (the
    # anytime-valid rate test may roll a +60% error rate back from the first interval on)
    early = [stage.verdict for stage in result.stages][:3]
    assert early == (["rollback"] * 3 if case == "errors" else ["hold"] * 3)


def test_the_regressed_metric_is_named_with_its_numbers(outcomes):
    _, _, result = outcomes["regression"]
    latency = next(row for row in result.metric_results if row.name == "latency")
    assert latency.outcome == "worse" and 25 < latency.ci_low < latency.effect < latency.ci_high < 35
    assert "critical metric latency is high" in result.reasons[0].message
    _, _, marginal = outcomes["marginal"]
    conversion = next(row for row in marginal.metric_results if row.name == "conversion")
    assert conversion.outcome == "worse" and -0.13 < conversion.effect < -0.07


def test_zero_traffic_and_no_data_hold(tmp_path):
    # the canary's traffic stopped after 8 intervals: the current interval has no canary unit
    events, exposures = canary_logs(3, canary_intervals=8)
    write_logs(tmp_path, events, exposures)
    stopped = iterate.rollout(canary_config(tmp_path))
    assert stopped.verdict == "hold" and "min_units" in [r.rule for r in stopped.reasons]
    assert stopped.stages[-1].units == {"baseline": UNITS, "canary": 0}
    assert stopped.canary.comparisons["latency"].n_canary == 8  # the intervals compared have both arms
    # no canary unit at all
    baseline_only = exposures.filter(pl.col("variant") == "baseline")
    nothing = iterate.rollout(canary_config(tmp_path), exposures=baseline_only)
    assert (nothing.verdict, [r.rule for r in nothing.reasons]) == ("hold", ["no_traffic"])
    assert nothing.canary.score is None and nothing.to_dict()["canary"]["score"] is None
    # no error event at all: every interval's value is 0 in both arms, so Mann-Whitney sees no shift
    # (U = mn/2, p = 1) and would pass; zero events are no evidence: no data, hold, named
    folder = tmp_path / "no_errors"
    folder.mkdir()
    write_logs(folder, events.filter(pl.col("event") != "error"), exposures)
    silent = iterate.rollout(canary_config(folder))
    assert silent.verdict == "hold"  # (the canary's stop also holds it: min_units)
    assert [(r.rule, r.metric) for r in silent.reasons] == [("no_data", "errors"), ("min_units", None)]
    assert "no unit has a non-zero value" in silent.reasons[0].message
    errors = silent.canary.comparisons["errors"]
    assert (errors.classification, errors.outcome) == ("nodata", "nodata")
    assert silent.canary.score.score == pytest.approx(80 / 2 + 20)  # errors does not pass in the score either


def test_no_data_holds_even_when_the_score_would_pass(tmp_path):
    events, exposures = canary_logs(5, intervals=3)  # three intervals: too few to bound any shift
    write_logs(tmp_path, events, exposures)
    result = iterate.rollout(canary_config(tmp_path, rollout={"kind": "canary", "interval": "10m"}))
    assert result.verdict == "hold"
    assert {r.metric for r in result.reasons if r.rule == "no_data"} == {"latency", "errors", "conversion"}
    with_rollback = iterate.rollout(canary_config(tmp_path, rollout={"kind": "canary", "interval": "10m",
                                                                      "on_no_data": "rollback"}))
    assert with_rollback.verdict == "rollback"


def test_the_cli_exit_codes_and_every_format(tmp_path):
    runner = CliRunner()
    folder = tmp_path / "cli"
    folder.mkdir()
    for case, effects, code in (("no_change", {}, 0), ("marginal", {"conversion": (0.3, 0.2)}, 11),
                                ("regression", {"latency": (100.0, 130.0)}, 10)):
        events, exposures = canary_logs(7, **effects)
        write_logs(folder, events, exposures)
        config = canary_config(folder)
        result = runner.invoke(main, ["rollout", str(config), "--fail-on", "hold,rollback,invalid"])
        assert result.exit_code == code, result.output
        assert "Canary score" in result.output
        document = json.loads(runner.invoke(main, ["rollout", str(config), "--format", "json"]).output)
        assert document["canary"]["score_verdict"] == {0: "pass", 11: "marginal", 10: "fail"}[code]
    for fmt, marker in (("markdown", "**Canary score"), ("junit", 'name="canary_score"')):
        output = runner.invoke(main, ["rollout", str(config), "--format", fmt]).output
        assert marker in output


def test_canary_config_errors_name_the_fix(tmp_path):
    minimal = {"experiment": {"name": "c", "control": "baseline"},
               "metrics": [{"name": "lat", "type": "mean", "event": "req", "value": "value", "group": "perf"}]}
    with pytest.raises(ConfigError) as raised:
        parse_config({**minimal, "rollout": {"kind": "canary", "interval": "soon", "group_weights": {"perf": 0, "x": 1},
                                             "thresholds": {"pass": 70, "marginal": 80}, "stage_column": "s"}})
    problems = raised.value.problems
    for expected in ("[rollout] interval: `soon` is not a duration", "group_weights.perf == 0",
                     "group_weights names `x`, which no metric is in", "marginal 80 is above pass 70",
                     "stages / stage_column apply to kind = \"ramp\""):
        assert any(expected in problem for problem in problems), problems
    with pytest.raises(ConfigError, match="`group` applies to a canary"):
        parse_config({**minimal, "rollout": {"kind": "ramp", "stage_column": "s"}})
    events, exposures = canary_logs(3, intervals=4)
    write_logs(tmp_path, events, exposures)
    three = exposures.with_columns(pl.when(pl.col("user_id").str.ends_with("1")).then(pl.lit("other"))
                                   .otherwise(pl.col("variant")).alias("variant"))
    with pytest.raises(ConfigError, match=r'name the canary with \[rollout\] canary = "canary"'):
        iterate.rollout(canary_config(tmp_path), exposures=three)
    named = iterate.rollout(canary_config(tmp_path, rollout={"kind": "canary", "interval": "10m", "canary": "canary"}),
                            exposures=three)
    assert named.canary.canary == "canary"
    assert not next(check for check in named.checks if check.name == "unknown_variants").passed


def test_the_same_logs_give_the_same_json(tmp_path):
    events, exposures = canary_logs(9, intervals=6)
    write_logs(tmp_path, events, exposures)
    config = canary_config(tmp_path)

    def document():
        report = iterate.rollout(config).to_dict()
        report["provenance"].pop("generated_at")
        return json.dumps(report, sort_keys=True)

    assert document() == document()
