"""CUPED end to end: events log -> DuckDB moments -> adjusted rows, checked against independent references.

A seeded log in which each unit has a latent activity rate that drives both its events in the days
before its first exposure and its events after it, so the pre-period value predicts the metric.
About a third of the units are new (no pre-exposure activity) and a few have no event at all: they
must count as covariate 0 / metric 0, never be dropped. A handful of events sit exactly on the
window boundaries ([first exposure - 7d, first exposure) before, [first exposure, + 7d) after).

References are computed from the raw rows with polars (per-unit values) and then:

- count metric: OLS ``y ~ T + y_pre`` (statsmodels): the coefficient of ``T`` is the CUPED effect
  (within-arm pooled theta = the ANCOVA common slope, Deng et al. 2013 eq. (4)); the standard
  error is Welch's on ``y - theta * y_pre``; ``unadjusted_effect`` is the plain difference of means;
- proportion and ratio metrics: :func:`iterate.stats.cuped_test` fed with NumPy joint moments;
- a numeric exposure column (``covariate = "history"``) as the covariate, taken at first exposure.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import scipy.stats
import polars as pl
import pytest
import statsmodels.api as sm

import iterate
from helpers import BASE, write_config, write_logs
from iterate.stats import JointMoments, cuped_test

DAY_US = 86_400 * 1_000_000
REL = 1e-9


# --------------------------------------------------------------------------------------------- data


def _times(rng: np.random.Generator, anchors_us: np.ndarray, counts: np.ndarray, low_days: float,
           high_days: float) -> np.ndarray:
    """``counts[i]`` uniform event times in [anchor_i + low, anchor_i + high), microseconds."""
    starts = np.repeat(anchors_us, counts)
    offsets = rng.integers(int(low_days * DAY_US), int(high_days * DAY_US), size=int(counts.sum()))
    return starts + offsets


def make_logs(seed: int = 7, n: int = 3000, lift: float = 0.15) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Events and exposures; treatment multiplies post-exposure activity by ``1 + lift``."""
    rng = np.random.default_rng(seed)
    users = np.array([f"u{i:05d}" for i in range(n)])
    variant = np.where(rng.random(n) < 0.5, "control", "treatment")
    treated = variant == "treatment"
    base_us = int(np.datetime64(BASE, "us").astype(np.int64))
    exposure_us = base_us + rng.integers(0, 3 * DAY_US, size=n)
    activity = rng.gamma(1.2, 0.8, size=n)  # events per day
    new = rng.random(n) < 0.3  # no pre-exposure activity at all
    idle = rng.random(n) < 0.03  # no activity at all, before or after
    activity[idle] = 0.0
    post_rate = activity * np.where(treated, 1 + lift, 1.0)
    pre_rate = np.where(new, 0.0, activity)
    click_p = rng.beta(2, 8, size=n)

    columns: dict[str, list[np.ndarray]] = {"user_id": [], "timestamp": [], "event": []}

    def add(names: str, counts: np.ndarray, low: float, high: float) -> None:
        columns["user_id"].append(np.repeat(users, counts))
        columns["timestamp"].append(_times(rng, exposure_us, counts, low, high))
        columns["event"].append(np.full(int(counts.sum()), names))

    for period, rate, low, high in (("pre", pre_rate, -10.0, 0.0), ("post", post_rate, 0.0, 9.0)):
        span = high - low
        add("app_open", rng.poisson(rate * span), low, high)
        add("purchase", rng.poisson(0.04 * rate * span), low, high)
        views = rng.poisson(0.8 * rate * span)
        add("view", views, low, high)
        add("click", rng.binomial(views, click_p), low, high)
        add("other", rng.poisson(0.5 * span, size=n), low, high)  # read by no metric

    # Events exactly on the window boundaries of the first units (first exposure at e):
    # e - 7d is in the pre-period, e is in the metric window, e + 7d is outside it.
    edge = np.arange(20)
    for offset_days in (-7.0, 0.0, 7.0):
        columns["user_id"].append(users[edge])
        columns["timestamp"].append(exposure_us[edge] + int(offset_days * DAY_US))
        columns["event"].append(np.full(edge.size, "app_open"))
    # ... and one microsecond before the pre-period starts (outside it).
    columns["user_id"].append(users[edge])
    columns["timestamp"].append(exposure_us[edge] - 7 * DAY_US - 1)
    columns["event"].append(np.full(edge.size, "app_open"))

    events = pl.DataFrame({
        "user_id": np.concatenate(columns["user_id"]),
        "timestamp": np.concatenate(columns["timestamp"]).astype("datetime64[us]"),
        "event": np.concatenate(columns["event"]),
    }).sample(fraction=1.0, shuffle=True, seed=seed)

    history = np.round(activity * 30 + rng.normal(0, 3, size=n), 3)
    history_missing = rng.random(n) < 0.1
    exposures = pl.DataFrame({
        "user_id": users,
        "experiment": "exp",
        "variant": variant,
        "timestamp": exposure_us.astype("datetime64[us]"),
        "history": pl.Series(history).scatter(np.flatnonzero(history_missing), None),
    })
    # A later, repeated exposure (same variant) of some units, with another history value: the
    # covariate is the value at the first exposure. (Units whose first exposure has no history are
    # left out here; test_covariate_is_the_value_at_first_exposure_even_when_missing covers them.)
    again = exposures.head(200).drop_nulls("history").with_columns(
        pl.col("timestamp") + timedelta(hours=5), (pl.col("history") + 1000).alias("history"))
    return events, pl.concat([exposures, again])


