"""Tests of iterate.simulate: synthetic logs generated inside DuckDB, checked with polars."""

from __future__ import annotations

import json
import math
import stat
import tomllib
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from scipy import stats

import iterate
from helpers import file_hashes
from iterate.cli import main
from iterate.errors import DataError, IterateError, OutputError
from iterate.simulate import EVENT_TYPES, SimulationSummary, simulate_logs

EVENT_COLUMNS = {
    "user_id": pl.Int64,
    "timestamp": pl.Datetime("us"),
    "event": pl.String,
    "value": pl.Float64,
    "platform": pl.String,
    "country": pl.String,
}
EXPOSURE_COLUMNS = {
    "user_id": pl.Int64,
    "experiment": pl.String,
    "variant": pl.String,
    "timestamp": pl.Datetime("us"),
}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> SimulationSummary:
    return simulate_logs(
        tmp_path_factory.mktemp("small"),
        units=5_000,
        events=100_000,
        seed=7,
        effects={"treatment": {"purchase": 0.1}},
    )


def first_variant(exposures: pl.DataFrame) -> pl.DataFrame:
    """One row per unit: variant of its first exposure, and whether it saw several variants."""
    return (
        exposures.sort("timestamp", "user_id")
        .group_by("user_id")
        .agg(
            pl.col("variant").first(),
            pl.col("timestamp").min().alias("exposed_at"),
            pl.col("variant").n_unique().alias("n_variants"),
        )
    )


def test_columns_and_types(small: SimulationSummary) -> None:
    events = pl.read_parquet(small.events_path)
    exposures = pl.read_parquet(small.exposures_path)
    assert dict(events.schema) == EVENT_COLUMNS
    assert dict(exposures.schema) == EXPOSURE_COLUMNS
    assert small.events_path.name == "events.parquet"
    assert small.exposures_path.name == "exposures.parquet"

    assert set(events["event"].unique()) == set(EVENT_TYPES)
    assert set(events["platform"].unique()) == {"ios", "android", "web"}
    assert events["country"].null_count() == 0
    with_value = events.filter(pl.col("event").is_in(["page_load", "purchase"]))
    assert with_value["value"].null_count() == 0
    assert (with_value["value"] > 0).all()
    assert events.filter(~pl.col("event").is_in(["page_load", "purchase"]))["value"].null_count() == (
        events.height - with_value.height
    )
    assert exposures["experiment"].unique().to_list() == ["checkout_v2"]
    assert set(exposures["variant"].unique()) == {"control", "treatment"}


def test_counts_match_request_and_summary(small: SimulationSummary) -> None:
    events = pl.read_parquet(small.events_path)
    exposures = pl.read_parquet(small.exposures_path)
    assert events.height == small.events
    assert abs(small.events - 100_000) < 10_000  # sd of the total is about 2% here
    assert exposures.height == small.exposure_rows
    assert exposures.height == 5_000 + small.units_cross_exposed + small.units_duplicate_exposure

    units = first_variant(exposures)
    assert units.height == small.units_exposed == 5_000
    assert units.filter(pl.col("n_variants") > 1).height == small.units_cross_exposed
    assert small.units_cross_exposed > 0
    assert small.units_duplicate_exposure > 0
    per_variant = dict(units.group_by("variant").len().iter_rows())
    assert per_variant == small.units_per_variant

    never_exposed = events.select("user_id").unique().join(units, on="user_id", how="anti")
    assert 0 < never_exposed.height <= small.units_unexposed == 500
    # event types keep roughly their base shares (purchase is lifted by 10% in half the units)
    shares = dict(events.group_by("event").len().with_columns(pl.col("len") / events.height).iter_rows())
    for name, share in EVENT_TYPES.items():
        assert shares[name] == pytest.approx(share, rel=0.25)


