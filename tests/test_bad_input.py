"""Bad input through the CLI: exit code 2, one clear message naming the problem, no traceback.

DESIGN.md: "Every failure a user can cause ends in one clear message naming the file, row or key
and the fix, exit code 2. Validation collects all problems at once. Nothing the user gave is
modified."
"""

from __future__ import annotations

import json

import re

import polars as pl
import pytest
from click.testing import CliRunner

from helpers import at, config_text, file_hashes, write_config, write_frame, write_logs
from iterate.cli import main

METRICS = (
    {"name": "conversion", "type": "proportion", "event": "purchase"},
    {"name": "revenue", "type": "mean", "event": "purchase", "value": "value"},
)


def good_events() -> pl.DataFrame:
    rows = []
    for i in range(20):
        rows.append({"user_id": f"u{i}", "timestamp": at(hours=i + 1), "event": "purchase", "value": float(i)})
        rows.append({"user_id": f"u{i}", "timestamp": at(hours=i + 2), "event": "view", "value": 1.0})
    return pl.DataFrame(rows)


def good_exposures() -> pl.DataFrame:
    return pl.DataFrame({
        "user_id": [f"u{i}" for i in range(20)],
        "experiment": ["exp"] * 20,
        "variant": ["control" if i % 2 else "treatment" for i in range(20)],
        "timestamp": [at(hours=i) for i in range(20)],
    })


def invoke(config, *args):
    return CliRunner().invoke(main, ["analyze", str(config), *args])


def assert_bad_input(result, *words):
    output = result.output
    assert result.exit_code == 2, f"exit code {result.exit_code}, output:\n{output}\nexception: {result.exception!r}"
    assert "Traceback" not in output
    assert "internal error" not in output
    for word in words:
        assert word in output, f"{word!r} not in output:\n{output}"
    return output


def problem_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("  - ")]


@pytest.fixture
def experiment(tmp_path):
    """A valid experiment on disk, run once to prove it is valid."""
    write_logs(tmp_path, good_events(), good_exposures())
    config = write_config(tmp_path, metrics=METRICS)
    assert invoke(config).exit_code in (0, 10, 11, 12, 13)
    return tmp_path


# --------------------------------------------------------------------------------------------
# data problems


def test_missing_events_file(experiment):
    config = write_config(experiment, metrics=METRICS, events="nope/events.parquet")
    output = assert_bad_input(invoke(config), "nope/events.parquet", "does not exist")
    assert "[data] events" in output


def test_both_logs_missing_are_reported_together(experiment):
    config = write_config(experiment, metrics=METRICS, events="gone_events.parquet", exposures="gone_exposures.parquet")
    output = assert_bad_input(invoke(config), "gone_events.parquet", "gone_exposures.parquet")
    assert len(problem_lines(output)) == 2


def test_missing_column_names_it_and_the_mapping(experiment):
    write_frame(good_events().rename({"event": "action"}), experiment / "events.parquet")
    output = assert_bad_input(invoke(write_config(experiment, metrics=METRICS)), "`event`", "[columns.events]", "events.parquet")
    assert "action" in output  # the columns found are listed


def test_missing_value_column_names_the_metric_value(experiment):
    write_frame(good_events().drop("value"), experiment / "events.parquet")
    assert_bad_input(invoke(write_config(experiment, metrics=METRICS)), "`value`", "events.parquet")


def test_unparseable_timestamp_strings_show_an_example(experiment):
    events = good_events().with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S"))
    events = events.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("yesterday at noon")).otherwise(pl.col("timestamp")).alias("timestamp")
    )
    write_frame(events, experiment / "events.parquet")
    output = assert_bad_input(invoke(write_config(experiment, metrics=METRICS)), "yesterday at noon", "`timestamp`", "events.parquet")
    assert re.search(r"\b1 timestamp", output)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_null_unit_ids(experiment, fmt):
    events = good_events().with_columns(
        pl.when(pl.int_range(pl.len()) < 2).then(None).otherwise(pl.col("user_id")).alias("user_id")
    )
    path = write_frame(events, experiment / f"events.{fmt}", fmt)
    config = write_config(experiment, metrics=METRICS, events=path.name)
    output = assert_bad_input(invoke(config), "null", "user_id", path.name)
    assert re.search(r"\b2 row", output)


