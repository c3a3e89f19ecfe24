"""The ``active_days`` metric kind end to end, against references computed in this file:

- a hand-built log whose per-unit day counts are written out by hand (same-date events, 23:59 /
  00:01, ISO offsets, window edges, other events, zeros, ``where``, ``exposure_delay``), the row
  checked against SciPy's Welch t-test on those arrays;
- a seeded generated log: per-unit active days (and pre-exposure active days) with polars, the
  engine's moments, CUPED against the OLS coefficient of ``y ~ T + y0`` (statsmodels);
- config errors through the CLI, ``iterate plan`` / ``iterate calibrate``, per-segment rows.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from click.testing import CliRunner
from scipy import stats

import iterate
from helpers import BASE, at, write_config, write_logs
from iterate.aggregation import build_spine, unit_metric_moments
from iterate.cli import main
from iterate.engines import open_engine
from iterate.ingest import prepare_logs

DAY_US = 86_400 * 1_000_000
WEEK = timedelta(days=7)
REL = 1e-9

# ------------------------------------------------------------------------------ hand-built log

# (unit, event, ISO timestamp, platform); every unit is first exposed on 2026-01-05 10:00 UTC
# (window [Jan 5 10:00, Jan 12 10:00)), except u09 (Jan 7 23:00) and u10 (also re-exposed Jan 8).
HAND_EVENTS = [
    ("u01", "session", "2026-01-05T11:00:00Z", "ios"), ("u01", "session", "2026-01-05T15:00:00Z", "android"),
    ("u01", "session", "2026-01-05T23:00:00Z", "ios"), ("u01", "purchase", "2026-01-06T12:00:00Z", "ios"),
    ("u02", "session", "2026-01-06T23:59:00Z", "ios"), ("u02", "session", "2026-01-07T00:01:00Z", "android"),
    # +03:00 -> Jan 5 22:30 UTC (local date Jan 6); -05:00 -> Jan 8 04:30 UTC (local date Jan 7)
    ("u03", "session", "2026-01-06T01:30:00+03:00", "ios"), ("u03", "session", "2026-01-05T23:30:00Z", "ios"),
    ("u03", "session", "2026-01-07T23:30:00-05:00", "android"), ("u03", "session", "2026-01-08T01:00:00Z", "android"),
    ("u04", "session", "2026-01-04T12:00:00Z", "ios"), ("u04", "session", "2026-01-05T09:59:00Z", "ios"),
    ("u04", "session", "2026-01-09T12:00:00Z", "ios"),
    ("u05", "session", "2026-01-05T10:00:00Z", "ios"), ("u05", "session", "2026-01-12T10:00:00Z", "ios"),
    ("u05", "session", "2026-01-12T23:00:00Z", "ios"),
    ("u07", "purchase", "2026-01-06T12:00:00Z", "ios"), ("u07", "purchase", "2026-01-07T12:00:00Z", "ios"),
    ("u08", "session", "2026-01-05T12:00:00Z", "ios"), ("u08", "session", "2026-01-05T13:00:00Z", "ios"),
    ("u08", "session", "2026-01-06T09:00:00Z", "android"), ("u08", "session", "2026-01-07T20:00:00Z", "ios"),
    ("u08", "session", "2026-01-08T08:00:00Z", "android"), ("u08", "session", "2026-01-08T09:00:00Z", "android"),
    ("u08", "session", "2026-01-10T18:00:00Z", "ios"),
    ("u09", "session", "2026-01-07T22:00:00Z", "ios"), ("u09", "session", "2026-01-07T23:30:00Z", "ios"),
    ("u09", "session", "2026-01-08T00:30:00Z", "android"), ("u09", "session", "2026-01-14T22:59:00Z", "ios"),
    ("u10", "session", "2026-01-05T20:00:00Z", "ios"), ("u10", "session", "2026-01-12T09:00:00Z", "ios"),
    ("u10", "session", "2026-01-13T09:00:00Z", "ios"),
    ("u11", "session", "2026-01-06T10:00:00Z", "android"), ("u11", "session", "2026-01-07T10:00:00Z", "android"),
    ("u11", "session", "2026-01-09T10:00:00Z", "ios"), ("u11", "session", "2026-01-09T11:00:00Z", "ios"),
    ("u12", "session", "2026-01-05T10:30:00Z", "ios"), ("u12", "session", "2026-01-05T22:00:00Z", "ios"),
    ("u12", "session", "2026-01-06T01:00:00Z", "ios"), ("u12", "session", "2026-01-07T01:00:00Z", "android"),
    ("u12", "session", "2026-01-11T23:59:59Z", "ios"),
]
CONTROL_UNITS = ["u01", "u03", "u05", "u07", "u09", "u11"]
TREATMENT_UNITS = ["u02", "u04", "u06", "u08", "u10", "u12"]
# Expected per-unit active days, worked out by hand from HAND_EVENTS (order of the lists above):
# u01 Jan5 x3 -> 1 | u03 Jan5 (22:30Z, 23:30Z), Jan8 (04:30Z, 01:00Z) -> 2 | u05 Jan5 10:00 (start
# included; Jan12 10:00 is the end, excluded) -> 1 | u07 purchases only -> 0 | u09 Jan7, Jan8, Jan14
# (22:00 is before its exposure) -> 3 | u11 Jan6, Jan7, Jan9 -> 3
# u02 23:59 / 00:01 -> 2 | u04 Jan9 (Jan4 and Jan5 09:59 before exposure) -> 1 | u06 no event -> 0
# u08 Jan5, 6, 7, 8, 10 -> 5 | u10 Jan5, Jan12 09:00 (Jan13 is after the first exposure's window) -> 2
# u12 Jan5, 6, 7, 11 -> 4
DAYS = ([1, 2, 1, 0, 3, 3], [2, 1, 0, 5, 2, 4])
# where platform = "ios": u01 Jan5 | u03 Jan5 | u05 Jan5 | u07 0 | u09 Jan7, Jan14 | u11 Jan9;
# u02 Jan6 | u04 Jan9 | u06 0 | u08 Jan5, 7, 10 | u10 Jan5, Jan12 | u12 Jan5, 6, 11
IOS_DAYS = ([1, 1, 1, 0, 2, 1], [1, 1, 0, 3, 2, 3])
# exposure_delay = "12h": windows [Jan5 22:00, Jan12 22:00) (u09: [Jan8 11:00, Jan15 11:00)):
# u01 Jan5 23:00 -> 1 | u03 -> 2 | u05 Jan12 10:00 -> 1 | u07 0 | u09 Jan14 -> 1 | u11 -> 3;
# u02 -> 2 | u04 -> 1 | u06 0 | u08 Jan6, 7, 8, 10 -> 4 | u10 Jan12 09:00 -> 1 | u12 Jan5 22:00 (start), 6, 7, 11 -> 4
DELAYED_DAYS = ([1, 2, 1, 0, 1, 3], [2, 1, 0, 4, 1, 4])


@pytest.fixture(scope="module")
def hand_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("active_days_hand")
    events = pl.DataFrame(HAND_EVENTS, schema=["user_id", "event", "timestamp", "platform"], orient="row")
    exposures = [{"user_id": u, "experiment": "exp", "variant": "control", "timestamp": at()} for u in CONTROL_UNITS]
    exposures += [{"user_id": u, "experiment": "exp", "variant": "treatment", "timestamp": at()} for u in TREATMENT_UNITS]
    for row in exposures:
        if row["user_id"] == "u09":
            row["timestamp"] = at(days=2, hours=13)
    exposures.append({"user_id": "u10", "experiment": "exp", "variant": "treatment", "timestamp": at(days=3)})
    write_logs(directory, events, exposures)
    return directory


HAND_METRICS = [
    {"name": "days", "type": "active_days", "event": "session"},
    {"name": "ios_days", "type": "active_days", "event": "session", "where": {"platform": "ios"}},
    {"name": "purchases", "type": "count", "event": "purchase"},
]


def row(result, name: str, variant: str = "treatment") -> dict:
    rows = result.metrics.filter((pl.col("name") == name) & (pl.col("variant") == variant)).to_dicts()
    assert len(rows) == 1, rows
    return rows[0]


def assert_welch(r: dict, control, treatment) -> None:
    c, t = np.asarray(control, dtype=float), np.asarray(treatment, dtype=float)
    assert (r["n_control"], r["n_treatment"]) == (c.size, t.size)
    assert r["control_mean"] == pytest.approx(c.mean(), rel=REL)
    assert r["treatment_mean"] == pytest.approx(t.mean(), rel=REL)
    test = stats.ttest_ind(t, c, equal_var=False)
    vc, vt = c.var(ddof=1) / c.size, t.var(ddof=1) / t.size
    df = (vc + vt) ** 2 / (vc**2 / (c.size - 1) + vt**2 / (t.size - 1))
    half = stats.t.ppf(0.975, df) * math.sqrt(vc + vt)
    effect = t.mean() - c.mean()
    interval = test.confidence_interval(0.95)
    assert r["effect"] == pytest.approx(effect, rel=REL)
    assert r["std_error"] == pytest.approx(math.sqrt(vc + vt), rel=REL)
    assert r["p_value"] == pytest.approx(test.pvalue, rel=REL)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((interval.low, interval.high), rel=REL)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((effect - half, effect + half), rel=REL)


def test_hand_built_log_per_unit_days_and_welch(hand_dir) -> None:
    result = iterate.analyze(write_config(hand_dir, "hand.toml", metrics=HAND_METRICS))
    days = row(result, "days")
    assert days["type"] == "active_days" and days["method"] != "cuped"
    assert_welch(days, *DAYS)
    assert_welch(row(result, "ios_days"), *IOS_DAYS)
    assert_welch(row(result, "purchases"), [1, 0, 0, 2, 0, 0], [0] * 6)  # the other event, read by its own metric

    delayed = iterate.analyze(write_config(hand_dir, "delayed.toml", metrics=HAND_METRICS[:1],
                                           experiment_extra={"exposure_delay": "12h"}))
    assert_welch(row(delayed, "days"), *DELAYED_DAYS)


# ------------------------------------------------------------------------------ generated log


def generate_logs(seed: int = 20260105, n: int = 2000, lift: float = 0.35):
    """Sessions (repeated in bursts within the hour) 15 days before to 14 days after a first exposure
    spread over 3 days; treatment multiplies the post-exposure rate by 1 + lift. A few idle units."""
    rng = np.random.default_rng(seed)
    users = np.array([f"a{i:05d}" for i in range(n)])
    treated = rng.random(n) < 0.5
    base_us = int(np.datetime64(BASE, "us").astype(np.int64))
    exposed = base_us + rng.integers(0, 3 * DAY_US, size=n)
    rate = rng.gamma(1.5, 0.4, size=n) * (rng.random(n) > 0.04)
    ids, times, names = [], [], []

    def add(unit_index, stamps, name):
        ids.append(users[unit_index])
        times.append(np.asarray(stamps, dtype=np.int64))
        names.append(np.full(len(unit_index), name))

    for low, high, factor in ((-15, 0, np.ones(n)), (0, 14, np.where(treated, 1 + lift, 1.0))):
        counts = rng.poisson(rate * factor * (high - low))
        owner = np.repeat(np.arange(n), counts)
        starts = exposed[owner] + rng.integers(low * DAY_US, high * DAY_US, size=owner.size)
        repeat = 1 + rng.poisson(0.8, size=owner.size)
        burst = np.repeat(starts, repeat) + rng.integers(0, 3_600_000_000, size=int(repeat.sum()))
        add(np.repeat(owner, repeat), burst, "session")
        purchases = rng.poisson(0.1 * rate * (high - low))
        owner = np.repeat(np.arange(n), purchases)
        add(owner, exposed[owner] + rng.integers(low * DAY_US, high * DAY_US, size=owner.size), "purchase")
    edge = np.arange(30)  # window and pre-period boundaries
    for offset in (0, 7 * DAY_US, -7 * DAY_US, -7 * DAY_US - 1, -14 * DAY_US, -14 * DAY_US - 1):
        add(edge, exposed[edge] + offset, "session")
    events = pl.DataFrame({"user_id": np.concatenate(ids), "event": np.concatenate(names),
                           "timestamp": np.concatenate(times).astype("datetime64[us]")})
    exposures = pl.DataFrame({
        "user_id": users, "experiment": "exp", "variant": np.where(treated, "treatment", "control"),
        "timestamp": exposed.astype("datetime64[us]"), "platform": np.where(rng.random(n) < 0.4, "ios", "android"),
    })
    return events.sample(fraction=1.0, shuffle=True, seed=seed), exposures


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    directory = tmp_path_factory.mktemp("active_days_big")
    events, exposures = generate_logs()
    write_logs(directory, events, exposures)
    return directory, events, exposures


def active_days(events: pl.DataFrame, units: pl.DataFrame, start: timedelta, end: timedelta, name: str,
                anchor: str = "fe") -> pl.DataFrame:
    """Distinct UTC dates of ``session`` in [anchor + start, anchor + end) per unit, 0 without any."""
    days = (events.filter(pl.col("event") == "session").join(units.select("user_id", anchor), on="user_id")
            .filter((pl.col("timestamp") >= pl.col(anchor) + start) & (pl.col("timestamp") < pl.col(anchor) + end))
            .group_by("user_id").agg(pl.col("timestamp").dt.date().n_unique().cast(pl.Float64).alias(name)))
    return units.join(days, on="user_id", how="left").with_columns(pl.col(name).fill_null(0.0))


def unit_table(events: pl.DataFrame, exposures: pl.DataFrame) -> pl.DataFrame:
    units = exposures.rename({"timestamp": "fe"}).with_columns(T=(pl.col("variant") == "treatment").cast(pl.Float64))
    units = active_days(events, units, timedelta(0), WEEK, "y")
    units = active_days(events, units, -WEEK, timedelta(0), "y0")
    return active_days(events, units, -2 * WEEK, timedelta(0), "y14").sort("user_id")


def split(table: pl.DataFrame, column: str):
    return tuple(table.filter(pl.col("variant") == v)[column].to_numpy() for v in ("control", "treatment"))


BIG_METRICS = [
    {"name": "days7", "type": "active_days", "event": "session", "cuped": "7d"},
    {"name": "days14", "type": "active_days", "event": "session", "cuped": "14d"},
    {"name": "days", "type": "active_days", "event": "session"},
]


def test_generated_log_moments_and_cuped_equal_ols(big) -> None:
    directory, events, exposures = big
    table = unit_table(events, exposures)
    assert table.filter(pl.col("y") == 0).height > 50 and np.corrcoef(table["y"], table["y0"])[0, 1] > 0.4
    config = write_config(directory, "cuped.toml", metrics=BIG_METRICS)
    result = iterate.analyze(config)
    (yc, yt), (pc, pt) = split(table, "y"), split(table, "y0")
    assert_welch(row(result, "days"), yc, yt)

    experiment = iterate.load_config(config)
    with open_engine() as con:
        logs = prepare_logs(con, experiment, experiment.events, experiment.exposures)
        groups = unit_metric_moments(con, experiment, logs, build_spine(con, experiment, logs), None, None).groups
    for g in (g for g in groups if g.metric == "days7" and g.segment is None):
        y, y0 = (yc, pc) if g.variant == "control" else (yt, pt)
        assert g.moments.n == y.size
        assert (g.moments.numerator_mean, g.moments.numerator_variance) == pytest.approx((y.mean(), y.var(ddof=1)), rel=REL)
        assert (g.pre_moments.numerator_mean, g.pre_moments.numerator_variance) == pytest.approx(
            (y0.mean(), y0.var(ddof=1)), rel=REL)

    for name, pre in (("days7", "y0"), ("days14", "y14")):
        fit = sm.OLS(table["y"].to_numpy(), sm.add_constant(table.select("T", pre).to_pandas())).fit()
        theta = float(fit.params[pre])
        ac, at_ = split(table.with_columns(a=pl.col("y") - theta * pl.col(pre)), "a")
        unadjusted = math.sqrt(yc.var(ddof=1) / yc.size + yt.var(ddof=1) / yt.size)
        r = row(result, name)
        assert r["method"] == "cuped"
        assert r["effect"] == pytest.approx(float(fit.params["T"]), rel=REL)
        assert r["std_error"] == pytest.approx(math.sqrt(ac.var(ddof=1) / ac.size + at_.var(ddof=1) / at_.size), rel=REL)
        assert r["unadjusted_effect"] == pytest.approx(yt.mean() - yc.mean(), rel=REL)
        assert r["unadjusted_std_error"] == pytest.approx(unadjusted, rel=REL)
        assert r["variance_reduction"] > 0.05
        assert r["variance_reduction"] == pytest.approx(1 - (r["std_error"] / r["unadjusted_std_error"]) ** 2, rel=REL)
    assert row(result, "days7")["effect"] != pytest.approx(row(result, "days14")["effect"], rel=1e-6)

    check = next(c for c in result.checks if c.name == "pre_exposure_imbalance")
    assert check.passed and check.details["tests"] == len(BIG_METRICS)
    p_pre = stats.ttest_ind(pt, pc, equal_var=False).pvalue
    assert p_pre > check.details["threshold"]


def test_generated_log_segments(big) -> None:
    directory, events, exposures = big
    table = unit_table(events, exposures)
    config = write_config(directory, "segments.toml", metrics=BIG_METRICS[2:],
                          experiment_extra={"segments": ["platform"]})
    rows = iterate.analyze(config).segments.filter(pl.col("name") == "days").to_dicts()
    assert sorted(r["segment_value"] for r in rows) == ["android", "ios"]
    for r in rows:
        assert r["segment"] == "platform"
        assert_welch(r, *split(table.filter(pl.col("platform") == r["segment_value"]), "y"))


def test_plan_and_calibrate(big) -> None:
    directory, events, _ = big
    config = write_config(directory, "plan.toml", metrics=BIG_METRICS[2:] + [
        {"name": "purchases", "type": "count", "event": "purchase", "role": "guardrail"}])
    plan = iterate.plan(config, mde=0.05)
    # baseline (iterate/planning.py): the last 14 days before the data end; each user active in
    # [start, end - 7d) is a unit first "exposed" at their first event (any event) there
    end = events["timestamp"].max()
    start = max(events["timestamp"].min(), end - timedelta(days=14))
    units = (events.filter((pl.col("timestamp") >= start) & (pl.col("timestamp") < end - WEEK))
             .group_by("user_id").agg(fe=pl.col("timestamp").min()))
    y = active_days(events.filter(pl.col("timestamp") <= end), units, timedelta(0), WEEK, "y")["y"].to_numpy()
    m = next(p for p in plan.metrics if p.name == "days")
    assert m.type == "active_days" and m.units == y.size
    assert m.mean == pytest.approx(y.mean(), rel=1e-12)
    assert m.std_dev == pytest.approx(y.std(ddof=1), rel=REL)
    z = stats.norm.ppf(1 - 0.05 / 2) + stats.norm.ppf(0.8)
    closed = z**2 * 2 * y.var(ddof=1) / (0.05 * y.mean()) ** 2
    assert m.units_per_arm > 0 and abs(m.units_per_arm - closed) <= 1
    assert plan.units_per_arm == m.units_per_arm

    calibration = iterate.calibrate(config, replicates=20)
    rate = next(r for r in calibration.metrics if r.name == "days")
    assert rate.replicates == 20 and 0 <= rate.significant <= 20
    assert rate.rate == pytest.approx(rate.significant / 20) and rate.ci_low <= rate.rate <= rate.ci_high


# ------------------------------------------------------------------------------ config errors


def cli_problem(directory, metric) -> str:
    """``iterate analyze`` on a config with one metric; asserts exit code 2 and returns the output."""
    config = write_config(directory, "bad.toml", metrics=[{"name": "days", "event": "session", **metric}])
    outcome = CliRunner().invoke(main, ["analyze", str(config)])
    assert outcome.exit_code == 2, outcome.output
    assert "Traceback" not in outcome.output
    return outcome.output


def test_value_does_not_apply(hand_dir) -> None:
    output = cli_problem(hand_dir, {"type": "active_days", "value": "x"})
    assert '(days): `value` only applies to type = "mean" or "quantile"' in output


def test_cap_does_not_apply(hand_dir) -> None:
    output = cli_problem(hand_dir, {"type": "active_days", "cap": 10})
    assert '(days): cap does not apply to type = "active_days"' in output


def test_cap_message_names_the_kinds_it_applies_to(hand_dir) -> None:
    output = cli_problem(hand_dir, {"type": "active_days", "cap": 10})
    assert all(f'"{kind}"' in output for kind in ("mean", "count", "ratio", "time_to_event")), output


def test_type_typo_suggests_active_days(hand_dir) -> None:
    assert "type == 'active_day'" in (output := cli_problem(hand_dir, {"type": "active_day"}))
    assert "did you mean `active_days`?" in output
