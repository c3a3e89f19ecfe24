"""The same inputs and config give byte-identical reports, whatever the run and the thread count.

The engine aggregates in parallel; floating-point sums added in another order differ in their last
digits, so every sum iterate asks for is order-independent: counts are integers, sums are
exact (``fsum``, correctly rounded from DuckDB 2.0.1), variances come from sums of values shifted by their pooled
mean (Chan, Golub & LeVeque 1983) and the quantile passes from integer sums. The log here has
several Parquet row groups, so two threads do share the work.
"""

from __future__ import annotations

import json

import pytest

import iterate
from helpers import write_config
from iterate.engines.duckdb import DuckDBEngine
from iterate.report import render
from iterate.timeline import timeline

METRICS = (
    {"name": "purchasers", "type": "proportion", "event": "purchase", "cuped": "7d"},
    {"name": "revenue", "type": "mean", "event": "purchase", "value": "value", "cap": {"percentile": 0.99}},
    {"name": "crashes_per_open", "type": "ratio", "numerator": {"event": "crash"},
     "denominator": {"event": "app_open"}, "role": "guardrail", "direction": "decrease", "margin": 0.1},
    {"name": "latency_p90", "type": "quantile", "event": "page_load", "value": "value", "quantile": 0.9,
     "direction": "decrease", "role": "guardrail"},
    {"name": "active_days", "type": "active_days", "event": "app_open", "cuped": "7d"},
)


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    folder = tmp_path_factory.mktemp("determinism")
    summary = iterate.simulate_logs(folder, units=20_000, events=600_000, seed=5,
                                    effects={"treatment": {"purchase": 0.05}})
    assert summary.events > 3 * 122_880  # several row groups: the scan is shared by the threads
    return write_config(folder, events="events.parquet", exposures="exposures.parquet", metrics=METRICS,
                        name="checkout_v2", experiment_extra={"segments": ["platform"], "inference": "both"})


def without_run_time(report: str) -> str:
    """The JSON report with ``provenance.generated_at``, the one field holding the run's time, masked."""
    document = json.loads(report)
    assert document["provenance"]["generated_at"].endswith("Z")
    document["provenance"]["generated_at"] = "<run time>"
    return json.dumps(document, indent=2)


def test_five_runs_give_the_same_bytes_but_the_run_time(config):
    reports = [render(iterate.analyze(config), "json") for _ in range(5)]
    assert len({without_run_time(report) for report in reports}) == 1
    # the masked field is the only difference: the rest of the text is byte-identical
    masked = {report.replace(json.loads(report)["provenance"]["generated_at"], "<run time>") for report in reports}
    assert len(masked) == 1


def test_one_thread_and_two_threads_give_the_same_bytes(config):
    reports = set()
    for threads in (1, 2):
        engine = DuckDBEngine(threads=threads)
        try:
            reports.add(without_run_time(render(iterate.analyze(config, engine=engine), "json")))
        finally:
            engine.close()
    assert len(reports) == 1


def test_timeline_calibration_and_plan_repeat_exactly(config):
    timelines = {without_run_time(render(iterate.analyze(config).with_timeline(timeline(config)), "json"))
                 for _ in range(2)}
    calibrations = {without_run_time(render(iterate.calibrate(config, replicates=20, seed=3), "json")) for _ in range(2)}
    plans = {without_run_time(render(iterate.plan(config, mde=0.05), "json")) for _ in range(2)}
    assert len(timelines) == 1 and len(calibrations) == 1 and len(plans) == 1
