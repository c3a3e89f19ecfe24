"""A whole analysis on an engine that runs no SQL: fixed moment rows in, verdict and reports out.

The :class:`helpers.FakeEngine` answers each template with fixed rows (like httpx's
``MockTransport``), so the comparisons, the decision and every report format are tested on
moments chosen by hand and checked against SciPy / statsmodels, with no engine at all.
"""

from __future__ import annotations

import json
import math
from datetime import datetime

import pyarrow as pa
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

import iterate
from helpers import FakeEngine, rows
from iterate.config import Experiment, Metric, Side
from iterate.engines.base import Rows
from iterate.report import FORMATS, render

N = 5000
Z = stats.norm.ppf(0.975)
EVENTS_SCHEMA = {"user_id": "VARCHAR", "timestamp": "TIMESTAMP", "event": "VARCHAR", "value": "DOUBLE"}
EXPOSURES_SCHEMA = {"user_id": "VARCHAR", "variant": "VARCHAR", "timestamp": "TIMESTAMP", "experiment": "VARCHAR"}

# per arm: conversion proportion, sessions per user (count), revenue per session (ratio: y, x, cov)
ARMS = {
    "control": {"p": 0.10, "sessions": (3.0, 4.0), "ratio": (2.0, 3.0, 9.0, 4.0, 2.5)},
    "treatment": {"p": 0.12, "sessions": (3.1, 4.2), "ratio": (2.3, 3.0, 10.0, 4.0, 2.6)},
}


def _experiment(**changes) -> Experiment:
    metrics = (
        Metric(name="conversion", type="proportion", event="purchase"),
        Metric(name="sessions", type="count", event="session_start", role="guardrail", margin=0.05),
        Metric(name="revenue_per_session", type="ratio", role="deterioration",
               numerator=Side(event="purchase", value="value"), denominator=Side(event="session_start")),
    )
    settings = dict(name="fake", control="control", metrics=metrics, pre_period=None,
                    expected_split={"control": 0.5, "treatment": 0.5})
    return Experiment(**{**settings, **changes})


def _sums(prefix: str, mean: float, variance: float) -> dict[str, float]:
    """The sums the engine returns for a value with this mean and variance (no shift: any shift
    gives the same moments)."""
    total = mean * N
    return {f"{prefix}_sum": total, f"{prefix}_dsum": total, f"{prefix}_dsq": (N - 1) * variance + total * total / N}


def _moment_rows() -> Rows:
    records = []
    for variant, arm in ARMS.items():
        p = arm["p"]
        (s_mean, s_var), (y_mean, x_mean, y_var, x_var, cov) = arm["sessions"], arm["ratio"]
        records.append({
            "row_kind": "moments", "variant": variant,
            "m0_n": N, "m0_missing": 0, **_sums("m0_y", p, p * (1 - p) * N / (N - 1)),
            "m1_n": N, "m1_missing": 0, **_sums("m1_y", s_mean, s_var),
            "m2_n": N, "m2_missing": 0, **_sums("m2_y", y_mean, y_var), **_sums("m2_x", x_mean, x_var),
            "m2_y_x_dprod": (N - 1) * cov + y_mean * x_mean * N, "units_with_events": N, "units": None,
            "multiple_variant_units": None,
        })
    for variant in ARMS:
        records.append({"row_kind": "exposures", "variant": variant, "units": N, "multiple_variant_units": 0})
    return rows(*records)


def _problem_counts(query) -> Rows:
    """``column_problems``: the rows, then 0 for every check the query counts."""
    checks = query.text.count("FILTER (WHERE")
    return Rows(("rows", *(f"check_{i}" for i in range(checks))), [(10 * N, *([0] * checks))])


def _fake_engine() -> FakeEngine:
    return FakeEngine(
        answers={
            "column_problems": _problem_counts,
            "first_exposure": rows({"first_exposure": datetime(2026, 1, 5)}),
            "event_time_range": rows({"first_event": datetime(2026, 1, 3), "last_event": datetime(2026, 1, 20)}),
            "unit_metrics": _moment_rows(),
            "duplicate_events": rows({"duplicate_groups": 0, "extra_rows": 0}),
        },
        schemas={"iterate_raw_events": EVENTS_SCHEMA, "iterate_raw_exposures": EXPOSURES_SCHEMA},
    )


def _logs() -> tuple[pa.Table, pa.Table]:
    """Placeholders: the fake engine never reads them."""
    return pa.table({"user_id": ["u"]}), pa.table({"user_id": ["u"]})


