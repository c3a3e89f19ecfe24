"""``iterate plan`` and ``iterate calibrate`` on seeded logs, against independent computations.

Plan: every user active in the baseline (the last 14 days of the log, up to ``end - window``) is a
would-be unit "exposed" at their first event there; each metric is measured over the window after
it. The baseline mean and standard deviation are recomputed with polars, the units per arm with
:func:`iterate.stats.sample_size_per_arm` (success metrics at alpha / their number, Bonferroni)
and the closed-form normal approximation, the duration from the daily arrivals.

Calibrate: on an A/A log, each metric's false-positive rate over 200 re-randomizations must be
consistent with alpha (95% Clopper-Pearson interval, recomputed with SciPy's beta quantiles,
containing 0.05 or below it); the re-randomization is a partition of the same units, deterministic
for a seed and different across seeds and replicates.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from scipy import stats

import iterate
import iterate.calibration
from helpers import BASE, write_config, write_logs
from iterate.cli import main
from iterate.errors import ConfigError
from iterate.stats import minimum_detectable_effect, non_inferiority_sample_size, sample_size_per_arm

DAY_US = 86_400 * 1_000_000


# -------------------------------------------------------------------------------------------- plan


def pre_experiment_events(seed: int = 3, n: int = 4000, days: float = 28.0) -> pl.DataFrame:
    """Users arriving over ``days``, each active from arrival to the end of the log."""
    rng = np.random.default_rng(seed)
    users = np.array([f"p{i:05d}" for i in range(n)])
    base_us = int(np.datetime64(BASE, "us").astype(np.int64))
    arrival = rng.integers(0, int(days * DAY_US), size=n)
    active_days = (days * DAY_US - arrival) / DAY_US
    rate = rng.gamma(1.5, 0.4, size=n)
    ids, times, names = [], [], []
    for event, scale in (("app_open", 1.0), ("purchase", 0.05), ("crash", 0.1), ("other", 0.5)):
        counts = rng.poisson(rate * scale * active_days)
        ids.append(np.repeat(users, counts))
        starts = np.repeat(arrival, counts)
        spans = np.repeat(days * DAY_US - arrival, counts)
        times.append(base_us + starts + (rng.random(int(counts.sum())) * spans).astype(np.int64))
        names.append(np.full(int(counts.sum()), event))
    return pl.DataFrame({"user_id": np.concatenate(ids),
                         "timestamp": np.concatenate(times).astype("datetime64[us]"),
                         "event": np.concatenate(names)})


PLAN_METRICS = [
    {"name": "opens", "type": "count", "event": "app_open"},
    {"name": "purchasers", "type": "proportion", "event": "purchase"},
    {"name": "crashes", "type": "count", "event": "crash", "role": "guardrail", "direction": "decrease",
     "margin": 0.1},
]


@pytest.fixture(scope="module")
def plan_setup(tmp_path_factory):
    directory = tmp_path_factory.mktemp("plan_logs")
    events = pre_experiment_events()
    events.write_parquet(directory / "events.parquet")
    config = write_config(directory, metrics=PLAN_METRICS, exposures=None)
    return directory, config, events


def baseline_units(events: pl.DataFrame, baseline_days: int = 14, window: timedelta = timedelta(days=7)):
    end = events["timestamp"].max()
    start = max(events["timestamp"].min(), end - timedelta(days=baseline_days))
    entry_end = end - window
    units = (events.filter((pl.col("timestamp") >= start) & (pl.col("timestamp") < entry_end))
             .group_by("user_id").agg(pl.col("timestamp").min().alias("fe")))
    table = units
    for event, name in (("app_open", "opens"), ("purchase", "purchases"), ("crash", "crashes")):
        counted = (events.filter(pl.col("event") == event).join(units, on="user_id")
                   .filter((pl.col("timestamp") >= pl.col("fe")) & (pl.col("timestamp") < pl.col("fe") + window)
                           & (pl.col("timestamp") <= end))
                   .group_by("user_id").agg(pl.len().cast(pl.Float64).alias(name)))
        table = table.join(counted, on="user_id", how="left").with_columns(pl.col(name).fill_null(0.0))
    table = table.with_columns((pl.col("purchases") > 0).cast(pl.Float64).alias("purchasers"))
    entry_days = (entry_end - start) / timedelta(days=1)
    return table, start, end, entry_days


def metric_plan(result, name: str):
    found = [m for m in result.metrics if m.name == name]
    assert len(found) == 1
    return found[0]


def test_plan_for_an_mde(plan_setup) -> None:
    _, config, events = plan_setup
    mde = 0.05
    result = iterate.plan(config, mde=mde)
    table, start, end, entry_days = baseline_units(events)
    assert (result.baseline_start, result.baseline_end) == (start, end)
    assert result.arms == 2 and result.mde == mde
    daily = table.height / entry_days
    assert result.daily_units == pytest.approx(daily, rel=1e-12)

    needs = {}
    for name in ("opens", "purchasers"):
        m = metric_plan(result, name)
        values = table[name].to_numpy()
        assert m.units == table.height
        assert m.mean == pytest.approx(values.mean(), rel=1e-12)
        assert m.std_dev == pytest.approx(values.std(ddof=1), rel=1e-9)
        assert m.alpha == pytest.approx(0.05 / 2)  # Bonferroni over the two success metrics
        expected = sample_size_per_arm(variance=values.var(ddof=1), mde=mde * values.mean(), alpha=0.025, power=0.8)
        assert m.units_per_arm == expected
        # closed form, two-sided z: n = (z_{1 - alpha/2} + z_{power})^2 2 sigma^2 / delta^2
        z = stats.norm.ppf(1 - 0.025 / 2) + stats.norm.ppf(0.8)
        closed = z**2 * 2 * values.var(ddof=1) / (mde * values.mean()) ** 2
        assert abs(m.units_per_arm - closed) <= 1
        needs[name] = expected

    crashes = metric_plan(result, "crashes")
    values = table["crashes"].to_numpy()
    assert crashes.mean == pytest.approx(values.mean(), rel=1e-12)
    assert crashes.alpha == 0.05 and crashes.power == pytest.approx(0.8)  # one guardrail with a margin
    margin = 0.1 * values.mean()
    expected = non_inferiority_sample_size(margin, variance=values.var(ddof=1), alpha=0.05, power=0.8, direction="decrease")
    assert crashes.units_per_arm == expected
    closed = (stats.norm.ppf(0.95) + stats.norm.ppf(0.8)) ** 2 * 2 * values.var(ddof=1) / margin**2
    assert abs(crashes.units_per_arm - closed) <= 1
    needs["crashes"] = expected

    assert result.units_per_arm == max(needs.values())
    assert result.days == math.ceil(result.units_per_arm * 2 / daily)


def test_plan_units_are_anchored_at_their_first_baseline_event(plan_setup) -> None:
    """Anchoring at a user's first event of the whole log instead would change the mean."""
    _, config, events = plan_setup
    result = iterate.plan(config, mde=0.05)
    table, *_ = baseline_units(events)
    global_first = events.group_by("user_id").agg(pl.col("timestamp").min().alias("global_fe"))
    moved = table.join(global_first, on="user_id").filter(pl.col("global_fe") < pl.col("fe")).height
    assert moved > 100  # many users were active before the baseline started
    assert metric_plan(result, "opens").mean == pytest.approx(table["opens"].mean(), rel=1e-12)


