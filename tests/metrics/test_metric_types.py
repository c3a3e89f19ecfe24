"""The metric catalogue end to end through ``iterate.analyze``, each type against a reference
computed in this file with polars / NumPy / scipy / statsmodels on a seeded generated log:

- ratio (purchases per view; revenue per order): delta method on per-unit sums (Deng et al. 2018);
- quantile (p50, p95 of page-load times, several events per unit with a unit random effect):
  the sample quantile (linear interpolation) per arm, the clustered interval of Liu et al. (2019)
  recomputed by hand, and its standard error against a bootstrap over units;
- retention day N and days [a, b], with units whose last day is not observable left out;
- time to event (hours from window start to the first event, among units that did it);
- a metric's own window against the experiment's;
- capping at a fixed value and at a pooled percentile;
- A/B/n with Holm, Bonferroni and Benjamini-Hochberg corrections, and verdicts on adjusted p-values.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

import iterate
from helpers import BASE, write_config, write_logs
from iterate.aggregation import build_spine, quantile_summaries
from iterate.config import load_config
from iterate.engines import open_engine
from iterate.ingest import prepare_logs

DAY = 86_400
WINDOW = timedelta(days=7)
ALPHA = 0.05
Z = float(stats.norm.ppf(1 - ALPHA / 2))
BASE64 = np.datetime64(BASE, "us")

METRICS = (
    {"name": "purchases_per_view", "type": "ratio", "numerator": {"event": "purchase"}, "denominator": {"event": "view"}},
    {"name": "revenue_per_order", "type": "ratio", "numerator": {"event": "order", "value": "value"},
     "denominator": {"event": "order"}},
    {"name": "load_p50", "type": "quantile", "event": "page_load", "value": "value", "quantile": 0.5,
     "direction": "decrease"},
    {"name": "load_p95", "type": "quantile", "event": "page_load", "value": "value", "quantile": 0.95,
     "direction": "decrease"},
    {"name": "retained_d3", "type": "retention", "event": "app_open", "day": 3},
    {"name": "retained_d5_7", "type": "retention", "event": "app_open", "days": [5, 7]},
    {"name": "hours_to_signup", "type": "time_to_event", "event": "signup", "direction": "decrease"},
    {"name": "converted_1d", "type": "proportion", "event": "purchase", "window": "1d"},
    {"name": "converted_7d", "type": "proportion", "event": "purchase"},
    {"name": "revenue_cap50", "type": "mean", "event": "purchase", "value": "value", "cap": 50},
    {"name": "revenue_cap95", "type": "mean", "event": "purchase", "value": "value", "cap": {"percentile": 0.95}},
    {"name": "revenue_raw", "type": "mean", "event": "purchase", "value": "value"},
)


def stamps(seconds) -> np.ndarray:
    """``BASE`` plus whole seconds, as datetime64[us]."""
    return BASE64 + np.round(np.asarray(seconds, dtype=float)).astype(np.int64).astype("timedelta64[s]")


def _events(rng, owner, offsets, name, value=None) -> pl.DataFrame:
    return pl.DataFrame({
        "user_id": owner,
        "timestamp": stamps(offsets),
        "event": np.full(len(owner), name),
        "value": np.full(len(owner), np.nan) if value is None else np.asarray(value, dtype=float),
    }).with_columns(pl.col("value").fill_nan(None))


def generate_logs(seed: int = 20260105, units: int = 2400) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A log with every metric's events; treatment lifts activity a little. Data end is day 21."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"u{i:05d}" for i in range(units)])
    treated = rng.random(units) < 0.5
    variant = np.where(treated, "treatment", "control")
    exposed = np.round(rng.uniform(0, 20 * DAY, size=units))
    again = rng.random(units) < 0.2  # repeated exposures to the same variant: the window starts at the first
    exposures = pl.DataFrame({
        "user_id": np.concatenate([ids, ids[again]]),
        "experiment": "exp",
        "variant": np.concatenate([variant, variant[again]]),
        "timestamp": stamps(np.concatenate([exposed, exposed[again] + rng.uniform(3600, 3 * DAY, again.sum())])),
    })

    activity = rng.gamma(2.0, 1.5, size=units) * np.where(treated, 1.1, 1.0)
    frames = []

    def per_unit(rate, name, low=-2 * DAY, high=10 * DAY, value=None):
        counts = rng.poisson(rate)
        owner = np.repeat(np.arange(units), counts)
        offsets = exposed[owner] + rng.uniform(low, high, size=owner.size)
        frames.append(_events(rng, ids[owner], offsets, name, None if value is None else value(owner)))

    per_unit(activity * 3.0, "view")
    per_unit(activity * 0.35 * np.where(treated, 1.15, 1.0), "purchase",
             value=lambda owner: rng.lognormal(3.0, 1.0, size=owner.size))
    per_unit(activity * 0.5, "order", value=lambda owner: rng.lognormal(3.5, 0.8, size=owner.size)
             * np.where(treated[owner], 1.05, 1.0))
    # page loads: a unit random effect (slow devices) and a faster treatment
    slowness = rng.normal(0.0, 0.5, size=units)
    per_unit(activity * 2.0, "page_load", low=0, high=9 * DAY,
             value=lambda owner: 200.0 * np.exp(slowness[owner] + rng.normal(0, 0.4, owner.size))
             * np.where(treated[owner], 0.95, 1.0))
    # app opens: each unit active on each day after exposure with its own probability
    active_p = rng.beta(2, 3, size=units) * np.where(treated, 1.1, 1.0)
    days = np.arange(0, 11)
    active = rng.random((units, days.size)) < active_p[:, None]
    unit_index, day_index = np.nonzero(active)
    frames.append(_events(rng, ids[unit_index], exposed[unit_index] + days[day_index] * DAY
                          + rng.uniform(0, DAY, unit_index.size), "app_open"))
    # signups: some before exposure, most after; a unit may sign up twice (the first counts)
    signs = rng.random(units) < np.where(treated, 0.45, 0.40)
    owner = np.repeat(np.nonzero(signs)[0], rng.integers(1, 3, size=signs.sum()))
    offsets = exposed[owner] + np.where(rng.random(owner.size) < 0.1, -rng.uniform(0, DAY, owner.size),
                                        rng.exponential(np.where(treated[owner], 40, 48) * 3600.0))
    frames.append(_events(rng, ids[owner], offsets, "signup"))

    events = pl.concat(frames).filter(pl.col("timestamp") <= stamps(21 * DAY)[()])
    return events.sample(fraction=1.0, shuffle=True, seed=seed), exposures


# --------------------------------------------------------------------------------------------
# reference helpers (polars / NumPy)


def analyzed_units(exposures: pl.DataFrame) -> pl.DataFrame:
    """One row per unit exposed to exactly one variant: user_id, variant, first (exposure)."""
    return (
        exposures.group_by("user_id")
        .agg(first=pl.col("timestamp").min(), variants=pl.col("variant").n_unique(), variant=pl.col("variant").first())
        .filter(pl.col("variants") == 1)
        .drop("variants")
        .sort("user_id")
    )


def unit_values(events, units, event, *, start=timedelta(0), end=WINDOW, value=None, how="sum", where=None):
    """Per-unit aggregate of ``event`` in [first + start, first + end) (``end`` None: open), left-joined
    on ``units`` (units without events get 0 for sums, null for ``how="first"``)."""
    selected = events.filter(pl.col("event") == event)
    if where is not None:
        selected = selected.filter(where)
    joined = selected.join(units.select("user_id", "first"), on="user_id")
    in_range = pl.col("timestamp") >= pl.col("first") + start
    if end is not None:
        in_range &= pl.col("timestamp") < pl.col("first") + end
    joined = joined.filter(in_range)
    if how == "first":
        aggregate = pl.col("timestamp").min().alias("y")
    elif value is not None:
        aggregate = pl.col(value).sum().alias("y")
    else:
        aggregate = pl.len().cast(pl.Float64).alias("y")
    per_unit = joined.group_by("user_id").agg(aggregate)
    out = units.join(per_unit, on="user_id", how="left")
    if how != "first":
        out = out.with_columns(pl.col("y").cast(pl.Float64).fill_null(0.0))
    return out


def arms(frame: pl.DataFrame, column: str = "y", control: str = "control", treatment: str = "treatment"):
    """NumPy arrays of ``column`` for control and treatment."""
    return (frame.filter(pl.col("variant") == control)[column].to_numpy().astype(float),
            frame.filter(pl.col("variant") == treatment)[column].to_numpy().astype(float))


def row(result, metric, variant="treatment"):
    rows = result.metrics.filter((pl.col("name") == metric) & (pl.col("variant") == variant)).to_dicts()
    assert len(rows) == 1, f"expected one row for {metric}/{variant}, got {rows}"
    return rows[0]


def welch_reference(control: np.ndarray, treatment: np.ndarray) -> dict[str, float]:
    """Welch's t test by scipy, with its standard error and interval."""
    test = stats.ttest_ind(treatment, control, equal_var=False)
    se = math.sqrt(control.var(ddof=1) / control.size + treatment.var(ddof=1) / treatment.size)
    effect = treatment.mean() - control.mean()
    interval = test.confidence_interval(1 - ALPHA)
    return {"effect": effect, "std_error": se, "p_value": test.pvalue, "ci_low": interval.low, "ci_high": interval.high}