def test_units_are_heterogeneous(small: SimulationSummary) -> None:
    events = pl.read_parquet(small.events_path)
    per_unit = events.group_by("user_id").len()["len"]
    assert per_unit.max() > 10 * per_unit.median()  # skewed activity
    purchasers = events.filter(pl.col("event") == "purchase")["user_id"].n_unique()
    assert purchasers < 0.8 * per_unit.len()  # many units never purchase


def test_event_times_span_beyond_the_window(small: SimulationSummary) -> None:
    events = pl.read_parquet(small.events_path)
    units = first_variant(pl.read_parquet(small.exposures_path))
    offset = events.join(units, on="user_id").select(
        ((pl.col("timestamp") - pl.col("exposed_at")).dt.total_milliseconds() / 86_400_000).alias("d")
    )["d"]
    assert offset.min() >= -2
    assert offset.max() < small.window_days + 2
    before = (offset < 0).mean()
    after = (offset >= small.window_days).mean()
    assert 0.1 < before < 0.25 and 0.1 < after < 0.25  # about 2/11 each
    exposed_at = units["exposed_at"]
    assert exposed_at.min() >= small.start
    assert exposed_at.max() < small.start + timedelta(days=small.days)


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    kwargs = dict(units=2_000, events=40_000, effects={"treatment": {"crash": -0.2}})
    a = simulate_logs(tmp_path / "a", seed=11, **kwargs)
    b = simulate_logs(tmp_path / "b", seed=11, **kwargs)
    c = simulate_logs(tmp_path / "c", seed=12, **kwargs)
    assert a.events_path.read_bytes() == b.events_path.read_bytes()
    assert a.exposures_path.read_bytes() == b.exposures_path.read_bytes()
    assert pl.read_parquet(a.events_path).equals(pl.read_parquet(b.events_path))
    assert not pl.read_parquet(a.events_path).equals(pl.read_parquet(c.events_path))
    assert not pl.read_parquet(a.exposures_path).equals(pl.read_parquet(c.exposures_path))


def test_split_is_respected(tmp_path: Path) -> None:
    split = (0.2, 0.3, 0.5)
    summary = simulate_logs(
        tmp_path, units=200_000, events=20_000, variants=("a", "b", "c"), split=split, seed=3
    )
    units = first_variant(pl.read_parquet(summary.exposures_path))
    observed = [units.filter(pl.col("variant") == v).height for v in ("a", "b", "c")]
    assert observed == [summary.units_per_variant[v] for v in ("a", "b", "c")]
    expected = [share * 200_000 for share in split]
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    # a cross-exposure goes to a different variant
    crossed = pl.read_parquet(summary.exposures_path).group_by("user_id").agg(
        pl.col("variant").n_unique()
    )
    assert crossed.filter(pl.col("variant") > 1).height == summary.units_cross_exposed > 100


def per_unit_means(summary: SimulationSummary, event: str) -> pl.DataFrame:
    """Per first variant: n, mean and variance of the per-unit count and value sum of ``event``
    over all of a unit's events (no window), zeros for units without that event."""
    events = pl.read_parquet(summary.events_path).filter(pl.col("event") == event)
    units = first_variant(pl.read_parquet(summary.exposures_path)).filter(pl.col("n_variants") == 1)
    per_unit = events.group_by("user_id").agg(pl.len().alias("count"), pl.col("value").sum())
    joined = units.join(per_unit, on="user_id", how="left").with_columns(
        pl.col("count").fill_null(0).cast(pl.Float64), pl.col("value").fill_null(0.0)
    )
    return joined.group_by("variant").agg(
        pl.len().alias("n"),
        pl.col("count").mean().alias("count_mean"),
        pl.col("count").var().alias("count_var"),
        pl.col("value").mean().alias("value_mean"),
        pl.col("value").var().alias("value_var"),
    )


def ratio_and_se(moments: pl.DataFrame, column: str) -> tuple[float, float]:
    """treatment/control ratio of means with its delta-method standard error."""
    row = {r["variant"]: r for r in moments.iter_rows(named=True)}
    t, c = row["treatment"], row["control"]
    ratio = t[f"{column}_mean"] / c[f"{column}_mean"]
    rel_var = t[f"{column}_var"] / (t["n"] * t[f"{column}_mean"] ** 2) + c[f"{column}_var"] / (
        c["n"] * c[f"{column}_mean"] ** 2
    )
    return ratio, ratio * math.sqrt(rel_var)