def test_undeclared_variant_is_excluded_and_reported_not_fatal(experiment):
    """An arm the config does not declare (e.g. a holdout) is left out and named in a warning check."""
    exposures = good_exposures().with_columns(
        pl.when(pl.col("user_id") == "u3").then(pl.lit("beta")).otherwise(pl.col("variant")).alias("variant")
    )
    write_frame(exposures, experiment / "exposures.parquet")
    result = invoke(write_config(experiment, metrics=METRICS), "--format", "json")
    assert result.exit_code in (0, 10, 11, 13), result.output
    report = json.loads(result.output)
    check = next(c for c in report["checks"] if c["name"] == "unknown_variants")
    assert check["passed"] is False and check["severity"] == "warning"
    assert "beta" in check["message"] and "expected_split" in check["message"]
    assert report["excluded_units"]["undeclared_variants"] == 1
    assert sum(report["units"].values()) == 19


def test_empty_declared_variant(experiment):
    config = write_config(experiment, metrics=METRICS, expected_split={"control": 0.4, "treatment": 0.4, "beta": 0.2})
    assert_bad_input(invoke(config), "`beta`", "no exposed unit")


def test_non_numeric_value_column(experiment):
    events = good_events().with_columns(pl.format("{} EUR", pl.col("value")).alias("value"))
    write_frame(events, experiment / "events.parquet")
    assert_bad_input(invoke(write_config(experiment, metrics=METRICS)), "`value`", "numeric", "events.parquet")


def test_epoch_milliseconds(experiment):
    events = good_events().with_columns(pl.col("timestamp").dt.epoch("ms"))
    write_frame(events, experiment / "events.parquet")
    assert_bad_input(invoke(write_config(experiment, metrics=METRICS)), "milliseconds", "`timestamp`", "events.parquet")


def test_data_problems_of_both_logs_are_collected(experiment):
    write_frame(good_events().rename({"event": "action"}), experiment / "events.parquet")
    write_frame(good_exposures().drop("variant"), experiment / "exposures.parquet")
    output = assert_bad_input(invoke(write_config(experiment, metrics=METRICS)), "`event`", "`variant`", "[columns.exposures]")
    assert len(problem_lines(output)) == 2


# --------------------------------------------------------------------------------------------
# config problems


def test_config_toml_syntax_error(experiment):
    config = experiment / "experiment.toml"
    config.write_text(config_text(metrics=METRICS) + "\n[[metrics]\nname = \"broken\n")
    assert_bad_input(invoke(config), "experiment.toml", "not valid TOML")


def test_missing_config_file(tmp_path):
    assert_bad_input(invoke(tmp_path / "absent.toml"), "absent.toml", "does not exist")


def test_unknown_metric_key_suggests_the_nearest(experiment):
    metrics = [{"name": "conversion", "type": "proportion", "evnt": "purchase"}]
    assert_bad_input(invoke(write_config(experiment, metrics=metrics)), "`evnt`", "did you mean `event`")


def test_unknown_experiment_key_suggests_the_nearest(experiment):
    config = write_config(experiment, metrics=METRICS, experiment_extra={"alpah": 0.05})
    assert_bad_input(invoke(config), "`alpah`", "did you mean `alpha`")


@pytest.mark.parametrize("alpha", [2, 0, 1, -0.05, "0.05"])
def test_invalid_alpha(experiment, alpha):
    config = write_config(experiment, metrics=METRICS, alpha=alpha)
    assert_bad_input(invoke(config), "alpha", repr(alpha), "(0, 1)")


def test_metric_type_typo(experiment):
    metrics = [{"name": "conversion", "type": "proportoin", "event": "purchase"}]
    assert_bad_input(invoke(write_config(experiment, metrics=metrics)), "proportoin", "did you mean `proportion`")


def test_several_config_problems_are_reported_at_once(experiment):
    config = write_config(
        experiment,
        alpha=2,
        window="seven days",
        metrics=[
            {"name": "conversion", "type": "proportoin", "event": "purchase"},
            {"name": "revenue", "type": "mean", "event": "purchase", "value": "value", "dirction": "increase"},
        ],
        extra='[extra_section]\nkey = 1',
    )
    output = assert_bad_input(invoke(config), "alpha", "seven days", "proportoin", "`dirction`", "`extra_section`")
    problems = problem_lines(output)
    assert len(problems) == 5, output
    assert "5 problem" in output


def test_output_pointing_at_the_config_is_refused(experiment):
    config = write_config(experiment, metrics=METRICS)
    before = file_hashes(experiment)
    result = invoke(config, "--format", "json", "--output", str(config))
    assert_bad_input(result, "--output")
    assert file_hashes(experiment) == before