def delta_ratio_reference(y_c, x_c, y_t, x_t) -> dict[str, float]:
    """Delta-method ratio comparison by hand: Var(r) = var(y - r x, ddof=1) / (n mean(x)^2) per arm,
    Welch-Satterthwaite degrees of freedom on the two variances, t interval and p-value."""
    def arm(y, x):
        r = y.sum() / x.sum()
        return r, np.var(y - r * x, ddof=1) / (y.size * x.mean() ** 2), y.size

    r_c, v_c, n_c = arm(y_c, x_c)
    r_t, v_t, n_t = arm(y_t, x_t)
    se = math.sqrt(v_c + v_t)
    df = (v_c + v_t) ** 2 / (v_c**2 / (n_c - 1) + v_t**2 / (n_t - 1))
    effect = r_t - r_c
    half = stats.t.ppf(1 - ALPHA / 2, df) * se
    return {"control_mean": r_c, "treatment_mean": r_t, "effect": effect, "std_error": se,
            "ci_low": effect - half, "ci_high": effect + half, "p_value": 2 * stats.t.sf(abs(effect / se), df)}


# --------------------------------------------------------------------------------------------
# one analysis of every metric type


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    path = tmp_path_factory.mktemp("metric_types")
    events, exposures = generate_logs()
    write_logs(path, events, exposures)
    config = write_config(path, metrics=METRICS)
    return {"path": path, "config": config, "events": events, "exposures": exposures,
            "units": analyzed_units(exposures), "result": iterate.analyze(config)}