def test_lift_is_recovered(tmp_path: Path) -> None:
    summary = simulate_logs(
        tmp_path, units=50_000, events=1_000_000, seed=5, effects={"treatment": {"purchase": 0.3}}
    )
    assert summary.effects == {"treatment": {"purchase": 0.3}}
    purchases = per_unit_means(summary, "purchase")
    ratio, se = ratio_and_se(purchases, "count")
    assert 0 < se < 0.05
    assert abs(ratio - 1.3) < 4 * se
    ratio, se = ratio_and_se(purchases, "value")  # revenue per unit moves with the count
    assert abs(ratio - 1.3) < 4 * se
    ratio, se = ratio_and_se(per_unit_means(summary, "app_open"), "count")  # untouched
    assert abs(ratio - 1.0) < 4 * se


def as_datetime(frame: pl.DataFrame) -> pl.DataFrame:
    """Text formats carry timestamps as text (JSON) or parsed with another unit (CSV)."""
    ts = pl.col("timestamp")
    if frame.schema["timestamp"] == pl.String:
        return frame.with_columns(ts.str.to_datetime(time_unit="us"))
    return frame.with_columns(ts.cast(pl.Datetime("us")))


@pytest.mark.parametrize("file_format", ["csv", "ndjson"])
def test_text_formats_hold_the_same_rows(tmp_path: Path, file_format: str) -> None:
    kwargs = dict(units=1_000, events=20_000, seed=2)
    reference = simulate_logs(tmp_path / "parquet", **kwargs)
    summary = simulate_logs(tmp_path / file_format, file_format=file_format, **kwargs)
    assert summary.events_path.name == f"events.{file_format}"
    if file_format == "csv":
        events = pl.read_csv(summary.events_path, try_parse_dates=True, infer_schema_length=None)
        exposures = pl.read_csv(summary.exposures_path, try_parse_dates=True)
    else:
        events = pl.read_ndjson(summary.events_path, infer_schema_length=None)
        exposures = pl.read_ndjson(summary.exposures_path)
    events, exposures = (as_datetime(frame) for frame in (events, exposures))
    expected_events = pl.read_parquet(reference.events_path)
    assert events.height == summary.events == reference.events
    assert events.select(list(EVENT_COLUMNS)).equals(expected_events)
    assert exposures.select(list(EXPOSURE_COLUMNS)).equals(pl.read_parquet(reference.exposures_path))


def test_describe_documents_the_truth(small: SimulationSummary) -> None:
    text = small.describe()
    assert "checkout_v2" in text
    assert "purchase +10.00%" in text
    assert f"{small.units_per_variant['control']:,}" in text
    for name in EVENT_TYPES:
        assert name in text
    with pytest.raises(AttributeError):
        small.events = 0  # type: ignore[misc]  # frozen


def test_force_overwrites_an_earlier_run(tmp_path: Path) -> None:
    first = simulate_logs(tmp_path, units=100, events=1_000, seed=1)
    first.config_path.chmod(0o640)
    second = simulate_logs(tmp_path, units=200, events=1_000, seed=1, effects={"treatment": {"crash": 0.5}},
                           force=True)
    assert pl.read_parquet(second.exposures_path)["user_id"].n_unique() == 200
    assert first.events_path == second.events_path
    assert first.config_path == second.config_path == tmp_path / "experiment.toml"
    assert "treatment vs control: crash +50.00%" in second.config_path.read_text()
    assert stat.S_IMODE(second.config_path.stat().st_mode) == 0o640  # rewritten through iterate.outputs


