"""Exposure semantics of DESIGN.md, checked end to end through ``iterate.analyze``.

- exposed units without events count as zeros (never dropped);
- a unit exposed to two variants is excluded and counted; repeated exposures to one variant keep
  the unit, whose window starts at its first exposure;
- the window is [first exposure, first exposure + window), and open-ended without ``window``;
- exposures are filtered on the experiment column when there is one.

Expected values are computed by hand from the explicit rows below.
"""

from __future__ import annotations

import math
import re

import numpy as np
import polars as pl
import pytest

import iterate
from helpers import at, write_config, write_logs

METRICS = (
    {"name": "purchases", "type": "count", "event": "purchase"},
    {"name": "converted", "type": "proportion", "event": "purchase"},
    {"name": "revenue", "type": "mean", "event": "purchase", "value": "value"},
    {"name": "purchase_events", "type": "mean", "event": "purchase"},
)

EVENT_SCHEMA = {"user_id": pl.String, "timestamp": pl.Datetime("us"), "event": pl.String, "value": pl.Float64}
EXPOSURE_SCHEMA = {"user_id": pl.String, "experiment": pl.String, "variant": pl.String, "timestamp": pl.Datetime("us")}


def event(user, when, name="purchase", value=1.0):
    return {"user_id": user, "timestamp": when, "event": name, "value": value}


def exposure(user, variant, when=None, experiment="exp"):
    return {"user_id": user, "experiment": experiment, "variant": variant, "timestamp": when or at()}


def run(tmp_path, events, exposures, *, exposure_schema=EXPOSURE_SCHEMA, **config):
    write_logs(
        tmp_path,
        pl.DataFrame(events, schema=EVENT_SCHEMA),
        pl.DataFrame(exposures, schema=exposure_schema),
    )
    config.setdefault("metrics", METRICS)
    return iterate.analyze(write_config(tmp_path, **config))


def row(result, metric, variant="treatment"):
    rows = result.metrics.filter((pl.col("name") == metric) & (pl.col("variant") == variant)).to_dicts()
    assert len(rows) == 1, f"expected one row for {metric}/{variant}, got {rows}"
    return rows[0]


def welch_se(control, treatment):
    control, treatment = np.asarray(control, float), np.asarray(treatment, float)
    return math.sqrt(control.var(ddof=1) / control.size + treatment.var(ddof=1) / treatment.size)


# --------------------------------------------------------------------------------------------
# exposed units without events are zeros


def test_exposed_unit_without_events_counts_as_zero(tmp_path):
    exposures = [exposure(u, "control") for u in ("c1", "c2", "c3", "c4")]
    exposures += [exposure(u, "treatment") for u in ("t1", "t2", "t3")]
    events = [
        event("c1", at(hours=1), value=10.0), event("c1", at(days=2), value=5.0),
        event("c2", at(hours=3), value=3.0),
        # c3: no event at all; c4: only an event no metric counts
        event("c4", at(hours=1), name="view", value=100.0),
        event("t1", at(days=1), value=4.0),
        # t2: no event
        event("t3", at(hours=1)), event("t3", at(hours=2)), event("t3", at(hours=3)),
    ]
    result = run(tmp_path, events, exposures)

    # per-unit values by hand, units without events included as zeros
    counts_c, counts_t = [2, 1, 0, 0], [1, 0, 3]
    revenue_c, revenue_t = [15.0, 3.0, 0.0, 0.0], [4.0, 0.0, 3.0]
    converted_c, converted_t = [1, 1, 0, 0], [1, 0, 1]

    assert dict(result.units) == {"control": 4, "treatment": 3}
    for metric, control, treatment in (
        ("purchases", counts_c, counts_t),
        ("purchase_events", counts_c, counts_t),
        ("revenue", revenue_c, revenue_t),
        ("converted", converted_c, converted_t),
    ):
        r = row(result, metric)
        assert (r["n_control"], r["n_treatment"]) == (4, 3), metric
        assert r["control_mean"] == pytest.approx(np.mean(control), rel=1e-12), metric
        assert r["treatment_mean"] == pytest.approx(np.mean(treatment), rel=1e-12), metric
        assert r["effect"] == pytest.approx(np.mean(treatment) - np.mean(control), rel=1e-12), metric
    # the zeros also enter the variances (Welch standard error)
    assert row(result, "purchases")["std_error"] == pytest.approx(welch_se(counts_c, counts_t), rel=1e-12)
    assert row(result, "revenue")["std_error"] == pytest.approx(welch_se(revenue_c, revenue_t), rel=1e-12)
    # hand values, to make the definitions explicit
    assert row(result, "purchases")["control_mean"] == pytest.approx(0.75)
    assert row(result, "converted")["treatment_mean"] == pytest.approx(2 / 3)
    assert row(result, "revenue")["control_mean"] == pytest.approx(4.5)


