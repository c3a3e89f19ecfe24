"""Every SQL template renders and parses: each is filled with plausible fragments for every branch
of its slots and run through DuckDB ``EXPLAIN`` (then executed) over small registered views, so a
broken template fails here rather than at a user's.
"""

from __future__ import annotations

import itertools
import re
import string

import duckdb
import polars as pl
import pytest

import iterate
from conftest import at, write_config, write_logs
from iterate import templates

# Plausible fragments for each slot name, as iterate's code builds them; a slot with several
# entries has several branches, and every combination is checked.
SLOT_FILLS: dict[str, tuple[str, ...]] = {
    "source": ('"raw_log"',),
    "checks": (
        'count(*) FILTER (WHERE "user_id" IS NULL) AS "null_user_id"',
        'count(*) FILTER (WHERE "user_id" IS NULL) AS "null_user_id", '
        'count(*) FILTER (WHERE "timestamp" IS NOT NULL AND CAST(try_cast("timestamp" AS TIMESTAMPTZ) AS TIMESTAMP) IS NULL) '
        'AS "unparseable_timestamp"',
    ),
    "columns": (
        'CAST("user_id" AS VARCHAR) AS "user_id", CAST(try_cast("timestamp" AS TIMESTAMPTZ) AS TIMESTAMP) AS "timestamp", '
        '"event" AS "event", CAST("value" AS DOUBLE) AS "value:value"',
    ),
    "exposures": ('"iterate_exposures"',),
    "exposed": ('"iterate_exposed"',),
    "events": ('"iterate_events"',),
    "experiment_filter": ("", 'WHERE "experiment" = $experiment'),
    "window_condition": ("", 'AND e."timestamp" < x."first_exposure" + to_seconds($window_seconds)'),
    "event_names": ("$event_0", "$event_0, $event_1"),
    "unit_aggregates": (
        'CAST(bool_or(e."event" = $event_0) AS INTEGER) AS "m0", '
        'sum(e."value:value") FILTER (WHERE e."event" = $event_0) AS "m1", '
        'count(*) FILTER (WHERE e."event" = $event_0) AS "m2"',
    ),
    "unit_values": ('coalesce(u."m0", 0) AS "m0", coalesce(u."m1", 0) AS "m1", coalesce(u."m2", 0) AS "m2"',),
    "variant_moments": (
        'avg("m0") AS "m0_mean", var_samp("m0") AS "m0_variance", avg("m1") AS "m1_mean", '
        'var_samp("m1") AS "m1_variance", avg("m2") AS "m2_mean", var_samp("m2") AS "m2_variance"',
    ),
}
PARAMETERS = {"experiment": "exp", "window_seconds": 604800.0, "event_0": "purchase", "event_1": "view"}


def slots_of(name: str) -> list[str]:
    return sorted({field for _, field, _, _ in string.Formatter().parse(templates.load_template(name)) if field})


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE raw_log AS SELECT * FROM (VALUES "
        "('u1', '2026-01-05T10:00:00Z', 'purchase', 2.5), ('u2', 'not a time', 'view', NULL), "
        "(NULL, '2026-01-06T10:00:00', 'purchase', 1.0)) AS t(\"user_id\", \"timestamp\", \"event\", \"value\")"
    )
    connection.execute(
        "CREATE TABLE iterate_events AS SELECT * FROM (VALUES "
        "('u1', TIMESTAMP '2026-01-05 11:00:00', 'purchase', 2.5), "
        "('u2', TIMESTAMP '2026-01-05 12:00:00', 'view', 1.0), "
        "('u3', TIMESTAMP '2026-01-20 12:00:00', 'purchase', 4.0)) AS t(\"user_id\", \"timestamp\", \"event\", \"value:value\")"
    )
    connection.execute(
        "CREATE TABLE iterate_exposures AS SELECT * FROM (VALUES "
        "('u1', TIMESTAMP '2026-01-05 10:00:00', 'control', 'exp'), "
        "('u2', TIMESTAMP '2026-01-05 10:00:00', 'treatment', 'exp'), "
        "('u3', TIMESTAMP '2026-01-05 10:00:00', 'treatment', 'exp'), "
        "('u4', TIMESTAMP '2026-01-05 10:00:00', 'control', 'exp'), "
        "('u4', TIMESTAMP '2026-01-05 11:00:00', 'treatment', 'exp')) AS t(\"user_id\", \"timestamp\", \"variant\", \"experiment\")"
    )
    connection.execute(
        "CREATE TABLE iterate_exposed AS SELECT \"user_id\", min(\"timestamp\") AS \"first_exposure\", "
        "min(\"variant\") AS \"variant\", min(\"variant\") <> max(\"variant\") AS \"multiple_variants\" "
        "FROM iterate_exposures GROUP BY ALL"
    )
    yield connection
    connection.close()