def test_generated_log_exercises_the_rules(experiment):
    """Guard on the generator: repeated exposures, pre-exposure events, late units for retention."""
    events, exposures, units = experiment["events"], experiment["exposures"], experiment["units"]
    assert exposures.height > units.height
    before = events.join(units, on="user_id").filter(pl.col("timestamp") < pl.col("first"))
    assert before.height > 1000
    data_end = events["timestamp"].max()
    late = units.filter(pl.col("first") + timedelta(days=8) > data_end).height
    assert 200 < late < units.height / 2
    assert dict(experiment["result"].units) == dict(units.group_by("variant").len().iter_rows())


@pytest.mark.parametrize(
    ("metric", "numerator", "denominator"),
    [("purchases_per_view", ("purchase", None), ("view", None)),
     ("revenue_per_order", ("order", "value"), ("order", None))],
)
def test_ratio_equals_hand_delta_method(experiment, metric, numerator, denominator):
    events, units = experiment["events"], experiment["units"]
    y = unit_values(events, units, numerator[0], value=numerator[1]).rename({"y": "num"})
    x = unit_values(events, units, denominator[0], value=denominator[1]).select("user_id", pl.col("y").alias("den"))
    per_unit = y.join(x, on="user_id")
    y_c, y_t = arms(per_unit, "num")
    x_c, x_t = arms(per_unit, "den")
    expected = delta_ratio_reference(y_c, x_c, y_t, x_t)

    r = row(experiment["result"], metric)
    assert r["method"] == "delta_ratio" and r["status"] == "ok"
    assert (r["n_control"], r["n_treatment"]) == (y_c.size, y_t.size)
    # point estimates: ratio of sums, exactly
    assert r["control_mean"] == pytest.approx(y_c.sum() / x_c.sum(), rel=1e-12)
    assert r["treatment_mean"] == pytest.approx(y_t.sum() / x_t.sum(), rel=1e-12)
    assert r["effect"] == pytest.approx(expected["effect"], rel=1e-10)
    assert r["std_error"] == pytest.approx(expected["std_error"], rel=1e-9)
    for key in ("ci_low", "ci_high", "p_value"):
        assert r[key] == pytest.approx(expected[key], rel=1e-8), key