# --------------------------------------------------------------------------------------------
# multiple exposures


def test_unit_exposed_to_two_variants_is_excluded_and_counted(tmp_path):
    exposures = [
        exposure("m1", "control", at()), exposure("m1", "treatment", at(hours=1)),
        exposure("m2", "treatment", at()), exposure("m2", "control", at(days=1)),
        exposure("c1", "control"), exposure("c2", "control"), exposure("c3", "control"),
        exposure("t1", "treatment"), exposure("t2", "treatment"), exposure("t3", "treatment"),
    ]
    events = [
        event("m1", at(hours=2)), event("m1", at(hours=3)), event("m2", at(hours=2)),
        event("c1", at(hours=1)),
        event("t1", at(hours=1)), event("t2", at(hours=1)),
    ]
    result = run(tmp_path, events, exposures)

    assert result.excluded_units["multiple_variants"] == 2
    assert dict(result.units) == {"control": 3, "treatment": 3}
    r = row(result, "purchases")
    assert (r["n_control"], r["n_treatment"]) == (3, 3)
    assert r["control_mean"] == pytest.approx(1 / 3)
    assert r["treatment_mean"] == pytest.approx(2 / 3)


def test_repeated_exposure_to_same_variant_keeps_unit_and_window_starts_at_first(tmp_path):
    exposures = [
        # the later exposure comes first in the file: the window must still open at the earliest
        exposure("d1", "treatment", at(days=3)), exposure("d1", "treatment", at()),
        exposure("t1", "treatment"),
        exposure("c1", "control"), exposure("c2", "control"),
    ]
    events = [
        event("d1", at(hours=-1)),   # before the first exposure: ignored
        event("d1", at(days=1)),     # inside the window of the first exposure: counts
        event("d1", at(days=8)),     # after first + 7d but before second + 7d: ignored
        event("t1", at(hours=1)),
        event("c1", at(hours=1)),
    ]
    result = run(tmp_path, events, exposures)

    assert result.excluded_units["multiple_variants"] == 0
    assert dict(result.units) == {"control": 2, "treatment": 2}
    r = row(result, "purchases")
    assert (r["n_control"], r["n_treatment"]) == (2, 2)
    assert r["treatment_mean"] == pytest.approx((1 + 1) / 2)
    assert r["control_mean"] == pytest.approx((1 + 0) / 2)


# --------------------------------------------------------------------------------------------
# window boundaries


def _boundary_events(user, exposed_at, offsets):
    return [event(user, exposed_at + offset, value=1.0) for offset in offsets]