def test_plan_for_a_duration(plan_setup) -> None:
    _, config, events = plan_setup
    days = 21
    result = iterate.plan(config, days=days)
    table, _, _, entry_days = baseline_units(events)
    daily = table.height / entry_days
    n = daily * days / 2
    assert result.units_per_arm == math.floor(n) and result.days == days
    for name in ("opens", "purchasers"):
        m = metric_plan(result, name)
        values = table[name].to_numpy()
        expected = minimum_detectable_effect(n, variance=values.var(ddof=1), alpha=0.025, power=0.8) / values.mean()
        assert m.mde == pytest.approx(expected, rel=1e-9)
        closed = (stats.norm.ppf(1 - 0.025 / 2) + stats.norm.ppf(0.8)) * math.sqrt(2 * values.var(ddof=1) / n)
        assert m.mde == pytest.approx(closed / values.mean(), rel=1e-6)
        assert m.units_per_arm is None


def test_plan_with_cuped_uses_the_pre_period_correlation(plan_setup) -> None:
    """``cuped = "7d"``: each metric's correlation with its value in the 7 days before the unit's
    first baseline event (Pearson, from polars) shrinks the variance by 1 - rho^2."""
    directory, _, events = plan_setup
    config = write_config(directory, "cuped.toml", metrics=PLAN_METRICS[:2], exposures=None,
                          experiment_extra={"cuped": "7d"})
    result = iterate.plan(config, mde=0.05)
    table, *_ = baseline_units(events)
    for name, event, binary in (("opens", "app_open", False), ("purchasers", "purchase", True)):
        pre = (events.filter(pl.col("event") == event).join(table.select("user_id", "fe"), on="user_id")
               .filter((pl.col("timestamp") >= pl.col("fe") - timedelta(days=7)) & (pl.col("timestamp") < pl.col("fe")))
               .group_by("user_id").agg(pl.len().cast(pl.Float64).alias("pre")))
        joined = table.join(pre, on="user_id", how="left").with_columns(pl.col("pre").fill_null(0.0))
        y0 = joined["pre"].to_numpy()
        if binary:
            y0 = (y0 > 0).astype(float)
        y = joined[name].to_numpy()
        rho = np.corrcoef(y, y0)[0, 1]
        assert 0.05 < rho < 0.95
        m = metric_plan(result, name)
        assert m.cuped_correlation == pytest.approx(rho, rel=1e-9)
        expected = sample_size_per_arm(variance=y.var(ddof=1), mde=0.05 * y.mean(), alpha=0.025, power=0.8,
                                       cuped_correlation=rho)
        assert m.units_per_arm == expected
        without = metric_plan(iterate.plan(write_config(directory, "plain.toml", metrics=PLAN_METRICS[:2],
                                                        exposures=None), mde=0.05), name)
        assert abs(m.units_per_arm - without.units_per_arm * (1 - rho**2)) <= 2