def test_ratio_of_equal_sides_is_one_with_zero_variance(tmp_path):
    """Numerator and denominator from the same events: every unit's ratio is 1, nothing to test."""
    rng = np.random.default_rng(3)
    ids = [f"u{i}" for i in range(40)]
    exposures = pl.DataFrame({"user_id": ids, "experiment": "exp", "variant": ["control", "treatment"] * 20,
                              "timestamp": stamps(np.zeros(40))})
    owner = np.repeat(np.arange(40), rng.integers(1, 5, size=40))
    events = _events(rng, np.array(ids)[owner], rng.uniform(0, DAY, owner.size), "view")
    write_logs(tmp_path, events, exposures)
    metrics = [{"name": "views_per_view", "type": "ratio", "numerator": {"event": "view"}, "denominator": {"event": "view"}}]
    r = row(iterate.analyze(write_config(tmp_path, metrics=metrics)), "views_per_view")
    assert (r["control_mean"], r["treatment_mean"], r["effect"]) == (1.0, 1.0, 0.0)
    assert r["status"] == "zero_variance" and r["p_value"] is None


# --------------------------------------------------------------------------------------------
# quantiles


def page_loads(experiment) -> pl.DataFrame:
    """page_load values of analyzed units in their window, with unit and variant."""
    return (
        experiment["events"].filter((pl.col("event") == "page_load") & pl.col("value").is_not_null())
        .join(experiment["units"], on="user_id")
        .filter((pl.col("timestamp") >= pl.col("first")) & (pl.col("timestamp") < pl.col("first") + WINDOW))
        .select("user_id", "variant", "value")
    )


def clustered_quantile_reference(frame: pl.DataFrame, p: float) -> dict[str, float]:
    """Liu et al. (2019) by hand: sample quantile, delta-method rank sigma from per-unit (B_i, N_i),
    quantile function at p -/+ z sigma, standard error (upper - lower) / (2 z)."""
    values = frame["value"].to_numpy()
    q = float(np.quantile(values, p))  # linear interpolation, as DuckDB's quantile_cont
    per_unit = frame.group_by("user_id").agg(b=(pl.col("value") <= q).sum().cast(pl.Float64),
                                             n=pl.len().cast(pl.Float64))
    b, n = per_unit["b"].to_numpy(), per_unit["n"].to_numpy()
    p_hat = b.sum() / n.sum()
    sigma = math.sqrt(np.var(b - p_hat * n, ddof=1) / (b.size * n.mean() ** 2))
    lower = float(np.quantile(values, max(0.0, p - Z * sigma)))
    upper = float(np.quantile(values, min(1.0, p + Z * sigma)))
    return {"estimate": q, "units": b.size, "events": int(n.sum()), "lower": lower, "upper": upper,
            "std_error": (upper - lower) / (2 * Z)}


def bootstrap_se(frame: pl.DataFrame, p: float, reps: int, rng) -> float:
    """Standard deviation of the sample quantile over resamples of units (with all their events)."""
    ordered = frame.sort("user_id")
    values = ordered["value"].to_numpy()
    sizes = ordered.group_by("user_id", maintain_order=True).len()["len"].to_numpy().astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    estimates = np.empty(reps)
    for i in range(reps):
        pick = rng.integers(0, sizes.size, size=sizes.size)
        lengths = sizes[pick]
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        index = np.repeat(starts[pick] - offsets, lengths) + np.arange(lengths.sum())
        estimates[i] = np.quantile(values[index], p)
    return float(estimates.std(ddof=1))


@pytest.mark.parametrize(("metric", "p"), [("load_p50", 0.5), ("load_p95", 0.95)])
def test_quantile_estimate_and_clustered_interval(experiment, metric, p):
    loads = page_loads(experiment)
    control = clustered_quantile_reference(loads.filter(pl.col("variant") == "control"), p)
    treatment = clustered_quantile_reference(loads.filter(pl.col("variant") == "treatment"), p)
    assert loads.group_by("user_id").len()["len"].mean() > 3  # clustered: several events per unit

    r = row(experiment["result"], metric)
    assert r["method"] == "clustered_quantile" and r["status"] == "ok"
    assert (r["n_control"], r["n_treatment"]) == (control["units"], treatment["units"])
    assert r["control_mean"] == pytest.approx(control["estimate"], rel=1e-12)
    assert r["treatment_mean"] == pytest.approx(treatment["estimate"], rel=1e-12)
    assert r["effect"] == pytest.approx(treatment["estimate"] - control["estimate"], rel=1e-10)
    se = math.hypot(control["std_error"], treatment["std_error"])
    assert r["std_error"] == pytest.approx(se, rel=1e-9)
    effect = treatment["estimate"] - control["estimate"]
    assert r["ci_low"] == pytest.approx(effect - Z * se, rel=1e-9)
    assert r["ci_high"] == pytest.approx(effect + Z * se, rel=1e-9)
    assert r["p_value"] == pytest.approx(2 * stats.norm.sf(abs(effect) / se), rel=1e-8)


