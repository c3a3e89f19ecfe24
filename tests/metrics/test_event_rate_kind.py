"""The ``event_rate`` metric kind end to end, against references computed in this file with polars and
NumPy from the logs themselves:

- per unit, the count of the event in its window (``where`` applied) and its exposure hours from its
  window start to the earlier of its window end and the data end (the as-of time, else the last
  event), so windows cut by the data end count only the hours observed: the engine's moments (n,
  means, variances, covariance of counts and hours) equal those of the polars per-unit values;
- ``iterate analyze``'s row equals the ratio-of-sums delta method worked out by hand (Deng et al.
  2018), with Welch-Satterthwaite degrees of freedom as the ``ratio`` kind;
- config errors name the key.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats

import iterate
from helpers import BASE, write_config, write_logs
from iterate.aggregation import build_spine, unit_metric_moments
from iterate.engines import open_engine
from iterate.errors import ConfigError
from iterate.ingest import prepare_logs

REL = 1e-9
HOUR_US = 3_600 * 1_000_000
UNITS = 600
METRICS = [
    {"name": "crash_rate", "type": "event_rate", "event": "crash", "role": "guardrail", "direction": "decrease"},
    {"name": "ios_crash_rate_1d", "type": "event_rate", "event": "crash", "window": "1d",
     "where": {"platform": "ios"}, "direction": "decrease"},
]


def simulated_logs(seed: int):
    """Units exposed over 4 days; each crashes as a Poisson process (treatment 1.5x) from 2 days
    before to 9 days after its exposure, on ios or android; a few exposed units never crash."""
    rng = np.random.default_rng(seed)
    base_us = int(np.datetime64(BASE, "us").astype(np.int64))
    exposure_us = base_us + rng.integers(0, 96 * HOUR_US, size=UNITS)
    treated = rng.random(UNITS) < 0.5
    counts = rng.poisson(np.where(treated, 4.5, 3.0))
    owners = np.repeat(np.arange(UNITS), counts)
    times = exposure_us[owners] + rng.integers(-48 * HOUR_US, 216 * HOUR_US, size=owners.size)
    users = np.array([f"u{i:04d}" for i in range(UNITS)])
    events = pl.DataFrame({
        "user_id": users[owners], "timestamp": times.astype("datetime64[us]"), "event": "crash",
        "platform": np.where(rng.random(owners.size) < 0.6, "ios", "android"),
    })
    other = pl.DataFrame({"user_id": users[:50], "timestamp": (exposure_us[:50] + HOUR_US).astype("datetime64[us]"),
                          "event": "app_open", "platform": "ios"})
    exposures = pl.DataFrame({"user_id": users, "experiment": "exp",
                              "variant": np.where(treated, "treatment", "control"),
                              "timestamp": exposure_us.astype("datetime64[us]")})
    return pl.concat([events, other]), exposures


def per_unit(events: pl.DataFrame, exposures: pl.DataFrame, *, window: timedelta, data_end: datetime,
             platform: str | None = None) -> pl.DataFrame:
    """Counts and exposure hours per unit, by polars: the units exposed by ``data_end``, events in
    ``[exposure, exposure + window)`` and at or before ``data_end``."""
    units = exposures.filter(pl.col("timestamp") <= data_end).select(
        "user_id", "variant", pl.col("timestamp").alias("start"))
    crashes = events.filter(pl.col("event") == "crash")
    if platform is not None:
        crashes = crashes.filter(pl.col("platform") == platform)
    counted = (crashes.join(units, on="user_id")
               .filter((pl.col("timestamp") >= pl.col("start")) & (pl.col("timestamp") < pl.col("start") + window)
                       & (pl.col("timestamp") <= data_end))
               .group_by("user_id").agg(pl.len().alias("count")))
    return (units.join(counted, on="user_id", how="left")
            .with_columns(pl.col("count").fill_null(0).cast(pl.Float64),
                          ((pl.min_horizontal(pl.col("start") + window, pl.lit(data_end)) - pl.col("start"))
                           .dt.total_microseconds().clip(lower_bound=0) / HOUR_US).alias("hours"))
            .sort("user_id"))


def hand_delta_method(control: pl.DataFrame, treatment: pl.DataFrame, alpha: float = 0.05) -> dict:
    """Ratio of sums per arm, delta-method variance ``(var_y - 2 r cov + r^2 var_x) / (n x_bar^2)``,
    Welch-Satterthwaite degrees of freedom, two-sided t interval and p-value."""
    arms = []
    for arm in (control, treatment):
        y, x = arm["count"].to_numpy(), arm["hours"].to_numpy()
        r = y.sum() / x.sum()
        cov = np.cov(y, x, ddof=1)
        var = (cov[0, 0] - 2 * r * cov[0, 1] + r * r * cov[1, 1]) / (y.size * x.mean() ** 2)
        arms.append((r, var, y.size))
    (rc, vc, nc), (rt, vt, nt) = arms
    se = math.sqrt(vc + vt)
    df = (vc + vt) ** 2 / (vc ** 2 / (nc - 1) + vt ** 2 / (nt - 1))
    effect = rt - rc
    half = stats.t.ppf(1 - alpha / 2, df) * se
    return {"control_mean": rc, "treatment_mean": rt, "effect": effect, "std_error": se,
            "ci_low": effect - half, "ci_high": effect + half, "p_value": 2 * stats.t.sf(abs(effect / se), df)}


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("event_rate")
    events, exposures = simulated_logs(5)
    write_logs(folder, events, exposures)
    return folder, events, exposures


@pytest.mark.parametrize("as_of", [BASE + timedelta(days=3, hours=7, minutes=30), None])
def test_engine_moments_equal_the_per_unit_counts_and_hours_from_polars(logs, as_of):
    folder, events, exposures = logs
    extra = {"pre_period": False, **({"as_of": as_of.isoformat()} if as_of else {})}
    experiment = iterate.load_config(write_config(folder, metrics=METRICS, window="7d", expected_split=None,
                                                  experiment_extra=extra))
    data_end = as_of or events["timestamp"].max()
    with open_engine() as con:
        prepared = prepare_logs(con, experiment, experiment.events, experiment.exposures)
        groups = unit_metric_moments(con, experiment, prepared, build_spine(con, experiment, prepared), None,
                                     data_end).groups
    expected = {
        "crash_rate": per_unit(events, exposures, window=timedelta(days=7), data_end=data_end),
        "ios_crash_rate_1d": per_unit(events, exposures, window=timedelta(days=1), data_end=data_end,
                                      platform="ios"),
    }
    week, day = expected["crash_rate"]["hours"].to_numpy(), expected["ios_crash_rate_1d"]["hours"].to_numpy()
    if as_of is not None:  # the as-of time cuts every week and some days
        assert (week < 7 * 24).all() and (week < 24).any() and (day == 24).any() and (day < 24).any()
    else:  # the last event is 9 days after the last exposure: every window is whole
        assert (week == 7 * 24).all() and (day == 24).all()
    checked = 0
    for group in (g for g in groups if g.segment is None):
        units = expected[group.metric].filter(pl.col("variant") == group.variant)
        y, x = units["count"].to_numpy(), units["hours"].to_numpy()
        m = group.moments
        assert m.n == y.size
        cov = np.cov(y, x, ddof=1)
        assert (m.numerator_mean, m.denominator_mean) == pytest.approx((y.mean(), x.mean()), rel=REL)
        assert (m.numerator_variance, m.denominator_variance, m.covariance) == pytest.approx(
            (cov[0, 0], cov[1, 1], cov[0, 1]), rel=1e-7)
        assert round(m.n * m.numerator_mean) == int(y.sum())
        checked += 1
    assert checked == 4


def test_analyze_equals_the_ratio_of_sums_delta_method_by_hand(logs):
    folder, events, exposures = logs
    as_of = BASE + timedelta(days=5)
    result = iterate.analyze(write_config(folder, metrics=METRICS, window="7d", expected_split=None,
                                          experiment_extra={"pre_period": False, "as_of": as_of.isoformat()}))
    for name, window, platform in (("crash_rate", timedelta(days=7), None),
                                   ("ios_crash_rate_1d", timedelta(days=1), "ios")):
        units = per_unit(events, exposures, window=window, data_end=as_of, platform=platform)
        hand = hand_delta_method(units.filter(pl.col("variant") == "control"),
                                 units.filter(pl.col("variant") == "treatment"))
        row = result.metrics.filter(pl.col("name") == name).to_dicts()[0]
        assert (row["type"], row["method"], row["status"]) == ("event_rate", "delta_ratio", "ok")
        for key, value in hand.items():
            assert row[key] == pytest.approx(value, rel=1e-7), key
    # the treatment crashes 1.5x as often per hour: the weekly rate shows it
    weekly = result.metrics.filter(pl.col("name") == "crash_rate").to_dicts()[0]
    assert weekly["treatment_mean"] / weekly["control_mean"] == pytest.approx(1.5, rel=0.15)
    assert weekly["outcome"] == "worse"


def test_event_rate_rejects_keys_it_does_not_read(tmp_path):
    metrics = [{"name": "r", "type": "event_rate", "event": "crash", "value": "value", "quantile": 0.5}]
    with pytest.raises(ConfigError) as error:
        iterate.load_config(write_config(tmp_path, metrics=metrics))
    text = str(error.value) + "".join(error.value.problems)
    assert "`value` only applies" in text and "`quantile` only applies" in text