def test_plan_cli(plan_setup) -> None:
    _, config, _ = plan_setup
    runner = CliRunner()
    outcome = runner.invoke(main, ["plan", str(config), "--mde", "0.05", "--format", "json"])
    assert outcome.exit_code == 0, outcome.output
    report = json.loads(outcome.stdout)
    assert report["schema_version"] == 1 and report["kind"] == "plan"
    expected = iterate.plan(config, mde=0.05).to_dict()
    for key in ("experiment", "baseline_start", "baseline_end", "arms", "alpha", "power", "mde", "units_per_arm", "days"):
        assert report[key] == expected[key], key
    assert report["daily_units"] == pytest.approx(expected["daily_units"], rel=1e-12)
    assert [m["name"] for m in report["metrics"]] == ["opens", "purchasers", "crashes"]
    for field in ("role", "type", "units", "mean", "std_dev", "cuped_correlation", "alpha", "power",
                  "units_per_arm", "mde"):
        assert all(field in m for m in report["metrics"]), field

    text = runner.invoke(main, ["plan", str(config), "--days", "14"])
    assert text.exit_code == 0 and "MDE" in text.output
    neither = runner.invoke(main, ["plan", str(config)])
    assert neither.exit_code == 2 and "--mde" in neither.output and "Traceback" not in neither.output


# ---------------------------------------------------------------------------------------- calibrate


def aa_logs(seed: int = 17, n: int = 3000):
    """A/A: both arms from the same distribution (heavy-tailed counts, a ratio, a proportion)."""
    rng = np.random.default_rng(seed)
    users = np.array([f"a{i:05d}" for i in range(n)])
    variant = np.where(rng.random(n) < 0.5, "control", "treatment")
    base_us = int(np.datetime64(BASE, "us").astype(np.int64))
    exposure_us = base_us + rng.integers(0, 3 * DAY_US, size=n)
    activity = rng.gamma(0.7, 1.5, size=n)
    ids, times, names = [], [], []
    views = rng.poisson(activity * 4)
    for event, counts in (("app_open", rng.poisson(activity * 3)), ("purchase", rng.poisson(activity * 0.1)),
                          ("view", views), ("click", rng.binomial(views, 0.1)), ("crash", rng.poisson(0.2, size=n))):
        ids.append(np.repeat(users, counts))
        times.append(np.repeat(exposure_us, counts) + rng.integers(0, 6 * DAY_US, size=int(counts.sum())))
        names.append(np.full(int(counts.sum()), event))
    events = pl.DataFrame({"user_id": np.concatenate(ids), "timestamp": np.concatenate(times).astype("datetime64[us]"),
                           "event": np.concatenate(names)})
    exposures = pl.DataFrame({"user_id": users, "experiment": "exp", "variant": variant,
                              "timestamp": exposure_us.astype("datetime64[us]")})
    return events, exposures