@pytest.mark.parametrize("which", ["events", "exposures"])
def test_output_pointing_at_a_log_is_refused(experiment, which):
    config = write_config(experiment, metrics=METRICS)
    before = file_hashes(experiment)
    result = invoke(config, "--output", str(experiment / f"{which}.parquet"))
    assert_bad_input(result, "--output")
    assert file_hashes(experiment) == before


def test_output_pointing_at_the_events_option_is_refused(experiment):
    config = write_config(experiment, metrics=METRICS)
    events = experiment / "events.parquet"
    before = file_hashes(experiment)
    result = invoke(config, "--events", str(events), "--output", str(events))
    assert_bad_input(result, "--output")
    assert file_hashes(experiment) == before


# --------------------------------------------------------------------------------------------
# config values of the wrong type are input errors (exit 2), never internal errors (exit 1)


def test_srm_threshold_of_the_wrong_type(experiment):
    config = write_config(experiment, metrics=METRICS, experiment_extra={"srm_threshold": "0.001"})
    assert_bad_input(invoke(config), "srm_threshold")


def test_expected_split_that_is_not_a_table(experiment):
    config = write_config(experiment, metrics=METRICS, expected_split=["control", "treatment"])
    assert_bad_input(invoke(config), "expected_split")


def test_metric_value_that_is_not_a_column_name(experiment):
    metrics = [{"name": "revenue", "type": "mean", "event": "purchase", "value": 5}]
    assert_bad_input(invoke(write_config(experiment, metrics=metrics)), "revenue", "value")


def test_zero_window_is_refused(experiment):
    """A window of length 0 is a typo; it must not silently become an open-ended window."""
    config = write_config(experiment, metrics=METRICS, window="0d")
    assert_bad_input(invoke(config), "window", "0d")


# --------------------------------------------------------------------------------------------
# `where` values that the column's type cannot be compared with (issue 9, defect 1)


@pytest.fixture
def with_country(experiment):
    """The experiment with a text column `country` in both logs."""
    write_frame(good_events().with_columns(pl.lit("US").alias("country")), experiment / "events.parquet")
    write_frame(good_exposures().with_columns(pl.lit("US").alias("country")), experiment / "exposures.parquet")
    return experiment


def test_unit_filter_comparing_a_text_column_with_a_number(with_country):
    config = write_config(with_country, metrics=METRICS, experiment_extra={"where": {"country": 5}})
    output = assert_bad_input(invoke(config), "[experiment] where", "`country`", "the number 5", "VARCHAR",
                              "exposures.parquet", '{ country = "5" }')
    assert "Conversion Error" not in output and "offending file" not in output


def test_metric_filter_comparing_a_text_column_with_a_number(with_country):
    """Was exit 1: a raw BinderException from the engine."""
    metrics = [METRICS[0], {**METRICS[1], "where": {"country": {"gt": 5}}}]
    output = assert_bad_input(invoke(write_config(with_country, metrics=metrics)),
                              "[[metrics]] #2 (revenue) where", "`country`", "VARCHAR", "events.parquet",
                              '{ country = { gt = "5" } }')
    assert "Binder" not in output


def test_metric_filter_comparing_a_numeric_column_with_a_word(experiment):
    metrics = [METRICS[0], {**METRICS[1], "where": {"value": {"gt": "abc"}}}]
    output = assert_bad_input(invoke(write_config(experiment, metrics=metrics)),
                              "[[metrics]] #2 (revenue) where", '"abc"', "DOUBLE", "a number")
    assert "Conversion Error" not in output


def test_ratio_side_filter_names_the_side(with_country):
    metrics = [METRICS[0], {"name": "per_view", "type": "ratio", "numerator": {"event": "purchase", "where": {"country": ["US", 1]}},
                            "denominator": {"event": "view"}}]
    assert_bad_input(invoke(write_config(with_country, metrics=metrics)),
                     "[[metrics]] #2 (per_view) numerator where", "the number 1")


def test_filter_values_the_engine_converts_are_accepted(with_country):
    """A number written as a string on a numeric column is still a valid filter, and a text column
    compared with strings is untouched."""
    metrics = [METRICS[0], {**METRICS[1], "where": {"value": {"ge": "0"}, "country": ["US", "CA"]}}]
    result = invoke(write_config(with_country, metrics=metrics, experiment_extra={"where": {"country": "US"}}))
    assert result.exit_code in (0, 10, 11, 12, 13), result.output