@pytest.fixture(scope="module")
def result():
    events, exposures = _logs()
    engine = _fake_engine()
    analysis = iterate.analyze(_experiment(), events=events, exposures=exposures, engine=engine)
    executed = {query.template for query in engine.queries}
    assert executed == {"column_problems", "normalize", "first_exposure", "event_time_range", "unit_metrics",
                        "duplicate_events"}
    return analysis


def _row(result, name):
    return next(row for row in result.metric_results if row.name == name)


def test_proportion_against_statsmodels(result):
    control, treatment = ARMS["control"]["p"], ARMS["treatment"]["p"]
    row = _row(result, "conversion")
    z, p_value = proportions_ztest([treatment * N, control * N], [N, N])
    se = math.sqrt((control * (1 - control) + treatment * (1 - treatment)) / N)  # Wald, Bernoulli variances
    assert row.effect == pytest.approx(treatment - control, rel=1e-12)
    assert row.p_value == pytest.approx(p_value, rel=1e-9)
    assert (row.ci_low, row.ci_high) == pytest.approx((0.02 - Z * se, 0.02 + Z * se), rel=1e-9)
    assert row.outcome == "better"


def test_count_against_scipy_welch(result):
    (c_mean, c_var), (t_mean, t_var) = ARMS["control"]["sessions"], ARMS["treatment"]["sessions"]
    row = _row(result, "sessions")
    reference = stats.ttest_ind_from_stats(t_mean, math.sqrt(t_var), N, c_mean, math.sqrt(c_var), N, equal_var=False)
    assert row.effect == pytest.approx(t_mean - c_mean, rel=1e-12)
    assert row.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert row.std_error == pytest.approx(math.sqrt(c_var / N + t_var / N), rel=1e-12)
    margin = 0.05 * c_mean
    one_sided = stats.norm.sf((t_mean - c_mean + margin) / row.std_error)  # H0: worse than the margin
    assert row.noninferiority_margin == pytest.approx(margin, rel=1e-12)
    assert row.noninferiority_p_value == pytest.approx(one_sided, rel=1e-9) and row.noninferior


def test_ratio_against_the_delta_method_by_hand(result):
    row = _row(result, "revenue_per_session")
    ratios, variances = {}, {}
    for variant, arm in ARMS.items():
        y, x, var_y, var_x, cov = arm["ratio"]
        r = y / x
        ratios[variant] = r
        variances[variant] = (var_y - 2 * r * cov + r * r * var_x) / (N * x * x)  # Deng et al. 2018, eq. 4
    se = math.sqrt(variances["control"] + variances["treatment"])
    df = se**4 / (variances["control"] ** 2 / (N - 1) + variances["treatment"] ** 2 / (N - 1))
    effect = ratios["treatment"] - ratios["control"]
    assert row.effect == pytest.approx(effect, rel=1e-12)
    assert row.std_error == pytest.approx(se, rel=1e-12)
    assert row.p_value == pytest.approx(2 * stats.t.sf(abs(effect) / se, df), rel=1e-9)


def test_decision_ships_on_the_success_metric_with_the_guardrail_non_inferior(result):
    assert result.verdict == "ship" and result.exit_code == 0
    assert {reason.rule for reason in result.reasons} == {"success", "noninferior"}
    assert result.units == {"control": N, "treatment": N}


def test_harm_on_the_deterioration_metric_rolls_back():
    events, exposures = _logs()
    experiment = _experiment(metrics=tuple(
        Metric(name=m.name, type=m.type, event=m.event, numerator=m.numerator, denominator=m.denominator,
               role=m.role, margin=m.margin, direction="decrease" if m.name == "revenue_per_session" else m.direction)
        for m in _experiment().metrics
    ))
    result = iterate.analyze(experiment, events=events, exposures=exposures, engine=_fake_engine())
    assert result.verdict == "rollback"
    assert [reason.metric for reason in result.reasons if reason.rule == "harm"] == ["revenue_per_session"]


@pytest.mark.parametrize("report_format", list(FORMATS))
def test_every_report_format_renders_the_fake_analysis(result, report_format):
    text = render(result, report_format)
    if report_format == "json":
        document = json.loads(text)
        assert document == json.loads(json.dumps(result.to_dict()))
        assert [row["name"] for row in document["metrics"]] == ["conversion", "sessions", "revenue_per_session"]
    else:
        first_line = {"text": "fake: SHIP  (exit code 0)", "markdown": "## SHIP: fake (verdict ship, exit code 0)",
                      "junit": "<?xml version='1.0' encoding='utf-8'?>"}[report_format]
        assert text.splitlines()[0] == first_line
        assert all(name.replace("_", "\\_" if report_format == "markdown" else "_") in text
                   for name in ("conversion", "sessions", "revenue_per_session"))