@pytest.mark.parametrize(("metric", "p"), [("load_p50", 0.5), ("load_p95", 0.95)])
def test_quantile_standard_error_agrees_with_unit_bootstrap(experiment, metric, p):
    loads = page_loads(experiment)
    exp = load_config(experiment["config"])
    with open_engine() as con:
        logs = prepare_logs(con, exp, exp.events, exp.exposures)
        spine = build_spine(con, exp, logs)
        summaries = quantile_summaries(con, exp, logs, spine, ("control", "treatment"),
                                       next(m for m in exp.metrics if m.name == metric))
    rng = np.random.default_rng(11)
    bootstrap = {}
    for variant, summary in summaries.items():
        arm = loads.filter(pl.col("variant") == variant)
        reference = clustered_quantile_reference(arm, p)
        assert (summary.n_units, summary.n_events) == (reference["units"], reference["events"])
        assert summary.lower == pytest.approx(reference["lower"], rel=1e-12)
        assert summary.upper == pytest.approx(reference["upper"], rel=1e-12)
        bootstrap[variant] = bootstrap_se(arm, p, reps=300, rng=rng)
        assert summary.std_error == pytest.approx(bootstrap[variant], rel=0.30), variant
    r = row(experiment["result"], metric)
    assert r["std_error"] == pytest.approx(math.hypot(*bootstrap.values()), rel=0.30)


def test_quantile_standard_error_reflects_clustering(experiment):
    """With a unit random effect the clustered standard error is wider than the i.i.d. one
    (sqrt(p (1 - p) / N) / density): the events of a unit are not independent."""
    loads = page_loads(experiment).filter(pl.col("variant") == "control")
    values = loads["value"].to_numpy()
    reference = clustered_quantile_reference(loads, 0.5)
    sigma_iid = math.sqrt(0.25 / values.size)
    iid_se = (np.quantile(values, 0.5 + Z * sigma_iid) - np.quantile(values, 0.5 - Z * sigma_iid)) / (2 * Z)
    assert reference["std_error"] > 1.3 * iid_se


# --------------------------------------------------------------------------------------------
# retention


@pytest.mark.parametrize(("metric", "first", "last"), [("retained_d3", 3, 3), ("retained_d5_7", 5, 7)])
def test_retention_by_hand(experiment, metric, first, last):
    events, units = experiment["events"], experiment["units"]
    data_end = events["timestamp"].max()
    active = unit_values(events, units, "app_open", start=timedelta(days=first), end=timedelta(days=last + 1))
    observable = active.filter(pl.col("first") + timedelta(days=last + 1) <= data_end)
    control, treatment = arms(observable.with_columns(pl.col("y").gt(0).cast(pl.Float64)))
    missing = active.filter(pl.col("first") + timedelta(days=last + 1) > data_end).group_by("variant").len()
    missing = dict(missing.iter_rows())

    r = row(experiment["result"], metric)
    assert r["method"] == "two_proportion_z"
    assert (r["n_control"], r["n_treatment"]) == (control.size, treatment.size)
    assert r["control_mean"] == pytest.approx(control.mean(), rel=1e-12)
    assert r["treatment_mean"] == pytest.approx(treatment.mean(), rel=1e-12)
    successes = np.array([treatment.sum(), control.sum()])
    _, p_value = proportions_ztest(successes, np.array([treatment.size, control.size]))
    assert r["p_value"] == pytest.approx(p_value, rel=1e-8)
    assert missing["control"] > 50 and missing["treatment"] > 50
    assert (r["n_control"] + missing["control"], r["n_treatment"] + missing["treatment"]) == tuple(
        units.filter(pl.col("variant") == v).height for v in ("control", "treatment"))
    assert (r["missing_control"], r["missing_treatment"]) == (missing["control"], missing["treatment"])