@pytest.mark.parametrize("window", ["7d", "168h", "1w", "10080m", "604800s"])
def test_window_is_closed_at_exposure_and_open_at_exposure_plus_window(tmp_path, window):
    from datetime import timedelta

    offsets = [
        timedelta(seconds=-1),                 # just before exposure: ignored
        timedelta(0),                          # exactly at exposure: counts
        timedelta(days=7, seconds=-1),         # last second of the window: counts
        timedelta(days=7),                     # exactly at exposure + 7d: ignored
        timedelta(days=10),                    # later: ignored
    ]
    exposed = {"c1": at(), "c2": at(hours=5), "t1": at(hours=1, minutes=30), "t2": at(days=2)}
    exposures = [exposure(u, "control" if u.startswith("c") else "treatment", when) for u, when in exposed.items()]
    events = [e for user, when in exposed.items() for e in _boundary_events(user, when, offsets)]
    result = run(tmp_path, events, exposures, window=window)

    for metric, expected in (("purchases", 2.0), ("revenue", 2.0), ("converted", 1.0)):
        r = row(result, metric)
        assert r["control_mean"] == pytest.approx(expected), metric
        assert r["treatment_mean"] == pytest.approx(expected), metric


def test_without_window_every_event_after_exposure_counts(tmp_path):
    from datetime import timedelta

    offsets = [timedelta(seconds=-1), timedelta(0), timedelta(days=7), timedelta(days=400)]
    exposed = {"c1": at(), "c2": at(hours=5), "t1": at(hours=1), "t2": at(days=2)}
    exposures = [exposure(u, "control" if u.startswith("c") else "treatment", when) for u, when in exposed.items()]
    events = [e for user, when in exposed.items() for e in _boundary_events(user, when, offsets)]
    # one more event for t2, 3 years later
    events.append(event("t2", at(days=3 * 365)))
    result = run(tmp_path, events, exposures, window=None)

    r = row(result, "purchases")
    assert r["control_mean"] == pytest.approx(3.0)
    assert r["treatment_mean"] == pytest.approx((3 + 4) / 2)
    assert result.window is None


# --------------------------------------------------------------------------------------------
# experiment column


def _experiment_logs():
    exposures = [
        exposure("c1", "control"), exposure("c2", "control"),
        exposure("t1", "treatment"), exposure("t2", "treatment"),
        # another experiment: must not make c1 a multiple-variant unit, must not add a variant,
        # and must not move t1's first exposure 10 days earlier
        exposure("c1", "treatment", at(days=-1), experiment="other"),
        exposure("x1", "beta", at(), experiment="other"),
        exposure("t1", "treatment", at(days=-10), experiment="other"),
    ]
    events = [
        event("c1", at(hours=1)),
        event("t1", at(days=-5)),  # after t1's exposure in "other", before its exposure in "exp"
        event("t1", at(hours=1)), event("t2", at(hours=1)), event("t2", at(hours=2)),
        event("x1", at(hours=1)),
    ]
    return events, exposures


def test_exposures_are_filtered_on_the_experiment_column(tmp_path):
    events, exposures = _experiment_logs()
    result = run(tmp_path, events, exposures)

    assert result.excluded_units["multiple_variants"] == 0
    assert dict(result.units) == {"control": 2, "treatment": 2}
    r = row(result, "purchases")
    assert r["control_mean"] == pytest.approx(0.5)
    assert r["treatment_mean"] == pytest.approx((1 + 2) / 2)


def test_exposures_without_experiment_column(tmp_path):
    events, exposures = _experiment_logs()
    exposures = [{k: v for k, v in e.items() if k != "experiment"} for e in exposures if e["experiment"] == "exp"]
    schema = {k: v for k, v in EXPOSURE_SCHEMA.items() if k != "experiment"}
    result = run(tmp_path, events, exposures, exposure_schema=schema)

    assert dict(result.units) == {"control": 2, "treatment": 2}
    r = row(result, "purchases")
    assert r["control_mean"] == pytest.approx(0.5)
    assert r["treatment_mean"] == pytest.approx(1.5)


def test_experiment_name_matching_no_exposure_names_the_experiments_found(tmp_path):
    events, exposures = _experiment_logs()
    with pytest.raises(iterate.DataError) as raised:
        run(tmp_path, events, exposures, name="checkout_v3")
    message = str(raised.value)
    assert "checkout_v3" in message
    found = re.search(r"experiments found: ([^.\n]*)", message)
    assert found is not None, message
    assert {name.strip() for name in found.group(1).split(",")} == {"exp", "other"}