# --------------------------------------------------------------------------------------------
# NaN, infinite and overflowing values (issue 9, defect 2)

QUANTILE = {"name": "p95", "type": "quantile", "event": "purchase", "value": "value", "quantile": 0.95}


def events_with_value(value: float, row: int = 4) -> pl.DataFrame:
    """The good events with ``value`` in one row (row 4 is a purchase)."""
    events = good_events()
    assert events["event"][row] == "purchase"
    return events.with_columns(pl.when(pl.int_range(pl.len()) == row).then(value).otherwise(pl.col("value")).alias("value"))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_values_name_the_column_the_count_and_the_metrics(experiment, value):
    write_frame(events_with_value(value), experiment / "events.parquet")
    output = assert_bad_input(invoke(write_config(experiment, metrics=[*METRICS, QUANTILE])),
                              "events.parquet", "1 value(s) in column `value`", "NaN or infinite", "revenue, p95",
                              "purchase", "drop those rows")
    assert "must be a finite number" not in output
    assert len(problem_lines(output)) == 1


def test_a_quantile_metric_refuses_nan(experiment):
    write_frame(events_with_value(float("nan")), experiment / "events.parquet")
    assert_bad_input(invoke(write_config(experiment, metrics=[METRICS[0], QUANTILE])), "NaN or infinite", "p95")


def test_non_finite_values_of_events_no_metric_reads_are_harmless(experiment):
    events = good_events().with_columns(
        pl.when(pl.col("event") == "view").then(float("nan")).otherwise(pl.col("value")).alias("value"))
    write_frame(events, experiment / "events.parquet")
    result = invoke(write_config(experiment, metrics=METRICS))
    assert result.exit_code in (0, 10, 11, 12, 13), result.output


def test_non_finite_values_of_an_arrow_table(experiment):
    import iterate

    events = events_with_value(float("nan")).to_arrow()
    with pytest.raises(iterate.DataError, match=r"1 value\(s\) in column `value`.*NaN or infinite.*revenue"):
        iterate.analyze(write_config(experiment, metrics=METRICS), events=events)


@pytest.mark.parametrize("metric", [METRICS[1], QUANTILE], ids=["mean", "quantile"])
def test_values_too_large_to_analyze(experiment, metric):
    """1e300 is finite, but its square overflows: was a StatsError naming no metric (mean) or exit 1 (quantile)."""
    write_frame(events_with_value(1e300), experiment / "events.parquet")
    output = assert_bad_input(invoke(write_config(experiment, metrics=[METRICS[0], metric])),
                              f"metric {metric['name']}", "`value`", "too large to analyze", "rescale")
    assert "== inf" not in output


# --------------------------------------------------------------------------------------------
# a split that does not sum to 1, a cap that is not positive (issue 9, defect 3)


def test_expected_split_must_sum_to_1(experiment):
    """Was normalized silently, then the SRM check judged the arms against another split."""
    config = write_config(experiment, metrics=METRICS, expected_split={"control": 0.5, "treatment": 0.6})
    output = assert_bad_input(invoke(config), "[experiment] expected_split", "sums to 1.1", "must sum to 1",
                              "expected_split = { control = 0.454545, treatment = 0.545455 }")
    assert len(problem_lines(output)) == 1


@pytest.mark.parametrize("cap", [-5, 0, -0.5])
def test_a_fixed_cap_must_be_positive(experiment, cap):
    """cap = -5 was accepted and set every unit's value to -5."""
    metrics = [METRICS[0], {**METRICS[1], "cap": cap}]
    assert_bad_input(invoke(write_config(experiment, metrics=metrics)),
                     "[[metrics]] #2 (revenue)", f"cap == {cap!r}", "must be a number > 0", "percentile")


# --------------------------------------------------------------------------------------------
# a bad value past the CSV reader's sample (issue 9, defect 5): CSV logs are read as text and
# converted, so that such values are counted row problems with examples, never a failed scan

SAMPLE_PASSED = 25_000  # beyond DuckDB's 20,480-row sample