@pytest.mark.parametrize("metric", ["retained_d3", "retained_d5_7"])
def test_retention_missing_units_counts_both_arms(experiment, metric):
    """The units left out of the comparison (their retention days are not observable yet) are those
    of both arms: n_control + n_treatment + missing_units = exposed units, split per arm."""
    last = {"retained_d3": 3, "retained_d5_7": 7}[metric]
    units, data_end = experiment["units"], experiment["events"]["timestamp"].max()
    late = units.filter(pl.col("first") + timedelta(days=last + 1) > data_end)
    by_arm = dict(late.group_by("variant").len().iter_rows())
    r = row(experiment["result"], metric)
    assert (r["missing_control"], r["missing_treatment"]) == (by_arm["control"], by_arm["treatment"])
    assert r["missing_units"] == late.height
    assert r["n_control"] + r["n_treatment"] + r["missing_units"] == units.height


def retention_reference(events, units, data_end, first, last):
    """Per-arm 0/1 activity on days [first, last] of units whose last day ends by ``data_end``."""
    active = unit_values(events, units, "app_open", start=timedelta(days=first), end=timedelta(days=last + 1))
    observable = active.filter(pl.col("first") + timedelta(days=last + 1) <= data_end)
    return arms(observable.with_columns(pl.col("y").gt(0).cast(pl.Float64)))


def test_retention_as_of_is_the_data_end(tmp_path, experiment):
    """With ``as_of`` the data end is the as-of time: later exposures and events are ignored and a
    unit's day is observable only if it ended by then."""
    events, exposures = experiment["events"], experiment["exposures"]
    as_of = BASE + timedelta(days=15, hours=6)
    write_logs(tmp_path, events, exposures)
    metric = next(m for m in METRICS if m["name"] == "retained_d3")
    result = iterate.analyze(write_config(tmp_path, metrics=[metric]), as_of=as_of)
    units = analyzed_units(exposures.filter(pl.col("timestamp") <= as_of))
    control, treatment = retention_reference(events.filter(pl.col("timestamp") <= as_of), units, as_of, 3, 3)
    r = row(result, "retained_d3")
    assert (r["n_control"], r["n_treatment"]) == (control.size, treatment.size)
    assert r["control_mean"] == pytest.approx(control.mean(), rel=1e-12)
    assert r["treatment_mean"] == pytest.approx(treatment.mean(), rel=1e-12)


def test_retention_data_end_ignores_future_stamped_events(tmp_path, experiment):
    """One event stamped in 2099 (a client clock error, which the event_times check reports) must
    not make every unit's retention day observable: the data still end at the last real event."""
    events, exposures, units = experiment["events"], experiment["exposures"], experiment["units"]
    future = events.head(1).with_columns(timestamp=pl.lit(np.datetime64("2099-01-01T00:00:00", "us")))
    write_logs(tmp_path, pl.concat([events, future]), exposures)
    metric = next(m for m in METRICS if m["name"] == "retained_d3")
    result = iterate.analyze(write_config(tmp_path, metrics=[metric]))
    assert not next(c for c in result.checks if c.name == "event_times").passed
    control, treatment = retention_reference(events, units, events["timestamp"].max(), 3, 3)
    r = row(result, "retained_d3")
    assert (r["n_control"], r["n_treatment"]) == (control.size, treatment.size)
    assert r["control_mean"] == pytest.approx(control.mean(), rel=1e-12)
    assert r["treatment_mean"] == pytest.approx(treatment.mean(), rel=1e-12)


# --------------------------------------------------------------------------------------------
# time to event, metric window


def test_time_to_event_mean_hours_among_converters(experiment):
    events, units = experiment["events"], experiment["units"]
    first = unit_values(events, units, "signup", how="first").filter(pl.col("y").is_not_null())
    hours = first.with_columns(h=(pl.col("y") - pl.col("first")).dt.total_seconds() / 3600.0)
    control, treatment = arms(hours, "h")
    # some units signed up before exposure only, or after the window only: they are not converters
    assert first.height < events.filter(pl.col("event") == "signup")["user_id"].n_unique()
    expected = welch_reference(control, treatment)

    r = row(experiment["result"], "hours_to_signup")
    assert r["method"] == "welch_t"
    assert (r["n_control"], r["n_treatment"]) == (control.size, treatment.size)
    assert r["control_mean"] == pytest.approx(control.mean(), rel=1e-10)
    assert r["treatment_mean"] == pytest.approx(treatment.mean(), rel=1e-10)
    for key in ("effect", "std_error", "p_value", "ci_low", "ci_high"):
        assert r[key] == pytest.approx(expected[key], rel=1e-8), key
    # units that did not sign up in their window have no time: left out of n, counted as missing
    assert r["missing_units"] == units.height - first.height > 0


