"""``iterate analyze CONFIG --moments FILE``: the verdict from summary statistics equals the verdict
from the logs they summarize, and a bad moments file is one clear input error (exit 2)."""

from __future__ import annotations

import json
import math

import polars as pl
import pytest
from click.testing import CliRunner

import iterate
from iterate.cli import main
from helpers import write_config

METRICS = [
    {"name": "purchasers", "type": "proportion", "event": "purchase"},
    {"name": "revenue", "type": "mean", "event": "purchase", "value": "value"},
    {"name": "per_open", "type": "ratio", "numerator": {"event": "purchase"}, "denominator": {"event": "app_open"}},
    {"name": "crashes", "type": "count", "event": "crash", "role": "guardrail", "direction": "decrease",
     "margin": 0.5},
]


def per_unit_moments(folder) -> pl.DataFrame:
    """The moments file of the simulated logs, computed independently of the engine: per-unit values
    with polars from the logs, then ``n``, means, sample variances (ddof 1) and covariance."""
    exposures = pl.read_parquet(folder / "exposures.parquet")
    events = pl.read_parquet(folder / "events.parquet")
    first = (exposures.group_by("user_id").agg(pl.col("variant").n_unique().alias("variants"),
                                               pl.col("variant").first(), pl.col("timestamp").min().alias("start"))
             .filter(pl.col("variants") == 1).drop("variants"))
    window = pl.duration(days=7)
    joined = events.join(first, on="user_id").filter((pl.col("timestamp") >= pl.col("start"))
                                                     & (pl.col("timestamp") < pl.col("start") + window))

    def totals(event, value=None):
        picked = joined.filter(pl.col("event") == event)
        amount = pl.col(value).sum() if value else pl.len()
        return picked.group_by("user_id").agg(amount.cast(pl.Float64).alias(event + (value or "")))

    units = first.select("user_id", "variant")
    for event, value in (("purchase", None), ("purchase", "value"), ("app_open", None), ("crash", None)):
        units = units.join(totals(event, value), on="user_id", how="left")
    units = units.fill_null(0.0)
    values = {"purchasers": (pl.col("purchase") > 0).cast(pl.Float64), "revenue": pl.col("purchasevalue"),
              "crashes": pl.col("crash")}
    frames = []
    for name, x in values.items():
        frames.append(units.group_by("variant").agg(
            pl.lit(name).alias("metric"), pl.len().alias("n"), x.mean().alias("mean_x"), x.var(ddof=1).alias("var_x")))
    x, y = pl.col("purchase"), pl.col("app_open")
    frames.append(units.group_by("variant").agg(
        pl.lit("per_open").alias("metric"), pl.len().alias("n"), x.mean().alias("mean_x"), x.var(ddof=1).alias("var_x"),
        y.mean().alias("mean_y"), y.var(ddof=1).alias("var_y"), pl.cov(x, y, ddof=1).alias("cov_xy")))
    return pl.concat(frames, how="diagonal").select("metric", "variant", "n", "mean_x", "var_x", "mean_y", "var_y",
                                                    "cov_xy").sort("metric", "variant")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("moments")
    iterate.simulate_logs(folder, units=8000, events=120_000, seed=11, effects={"treatment": {"purchase": 0.3}})
    config = write_config(folder, metrics=METRICS, name="checkout_v2", experiment_extra={"pre_period": False})
    moments = per_unit_moments(folder)
    moments.write_csv(folder / "moments.csv")
    moments.write_parquet(folder / "moments.parquet")
    moments.write_json(folder / "moments.json")
    moments.write_ndjson(folder / "moments.ndjson")
    return folder, config, moments


def analyze_json(*arguments):
    result = CliRunner().invoke(main, ["analyze", *map(str, arguments), "--format", "json"])
    return result, (json.loads(result.output) if result.output.startswith("{") else None)


