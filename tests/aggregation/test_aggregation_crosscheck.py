"""Engines cross-checked: iterate's DuckDB moments equal a polars / NumPy computation of the same
definitions on the same seeded log, and its tests equal scipy / statsmodels on the per-unit values.

Definitions (DESIGN.md): a unit's window is [first exposure, first exposure + window); units exposed
to several variants are excluded; exposed units without events are zeros. Per unit: ``proportion`` =
did the event, ``count`` = number of events, ``mean`` = sum of ``value`` over the events (1 per event
without ``value``).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

import iterate
from iterate.stats import Moments
from helpers import BASE, write_config, write_logs
from iterate.aggregation import build_spine, unit_metric_moments
from iterate.engines import open_engine
from iterate.ingest import prepare_logs

REL = 1e-9
WINDOW = timedelta(days=7)
VARIANTS = ("control", "a", "b")
METRICS = (
    {"name": "conversion", "type": "proportion", "event": "purchase"},
    {"name": "views", "type": "count", "event": "view"},
    {"name": "revenue", "type": "mean", "event": "purchase", "value": "value"},
    {"name": "clicks", "type": "mean", "event": "click"},
)
# per-unit column of the polars reference, by metric name
COLUMNS = {"conversion": "conversion", "views": "views", "revenue": "revenue", "clicks": "clicks"}


def _random_logs(seed: int = 20260105, units: int = 3000, events: int = 30000):
    rng = np.random.default_rng(seed)
    ids = np.array([f"u{i:05d}" for i in range(units)])
    arm_of_unit = rng.choice(len(VARIANTS), size=units, p=[0.34, 0.33, 0.33])
    variant = np.array(VARIANTS)[arm_of_unit]
    exposed_at = rng.uniform(0, 10 * 86400, size=units)
    rows = [pl.DataFrame({"user_id": ids, "variant": variant, "offset": exposed_at})]
    # 10% of units exposed again to the same variant later; 2% also exposed to another variant
    again = rng.random(units) < 0.10
    rows.append(pl.DataFrame({
        "user_id": ids[again], "variant": variant[again],
        "offset": exposed_at[again] + rng.uniform(3600, 5 * 86400, size=again.sum()),
    }))
    switch = rng.random(units) < 0.02
    other = np.array([VARIANTS[(VARIANTS.index(v) + 1) % 3] for v in variant[switch]], dtype=object)
    rows.append(pl.DataFrame({
        "user_id": ids[switch], "variant": other.astype(str),
        "offset": exposed_at[switch] + rng.uniform(-86400, 86400, size=switch.sum()),
    }))
    exposures = (
        pl.concat(rows)
        .with_columns(
            timestamp=pl.lit(BASE) + pl.duration(microseconds=(pl.col("offset") * 1e6).cast(pl.Int64)),
            experiment=pl.lit("exp"),
        )
        .select("user_id", "experiment", "variant", "timestamp")
        .sample(fraction=1.0, shuffle=True, seed=seed)
    )

    # events: units with more activity in some arms, some events before exposure or after the
    # window, and some events of units never exposed
    owner = rng.integers(0, units + 200, size=events)
    known = owner < units
    base_offset = np.where(known, exposed_at[np.minimum(owner, units - 1)], rng.uniform(0, 10 * 86400, size=events))
    event_offset = base_offset + rng.uniform(-2 * 86400, 10 * 86400, size=events)
    arm = np.where(known, arm_of_unit[np.minimum(owner, units - 1)], 0)
    purchase_p = np.array([0.10, 0.12, 0.09])[arm]
    draw = rng.random(events)
    name = np.where(draw < purchase_p, "purchase", np.where(draw < 0.55, "view", np.where(draw < 0.85, "click", "scroll")))
    value = rng.lognormal(mean=3.0, sigma=1.0, size=events)
    value_missing = rng.random(events) < 0.05
    event_ids = np.array([f"u{i:05d}" for i in owner])
    events_frame = pl.DataFrame({
        "user_id": event_ids,
        "timestamp": [BASE + timedelta(microseconds=int(o * 1e6)) for o in event_offset],
        "event": name,
        "value": pl.Series(value).set(pl.Series(value_missing), None),
        "platform": rng.choice(["ios", "android", "web"], size=events),
    })
    return events_frame, exposures


def reference_units(events: pl.DataFrame, exposures: pl.DataFrame, window: timedelta | None = WINDOW) -> pl.DataFrame:
    """One row per analyzed unit with its variant and metric values, computed with polars."""
    exposed = (
        exposures.group_by("user_id")
        .agg(first=pl.col("timestamp").min(), variants=pl.col("variant").n_unique(), variant=pl.col("variant").first())
        .filter(pl.col("variants") == 1)
        .drop("variants")
    )
    in_window = pl.col("timestamp") >= pl.col("first")
    if window is not None:
        in_window &= pl.col("timestamp") < pl.col("first") + window
    per_unit = (
        events.join(exposed, on="user_id")
        .filter(in_window)
        .group_by("user_id")
        .agg(
            conversion=(pl.col("event") == "purchase").any().cast(pl.Int64),
            views=(pl.col("event") == "view").sum().cast(pl.Int64),
            revenue=pl.col("value").filter(pl.col("event") == "purchase").sum(),
            clicks=(pl.col("event") == "click").sum().cast(pl.Int64),
        )
    )
    return (
        exposed.join(per_unit, on="user_id", how="left")
        .with_columns(pl.col(list(COLUMNS.values())).fill_null(0))
    )


def reference_moments(units: pl.DataFrame) -> dict[str, dict[str, tuple[int, float, float]]]:
    """(n, mean, var ddof=1) per metric and variant."""
    out: dict[str, dict[str, tuple[int, float, float]]] = {}
    for metric, column in COLUMNS.items():
        table = units.group_by("variant").agg(
            n=pl.len(), mean=pl.col(column).cast(pl.Float64).mean(), var=pl.col(column).cast(pl.Float64).var(ddof=1)
        )
        out[metric] = {r["variant"]: (r["n"], r["mean"], r["var"]) for r in table.to_dicts()}
    return out


@pytest.fixture(scope="module")
def experiment_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("crosscheck")
    events, exposures = _random_logs()
    write_logs(path, events, exposures)
    config = write_config(path, metrics=METRICS, expected_split={"control": 0.34, "a": 0.33, "b": 0.33})
    return path, config, events, exposures


@pytest.fixture(scope="module")
def reference(experiment_dir):
    _, _, events, exposures = experiment_dir
    units = reference_units(events, exposures)
    return units, reference_moments(units)


@pytest.fixture(scope="module")
def result(experiment_dir):
    return iterate.analyze(experiment_dir[1])


def test_the_random_log_exercises_every_rule(experiment_dir, reference):
    """Guard on the generator: duplicates, multi-variant units, out-of-window events all occur."""
    _, _, events, exposures = experiment_dir
    units, _ = reference
    assert events.height >= 25_000 and exposures["user_id"].n_unique() >= 2900
    per_unit = exposures.group_by("user_id").agg(rows=pl.len(), variants=pl.col("variant").n_unique())
    assert per_unit.filter(pl.col("variants") > 1).height > 20
    assert per_unit.filter((pl.col("variants") == 1) & (pl.col("rows") > 1)).height > 100
    assert (units["views"] == 0).sum() > 0 and (units["conversion"] == 0).sum() > 0


def test_unit_counts_and_exclusions_equal_polars(result, experiment_dir, reference):
    _, _, _, exposures = experiment_dir
    units, _ = reference
    expected = dict(units.group_by("variant").len().iter_rows())
    assert dict(result.units) == expected
    multi = exposures.group_by("user_id").agg(v=pl.col("variant").n_unique()).filter(pl.col("v") > 1).height
    assert result.excluded_units["multiple_variants"] == multi


def test_n_and_means_of_the_full_path_equal_polars(result, reference):
    _, moments = reference
    table = result.metrics
    assert table.height == len(METRICS) * 2
    for row in table.to_dicts():
        control = moments[row["name"]]["control"]
        treatment = moments[row["name"]][row["variant"]]
        assert (row["n_control"], row["n_treatment"]) == (control[0], treatment[0])
        assert row["control_mean"] == pytest.approx(control[1], rel=REL)
        assert row["treatment_mean"] == pytest.approx(treatment[1], rel=REL)


def _sql_moments(con, experiment, logs, materialize=True):
    """Per-variant moments of the SQL path: {metric: {variant: Moments of the per-unit values}}."""
    spine = build_spine(con, experiment, logs, materialize=materialize)
    groups = unit_metric_moments(con, experiment, logs, spine, None, None).groups
    return {
        g.metric: {h.variant: Moments(h.moments.n, h.moments.numerator_mean, h.moments.numerator_variance)
                   for h in groups if h.metric == g.metric and h.segment is None}
        for g in groups
    }


@pytest.mark.parametrize("materialize", [True, False], ids=["spine table", "spine inside the query"])
def test_variant_moments_equal_polars(experiment_dir, reference, materialize):
    _, config, _, _ = experiment_dir
    _, moments = reference
    experiment = iterate.load_config(config)
    with open_engine() as con:
        logs = prepare_logs(con, experiment, experiment.events, experiment.exposures)
        computed = _sql_moments(con, experiment, logs, materialize)
    assert set(computed) == set(COLUMNS)
    for metric, by_variant in computed.items():
        assert set(by_variant) == set(VARIANTS)
        for variant, m in by_variant.items():
            n, mean, var = moments[metric][variant]
            assert m.n == n
            assert m.mean == pytest.approx(mean, rel=REL)
            assert m.variance == pytest.approx(var, rel=REL), (metric, variant)


def test_effects_and_p_values_equal_scipy_and_statsmodels(result, reference):
    units, moments = reference
    for row in result.metrics.to_dicts():
        metric, variant = row["name"], row["variant"]
        column = COLUMNS[metric]
        control = units.filter(pl.col("variant") == "control")[column].cast(pl.Float64).to_numpy()
        treatment = units.filter(pl.col("variant") == variant)[column].cast(pl.Float64).to_numpy()
        assert row["effect"] == pytest.approx(treatment.mean() - control.mean(), rel=REL)
        if metric == "conversion":
            counts = [int(treatment.sum()), int(control.sum())]
            nobs = [treatment.size, control.size]
            _, p_value = proportions_ztest(counts, nobs)
            low, high = confint_proportions_2indep(counts[0], nobs[0], counts[1], nobs[1], method="wald", compare="diff")
            assert row["method"] == "two_proportion_z"
        else:
            n_c, mean_c, var_c = moments[metric]["control"]
            n_t, mean_t, var_t = moments[metric][variant]
            _, p_value = stats.ttest_ind_from_stats(
                mean_t, np.sqrt(var_t), n_t, mean_c, np.sqrt(var_c), n_c, equal_var=False
            )
            raw = stats.ttest_ind(treatment, control, equal_var=False)
            assert raw.pvalue == pytest.approx(p_value, rel=1e-9)
            low, high = raw.confidence_interval(confidence_level=1 - result.alpha)
            assert row["method"] == "welch_t"
        assert row["status"] == "ok"
        assert row["p_value"] == pytest.approx(p_value, rel=REL), (metric, variant)
        assert row["ci_low"] == pytest.approx(low, rel=REL), (metric, variant)
        assert row["ci_high"] == pytest.approx(high, rel=REL), (metric, variant)


def test_swapping_arm_labels_flips_the_effect(tmp_path, experiment_dir, result):
    """Symmetry: control and treatment swapped gives the opposite effect and the same p-value."""
    _, _, events, exposures = experiment_dir
    swapped = exposures.with_columns(
        variant=pl.col("variant").replace_strict({"control": "a", "a": "control", "b": "b"})
    )
    write_logs(tmp_path, events, swapped)
    mirrored = iterate.analyze(write_config(tmp_path, metrics=METRICS, expected_split=None))
    original = {r["name"]: r for r in result.metrics.filter(pl.col("variant") == "a").to_dicts()}
    for row in mirrored.metrics.filter(pl.col("variant") == "a").to_dicts():
        before = original[row["name"]]
        assert row["effect"] == pytest.approx(-before["effect"], rel=REL)
        assert row["p_value"] == pytest.approx(before["p_value"], rel=REL)
        assert (row["n_control"], row["n_treatment"]) == (before["n_treatment"], before["n_control"])


# --------------------------------------------------------------------------------------------
# the numerically hard case: values near 1e8 with standard deviation 1


def test_values_near_1e8_keep_their_variance(tmp_path):
    rng = np.random.default_rng(7)
    n = 1000
    control = 1e8 + rng.normal(0.0, 1.0, size=n)
    treatment = 1e8 + 0.05 + rng.normal(0.0, 1.0, size=n)
    ids = [f"c{i}" for i in range(n)] + [f"t{i}" for i in range(n)]
    exposures = pl.DataFrame({
        "user_id": ids,
        "variant": ["control"] * n + ["treatment"] * n,
        "timestamp": [BASE] * (2 * n),
    })
    events = pl.DataFrame({
        "user_id": ids,
        "timestamp": [BASE + timedelta(hours=1)] * (2 * n),
        "event": ["purchase"] * (2 * n),
        "value": np.concatenate([control, treatment]),
    })
    write_logs(tmp_path, events, exposures)
    config = write_config(tmp_path, metrics=({"name": "revenue", "type": "mean", "event": "purchase", "value": "value"},))

    experiment = iterate.load_config(config)
    with open_engine() as con:
        logs = prepare_logs(con, experiment, experiment.events, experiment.exposures)
        moments = _sql_moments(con, experiment, logs)["revenue"]
    for variant, values in (("control", control), ("treatment", treatment)):
        assert moments[variant].n == n
        assert moments[variant].mean == pytest.approx(values.mean(), rel=1e-12)
        assert moments[variant].variance == pytest.approx(values.var(ddof=1), rel=1e-6)

    # a mean near 1e8 is known to about one unit in the last place (1.5e-8), whatever the summation
    # order, so the difference of two means is compared with an absolute tolerance of a few ulps
    row = iterate.analyze(config).metrics.to_dicts()[0]
    reference = stats.ttest_ind(treatment, control, equal_var=False)
    assert row["effect"] == pytest.approx(treatment.mean() - control.mean(), abs=1e-7)
    assert row["p_value"] == pytest.approx(reference.pvalue, rel=1e-4)