@pytest.mark.parametrize("name", ["events.parquet", "events.csv", "exposures.ndjson", "experiment.toml"])
def test_a_folder_holding_a_log_or_config_is_refused_unchanged(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"the user's own data")
    (tmp_path / "notes.txt").write_text("unrelated")
    before = file_hashes(tmp_path)
    with pytest.raises(OutputError) as info:
        simulate_logs(tmp_path, units=100, events=1_000)
    message = str(info.value)
    assert f"folder {tmp_path} already holds {name}" in message
    assert "--force" in message and "force=True" in message
    assert file_hashes(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "notes.txt"])


def test_a_folder_that_cannot_be_written_is_refused_before_generating(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(OutputError, match=rf"{locked}/experiment.toml: folder {locked} is not writable"):
            simulate_logs(locked, units=100, events=1_000)
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_the_written_config_describes_the_logs(tmp_path: Path) -> None:
    summary = simulate_logs(tmp_path, units=1_000, events=10_000, variants=("a", "b", "c"), split=(0.2, 0.3, 0.5),
                            effects={"b": {"purchase": 0.3}, "c": {"crash": -0.25}}, experiment="onboarding",
                            window_days=5, file_format="csv")
    assert summary.config_path == tmp_path / "experiment.toml"
    text = summary.config_path.read_text()
    document = tomllib.loads(text)
    assert document["experiment"] == {"name": "onboarding", "control": "a", "alpha": 0.05, "window": "5d",
                                      "expected_split": {"a": 0.2, "b": 0.3, "c": 0.5}}
    assert document["data"] == {"events": "events.csv", "exposures": "exposures.csv"}  # relative to the config
    assert [(m["name"], m["type"], m["event"], m["role"], m["direction"]) for m in document["metrics"]] == [
        ("purchasers", "proportion", "purchase", "success", "increase"),
        ("revenue_per_user", "mean", "purchase", "success", "increase"),
        ("crashes_per_user", "count", "crash", "guardrail", "decrease"),
        ("app_opens_per_user", "count", "app_open", "guardrail", "increase"),
    ]
    assert document["metrics"][1]["value"] == "value"
    assert "#   b vs a: purchase +30.00%" in text and "#   c vs a: crash -25.00%" in text
    assert "# true relative effect in b: +30.00%\n[[metrics]]\nname = \"revenue_per_user\"" in text
    experiment = iterate.load_config(summary.config_path)
    assert Path(experiment.events.path) == summary.events_path
    assert Path(experiment.exposures.path) == summary.exposures_path
    assert f"config:    {summary.config_path}" in summary.describe()


def test_a_variant_never_assigned_is_left_out_of_the_split(tmp_path: Path) -> None:
    summary = simulate_logs(tmp_path, units=200, events=2_000, variants=("a", "b", "off"), split=(0.5, 0.5, 0.0))
    split = tomllib.loads(summary.config_path.read_text())["experiment"]["expected_split"]
    assert split == {"a": 0.5, "b": 0.5}


def simulate_cli(*args: object):
    return CliRunner().invoke(main, ["simulate", *(str(a) for a in args)])


def analyze_cli(config: Path):
    result = CliRunner().invoke(main, ["analyze", str(config), "--format", "json"])
    return result.exit_code, json.loads(result.output)


@pytest.mark.parametrize("file_format", ["parquet", "ndjson"])
def test_the_written_config_ships_a_large_purchase_effect(tmp_path: Path, file_format: str) -> None:
    made = simulate_cli(tmp_path, "--units", 6_000, "--events", 120_000, "--effect", "purchase=0.5", "--seed", 1,
                        "--format", file_format)
    assert made.exit_code == 0, made.output
    assert f"iterate analyze {tmp_path / 'experiment.toml'}" in made.output
    exit_code, report = analyze_cli(tmp_path / "experiment.toml")
    assert (exit_code, report["verdict"]) == (0, "ship")
    revenue = next(row for row in report["metrics"] if row["name"] == "revenue_per_user")
    assert revenue["relative_ci_low"] < 0.5 < revenue["relative_ci_high"]
    assert revenue["relative_ci_low"] > 0


def test_the_written_config_does_not_ship_without_an_effect(tmp_path: Path) -> None:
    made = simulate_cli(tmp_path, "--units", 6_000, "--events", 120_000, "--seed", 1)
    assert made.exit_code == 0, made.output
    assert "True effects: none" in (tmp_path / "experiment.toml").read_text()
    exit_code, report = analyze_cli(tmp_path / "experiment.toml")
    assert report["verdict"] != "ship" and exit_code != 0
    assert (exit_code, report["verdict"]) == (11, "continue")  # (seed 4 happens to roll back on app opens)


def test_cli_refuses_an_earlier_run_unless_force(tmp_path: Path) -> None:
    assert simulate_cli(tmp_path, "--units", 100, "--events", 1_000).exit_code == 0
    before = file_hashes(tmp_path)
    refused = simulate_cli(tmp_path, "--units", 300, "--events", 1_000)
    assert refused.exit_code == 2, refused.output
    assert "already holds events.parquet, exposures.parquet, experiment.toml" in refused.output
    assert "--force" in refused.output and "Traceback" not in refused.output
    assert file_hashes(tmp_path) == before

    forced = simulate_cli(tmp_path, "--units", 300, "--events", 1_000, "--force")
    assert forced.exit_code == 0, forced.output
    after = file_hashes(tmp_path)
    assert after.keys() == before.keys() and all(after[name] != before[name] for name in after)
    assert pl.read_parquet(tmp_path / "exposures.parquet")["user_id"].n_unique() == 300


def test_paths_with_quotes_are_safe(tmp_path: Path) -> None:
    summary = simulate_logs(tmp_path / "it's; DROP x", units=50, events=500)
    assert pl.read_parquet(summary.events_path).height == summary.events


def test_output_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "not_a_folder"
    target.write_text("keep me")
    with pytest.raises(DataError, match="exists and is a file"):
        simulate_logs(target, units=10, events=10)
    assert target.read_text() == "keep me"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"units": 0}, r"`units == 0`, must be an integer >= 1"),
        ({"events": -1}, r"`events == -1`"),
        ({"split": (0.5, 0.3)}, r"sums to 0.8.*must sum to 1"),
        ({"split": (1.0,)}, r"1 shares .* for 2 variants"),
        ({"variants": ("a", "b", "c"), "split": (0.5, 0.5)}, r"2 shares .* for 3 variants"),
        ({"effects": {"treatmnt": {"purchase": 0.1}}}, r"unknown variant 'treatmnt'"),
        ({"effects": {"treatment": {"purchases": 0.1}}}, r"unknown event type 'purchases'"),
        ({"effects": {"control": {"purchase": 0.1}}}, r"control variant 'control'"),
        ({"effects": {"treatment": {"purchase": -1.0}}}, r"must be a finite relative lift > -1"),
        ({"variants": ("a", "a")}, r"repeat \['a'\]"),
        ({"variants": ("only",)}, r"need at least 2"),
        ({"file_format": "xlsx"}, r"`file_format == 'xlsx'`"),
        ({"cross_exposure_share": 1.5}, r"`cross_exposure_share == 1.5`"),
        ({"days": 0}, r"`days == 0`"),
    ],
)
def test_invalid_arguments_are_refused(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        simulate_logs(tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(IterateError) as info:
        simulate_logs(tmp_path, units=0, split=(0.9, 0.9), effects={"x": {"purchase": 0.1}})
    assert len(info.value.problems) == 3
    assert "invalid arguments" in str(info.value)


def test_aware_start_is_converted_to_utc(tmp_path: Path) -> None:
    from datetime import timezone

    start = datetime(2026, 3, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    summary = simulate_logs(tmp_path, units=200, events=1_000, start=start, days=1)
    assert summary.start == datetime(2026, 3, 1, 10)
    exposed_at = pl.read_parquet(summary.exposures_path)["timestamp"]
    assert exposed_at.min() >= datetime(2026, 3, 1, 10)