def long_csv(path, *, bad_line: int | None = None, bad: str = "", header: str = "user_id,timestamp,event,value,country",
             values=lambda i: i % 7):
    """A CSV of SAMPLE_PASSED purchase events of u0..u19 (integer ``values``, countries 0-2); the
    data line ``bad_line`` (1-based, after the header) is replaced by ``bad``."""
    lines = [header]
    for i in range(SAMPLE_PASSED):
        hour = at(hours=i % 20 + 1).isoformat()
        lines.append(bad if i + 1 == bad_line else f"u{i % 20},{hour},purchase,{values(i)},{i % 3}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_non_number_past_the_csv_sample_is_a_counted_row_problem(experiment):
    """Was only "CSV Error on Line: 24001", without file, column or value."""
    long_csv(experiment / "events.csv", bad_line=24_000, bad=f"u3,{at(hours=4).isoformat()},purchase,abc,1")
    config = write_config(experiment, metrics=METRICS, events="events.csv")
    output = assert_bad_input(invoke(config), "events.csv", "1 value(s) in column `value`", "not numbers", "'abc'",
                              "correct or remove")
    assert "CSV Error" not in output


def test_a_bad_dimension_value_past_the_csv_sample_is_counted_with_the_other_problems(experiment):
    long_csv(experiment / "events.csv", bad_line=24_000, bad=f"u3,{at(hours=4).isoformat()},purchase,1,x")
    metrics = [METRICS[0], {**METRICS[1], "where": {"country": {"ge": 1}}}]
    output = assert_bad_input(invoke(write_config(experiment, metrics=metrics, events="events.csv")),
                              "column `country`", "BIGINT", "'x'")
    assert len(problem_lines(output)) == 1


def test_a_malformed_line_past_the_csv_sample_names_the_file_and_the_line(experiment):
    long_csv(experiment / "events.csv", bad_line=24_000, bad=f"u3,{at(hours=4).isoformat()},purchase,1,2,extra")
    output = assert_bad_input(invoke(write_config(experiment, metrics=METRICS, events="events.csv")),
                              "events.csv, line 24,001", "6 fields where the header has 5", "extra", "fix or remove that line")
    assert "Invalid Input Error" not in output


def test_decimals_after_integers_in_a_csv_value_column_are_read_exactly(experiment):
    """The first rows of `value` look like integers; a decimal later is a number all the same
    (read as the detected BIGINT, 2.5 was silently rounded to 3)."""
    long_csv(experiment / "events.csv", bad_line=24_000, bad=f"u3,{at(hours=4).isoformat()},purchase,2.5,1",
             values=lambda i: 0)
    result = invoke(write_config(experiment, metrics=METRICS, events="events.csv"), "--format", "json")
    assert result.exit_code in (0, 10, 11, 12, 13), result.output
    revenue = next(row for row in json.loads(result.output)["metrics"] if row["name"] == "revenue")
    assert revenue["n_control"] == 10 and revenue["control_mean"] == pytest.approx(2.5 / 10)  # u3 is in control


def test_a_bad_date_time_past_the_csv_sample_is_a_counted_row_problem(experiment):
    """A CSV log's timestamps are read as text and parsed by iterate (issue 9, part 6), so a bad one
    past the reader's sample is counted with an example, like any unparseable timestamp."""
    long_csv(experiment / "events.csv", bad_line=24_000, bad="u3,yesterday,purchase,1,1")
    output = assert_bad_input(invoke(write_config(experiment, metrics=METRICS, events="events.csv")),
                              "1 timestamp(s) in column `timestamp` cannot be parsed (e.g. 'yesterday')",
                              "use ISO-8601")
    assert "CSV Error" not in output


# --------------------------------------------------------------------------------------------
# messages that point at the right fix (issue 9, defect 6)


def with_exposure_event(config):
    config.write_text(config.read_text().replace("[data]\n", '[data]\nexposure_event = "exposure"\n'))
    return config


def test_exposure_event_without_a_variant_column_names_the_events_mapping(experiment):
    """The variant of an exposure event is a column of the events log: [columns.events] maps it
    (the hint named [columns.exposures], which does not)."""
    exposures = good_exposures().select("user_id", "timestamp", pl.lit("exposure").alias("event"))
    events = pl.concat([good_events(), exposures.with_columns(pl.lit(None, pl.Float64).alias("value"))], how="diagonal")
    write_frame(events, experiment / "events.parquet")
    config = with_exposure_event(write_config(experiment, metrics=METRICS))
    output = assert_bad_input(invoke(config), "`variant`", "[columns.events] variant")
    assert "[columns.exposures]" not in output


def test_exposure_event_that_never_occurs(experiment):
    config = with_exposure_event(write_config(experiment, metrics=METRICS))
    events = good_events().with_columns(pl.lit("control").alias("variant"))
    write_frame(events, experiment / "events.parquet")
    assert_bad_input(invoke(config), "[data] exposure_event `exposure` never occurs in the events log", "`purchase`")


def test_as_of_before_every_exposure_says_so_with_the_first_exposure(experiment):
    """Was "no exposure of experiment exp; experiments found: exp"."""
    output = assert_bad_input(invoke(write_config(experiment, metrics=METRICS), "--as-of", "2026-01-01T00:00:00Z"),
                              "before the as-of time 2026-01-01 00:00:00", "first exposure is at 2026-01-05 10:00:00",
                              "--as-of")
    assert "experiments found" not in output


def test_unit_filters_leaving_no_exposure_say_so(with_country):
    config = write_config(with_country, metrics=METRICS, experiment_extra={"where": {"country": "FR"}})
    output = assert_bad_input(invoke(config), "[experiment] where")
    assert "experiments found" not in output


def test_a_wrong_experiment_name_still_lists_the_experiments_found(experiment):
    config = write_config(experiment, metrics=METRICS, name="checkout_v3")
    assert_bad_input(invoke(config), "no exposure of experiment `checkout_v3`", "experiments found: exp")


# --------------------------------------------------------------------------------------------
# every problem that can be found without the others, in one message (issue 9, defect 7)


def test_config_problems_and_a_missing_log_are_reported_together(experiment):
    """A config error hid a missing file: the user fixed one, ran again, met the other."""
    config = write_config(experiment, metrics=METRICS, alpha=2, events="gone/events.parquet")
    output = assert_bad_input(invoke(config), "alpha == 2", "gone/events.parquet", "does not exist")
    assert len(problem_lines(output)) == 2
    assert "1 problem(s), and its input logs 1" in output


def test_config_problems_and_an_unreadable_log_given_on_the_command_line(experiment):
    garbage = experiment / "garbage.parquet"
    garbage.write_text("not parquet")
    config = write_config(experiment, metrics=METRICS, window="seven days")
    output = assert_bad_input(invoke(config, "--exposures", str(garbage)), "seven days", "garbage.parquet")
    assert len(problem_lines(output)) == 2


def test_config_problems_alone_when_the_logs_are_fine(experiment):
    output = assert_bad_input(invoke(write_config(experiment, metrics=METRICS, alpha=2)), "alpha")
    assert len(problem_lines(output)) == 1 and "input logs" not in output


def test_config_problems_and_a_missing_log_in_python(experiment):
    import iterate

    config = write_config(experiment, metrics=METRICS, alpha=2)
    with pytest.raises(iterate.ConfigError) as raised:
        iterate.analyze(config, exposures=experiment / "absent.parquet")
    assert len(raised.value.problems) == 2 and "absent.parquet" in raised.value.problems[1]


def test_a_missing_column_does_not_hide_null_ids(experiment):
    events = good_events().rename({"event": "action"}).with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(None).otherwise(pl.col("user_id")).alias("user_id"))
    write_frame(events, experiment / "events.parquet")
    output = assert_bad_input(invoke(write_config(experiment, metrics=METRICS)), "`event`", "3 row(s) have a null user_id")
    assert len(problem_lines(output)) == 2


