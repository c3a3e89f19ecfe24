"""Data-quality checks fire with the right numbers, each recomputed here with polars / scipy:

- sample ratio mismatch: invalid (exit 13 through the CLI), chi-square equal to scipy's;
- units exposed to several variants above ``multiple_exposure_threshold``: invalid;
- pre-exposure imbalance (treatment units already more active before exposure): invalid; an
  A/A pre-period passes, and activity older than the pre-period is not compared;
- undeclared variants: a warning, their units excluded and counted;
- events stamped in the future or more than a year before the first exposure: a warning with counts;
- duplicate events among the metrics' events: a warning with the groups and extra rows.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from scipy import stats

import iterate
from helpers import BASE, write_config, write_logs
from iterate.cli import main

DAY = 86_400
BASE64 = np.datetime64(BASE, "us")
METRICS = (
    {"name": "conversion", "type": "proportion", "event": "purchase"},
    {"name": "views", "type": "count", "event": "view"},
)


def stamps(seconds) -> np.ndarray:
    return BASE64 + np.round(np.asarray(seconds, dtype=float)).astype(np.int64).astype("timedelta64[s]")


def make_logs(counts: dict[str, int], *, seed: int = 1, view_rate: dict[str, float] | None = None,
              pre_rate: dict[str, float] | None = None, old_rate: dict[str, float] | None = None):
    """Units per variant exposed over two days; views Poisson per unit in the week after exposure
    (``view_rate``), in the week before (``pre_rate``) and 10-12 days before (``old_rate``);
    purchases for 20% of the units."""
    rng = np.random.default_rng(seed)
    ids, variants = [], []
    for variant, n in counts.items():
        ids += [f"{variant}-{i:05d}" for i in range(n)]
        variants += [variant] * n
    ids, variants = np.array(ids), np.array(variants)
    exposed = np.round(rng.uniform(20 * DAY, 22 * DAY, ids.size))
    exposures = pl.DataFrame({"user_id": ids, "experiment": "exp", "variant": variants, "timestamp": stamps(exposed)})
    frames = []

    def views(rates, low, high):
        rate = np.array([(rates or {}).get(v, 0.0) for v in variants])
        owner = np.repeat(np.arange(ids.size), rng.poisson(rate))
        frames.append(pl.DataFrame({"user_id": ids[owner], "event": "view",
                                    "timestamp": stamps(exposed[owner] + rng.uniform(low, high, owner.size))}))

    views(view_rate or {v: 2.0 for v in counts}, 60, 7 * DAY - 60)
    views(pre_rate, -7 * DAY + 60, -60)
    views(old_rate, -12 * DAY, -10 * DAY)
    buyers = np.nonzero(rng.random(ids.size) < 0.2)[0]
    frames.append(pl.DataFrame({"user_id": ids[buyers], "event": "purchase",
                                "timestamp": stamps(exposed[buyers] + rng.uniform(60, 6 * DAY, buyers.size))}))
    events = pl.concat(frames).with_columns(value=pl.lit(None, pl.Float64))
    return events.select("user_id", "timestamp", "event", "value"), exposures


def analyze(tmp_path, events, exposures, **config):
    write_logs(tmp_path, events, exposures)
    config.setdefault("metrics", METRICS)
    return iterate.analyze(write_config(tmp_path, **config))


def check(result, name):
    [found] = [c for c in result.checks if c.name == name]
    return found


# --------------------------------------------------------------------------------------------
# SRM


def test_sample_ratio_mismatch_is_invalid_exit_13(tmp_path):
    events, exposures = make_logs({"control": 1100, "treatment": 900})
    write_logs(tmp_path, events, exposures)
    config = write_config(tmp_path, metrics=METRICS)
    outcome = CliRunner().invoke(main, ["analyze", str(config), "--format", "json"])
    assert outcome.exit_code == 13, outcome.output
    report = json.loads(outcome.stdout)
    assert report["verdict"] == "invalid"
    expected = stats.chisquare([1100, 900], [1000, 1000])
    [srm] = [c for c in report["checks"] if c["name"] == "srm"]
    assert srm["passed"] is False and srm["severity"] == "error"
    assert srm["details"]["statistic"] == pytest.approx(expected.statistic, rel=1e-12)
    assert srm["details"]["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert srm["details"]["observed"] == {"control": 1100, "treatment": 900}
    assert srm["details"]["expected"] == pytest.approx({"control": 1000.0, "treatment": 1000.0})
    assert any(reason["rule"] == "check_srm" for reason in report["reasons"])


def test_planned_unequal_split_is_no_mismatch(tmp_path):
    events, exposures = make_logs({"control": 1100, "treatment": 900})
    result = analyze(tmp_path, events, exposures, expected_split={"control": 0.55, "treatment": 0.45})
    srm = check(result, "srm")
    assert srm.passed and srm.details["statistic"] == pytest.approx(0.0, abs=1e-12)
    assert result.verdict != "invalid"


def test_srm_on_three_variants_equals_scipy(tmp_path):
    counts = {"control": 1000, "a": 1000, "b": 880}
    events, exposures = make_logs(counts)
    result = analyze(tmp_path, events, exposures, expected_split={"control": 1 / 3, "a": 1 / 3, "b": 1 / 3})
    expected = stats.chisquare(list(counts.values()))
    srm = check(result, "srm")
    assert srm.details["df"] == 2
    assert srm.details["statistic"] == pytest.approx(expected.statistic, rel=1e-12)
    assert srm.details["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert srm.passed == (expected.pvalue >= 0.001)
    assert (result.verdict == "invalid") == (expected.pvalue < 0.001)


# --------------------------------------------------------------------------------------------
# multiple exposures


def with_switchers(exposures: pl.DataFrame, share: float, seed: int = 4) -> pl.DataFrame:
    """A later exposure to the other variant for ``share`` of the units."""
    switch = exposures.sample(fraction=share, seed=seed).with_columns(
        variant=pl.when(pl.col("variant") == "control").then(pl.lit("treatment")).otherwise(pl.lit("control")),
        timestamp=pl.col("timestamp") + timedelta(hours=5),
    )
    return pl.concat([exposures, switch])


@pytest.mark.parametrize(("share", "threshold", "passes"), [(0.03, None, False), (0.005, None, True), (0.03, 0.05, True)])
def test_multiple_exposures_above_threshold_is_invalid(tmp_path, share, threshold, passes):
    events, exposures = make_logs({"control": 1000, "treatment": 1000})
    exposures = with_switchers(exposures, share)
    extra = {} if threshold is None else {"multiple_exposure_threshold": threshold}
    result = analyze(tmp_path, events, exposures, experiment_extra=extra)
    per_unit = exposures.group_by("user_id").agg(variants=pl.col("variant").n_unique())
    multiple = per_unit.filter(pl.col("variants") > 1).height
    assert multiple == round(2000 * share)
    found = check(result, "multiple_exposures")
    assert found.details["units"] == multiple
    assert found.details["share"] == pytest.approx(multiple / per_unit.height, rel=1e-12)
    assert found.passed is passes
    assert result.excluded_units["multiple_variants"] == multiple
    assert sum(result.units.values()) == per_unit.height - multiple
    assert (result.verdict == "invalid") is not passes
    if not passes:
        assert any(reason.rule == "check_multiple_exposures" for reason in result.reasons)


# --------------------------------------------------------------------------------------------
# pre-exposure imbalance


def pre_period_counts(events: pl.DataFrame, exposures: pl.DataFrame, start: timedelta, end: timedelta):
    """Per-unit view counts in [first exposure + start, first exposure + end), by variant."""
    units = exposures.group_by("user_id").agg(first=pl.col("timestamp").min(), variant=pl.col("variant").first())
    counts = (
        events.filter(pl.col("event") == "view").join(units, on="user_id")
        .filter((pl.col("timestamp") >= pl.col("first") + start) & (pl.col("timestamp") < pl.col("first") + end))
        .group_by("user_id").agg(y=pl.len())
    )
    values = units.join(counts, on="user_id", how="left").with_columns(pl.col("y").fill_null(0).cast(pl.Float64))
    return (values.filter(pl.col("variant") == "control")["y"].to_numpy(),
            values.filter(pl.col("variant") == "treatment")["y"].to_numpy())


def test_treatment_more_active_before_exposure_is_invalid(tmp_path):
    events, exposures = make_logs({"control": 1000, "treatment": 1000}, pre_rate={"control": 1.0, "treatment": 1.3})
    result = analyze(tmp_path, events, exposures)
    control, treatment = pre_period_counts(events, exposures, -timedelta(days=7), timedelta(0))
    welch = stats.ttest_ind(treatment, control, equal_var=False)
    assert welch.pvalue < 0.001
    found = check(result, "pre_exposure_imbalance")
    assert not found.passed and found.severity == "error"
    assert found.details["tests"] == 2 and found.details["threshold"] == 0.001
    assert f"views (treatment): effect {treatment.mean() - control.mean():+.4g} before exposure, p = {welch.pvalue:.3g}" \
        in found.message
    assert "conversion" not in found.message  # no purchase before exposure: no imbalance there
    assert result.verdict == "invalid" and result.exit_code == 13
    assert any(reason.rule == "check_pre_exposure_imbalance" for reason in result.reasons)


def test_balanced_pre_period_passes_and_older_activity_is_ignored(tmp_path):
    # before exposure the arms are alike in the 7-day pre-period; 10-12 days before, treatment
    # units were far more active, which is outside the pre-period and must not count
    events, exposures = make_logs({"control": 1000, "treatment": 1000}, seed=2,
                                  pre_rate={"control": 1.0, "treatment": 1.0}, old_rate={"control": 1.0, "treatment": 3.0})
    result = analyze(tmp_path, events, exposures)
    control, treatment = pre_period_counts(events, exposures, -timedelta(days=7), timedelta(0))
    assert stats.ttest_ind(treatment, control, equal_var=False).pvalue > 0.001
    old_c, old_t = pre_period_counts(events, exposures, -timedelta(days=14), timedelta(0))
    assert stats.ttest_ind(old_t, old_c, equal_var=False).pvalue < 1e-6
    found = check(result, "pre_exposure_imbalance")
    assert found.passed and found.details["tests"] == 2
    assert result.verdict != "invalid"


def test_longer_pre_period_sees_the_older_activity(tmp_path):
    events, exposures = make_logs({"control": 1000, "treatment": 1000}, seed=2,
                                  pre_rate={"control": 1.0, "treatment": 1.0}, old_rate={"control": 1.0, "treatment": 3.0})
    result = analyze(tmp_path, events, exposures, experiment_extra={"pre_period": "14d"})
    control, treatment = pre_period_counts(events, exposures, -timedelta(days=14), timedelta(0))
    welch = stats.ttest_ind(treatment, control, equal_var=False)
    found = check(result, "pre_exposure_imbalance")
    assert not found.passed and f"p = {welch.pvalue:.3g}" in found.message
    assert result.verdict == "invalid"


# --------------------------------------------------------------------------------------------
# undeclared variants


def test_undeclared_variant_is_excluded_and_counted(tmp_path):
    events, exposures = make_logs({"control": 1000, "treatment": 1000, "beta": 137}, view_rate={
        "control": 2.0, "treatment": 2.0, "beta": 20.0})
    result = analyze(tmp_path, events, exposures)
    found = check(result, "unknown_variants")
    assert not found.passed and found.severity == "warning"
    assert found.details["variants"] == {"beta": 137}
    assert "beta (137 units)" in found.message
    assert result.excluded_units["undeclared_variants"] == 137
    assert dict(result.units) == {"control": 1000, "treatment": 1000}
    assert result.verdict != "invalid"
    # the beta units' heavy activity does not enter the comparison
    views = events.filter(pl.col("event") == "view").group_by("user_id").len()
    arms = exposures.join(views, on="user_id", how="left").with_columns(pl.col("len").fill_null(0).cast(pl.Float64))
    row = result.metrics.filter(pl.col("name") == "views").to_dicts()[0]
    assert (row["n_control"], row["n_treatment"]) == (1000, 1000)
    assert row["control_mean"] == pytest.approx(arms.filter(pl.col("variant") == "control")["len"].mean(), rel=1e-12)
    assert row["treatment_mean"] == pytest.approx(arms.filter(pl.col("variant") == "treatment")["len"].mean(), rel=1e-12)
    assert set(result.metrics["variant"]) == {"treatment"}


def test_declared_variants_only_pass_the_check(tmp_path):
    events, exposures = make_logs({"control": 500, "treatment": 500})
    result = analyze(tmp_path, events, exposures)
    assert check(result, "unknown_variants").passed
    assert result.excluded_units["undeclared_variants"] == 0


# --------------------------------------------------------------------------------------------
# event times


def test_future_and_far_too_early_events_are_counted(tmp_path):
    events, exposures = make_logs({"control": 500, "treatment": 500})
    first_exposure = exposures["timestamp"].min()
    # another experiment's exposures long before do not move this experiment's start
    other = exposures.head(50).with_columns(experiment=pl.lit("older"), timestamp=pl.col("timestamp") - timedelta(days=300))
    users = events["user_id"].head(30).to_list()
    odd = pl.DataFrame({
        "user_id": users,
        "timestamp": [datetime(2099, 1, 1) + timedelta(hours=i) for i in range(7)]  # future
        + [first_exposure - timedelta(days=366 + i) for i in range(11)]  # more than a year before
        + [first_exposure - timedelta(days=364 - i) for i in range(12)],  # less than a year before: fine
        "event": ["view"] * 30,
        "value": [None] * 30,
    }, schema=events.schema)
    events = pl.concat([events, odd])
    result = analyze(tmp_path, events, pl.concat([exposures, other]))
    now = datetime.now()
    found = check(result, "event_times")
    future = events.filter(pl.col("timestamp") > now).height
    early = events.filter(pl.col("timestamp") < first_exposure - timedelta(days=365)).height
    assert (future, early) == (7, 11)
    assert not found.passed and found.severity == "warning"
    assert (found.details["future_events"], found.details["early_events"]) == (future, early)
    assert found.details["first_event"] == events["timestamp"].min()
    assert found.details["last_event"] == events["timestamp"].max()
    assert "7 event(s) stamped after the analysis time and 11 more than a year" in found.message
    assert result.verdict != "invalid"


def test_plausible_event_times_pass(tmp_path):
    events, exposures = make_logs({"control": 300, "treatment": 300})
    found = check(analyze(tmp_path, events, exposures), "event_times")
    assert found.passed and (found.details["future_events"], found.details["early_events"]) == (0, 0)


# --------------------------------------------------------------------------------------------
# duplicates


def test_duplicate_events_counted_among_the_metrics_events(tmp_path):
    events, exposures = make_logs({"control": 800, "treatment": 800}, seed=6)
    purchases = events.filter(pl.col("event") == "purchase")
    views = events.filter(pl.col("event") == "view")
    first = exposures.select("user_id", first="timestamp")
    late_views = views.head(30).join(first, on="user_id").select(
        "user_id", timestamp=pl.col("first") + timedelta(days=9), event="event", value="value")

    def rows(user_id, event, n, when=BASE):
        return pl.DataFrame({"user_id": [user_id] * n, "timestamp": [when] * n, "event": [event] * n,
                             "value": [None] * n}, schema=events.schema)

    logged = pl.concat([
        events,
        purchases.head(40),  # 40 purchases logged twice
        purchases.slice(40, 6), purchases.slice(40, 6),  # 6 logged three times
        purchases.slice(50, 5).with_columns(value=pl.lit(9.0)),  # same unit, name and time, other value
        views.head(25),  # views are read by a metric too
        rows("control-00001", "scroll", 2),  # no metric reads scrolls
        rows("stranger", "purchase", 3, BASE + timedelta(days=21)),  # a unit never exposed
        late_views, late_views,  # after the window: no metric reads them
    ]).sample(fraction=1.0, shuffle=True, seed=6)
    result = analyze(tmp_path, logged, exposures)

    # the events the metrics read: their names, of analyzed units, from the 7-day pre-period
    # (compared for imbalance) to the end of the 7-day window
    names = sorted({m["event"] for m in METRICS})
    read = logged.filter(pl.col("event").is_in(names)).join(first, on="user_id").filter(
        (pl.col("timestamp") >= pl.col("first") - timedelta(days=7)) & (pl.col("timestamp") < pl.col("first") + timedelta(days=7)))
    groups = read.group_by("user_id", "event", "timestamp").len().filter(pl.col("len") > 1)
    expected_groups, expected_extra = groups.height, int((groups["len"] - 1).sum())
    assert (expected_groups, expected_extra) == (40 + 6 + 5 + 25, 40 + 12 + 5 + 25)
    found = check(result, "duplicate_events")
    assert not found.passed and found.severity == "warning"
    assert found.details == {"duplicate_groups": expected_groups, "extra_rows": expected_extra}
    assert f"{expected_groups:,} event(s)" in found.message and f"({expected_extra:,} extra rows)" in found.message
    # count metrics include the extra rows
    views_row = result.metrics.filter(pl.col("name") == "views").to_dicts()[0]
    in_window = read.filter((pl.col("event") == "view") & (pl.col("timestamp") >= pl.col("first")))
    per_unit = exposures.join(in_window.group_by("user_id").len(), on="user_id", how="left").with_columns(
        pl.col("len").fill_null(0).cast(pl.Float64))
    assert views_row["treatment_mean"] == pytest.approx(
        per_unit.filter(pl.col("variant") == "treatment")["len"].mean(), rel=1e-12)


def test_duplicates_of_events_no_metric_reads_are_not_counted(tmp_path):
    events, exposures = make_logs({"control": 300, "treatment": 300}, seed=7)
    scrolls = pl.DataFrame({"user_id": ["control-00001"] * 3, "timestamp": [BASE] * 3, "event": ["scroll"] * 3,
                            "value": [None] * 3}, schema=events.schema)
    result = analyze(tmp_path, pl.concat([events, scrolls]), exposures)
    assert check(result, "duplicate_events").passed