@pytest.fixture(scope="module")
def logs() -> tuple[pl.DataFrame, pl.DataFrame]:
    return make_logs()


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory, logs):
    directory = tmp_path_factory.mktemp("cuped_logs")
    write_logs(directory, *logs)
    return directory


# --------------------------------------------------------------------------------------- references


def first_exposures(exposures: pl.DataFrame) -> pl.DataFrame:
    """One row per unit: first exposure time, variant, treatment indicator, history at first exposure."""
    return (
        exposures.sort("timestamp")
        .group_by("user_id", maintain_order=True)
        .agg(pl.col("timestamp").first().alias("fe"), pl.col("variant").first(), pl.col("history").first())
        .with_columns((pl.col("variant") == "treatment").cast(pl.Float64).alias("T"))
        .sort("user_id")
    )


def per_unit_counts(events: pl.DataFrame, units: pl.DataFrame, event: str, low: timedelta,
                    high: timedelta, name: str) -> pl.DataFrame:
    """Events named ``event`` of each unit in [fe + low, fe + high); units without any get 0."""
    counted = (
        events.filter(pl.col("event") == event)
        .join(units.select("user_id", "fe"), on="user_id")
        .filter((pl.col("timestamp") >= pl.col("fe") + low) & (pl.col("timestamp") < pl.col("fe") + high))
        .group_by("user_id")
        .agg(pl.len().cast(pl.Float64).alias(name))
    )
    return units.select("user_id").join(counted, on="user_id", how="left").fill_null(0.0).sort("user_id")


def unit_table(events: pl.DataFrame, exposures: pl.DataFrame, pre: timedelta = timedelta(days=7),
               window: timedelta = timedelta(days=7)) -> pl.DataFrame:
    units = first_exposures(exposures)
    table = units
    for event, column in (("app_open", "opens"), ("purchase", "purchases"), ("view", "views"), ("click", "clicks")):
        post = per_unit_counts(events, units, event, timedelta(0), window, column)
        before = per_unit_counts(events, units, event, -pre, timedelta(0), f"{column}_pre")
        table = table.join(post, on="user_id").join(before, on="user_id")
    return table.with_columns(
        (pl.col("purchases") > 0).cast(pl.Float64).alias("purchased"),
        (pl.col("purchases_pre") > 0).cast(pl.Float64).alias("purchased_pre"),
    )