def close(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
    return a == b


def assert_same_rows(from_moments, from_logs):
    assert len(from_moments) == len(from_logs)
    for row, expected in zip(from_moments, from_logs):
        assert row.keys() == expected.keys()
        for key, value in expected.items():
            if isinstance(value, dict):
                assert_same_rows([row[key]], [value])
            elif isinstance(value, list):
                assert len(row[key]) == len(value) and all(close(a, b) for a, b in zip(row[key], value)), key
            else:
                assert close(row[key], value), (row.get("name"), key, row[key], value)


@pytest.mark.parametrize("suffix", ["csv", "parquet", "json", "ndjson"])
def test_the_moments_of_the_logs_give_the_verdict_and_the_rows_of_the_logs(simulated, suffix):
    folder, config, _ = simulated
    logs_run, from_logs = analyze_json(config)
    moments_run, from_moments = analyze_json(config, "--moments", folder / f"moments.{suffix}")
    assert from_logs is not None and from_moments is not None, moments_run.output
    assert from_logs["verdict"] == "ship"  # the true lift on purchases is shown
    assert moments_run.exit_code == logs_run.exit_code == 0
    assert from_moments["verdict"] == from_logs["verdict"]
    assert from_moments["variants"] == from_logs["variants"]
    assert from_moments["units"] == from_logs["units"]
    assert_same_rows(from_moments["metrics"], from_logs["metrics"])
    assert [r["rule"] for r in from_moments["reasons"]] == [r["rule"] for r in from_logs["reasons"]]


def test_checks_that_need_events_are_reported_not_run_and_the_sample_ratio_is_tested(simulated):
    folder, config, moments = simulated
    _, document = analyze_json(config, "--moments", folder / "moments.parquet")
    checks = {check["name"]: check for check in document["checks"]}
    for name in ("multiple_exposures", "pre_exposure_imbalance", "events_join_exposures", "event_times",
                 "duplicate_events"):
        assert checks[name]["passed"] is False and checks[name]["details"] == {"not_run": True}
        assert checks[name]["message"].startswith(f"{name}: not run on summary statistics")
    units = dict(moments.filter(pl.col("metric") == "revenue").select("variant", "n").iter_rows())
    srm = checks["srm"]
    assert srm["passed"] is True
    from scipy.stats import chisquare
    total = sum(units.values())
    assert math.isclose(srm["details"]["p_value"],
                        chisquare([units["control"], units["treatment"]], [total / 2, total / 2]).pvalue, rel_tol=1e-9)
    assert document["provenance"]["data"]["moments"]["rows"] == moments.height


def write_moments(tmp_path, frame, name="moments.csv"):
    path = tmp_path / name
    frame.write_csv(path) if name.endswith(".csv") else frame.write_parquet(path)
    return path


@pytest.mark.parametrize("change, expected", [
    (lambda f: f.drop("var_x"), "column `var_x` is missing"),
    (lambda f: f.with_columns(pl.col("n").cast(pl.String) + "u"), "column `n` is String"),
    (lambda f: f.with_columns(pl.when(pl.col("metric") == "revenue").then(-1).otherwise(pl.col("n")).alias("n")),
     "`n` = -1 is negative"),
    (lambda f: f.with_columns(pl.when(pl.col("metric") == "crashes").then(-0.5).otherwise(pl.col("var_x"))
                              .alias("var_x")), "`var_x` = -0.5 is negative"),
    (lambda f: f.filter(pl.col("metric") != "crashes"), "metric crashes of the configuration has no row"),
    (lambda f: f.filter((pl.col("metric") != "revenue") | (pl.col("variant") != "treatment")),
     "metric revenue: variant(s) treatment have no row"),
    (lambda f: pl.concat([f, f.head(1)]), "duplicates an earlier row"),
    (lambda f: f.with_columns(pl.when(pl.col("metric") == "per_open").then(None).otherwise(pl.col("cov_xy"))
                              .alias("cov_xy")), "`cov_xy` is empty (a ratio metric needs"),
])
def test_a_bad_moments_file_exits_2_naming_the_problem(simulated, tmp_path, change, expected):
    folder, config, moments = simulated
    path = write_moments(tmp_path, change(moments))
    result = CliRunner().invoke(main, ["analyze", str(config), "--moments", str(path)])
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output


def test_every_problem_is_listed_at_once(simulated, tmp_path):
    folder, config, moments = simulated
    bad = moments.with_columns(pl.when(pl.col("metric") == "revenue").then(-3).otherwise(pl.col("n")).alias("n"),
                               pl.when(pl.col("metric") == "crashes").then(-1.0).otherwise(pl.col("var_x")).alias("var_x"))
    result = CliRunner().invoke(main, ["analyze", str(config), "--moments", str(write_moments(tmp_path, bad))])
    assert result.exit_code == 2
    assert result.output.count("is negative") == 4  # two rows of each bad metric


def test_a_quantile_metric_is_refused_as_a_config_error(simulated, tmp_path):
    folder, config, _ = simulated
    quantile = {"name": "p90_value", "type": "quantile", "event": "purchase", "value": "value", "quantile": 0.9}
    path = write_config(tmp_path, metrics=[*METRICS, quantile], experiment_extra={"pre_period": False})
    result = CliRunner().invoke(main, ["analyze", str(path), "--moments", str(folder / "moments.csv")])
    assert result.exit_code == 2
    assert "p90_value" in result.output and "a quantile is not a function of moments" in result.output


def test_an_unknown_file_type_and_a_missing_file_exit_2(simulated, tmp_path):
    _, config, _ = simulated
    for path, expected in ((tmp_path / "moments.xlsx", "unknown moments file type"),
                           (tmp_path / "absent.csv", "no such moments file")):
        result = CliRunner().invoke(main, ["analyze", str(config), "--moments", str(path)])
        assert result.exit_code == 2 and expected in result.output


def test_options_that_read_the_logs_are_refused_with_moments(simulated):
    folder, config, _ = simulated
    result = CliRunner().invoke(main, ["analyze", str(config), "--moments", str(folder / "moments.csv"),
                                       "--events", str(folder / "events.parquet"), "--timeline"])
    assert result.exit_code == 2
    assert "--events, --timeline cannot be combined with it" in result.output


def engine_moments(config, segments) -> pl.DataFrame:
    """The moments file from the engine's own per-variant and per-segment GroupMoments of the logs."""
    from iterate.analysis import _aggregate
    from iterate.session import open_session, resolve

    experiment, events, exposures = resolve(config, segments=segments)
    with open_session(experiment, events, exposures) as session:
        groups = _aggregate(session, {"events": events, "exposures": exposures}).groups
    ratios = {metric["name"] for metric in METRICS if metric["type"] == "ratio"}
    rows = [{"metric": g.metric, "variant": g.variant, "segment": g.segment, "segment_value": g.segment_value,
             "n": g.moments.n, "mean_x": g.moments.numerator_mean, "var_x": g.moments.numerator_variance,
             "mean_y": g.moments.denominator_mean if g.metric in ratios else None,
             "var_y": g.moments.denominator_variance if g.metric in ratios else None,
             "cov_xy": g.moments.covariance if g.metric in ratios else None, "missing_units": g.missing_units}
            for g in groups]
    return pl.DataFrame(rows, schema_overrides={"mean_y": pl.Float64, "var_y": pl.Float64, "cov_xy": pl.Float64})


def test_segment_rows_give_the_segment_comparisons_of_the_logs(simulated, tmp_path):
    folder, config, _ = simulated
    moments = engine_moments(config, ["platform"])
    assert moments["segment"].drop_nulls().unique().to_list() == ["platform"]
    path = write_moments(tmp_path, moments, "moments.parquet")
    _, from_logs = analyze_json(config, "--segment", "platform")
    _, from_moments = analyze_json(config, "--segment", "platform", "--moments", path)
    assert from_moments["verdict"] == from_logs["verdict"]
    assert len(from_logs["segments"]) > 4
    assert_same_rows(from_moments["segments"], from_logs["segments"])
    assert_same_rows(from_moments["heterogeneity"], from_logs["heterogeneity"])
    assert_same_rows(from_moments["metrics"], from_logs["metrics"])