def test_templates_are_found():
    names = templates.template_names()
    assert {"column_problems", "exposure_summary", "normalize", "variant_moments"} <= set(names)


def renderings(name: str):
    slots = slots_of(name)
    unknown = [slot for slot in slots if slot not in SLOT_FILLS]
    assert not unknown, f"template {name}.sql has slots {unknown}: add plausible fragments to SLOT_FILLS"
    for choice in itertools.product(*(SLOT_FILLS[slot] for slot in slots)):
        yield templates.render(name, **dict(zip(slots, choice)))


@pytest.mark.parametrize("name", templates.template_names())
def test_template_renders_parses_and_runs(con, name):
    count = 0
    for query in renderings(name):
        assert not re.search(r"\{\w+\}", query), f"unfilled slot in {name}.sql"
        code = re.sub(r"--[^\n]*", "", query)  # bind parameters named in comments are not parameters
        used = set(re.findall(r"\$(\w+)", code))
        assert used <= set(PARAMETERS), f"{name}.sql binds unknown parameters {used - set(PARAMETERS)}"
        parameters = {key: PARAMETERS[key] for key in used}
        plan = con.execute(f"EXPLAIN {query}", parameters).fetchall()
        assert plan, f"empty plan for {name}.sql"
        con.execute(query, parameters).fetchall()
        count += 1
    assert count >= 1


def test_variant_moments_template_values(con):
    """The widest rendering gives the hand-computed moments on the small views (u4 is excluded)."""
    query = templates.render(
        "variant_moments",
        **{slot: SLOT_FILLS[slot][-1] for slot in slots_of("variant_moments")},
    )
    used = set(re.findall(r"\$(\w+)", re.sub(r"--[^\n]*", "", query)))
    cursor = con.execute(query, {key: PARAMETERS[key] for key in used})
    names = [column[0].lower() for column in cursor.description]
    rows = {row[0]: dict(zip(names, row)) for row in cursor.fetchall()}
    # control: u1 buys 2.5 in its window; treatment: u2 only views, u3 buys after the 7-day window
    assert rows["control"]["units"] == 1 and rows["treatment"]["units"] == 2
    assert rows["control"]["m0_mean"] == 1.0 and rows["control"]["m1_mean"] == 2.5
    assert rows["treatment"]["m0_mean"] == 0.0 and rows["treatment"]["m1_mean"] == 0.0
    assert rows["treatment"]["m2_variance"] == 0.0


def test_the_real_code_path_renders_templates_that_exist(tmp_path, monkeypatch):
    """An analysis of string timestamps, with a window and an experiment column, renders real templates."""
    used: list[str] = []
    original = templates.load_template

    def spy(name):
        used.append(name)
        return original(name)

    monkeypatch.setattr(templates, "load_template", spy)
    events = pl.DataFrame({
        "user_id": ["a", "b", "c", "d"],
        "timestamp": [str(at(hours=1)), str(at(hours=2)), str(at(hours=3)), str(at(hours=4))],
        "event": ["purchase", "view", "purchase", "purchase"],
        "value": [1.0, 2.0, 3.0, 4.0],
    })
    exposures = pl.DataFrame({
        "user_id": ["a", "b", "c", "d"], "experiment": ["exp"] * 4,
        "variant": ["control", "control", "treatment", "treatment"], "timestamp": [at()] * 4,
    })
    write_logs(tmp_path, events, exposures, fmt="csv")
    config = write_config(
        tmp_path, events="events.csv", exposures="exposures.csv",
        metrics=({"name": "revenue", "type": "mean", "event": "purchase", "value": "value"},),
    )
    iterate.analyze(config)
    assert set(used) <= set(templates.template_names())
    assert {"normalize", "exposed_units", "exposure_summary", "variant_moments", "column_problems"} <= set(used)