@pytest.mark.parametrize(("metric", "window"), [("converted_1d", timedelta(days=1)), ("converted_7d", WINDOW)])
def test_metric_window_overrides_experiment_window(experiment, metric, window):
    events, units = experiment["events"], experiment["units"]
    converted = unit_values(events, units, "purchase", end=window).with_columns(pl.col("y").gt(0).cast(pl.Float64))
    control, treatment = arms(converted)
    r = row(experiment["result"], metric)
    assert (r["n_control"], r["n_treatment"]) == (control.size, treatment.size)
    assert r["control_mean"] == pytest.approx(control.mean(), rel=1e-12)
    assert r["treatment_mean"] == pytest.approx(treatment.mean(), rel=1e-12)
    _, p_value = proportions_ztest(np.array([treatment.sum(), control.sum()]), np.array([treatment.size, control.size]))
    assert r["p_value"] == pytest.approx(p_value, rel=1e-8)


def test_one_day_conversion_is_below_seven_day(experiment):
    result = experiment["result"]
    assert row(result, "converted_1d")["control_mean"] < row(result, "converted_7d")["control_mean"]


# --------------------------------------------------------------------------------------------
# capping


def revenue(experiment) -> pl.DataFrame:
    return unit_values(experiment["events"], experiment["units"], "purchase", value="value")


@pytest.mark.parametrize("metric", ["revenue_cap50", "revenue_cap95"])
def test_capped_means_equal_numpy(experiment, metric):
    per_unit = revenue(experiment)
    raw = per_unit["y"].to_numpy()
    cap = 50.0 if metric == "revenue_cap50" else float(np.quantile(raw, 0.95))  # pooled over both arms
    capped = per_unit.with_columns(pl.min_horizontal("y", pl.lit(cap)).alias("capped"))
    control, treatment = arms(capped, "capped")
    expected = welch_reference(control, treatment)
    count_t = int((arms(per_unit)[1] > cap).sum())

    r = row(experiment["result"], metric)
    assert r["cap"] == pytest.approx(cap, rel=1e-12)
    assert r["control_mean"] == pytest.approx(control.mean(), rel=1e-10)
    assert r["treatment_mean"] == pytest.approx(treatment.mean(), rel=1e-10)
    for key in ("effect", "std_error", "p_value"):
        assert r[key] == pytest.approx(expected[key], rel=1e-8), key
    assert count_t > 20 and r["capped_units"] == count_t
    # capping changed something: the uncapped mean is larger
    assert row(experiment["result"], "revenue_raw")["treatment_mean"] > r["treatment_mean"]


@pytest.mark.parametrize("metric", ["revenue_cap50", "revenue_cap95"])
def test_capped_units_counts_the_treatment_arm(experiment, metric):
    """``capped_units`` counts the capped units of the row's treatment arm (MetricResult docstring);
    the cap itself is pooled over both arms."""
    per_unit = revenue(experiment)
    raw = per_unit["y"].to_numpy()
    cap = 50.0 if metric == "revenue_cap50" else float(np.quantile(raw, 0.95))
    _, treatment = arms(per_unit)
    assert row(experiment["result"], metric)["capped_units"] == int((treatment > cap).sum())
    # the pooled 95th percentile caps about 5% of all units, whatever the arm
    if metric == "revenue_cap95":
        assert abs(int((raw > cap).sum()) - 0.05 * raw.size) <= 1


# --------------------------------------------------------------------------------------------
# A/B/n and multiplicity corrections

ABN_VARIANTS = ("control", "a", "b", "c")
ABN_SHIFTS = {"a": 2.2, "b": 0.1, "c": -0.3}  # in standard errors of the difference: a has p ~ 0.028
CORRECTIONS = {"holm": "holm", "bonferroni": "bonferroni", "benjamini-hochberg": "fdr_bh"}


