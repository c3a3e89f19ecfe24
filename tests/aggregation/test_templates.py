"""Every SQL template is rendered, parsed and run in CI, through the real code path.

Analyses covering every branch of the templates (segments from exposures and from events, fixed
and percentile caps, ratio, retention, quantile, time-to-event and active-days metrics, as-of,
filters, exposures from an exposure event, string timestamps, an unparseable timestamp, a wrong
experiment name, a plan, a calibration, a timeline, a simulation) run on a small log through a
recording engine: every query reaches the engine as a rendered template, so the engine sees
which templates ran. Each template must have been executed by DuckDB (a parse error would have
failed the run).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

import iterate
from helpers import at, write_config, write_logs
from helpers import RecordingEngine
from iterate import templates
from iterate.errors import ConfigError, DataError

METRICS = (
    {"name": "conversion", "type": "proportion", "event": "purchase"},
    {"name": "revenue", "type": "mean", "event": "purchase", "value": "value", "cap": {"percentile": 0.9}},
    {"name": "views", "type": "count", "event": "view", "cap": 5, "where": {"platform": ["ios", "web"]}},
    {"name": "revenue_per_view", "type": "ratio", "numerator": {"event": "purchase", "value": "value"},
     "denominator": {"event": "view"}},
    {"name": "returned_day_1", "type": "retention", "event": "view", "day": 1},
    {"name": "hours_to_purchase", "type": "time_to_event", "event": "purchase", "direction": "decrease"},
    {"name": "latency_p90", "type": "quantile", "event": "view", "value": "value", "quantile": 0.9,
     "direction": "decrease"},
)


def _logs(units: int = 40):
    exposures = pl.DataFrame({
        "user_id": [f"u{i}" for i in range(units)],
        "experiment": ["exp"] * units,
        "variant": ["control" if i % 2 else "treatment" for i in range(units)],
        "country": ["fr" if i % 3 else "us" for i in range(units)],
        "timestamp": [at(hours=i) for i in range(units)],
    })
    rows = []
    for i in range(units):
        for k in range(1 + i % 4):
            rows.append({"user_id": f"u{i}", "timestamp": str(at(hours=i + 2 + 20 * k)), "event": "view",
                         "value": float(100 + 7 * i + k), "platform": ["ios", "android", "web"][i % 3]})
        if i % 3:
            rows.append({"user_id": f"u{i}", "timestamp": str(at(hours=i + 5)), "event": "purchase",
                         "value": float(10 + i), "platform": ["ios", "android", "web"][i % 3]})
        rows.append({"user_id": f"u{i}", "timestamp": str(at(hours=i - 30)), "event": "view", "value": 50.0,
                     "platform": "web"})
    rows.append({"user_id": "u0", "timestamp": "2001-01-01 00:00:00", "event": "view", "value": 1.0, "platform": "web"})
    return pl.DataFrame(rows), exposures


def test_every_template_renders_and_runs(tmp_path):
    engine = RecordingEngine()
    events, exposures = _logs()
    write_logs(tmp_path, events, exposures, fmt="csv")
    config = write_config(
        tmp_path, events="events.csv", exposures="exposures.csv", metrics=METRICS,
        experiment_extra={"segments": ["country", "platform"], "as_of": "2026-01-10T00:00:00Z",
                          "where": {"country": ["fr", "us"]}},
    )
    with pytest.raises(DataError, match="experiments found: exp"):
        iterate.analyze(iterate.load_config(config).replace(name="other"), engine=engine)
    with pytest.raises(DataError, match="cannot be parsed"):
        iterate.analyze(config, events=events.with_columns(pl.lit("not a time").alias("timestamp")), engine=engine)
    misspelt = iterate.load_config(config).replace(metrics=(iterate.Metric(name="c", type="count", event="viw"),))
    with pytest.raises(ConfigError, match="nearest event names: `view`"):
        iterate.analyze(misspelt, engine=engine)
    not_joining = iterate.analyze(config, exposures=exposures.with_columns(pl.col("user_id") + "x"), engine=engine)
    assert not_joining.verdict == "invalid"
    result = iterate.analyze(config, engine=engine)
    assert {row.name for row in result.metric_results} == {m["name"] for m in METRICS}
    times = next(check for check in result.checks if check.name == "event_times")
    assert not times.passed and times.details["early_events"] == 1
    calibration = iterate.calibrate(config, replicates=10, engine=engine)
    assert calibration.replicates == 10

    from_events = events.with_columns(pl.lit(None, dtype=pl.String).alias("variant"))
    exposure_rows = exposures.select(
        "user_id", pl.col("timestamp").cast(pl.String), pl.lit("exposure").alias("event"),
        pl.lit(None, dtype=pl.Float64).alias("value"), pl.lit("ios").alias("platform"), "variant",
    )
    (tmp_path / "single").mkdir()
    pl.concat([from_events, exposure_rows]).write_parquet(tmp_path / "single" / "events.parquet")
    config = write_config(tmp_path / "single", events="events.parquet", exposures=None, metrics=METRICS[:3])
    config.write_text(config.read_text().replace("[data]\n", '[data]\nexposure_event = "exposure"\n'))
    result = iterate.analyze(config, engine=engine)
    assert sum(result.units.values()) == len(exposures)

    from iterate.config import Rollout, Stage

    ramp = iterate.load_config(config).replace(rollout=Rollout(stages=(Stage(datetime(2026, 1, 1), 0.5),)))
    assert sum(iterate.rollout(ramp, engine=engine).stages[0].units.values()) == len(exposures)
    canary = iterate.load_config(config).replace(rollout=Rollout(kind="canary", interval="1h", canary="treatment"))
    assert sum(sum(stage.units.values()) for stage in iterate.rollout(canary, engine=engine).stages) == len(exposures)

    versions = pl.concat([exposures.with_columns(pl.lit("1.0").alias("variant"), pl.lit(at(hours=-48)).alias("timestamp")),
                          exposures.head(10).with_columns(pl.lit("2.0").alias("variant"), pl.lit(at(days=2)).alias("timestamp"))])
    version = iterate.load_config(config).replace(
        metrics=(iterate.Metric(name="views", type="count", event="view"),), exposure_event=None, as_of=at(days=5),
        rollout=Rollout(kind="version", new="2.0", pre_period="1d", post_period="1d", min_units_per_stage=2))
    assert iterate.rollout(version, events=events, exposures=versions, engine=engine).metric_results[0].n_treatment == 10

    plan = iterate.plan(iterate.load_config(config).replace(window="1d"), days=3, baseline_days=4, engine=engine)
    assert plan.metrics and plan.units_per_arm > 0

    iterate.simulate_logs(tmp_path / "simulated", units=50, events=500, engine=engine)

    missing = set(templates.template_names()) - set(engine.templates)
    assert not missing, f"templates never run by the test analyses: {sorted(missing)}"