CALIBRATION_METRICS = [
    {"name": "opens", "type": "count", "event": "app_open"},
    {"name": "purchasers", "type": "proportion", "event": "purchase"},
    {"name": "ctr", "type": "ratio", "numerator": {"event": "click"}, "denominator": {"event": "view"},
     "role": "guardrail"},
    {"name": "crashes", "type": "count", "event": "crash", "role": "guardrail", "direction": "decrease"},
]


@pytest.fixture(scope="module")
def aa_setup(tmp_path_factory):
    directory = tmp_path_factory.mktemp("aa_logs")
    events, exposures = aa_logs()
    write_logs(directory, events, exposures)
    config = write_config(directory, metrics=CALIBRATION_METRICS)
    return directory, config, events, exposures


@pytest.fixture(scope="module")
def calibration(aa_setup):
    _, config, _, _ = aa_setup
    return iterate.calibrate(config, replicates=200, seed=0)


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    tail = (1 - level) / 2
    low = 0.0 if k == 0 else stats.beta.ppf(tail, k, n - k + 1)
    high = 1.0 if k == n else stats.beta.ppf(1 - tail, k + 1, n - k)
    return float(low), float(high)


def test_false_positive_rates_are_consistent_with_alpha(calibration, aa_setup) -> None:
    _, _, _, exposures = aa_setup
    assert calibration.replicates == 200 and calibration.alpha == 0.05 and calibration.share == 0.5
    assert calibration.units == exposures.height
    assert [m.name for m in calibration.metrics] == [m["name"] for m in CALIBRATION_METRICS]
    for rate in calibration.metrics:
        assert rate.replicates == 200
        assert rate.rate == rate.significant / 200
        low, high = clopper_pearson(rate.significant, 200)
        assert (rate.ci_low, rate.ci_high) == pytest.approx((low, high), rel=1e-9, abs=1e-12)
        assert low <= 0.05, rate  # contains alpha or lies below it
        assert rate.within_alpha
    assert sum(calibration.verdicts.values()) == 200
    fired = calibration.verdicts.get("ship", 0) + calibration.verdicts.get("rollback", 0)
    assert calibration.verdict_rate == fired / 200
    assert (calibration.verdict_ci_low, calibration.verdict_ci_high) == pytest.approx(clopper_pearson(fired, 200), rel=1e-9, abs=1e-12)
    assert calibration.verdict_ci_low <= 0.05 * 2  # two success metrics, each Holm-corrected within their family


def test_calibrate_cli(aa_setup, calibration) -> None:
    _, config, _, _ = aa_setup
    runner = CliRunner()
    outcome = runner.invoke(main, ["calibrate", str(config), "--replicates", "200", "--format", "json"])
    assert outcome.exit_code == 0, outcome.output
    report = json.loads(outcome.stdout)
    assert report["schema_version"] == 1 and report["kind"] == "calibration"
    assert report["replicates"] == 200 and report["seed"] == 0
    assert [m["significant"] for m in report["metrics"]] == [m.significant for m in calibration.metrics]
    assert report["verdicts"] == calibration.verdicts

    too_few = runner.invoke(main, ["calibrate", str(config), "--replicates", "5"])
    assert too_few.exit_code == 2 and "Traceback" not in too_few.output
    with pytest.raises(ConfigError, match="replicates"):
        iterate.calibrate(config, replicates=5)


def record_replicates(monkeypatch) -> list[dict]:
    """Spy on the per-replicate comparison: the arms' moments of every replicate."""
    seen: list[dict] = []
    original = iterate.calibration.overall_rows

    def spy(experiment, variants, groups, quantiles):
        seen.append({(g.metric, g.variant): (g.moments.n, g.moments.numerator_mean) for g in groups}
                    | {"replicate": groups[0].replicate})
        return original(experiment, variants, groups, quantiles)

    monkeypatch.setattr(iterate.calibration, "overall_rows", spy)
    return seen


def run_split(monkeypatch, config, seed: int, replicates: int = 20) -> dict[int, dict]:
    seen = record_replicates(monkeypatch)
    iterate.calibrate(config, replicates=replicates, seed=seed)
    monkeypatch.undo()
    return {record["replicate"]: record for record in seen}