def abn_logs(seed: int = 5, n: int = 400) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, np.ndarray]]:
    """One ``score`` event per unit; each treatment's scores are the control's shifted by a known
    number of standard errors (identical variances, so Welch's t is exactly that number)."""
    rng = np.random.default_rng(seed)
    control = rng.normal(10.0, 2.0, size=n)
    se = math.sqrt(2 * control.var(ddof=1) / n)
    scores = {"control": control, **{v: rng.permutation(control) + shift * se for v, shift in ABN_SHIFTS.items()}}
    ids, variants, values = [], [], []
    for variant in ABN_VARIANTS:
        ids += [f"{variant}{i:04d}" for i in range(n)]
        variants += [variant] * n
        values.append(scores[variant])
    exposures = pl.DataFrame({"user_id": ids, "experiment": "exp", "variant": variants,
                              "timestamp": stamps(rng.uniform(0, DAY, len(ids)))})
    offsets = exposures["timestamp"].to_numpy() + np.timedelta64(3600, "s")
    clicked = rng.random(len(ids)) < np.repeat([0.30, 0.33, 0.28, 0.31], n)
    events = pl.concat([
        pl.DataFrame({"user_id": ids, "timestamp": offsets, "event": "score", "value": np.concatenate(values)}),
        pl.DataFrame({"user_id": np.array(ids)[clicked], "timestamp": offsets[clicked], "event": "click",
                      "value": np.full(clicked.sum(), np.nan)}).with_columns(pl.col("value").fill_nan(None)),
    ])
    return events, exposures, scores


def run_abn(tmp_path, correction: str):
    events, exposures, scores = abn_logs()
    write_logs(tmp_path, events, exposures)
    metrics = [{"name": "score", "type": "mean", "event": "score", "value": "value"},
               {"name": "clicked", "type": "proportion", "event": "click"}]
    config = write_config(tmp_path, metrics=metrics, expected_split={v: 0.25 for v in ABN_VARIANTS},
                          experiment_extra={"correction": correction})
    return iterate.analyze(config), events, exposures, scores


@pytest.mark.parametrize("correction", list(CORRECTIONS))
def test_abn_adjusted_p_values_equal_statsmodels(tmp_path, correction):
    result, events, exposures, scores = run_abn(tmp_path, correction)
    table = result.metrics
    assert table.height == 6
    assert set(table["variant"]) == {"a", "b", "c"}
    # raw p-values against independent references
    clicks = events.filter(pl.col("event") == "click").group_by("user_id").len()
    clicked = exposures.join(clicks, on="user_id", how="left").with_columns(y=pl.col("len").is_not_null().cast(pl.Float64))
    for variant in ("a", "b", "c"):
        welch = stats.ttest_ind(scores[variant], scores["control"], equal_var=False)
        assert row(result, "score", variant)["p_value"] == pytest.approx(welch.pvalue, rel=1e-8)
        assert row(result, "score", variant)["p_value"] == pytest.approx(
            2 * stats.t.sf(ABN_SHIFTS[variant] if ABN_SHIFTS[variant] > 0 else -ABN_SHIFTS[variant], welch.df), rel=1e-6)
        c, t = arms(clicked, control="control", treatment=variant)
        _, p = proportions_ztest(np.array([t.sum(), c.sum()]), np.array([t.size, c.size]))
        assert row(result, "clicked", variant)["p_value"] == pytest.approx(p, rel=1e-8)
    raw = table["p_value"].to_numpy()
    expected = multipletests(raw, alpha=ALPHA, method=CORRECTIONS[correction])[1]
    np.testing.assert_allclose(table["p_value_adjusted"].to_numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("correction", list(CORRECTIONS))
def test_abn_verdict_uses_adjusted_p_values(tmp_path, correction):
    result, *_ = run_abn(tmp_path, correction)
    a = row(result, "score", "a")
    raw, adjusted = a["p_value"], a["p_value_adjusted"]
    assert raw < ALPHA < adjusted, (raw, adjusted)  # significant only before correction
    assert a["effect"] > 0 and a["outcome"] == "no_difference"
    assert result.variant_verdicts["a"] != "ship"
    assert result.verdict != "ship"
    assert not any(reason.rule == "success" for reason in result.reasons)


def test_abn_without_correction_ships_on_raw_p_value(tmp_path):
    result, *_ = run_abn(tmp_path, "none")
    a = row(result, "score", "a")
    assert a["p_value_adjusted"] == a["p_value"] < ALPHA
    assert a["outcome"] == "better"
    assert result.variant_verdicts["a"] == "ship"
    # the experiment's verdict is the most cautious of its arms: b and c show nothing yet
    assert result.variant_verdicts["b"] == "continue" and result.verdict == "continue"