def arms(table: pl.DataFrame, *columns: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    control = table.filter(pl.col("variant") == "control")
    treatment = table.filter(pl.col("variant") == "treatment")
    return ([control[c].to_numpy() for c in columns], [treatment[c].to_numpy() for c in columns])


def ancova(table: pl.DataFrame, y: str, covariate: str) -> dict[str, float]:
    """OLS y ~ 1 + T + covariate; the adjusted effect, theta, and the CUPED standard error."""
    design = sm.add_constant(table.select("T", covariate).to_pandas())
    fit = sm.OLS(table[y].to_numpy(), design).fit()
    theta = float(fit.params[covariate])
    (yc, xc), (yt, xt) = arms(table, y, covariate)
    adjusted_se = math.sqrt(np.var(yc - theta * xc, ddof=1) / yc.size + np.var(yt - theta * xt, ddof=1) / yt.size)
    unadjusted_se = math.sqrt(np.var(yc, ddof=1) / yc.size + np.var(yt, ddof=1) / yt.size)
    return {"effect": float(fit.params["T"]), "theta": theta, "se": adjusted_se,
            "unadjusted_effect": float(yt.mean() - yc.mean()), "unadjusted_se": unadjusted_se}


def row(result, name: str):
    rows = [r for r in result.metric_results if r.name == name]
    assert len(rows) == 1, result.metric_results
    return rows[0]


METRICS = [
    {"name": "opens", "type": "count", "event": "app_open"},
    {"name": "purchasers", "type": "proportion", "event": "purchase"},
    {"name": "ctr", "type": "ratio", "numerator": {"event": "click"}, "denominator": {"event": "view"}},
]


# ---------------------------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def experiment_cuped(log_dir):
    config = write_config(log_dir, "cuped.toml", metrics=METRICS, experiment_extra={"cuped": "7d"})
    return iterate.analyze(config)


def test_generated_log_has_the_intended_shape(logs) -> None:
    table = unit_table(*logs)
    no_pre = table.filter(pl.col("opens_pre") == 0).height / table.height
    assert 0.25 < no_pre < 0.45, no_pre  # new units count, as covariate 0
    assert table.filter((pl.col("opens") == 0) & (pl.col("opens_pre") == 0)).height > 20
    assert np.corrcoef(table["opens"], table["opens_pre"])[0, 1] > 0.5


def test_count_metric_effect_equals_ancova_ols(logs, experiment_cuped) -> None:
    table = unit_table(*logs)
    reference = ancova(table, "opens", "opens_pre")
    r = row(experiment_cuped, "opens")
    assert r.method == "cuped"
    assert r.n_control + r.n_treatment == table.height  # idle and new units are kept
    assert r.effect == pytest.approx(reference["effect"], rel=REL)
    assert r.std_error == pytest.approx(reference["se"], rel=REL)
    assert r.unadjusted_effect == pytest.approx(reference["unadjusted_effect"], rel=REL)
    assert r.unadjusted_std_error == pytest.approx(reference["unadjusted_se"], rel=REL)
    assert r.variance_reduction == pytest.approx(1 - (r.std_error / r.unadjusted_std_error) ** 2, rel=REL)
    assert r.variance_reduction == pytest.approx(1 - (reference["se"] / reference["unadjusted_se"]) ** 2, rel=1e-7)
    assert r.variance_reduction > 0.3  # the pre-period explains much of the metric
    # The CI is the adjusted one (Welch t on the adjusted arms), around the adjusted effect.
    assert r.ci_low < r.effect < r.ci_high
    assert (r.ci_high - r.ci_low) < 2 * 1.97 * reference["unadjusted_se"]


def test_units_without_pre_period_activity_count_as_zero(logs, experiment_cuped) -> None:
    """Dropping the units without pre-period activity (or without any event) changes the answer;
    the pipeline keeps them with covariate 0."""
    table = unit_table(*logs)
    kept = ancova(table, "opens", "opens_pre")
    dropped = ancova(table.filter(pl.col("opens_pre") > 0), "opens", "opens_pre")
    r = row(experiment_cuped, "opens")
    assert r.effect == pytest.approx(kept["effect"], rel=REL)
    assert abs(r.effect - dropped["effect"]) > 1e-6


def test_window_boundaries_of_the_pre_period(logs, experiment_cuped) -> None:
    """An event at first exposure - 7d is in the covariate, one microsecond earlier is not; an
    event at first exposure is in the metric, one at + 7d is not. Shifting either boundary in the
    reference moves the expected effect away from the pipeline's."""
    events, exposures = logs
    r = row(experiment_cuped, "opens")
    units = first_exposures(exposures)
    exact = unit_table(events, exposures)
    assert r.effect == pytest.approx(ancova(exact, "opens", "opens_pre")["effect"], rel=REL)
    tiny = timedelta(microseconds=1)
    shifted = per_unit_counts(events, units, "app_open", -timedelta(days=7) + tiny, timedelta(0), "opens_pre")
    wrong_pre = exact.drop("opens_pre").join(shifted, on="user_id")
    assert r.effect != pytest.approx(ancova(wrong_pre, "opens", "opens_pre")["effect"], rel=1e-6)
    inclusive = per_unit_counts(events, units, "app_open", timedelta(0), timedelta(days=7) + tiny, "opens")
    wrong_post = exact.drop("opens").join(inclusive, on="user_id")
    assert r.effect != pytest.approx(ancova(wrong_post, "opens", "opens_pre")["effect"], rel=1e-6)


def test_proportion_metric_equals_cuped_test_on_numpy_moments(logs, experiment_cuped) -> None:
    table = unit_table(*logs)
    (yc, y0c), (yt, y0t) = arms(table, "purchased", "purchased_pre")
    expected = cuped_test(JointMoments.from_values(yc, y0=y0c), JointMoments.from_values(yt, y0=y0t))
    r = row(experiment_cuped, "purchasers")
    assert expected.adjusted and r.method == "cuped"
    assert r.effect == pytest.approx(expected.effect, rel=REL)
    assert r.std_error == pytest.approx(expected.std_error, rel=REL)
    assert r.p_value == pytest.approx(expected.p_value, rel=1e-7)
    assert r.unadjusted_effect == pytest.approx(yt.mean() - yc.mean(), rel=REL)
    assert r.variance_reduction == pytest.approx(expected.variance_reduction, rel=1e-7)
    # and the proportion's CUPED effect is the ANCOVA coefficient as well
    assert r.effect == pytest.approx(ancova(table, "purchased", "purchased_pre")["effect"], rel=REL)


def test_ratio_metric_equals_cuped_test_on_numpy_moments(logs, experiment_cuped) -> None:
    table = unit_table(*logs)
    (cc, vc, c0c, v0c), (ct, vt, c0t, v0t) = arms(table, "clicks", "views", "clicks_pre", "views_pre")
    expected = cuped_test(JointMoments.from_values(cc, vc, y0=c0c, x0=v0c),
                          JointMoments.from_values(ct, vt, y0=c0t, x0=v0t))
    r = row(experiment_cuped, "ctr")
    assert expected.adjusted and r.method == "cuped"
    assert r.effect == pytest.approx(expected.effect, rel=REL)
    assert r.std_error == pytest.approx(expected.std_error, rel=REL)
    assert r.control_mean == pytest.approx(expected.control_mean, rel=REL)
    assert r.unadjusted_effect == pytest.approx(ct.sum() / vt.sum() - cc.sum() / vc.sum(), rel=REL)
    assert r.variance_reduction == pytest.approx(expected.variance_reduction, rel=1e-7)


def test_per_metric_cuped_length(log_dir, logs) -> None:
    """``cuped = "3d"`` on one metric: its covariate is the 3 days before exposure; a metric
    without ``cuped`` (and no experiment-wide one) is not adjusted."""
    metrics = [
        {"name": "opens", "type": "count", "event": "app_open", "cuped": "3d"},
        {"name": "purchasers", "type": "proportion", "event": "purchase"},
    ]
    result = iterate.analyze(write_config(log_dir, "per_metric.toml", metrics=metrics))
    events, exposures = logs
    table = unit_table(events, exposures, pre=timedelta(days=3))
    reference = ancova(table, "opens", "opens_pre")
    r = row(result, "opens")
    assert r.method == "cuped"
    assert r.effect == pytest.approx(reference["effect"], rel=REL)
    assert r.std_error == pytest.approx(reference["se"], rel=REL)
    seven = ancova(unit_table(events, exposures), "opens", "opens_pre")
    assert abs(r.effect - seven["effect"]) > 1e-6  # the length matters
    plain = row(result, "purchasers")
    assert plain.method != "cuped" and plain.unadjusted_effect is None and plain.variance_reduction is None
    (yc,), (yt,) = arms(table, "purchased")
    assert plain.effect == pytest.approx(yt.mean() - yc.mean(), rel=REL)


def test_metric_can_turn_off_the_experiment_cuped(log_dir, logs) -> None:
    metrics = [{"name": "opens", "type": "count", "event": "app_open", "cuped": False}]
    result = iterate.analyze(write_config(log_dir, "off.toml", metrics=metrics, experiment_extra={"cuped": "7d"}))
    r = row(result, "opens")
    (yc,), (yt,) = arms(unit_table(*logs), "opens")
    assert r.method != "cuped" and r.variance_reduction is None
    assert r.effect == pytest.approx(yt.mean() - yc.mean(), rel=REL)


def test_covariate_column_of_the_exposures(log_dir, logs) -> None:
    """``covariate = "history"``: the exposures' numeric column at first exposure (a missing value
    counts as 0), the same ANCOVA reference."""
    metrics = [
        {"name": "opens", "type": "count", "event": "app_open", "covariate": "history"},
        {"name": "ctr", "type": "ratio", "numerator": {"event": "click"}, "denominator": {"event": "view"},
         "covariate": "history"},
    ]
    result = iterate.analyze(write_config(log_dir, "history.toml", metrics=metrics))
    table = unit_table(*logs).with_columns(pl.col("history").fill_null(0.0))
    reference = ancova(table, "opens", "history")
    r = row(result, "opens")
    assert r.method == "cuped"
    assert r.effect == pytest.approx(reference["effect"], rel=REL)
    assert r.std_error == pytest.approx(reference["se"], rel=REL)
    assert r.unadjusted_effect == pytest.approx(reference["unadjusted_effect"], rel=REL)
    assert r.variance_reduction == pytest.approx(1 - (r.std_error / r.unadjusted_std_error) ** 2, rel=REL)
    assert r.variance_reduction > 0.2

    (cc, vc, hc), (ct, vt, ht) = arms(table, "clicks", "views", "history")
    expected = cuped_test(JointMoments.from_values(cc, vc, y0=hc), JointMoments.from_values(ct, vt, y0=ht))
    ratio = row(result, "ctr")
    assert ratio.effect == pytest.approx(expected.effect, rel=REL)
    assert ratio.std_error == pytest.approx(expected.std_error, rel=REL)


def test_covariate_column_on_a_proportion_metric(log_dir, logs) -> None:
    """A covariate column on a proportion: the covariate is a per-unit number (history ~ 8), not a
    proportion, so its balance before exposure is compared as a mean; the adjusted effect is the
    ANCOVA coefficient of the 0/1 outcome (a regression used to stop this with "must be a proportion")."""
    metrics = [{"name": "purchasers", "type": "proportion", "event": "purchase", "covariate": "history"}]
    result = iterate.analyze(write_config(log_dir, "history_proportion.toml", metrics=metrics))
    table = unit_table(*logs).with_columns(pl.col("history").fill_null(0.0))
    reference = ancova(table, "purchased", "history")
    r = row(result, "purchasers")
    assert r.method == "cuped"
    assert r.effect == pytest.approx(reference["effect"], rel=REL)
    assert r.std_error == pytest.approx(reference["se"], rel=REL)
    imbalance = next(check for check in result.checks if check.name == "pre_exposure_imbalance")
    (_, _, hc), (_, _, ht) = arms(table, "purchased", "purchased", "history")
    welch = scipy.stats.ttest_ind(ht, hc, equal_var=False)
    assert imbalance.passed == (welch.pvalue >= 0.001) and imbalance.details["tests"] == 1


def test_covariate_column_with_exposures_in_the_events_log(tmp_path, logs) -> None:
    """``exposure_event``: the exposures are rows of the events log, and the covariate column is read
    from them (at first exposure), giving the same answer as a separate exposures log."""
    events, exposures = logs
    exposure_rows = exposures.select("user_id", "timestamp", pl.lit("exposure").alias("event"), "variant", "history")
    combined = pl.concat([events, exposure_rows], how="diagonal_relaxed")
    (tmp_path / "single").mkdir()
    combined.write_parquet(tmp_path / "single" / "events.parquet")
    metrics = [{"name": "opens", "type": "count", "event": "app_open", "covariate": "history"}]
    config = write_config(tmp_path / "single", events="events.parquet", exposures=None, metrics=metrics)
    config.write_text(config.read_text().replace("[data]\n", '[data]\nexposure_event = "exposure"\n'))
    result = iterate.analyze(config)
    reference = ancova(unit_table(*logs).with_columns(pl.col("history").fill_null(0.0)), "opens", "history")
    r = row(result, "opens")
    assert r.method == "cuped"
    assert r.effect == pytest.approx(reference["effect"], rel=REL)
    assert r.std_error == pytest.approx(reference["se"], rel=REL)


def test_covariate_is_the_value_at_first_exposure_even_when_missing(tmp_path) -> None:
    """A unit whose first exposure has no history but a later exposure has one: the covariate is its
    value at first exposure (missing, so 0). A value recorded after exposure could carry the
    treatment's effect and must not be used."""
    rng = np.random.default_rng(3)
    n = 400
    users = [f"u{i}" for i in range(n)]
    variant = ["control" if i % 2 == 0 else "treatment" for i in range(n)]
    base_us = int(np.datetime64(BASE, "us").astype(np.int64))
    exposure_us = base_us + rng.integers(0, DAY_US, size=n)
    history = rng.poisson(5.0, size=n).astype(float)
    first_missing = np.arange(n) < 40  # the first 40 units: no history at first exposure
    exposures = pl.DataFrame({
        "user_id": users + users[:40],
        "experiment": "exp",
        "variant": variant + variant[:40],
        "timestamp": np.concatenate([exposure_us, exposure_us[:40] + 3_600_000_000]).astype("datetime64[us]"),
        "history": pl.Series(np.concatenate([history, np.full(40, 500.0)])).scatter(np.flatnonzero(first_missing), None),
    })
    counts = rng.poisson(history + 1)
    events = pl.DataFrame({
        "user_id": np.repeat(users, counts),
        "timestamp": (np.repeat(exposure_us, counts) + rng.integers(0, 5 * DAY_US, size=int(counts.sum())))
        .astype("datetime64[us]"),
        "event": "app_open",
    })
    write_logs(tmp_path, events, exposures)
    config = write_config(tmp_path, metrics=[{"name": "opens", "type": "count", "event": "app_open",
                                              "covariate": "history"}])
    r = row(iterate.analyze(config), "opens")
    units = first_exposures(exposures).with_columns(pl.col("history").fill_null(0.0))
    y = per_unit_counts(events, units, "app_open", timedelta(0), timedelta(days=7), "opens")
    reference = ancova(units.join(y, on="user_id"), "opens", "history")
    assert r.effect == pytest.approx(reference["effect"], rel=REL)


def test_no_pre_period_activity_at_all_leaves_the_estimate_unadjusted(tmp_path, logs) -> None:
    """When no unit has pre-exposure activity the covariate has no variance: nothing is adjusted,
    the row is the plain Welch comparison (the unadjusted effect shown beside it is the same)."""
    events, exposures = logs
    units = first_exposures(exposures)
    post_only = (events.join(units.select("user_id", "fe"), on="user_id")
                 .filter(pl.col("timestamp") >= pl.col("fe")).drop("fe"))
    write_logs(tmp_path, post_only, exposures)
    result = iterate.analyze(write_config(tmp_path, metrics=METRICS[:1], experiment_extra={"cuped": "7d"}))
    r = row(result, "opens")
    (yc,), (yt,) = arms(unit_table(post_only, exposures), "opens")
    assert r.method != "cuped" and r.variance_reduction is None
    assert r.effect == pytest.approx(yt.mean() - yc.mean(), rel=REL)
    assert r.unadjusted_effect == pytest.approx(r.effect, rel=REL)
    assert r.std_error == pytest.approx(math.sqrt(yc.var(ddof=1) / yc.size + yt.var(ddof=1) / yt.size), rel=REL)