def test_replicate_split_is_deterministic_per_seed_and_differs_across_seeds(monkeypatch, aa_setup) -> None:
    _, config, events, exposures = aa_setup
    first = run_split(monkeypatch, config, seed=1)
    again = run_split(monkeypatch, config, seed=1)
    other = run_split(monkeypatch, config, seed=2)
    assert sorted(first) == list(range(20))
    for replicate, record in first.items():
        assert record[("opens", "A")][0] == again[replicate][("opens", "A")][0]
        assert record[("opens", "A")][1] == pytest.approx(again[replicate][("opens", "A")][1], rel=1e-12)
    sizes = [first[r][("opens", "A")][0] for r in range(20)]
    other_sizes = [other[r][("opens", "A")][0] for r in range(20)]
    assert sum(a != b for a, b in zip(sizes, other_sizes)) >= 15  # another seed, another split
    assert len(set(sizes)) >= 10  # each replicate is its own split

    # each replicate partitions the same units: sizes and sums add up to the whole
    units = exposures.height
    opens = (events.filter(pl.col("event") == "app_open")
             .join(exposures.select("user_id", pl.col("timestamp").alias("fe")), on="user_id")
             .filter(pl.col("timestamp") < pl.col("fe") + timedelta(days=7)).height)
    for record in first.values():
        (n_a, mean_a), (n_b, mean_b) = record[("opens", "A")], record[("opens", "B")]
        assert n_a + n_b == units
        assert n_a * mean_a + n_b * mean_b == pytest.approx(opens, rel=1e-12)
    # arm A gets half of the units on average (binomial sd sqrt(n / 4) per replicate)
    share = np.mean(sizes) / units
    assert abs(share - 0.5) < 3 * math.sqrt(0.25 / units / 20)


def test_replicate_split_follows_the_expected_split(monkeypatch, aa_setup) -> None:
    directory, _, _, exposures = aa_setup
    uneven = write_config(directory, "uneven.toml", metrics=CALIBRATION_METRICS[:1],
                          expected_split={"control": 0.7, "treatment": 0.3})
    records = run_split(monkeypatch, uneven, seed=5, replicates=30)
    sizes = np.array([r[("opens", "A")][0] for r in records.values()])
    units = exposures.height
    assert abs(sizes.mean() / units - 0.7) < 3 * math.sqrt(0.21 / units / 30)


def test_plan_leaves_out_a_covariate_column_it_cannot_read(plan_setup) -> None:
    """``covariate = "history"`` is a column of the exposures log, which planning does not read: the
    metric is planned without CUPED (the same as without the covariate), not an internal error."""
    directory, _, _ = plan_setup
    with_covariate = [{**PLAN_METRICS[0], "covariate": "history"}, PLAN_METRICS[1]]
    result = iterate.plan(write_config(directory, "covariate.toml", metrics=with_covariate, exposures=None), mde=0.05)
    plain = iterate.plan(write_config(directory, "plain_two.toml", metrics=PLAN_METRICS[:2], exposures=None), mde=0.05)
    assert metric_plan(result, "opens").cuped_correlation == 0
    assert metric_plan(result, "opens").units_per_arm == metric_plan(plain, "opens").units_per_arm
    assert result.units_per_arm == plain.units_per_arm


def test_plan_says_when_the_baseline_is_shorter_than_asked(plan_setup) -> None:
    """--baseline-days 1000 was cut to the days of the log without a word (issue 9, defect 9)."""
    directory, config, events = plan_setup
    result = iterate.plan(config, mde=0.05, baseline_days=1000)
    assert result.baseline_shortened and result.requested_baseline_days == 1000
    assert result.baseline_start == events["timestamp"].min()
    assert result.to_dict()["baseline_shortened"] is True
    outcome = CliRunner().invoke(main, ["plan", str(config), "--mde", "0.05", "--baseline-days", "1000"])
    assert outcome.exit_code == 0, outcome.output
    held = (result.baseline_end - result.baseline_start) / timedelta(days=1)
    assert f"the log holds only {held:.1f} days, all used as the baseline; --baseline-days asked for 1000" in outcome.output

    default = iterate.plan(config, mde=0.05)
    assert not default.baseline_shortened and default.requested_baseline_days == 14
    assert "note:" not in CliRunner().invoke(main, ["plan", str(config), "--mde", "0.05"]).output
