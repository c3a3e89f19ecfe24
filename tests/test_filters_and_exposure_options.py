"""Filters and exposure options end to end, against per-unit references computed with polars:

- a metric's ``where`` (eq, in, not_in, gt on a numeric column) filters that metric's events;
- the experiment's ``where`` on an exposure column selects units, on an events-only column
  filters the events of every metric;
- ``exposure_delay`` starts each window that long after the first exposure;
- ``as_of`` ignores exposures and events after it (config key, ``iterate.analyze(as_of=...)`` and
  ``iterate analyze --as-of``);
- ``exposure_event`` takes exposures from an event of the events log, with the same result as the
  equivalent exposures file;
- a ``where`` naming a missing column is bad input: exit 2 and a message naming the column.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from scipy import stats

import iterate
from helpers import BASE, config_text, write_config, write_logs
from iterate.cli import main

DAY = 86_400
WINDOW = timedelta(days=7)
BASE64 = np.datetime64(BASE, "us")
PLATFORMS = ("ios", "android", "web", "tv")
COUNTRIES = ("de", "fr", "us")


def stamps(seconds) -> np.ndarray:
    return BASE64 + np.round(np.asarray(seconds, dtype=float)).astype(np.int64).astype("timedelta64[s]")


def generate_logs(seed: int = 99, units: int = 1500) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Exposures with a country; events (purchase with amount, view) with a platform; many events
    in the first hours after exposure, some before exposure and after the window."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"u{i:05d}" for i in range(units)])
    treated = rng.random(units) < 0.5
    variant = np.where(treated, "treatment", "control")
    country = rng.choice(COUNTRIES, size=units, p=[0.4, 0.3, 0.3])
    exposed = np.round(rng.uniform(0, 10 * DAY, size=units))
    again = rng.random(units) < 0.15
    switch = rng.random(units) < 0.03  # a later exposure to the other variant
    exposures = pl.DataFrame({
        "user_id": np.concatenate([ids, ids[again], ids[switch]]),
        "experiment": "exp",
        "variant": np.concatenate([variant, variant[again], np.where(treated[switch], "control", "treatment")]),
        "timestamp": stamps(np.concatenate([exposed, exposed[again] + rng.uniform(600, 2 * DAY, again.sum()),
                                            exposed[switch] + rng.uniform(600, 4 * DAY, switch.sum())])),
        "country": np.concatenate([country, country[again], country[switch]]),
    })
    frames = []
    for name, rate in (("purchase", 2.0), ("view", 6.0)):
        counts = rng.poisson(rate * np.where(treated, 1.15, 1.0))
        owner = np.repeat(np.arange(units), counts)
        # a third of the events in the first two hours, the rest spread before / in / after the window
        early = rng.random(owner.size) < 1 / 3
        offsets = np.where(early, rng.uniform(0, 7200, owner.size), rng.uniform(-DAY, 9 * DAY, owner.size))
        frames.append(pl.DataFrame({
            "user_id": ids[owner],
            "timestamp": stamps(exposed[owner] + offsets),
            "event": name,
            "platform": rng.choice(PLATFORMS, size=owner.size, p=[0.35, 0.3, 0.25, 0.1]),
            "amount": np.round(rng.lognormal(2.8, 0.8, owner.size), 2) if name == "purchase" else np.full(owner.size, np.nan),
        }))
    events = pl.concat(frames).with_columns(pl.col("amount").fill_nan(None))
    return events.sample(fraction=1.0, shuffle=True, seed=seed), exposures


@pytest.fixture(scope="module")
def logs():
    return generate_logs()


# --------------------------------------------------------------------------------------------
# reference helpers


def analyzed_units(exposures: pl.DataFrame, as_of: datetime | None = None, where=None) -> pl.DataFrame:
    selected = exposures if as_of is None else exposures.filter(pl.col("timestamp") <= as_of)
    if where is not None:
        selected = selected.filter(where)
    return (
        selected.group_by("user_id")
        .agg(first=pl.col("timestamp").min(), variants=pl.col("variant").n_unique(), variant=pl.col("variant").first())
        .filter(pl.col("variants") == 1)
        .drop("variants")
    )


def per_unit(events, units, event, *, where=None, delay=timedelta(0), window=WINDOW, as_of=None, binary=False):
    """Per-unit count of ``event`` in [first + delay, first + delay + window), 0 for units without."""
    selected = events.filter(pl.col("event") == event)
    if where is not None:
        selected = selected.filter(where)
    if as_of is not None:
        selected = selected.filter(pl.col("timestamp") <= as_of)
    start = pl.col("first") + delay
    counts = (
        selected.join(units.select("user_id", "first"), on="user_id")
        .filter((pl.col("timestamp") >= start) & (pl.col("timestamp") < start + window))
        .group_by("user_id").agg(y=pl.len())
    )
    out = units.join(counts, on="user_id", how="left").with_columns(pl.col("y").fill_null(0).cast(pl.Float64))
    return out.with_columns(pl.col("y").gt(0).cast(pl.Float64)) if binary else out


def arms(frame: pl.DataFrame):
    return (frame.filter(pl.col("variant") == "control")["y"].to_numpy(),
            frame.filter(pl.col("variant") == "treatment")["y"].to_numpy())


def row(result, metric, variant="treatment"):
    rows = result.metrics.filter((pl.col("name") == metric) & (pl.col("variant") == variant)).to_dicts()
    assert len(rows) == 1, f"expected one row for {metric}/{variant}, got {rows}"
    return rows[0]


def assert_welch(r, frame):
    """The row's means, n, standard error and p-value equal Welch's test on the per-unit values."""
    control, treatment = arms(frame)
    assert (r["n_control"], r["n_treatment"]) == (control.size, treatment.size)
    assert r["control_mean"] == pytest.approx(control.mean(), rel=1e-12)
    assert r["treatment_mean"] == pytest.approx(treatment.mean(), rel=1e-12)
    se = math.sqrt(control.var(ddof=1) / control.size + treatment.var(ddof=1) / treatment.size)
    assert r["std_error"] == pytest.approx(se, rel=1e-9)
    assert r["p_value"] == pytest.approx(stats.ttest_ind(treatment, control, equal_var=False).pvalue, rel=1e-8)


def assert_same_rows(left, right):
    """Same metric rows, floats up to the engine's summation order (parallel aggregation)."""
    assert len(left.metric_results) == len(right.metric_results)
    for a, b in zip(left.metrics.to_dicts(), right.metrics.to_dicts()):
        assert a.keys() == b.keys()
        for key, value in a.items():
            if isinstance(value, float):
                assert b[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key
            else:
                assert b[key] == value, key


def analyze(tmp_path, events, exposures, metrics, **config):
    write_logs(tmp_path, events, exposures)
    return iterate.analyze(write_config(tmp_path, metrics=metrics, **config))


# --------------------------------------------------------------------------------------------
# metric where


METRIC_FILTERS = {
    "purchases_ios": ({"platform": "ios"}, pl.col("platform") == "ios"),
    "purchases_mobile": ({"platform": ["ios", "android"]}, pl.col("platform").is_in(["ios", "android"])),
    "purchases_not_web_tv": ({"platform": {"not_in": ["web", "tv"]}}, ~pl.col("platform").is_in(["web", "tv"])),
    "purchases_over_20": ({"amount": {"gt": 20}}, pl.col("amount") > 20),
    "purchases_android_le_10": ({"platform": "android", "amount": {"le": 10}},
                                (pl.col("platform") == "android") & (pl.col("amount") <= 10)),
}


def test_metric_where_filters_that_metrics_events(tmp_path, logs):
    events, exposures = logs
    metrics = [{"name": name, "type": "count", "event": "purchase", "where": where}
               for name, (where, _) in METRIC_FILTERS.items()]
    metrics.append({"name": "purchases", "type": "count", "event": "purchase"})
    metrics.append({"name": "bought_over_20", "type": "proportion", "event": "purchase", "where": {"amount": {"gt": 20}}})
    result = analyze(tmp_path, events, exposures, metrics)
    units = analyzed_units(exposures)
    for name, (_, expression) in METRIC_FILTERS.items():
        assert_welch(row(result, name), per_unit(events, units, "purchase", where=expression))
    assert_welch(row(result, "purchases"), per_unit(events, units, "purchase"))
    over_20 = per_unit(events, units, "purchase", where=pl.col("amount") > 20, binary=True)
    control, treatment = arms(over_20)
    r = row(result, "bought_over_20")
    assert (r["control_mean"], r["treatment_mean"]) == (pytest.approx(control.mean()), pytest.approx(treatment.mean()))
    # the filters select different events: mobile (in) and not web/tv (not_in) agree, ios alone is fewer
    assert row(result, "purchases_mobile")["control_mean"] == pytest.approx(row(result, "purchases_not_web_tv")["control_mean"])
    assert row(result, "purchases_ios")["control_mean"] < row(result, "purchases_mobile")["control_mean"] < row(
        result, "purchases")["control_mean"]


def test_ratio_side_where(tmp_path, logs):
    events, exposures = logs
    metrics = [{"name": "ios_share", "type": "ratio", "numerator": {"event": "purchase", "where": {"platform": "ios"}},
                "denominator": {"event": "purchase"}}]
    result = analyze(tmp_path, events, exposures, metrics)
    units = analyzed_units(exposures)
    y = per_unit(events, units, "purchase", where=pl.col("platform") == "ios")
    x = per_unit(events, units, "purchase").select("user_id", pl.col("y").alias("x"))
    both = y.join(x, on="user_id")
    r = row(result, "ios_share")
    for variant, key in (("control", "control_mean"), ("treatment", "treatment_mean")):
        arm = both.filter(pl.col("variant") == variant)
        assert r[key] == pytest.approx(arm["y"].sum() / arm["x"].sum(), rel=1e-12)


# --------------------------------------------------------------------------------------------
# experiment where


def test_experiment_where_on_exposure_column_selects_units(tmp_path, logs):
    events, exposures = logs
    metrics = [{"name": "purchases", "type": "count", "event": "purchase"}]
    result = analyze(tmp_path, events, exposures, metrics, experiment_extra={"where": {"country": "de"}})
    units = analyzed_units(exposures, where=pl.col("country") == "de")
    assert dict(result.units) == dict(units.group_by("variant").len().iter_rows())
    assert sum(result.units.values()) < analyzed_units(exposures).height * 0.5
    # events keep every platform: only the units are selected
    assert_welch(row(result, "purchases"), per_unit(events, units, "purchase"))


def test_experiment_where_on_two_countries(tmp_path, logs):
    events, exposures = logs
    metrics = [{"name": "purchases", "type": "count", "event": "purchase"}]
    result = analyze(tmp_path, events, exposures, metrics, experiment_extra={"where": {"country": {"ne": "us"}}})
    units = analyzed_units(exposures, where=pl.col("country") != "us")
    assert dict(result.units) == dict(units.group_by("variant").len().iter_rows())
    assert_welch(row(result, "purchases"), per_unit(events, units, "purchase"))


def test_experiment_where_on_events_only_column_filters_events(tmp_path, logs):
    events, exposures = logs
    metrics = [{"name": "purchases", "type": "count", "event": "purchase"},
               {"name": "viewed", "type": "proportion", "event": "view"}]
    result = analyze(tmp_path, events, exposures, metrics, experiment_extra={"where": {"platform": "ios"}})
    units = analyzed_units(exposures)
    # every exposed unit stays (with zeros when it has no ios event)
    assert dict(result.units) == dict(units.group_by("variant").len().iter_rows())
    ios = pl.col("platform") == "ios"
    assert_welch(row(result, "purchases"), per_unit(events, units, "purchase", where=ios))
    control, treatment = arms(per_unit(events, units, "view", where=ios, binary=True))
    r = row(result, "viewed")
    assert r["control_mean"] == pytest.approx(control.mean(), rel=1e-12)
    assert r["treatment_mean"] == pytest.approx(treatment.mean(), rel=1e-12)


# --------------------------------------------------------------------------------------------
# exposure delay


def test_exposure_delay_ignores_the_first_hour(tmp_path, logs):
    events, exposures = logs
    metrics = [{"name": "purchases", "type": "count", "event": "purchase"},
               {"name": "viewed", "type": "proportion", "event": "view"}]
    result = analyze(tmp_path, events, exposures, metrics, experiment_extra={"exposure_delay": "1h"})
    units = analyzed_units(exposures)
    delayed = per_unit(events, units, "purchase", delay=timedelta(hours=1))
    assert_welch(row(result, "purchases"), delayed)
    control, treatment = arms(per_unit(events, units, "view", delay=timedelta(hours=1), binary=True))
    assert row(result, "viewed")["treatment_mean"] == pytest.approx(treatment.mean(), rel=1e-12)
    assert row(result, "viewed")["control_mean"] == pytest.approx(control.mean(), rel=1e-12)
    # the first hour holds many events: the delayed counts differ from the undelayed ones
    undelayed = per_unit(events, units, "purchase")
    assert undelayed["y"].sum() - delayed["y"].sum() > 300


# --------------------------------------------------------------------------------------------
# as of


AS_OF = BASE + timedelta(days=6, hours=12)


def check_as_of(result, events, exposures):
    units = analyzed_units(exposures, as_of=AS_OF)
    assert dict(result.units) == dict(units.group_by("variant").len().iter_rows())
    assert result.excluded_units["multiple_variants"] == (
        exposures.filter(pl.col("timestamp") <= AS_OF).group_by("user_id").agg(v=pl.col("variant").n_unique())
        .filter(pl.col("v") > 1).height)
    assert_welch(row(result, "purchases"), per_unit(events, units, "purchase", as_of=AS_OF))


def test_as_of_in_config_ignores_later_exposures_and_events(tmp_path, logs):
    events, exposures = logs
    metrics = [{"name": "purchases", "type": "count", "event": "purchase"}]
    result = analyze(tmp_path, events, exposures, metrics, experiment_extra={"as_of": "2026-01-11T22:00:00Z"})
    # 22:00Z is BASE (10:00) + 6 days 12 hours
    assert AS_OF == datetime(2026, 1, 11, 22, 0)
    check_as_of(result, events, exposures)
    # the cut matters: later exposures exist, and units switching variant after it are kept
    assert exposures.filter(pl.col("timestamp") > AS_OF).height > 300
    everything = analyzed_units(exposures)
    assert sum(result.units.values()) < everything.height
    switched_later = (
        exposures.group_by("user_id")
        .agg(before=pl.col("variant").filter(pl.col("timestamp") <= AS_OF).n_unique(), all=pl.col("variant").n_unique())
        .filter((pl.col("before") == 1) & (pl.col("all") == 2))
    )
    assert switched_later.height > 5
    assert switched_later.join(everything, on="user_id").height == 0


def test_as_of_argument_equals_config_key(tmp_path, logs):
    events, exposures = logs
    metrics = [{"name": "purchases", "type": "count", "event": "purchase"}]
    write_logs(tmp_path, events, exposures)
    config = write_config(tmp_path, metrics=metrics)
    for as_of in (AS_OF, "2026-01-11T22:00:00Z", "2026-01-11T23:00:00+01:00"):
        result = iterate.analyze(config, as_of=as_of)
        check_as_of(result, events, exposures)
    keyed = iterate.analyze(write_config(tmp_path, "keyed.toml", metrics=metrics,
                                         experiment_extra={"as_of": "2026-01-11T22:00:00Z"}))
    assert_same_rows(result, keyed)


def test_cli_as_of_equals_the_argument(tmp_path, logs):
    events, exposures = logs
    metrics = [{"name": "purchases", "type": "count", "event": "purchase"}]
    write_logs(tmp_path, events, exposures)
    config = write_config(tmp_path, metrics=metrics)
    outcome = CliRunner().invoke(main, ["analyze", str(config), "--as-of", "2026-01-11T22:00:00Z", "--format", "json"])
    assert outcome.exit_code in (0, 10, 11, 12, 13), outcome.output
    report = json.loads(outcome.stdout)
    units = analyzed_units(exposures, as_of=AS_OF)
    assert report["units"] == dict(units.group_by("variant").len().iter_rows())
    [r] = report["metrics"]
    control, treatment = arms(per_unit(events, units, "purchase", as_of=AS_OF))
    assert r["control_mean"] == pytest.approx(control.mean(), rel=1e-12)
    assert r["treatment_mean"] == pytest.approx(treatment.mean(), rel=1e-12)
    assert outcome.exit_code == iterate.analyze(config, as_of=AS_OF).exit_code


def test_cli_bad_as_of_is_bad_input(tmp_path, logs):
    events, exposures = logs
    write_logs(tmp_path, events.head(100), exposures)
    config = write_config(tmp_path, metrics=[{"name": "purchases", "type": "count", "event": "purchase"}])
    outcome = CliRunner().invoke(main, ["analyze", str(config), "--as-of", "next tuesday"])
    assert outcome.exit_code == 2, outcome.output
    assert "next tuesday" in outcome.output and "Traceback" not in outcome.output


# --------------------------------------------------------------------------------------------
# exposure event


def test_exposure_event_equals_exposures_file(tmp_path, logs):
    events, exposures = logs
    exposure_rows = exposures.select(
        "user_id", "timestamp", event=pl.lit("exposure"), platform=pl.lit(None, pl.String),
        amount=pl.lit(None, pl.Float64), variant="variant", experiment="experiment",
    )
    # another experiment's exposures in the same log are not this experiment's
    other = exposure_rows.head(200).with_columns(experiment=pl.lit("other"), variant=pl.lit("control"))
    combined = pl.concat([
        events.with_columns(variant=pl.lit(None, pl.String), experiment=pl.lit(None, pl.String)),
        exposure_rows, other,
    ], how="vertical_relaxed").sample(fraction=1.0, shuffle=True, seed=1)
    metrics = [{"name": "purchases", "type": "count", "event": "purchase"},
               {"name": "viewed", "type": "proportion", "event": "view"},
               {"name": "amount", "type": "mean", "event": "purchase", "value": "amount"}]

    separate_dir, embedded_dir = tmp_path / "separate", tmp_path / "embedded"
    write_logs(separate_dir, combined, exposures.drop("country"))
    separate = iterate.analyze(write_config(separate_dir, metrics=metrics))
    write_logs(embedded_dir, combined, exposures.head(0))
    embedded_config = embedded_dir / "experiment.toml"
    embedded_config.write_text(
        config_text(metrics=metrics, events=None, exposures=None)
        + '\n[data]\nevents = "events.parquet"\nexposure_event = "exposure"\n', encoding="utf-8")
    embedded = iterate.analyze(embedded_config)

    units = analyzed_units(exposures)
    assert dict(embedded.units) == dict(units.group_by("variant").len().iter_rows())
    assert dict(embedded.units) == dict(separate.units)
    assert embedded.excluded_units == separate.excluded_units
    assert_same_rows(embedded, separate)
    assert embedded.verdict == separate.verdict
    assert_welch(row(embedded, "purchases"), per_unit(events, units, "purchase"))


# --------------------------------------------------------------------------------------------
# bad where


@pytest.mark.parametrize(
    ("metrics", "extra"),
    [
        ([{"name": "purchases", "type": "count", "event": "purchase", "where": {"device_model": "pixel"}}], {}),
        ([{"name": "purchases", "type": "count", "event": "purchase"}], {"where": {"device_model": ["pixel"]}}),
    ],
    ids=["metric_where", "experiment_where"],
)
def test_where_on_missing_column_is_bad_input(tmp_path, logs, metrics, extra):
    events, exposures = logs
    write_logs(tmp_path, events.head(500), exposures)
    config = write_config(tmp_path, metrics=metrics, experiment_extra=extra)
    outcome = CliRunner().invoke(main, ["analyze", str(config)])
    assert outcome.exit_code == 2, outcome.output
    assert "device_model" in outcome.output
    assert "Traceback" not in outcome.output