def test_a_missing_log_does_not_hide_the_other_logs_problems(experiment):
    write_frame(good_exposures().drop("variant"), experiment / "exposures.parquet")
    config = write_config(experiment, metrics=METRICS, events="gone.parquet")
    output = assert_bad_input(invoke(config), "gone.parquet", "`variant`", "[columns.exposures]")
    assert len(problem_lines(output)) == 2


def test_an_unusable_timestamp_type_is_reported_with_the_null_ids(experiment):
    events = good_events().with_columns(pl.lit(True).alias("timestamp"),
                                        pl.when(pl.int_range(pl.len()) < 1).then(None).otherwise(pl.col("user_id")).alias("user_id"))
    write_frame(events, experiment / "events.parquet")
    output = assert_bad_input(invoke(write_config(experiment, metrics=METRICS)), "timestamp column", "BOOLEAN",
                              "1 row(s) have a null user_id")
    assert len(problem_lines(output)) == 2


# --------------------------------------------------------------------------------------------
# the Python API (issue 9, defect 9)


@pytest.mark.parametrize("config", [42, None, ["experiment.toml"]])
def test_analyze_refuses_a_config_of_the_wrong_type(config):
    """iterate.analyze(42) raised a raw TypeError from pathlib."""
    import iterate

    with pytest.raises(iterate.ConfigError, match=r"config == .*, of type .*: expected an iterate.Experiment or the path "
                                                  r"of its TOML file"):
        iterate.analyze(config)
