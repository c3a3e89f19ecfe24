"""The canary judge (``[rollout] kind = "canary"``): hand-built interval values with known
classifications and scores, Mann-Whitney equal to SciPy, an end-to-end canary from polars-built
logs whose interval values equal a polars computation and whose verdicts are advance / hold /
rollback for no change / a marginal score / a clear regression; zero traffic and no data hold;
the CLI's exit codes.
"""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from scipy import stats

import iterate
from helpers import BASE, write_config, write_logs
from iterate.cli import main
from iterate.config import parse_config
from iterate.errors import ConfigError
from iterate.result import Check
from iterate.rollout.canary_decision import CanaryEvidence, judge_canary
from iterate.stats import canary_score, mann_whitney
from iterate.stats.rates import sequential_rate_test

INTERVAL_S = 600
INTERVALS = 12
UNITS = 150  # per arm and interval
METRICS = [
    {"name": "latency", "type": "mean", "event": "request", "value": "value", "direction": "decrease",
     "role": "guardrail", "critical": True, "group": "performance", "tolerance": 0.05},
    {"name": "errors", "type": "count", "event": "error", "direction": "decrease", "role": "guardrail",
     "group": "performance", "tolerance": 0.2},
    {"name": "conversion", "type": "proportion", "event": "purchase", "group": "business", "tolerance": 0.1},
]
WEIGHTS = {"performance": 80, "business": 20}


def canary_logs(seed: int, *, latency=(100.0, 100.0), errors=(0.5, 0.5), conversion=(0.3, 0.3),
                intervals: int = INTERVALS, canary_intervals: int | None = None):
    """``UNITS`` units per arm first exposed at a uniform time in each 10-minute interval from
    ``BASE``; each makes one request (latency Normal(mean, 10)), Poisson(rate) errors and buys with
    a probability, per arm ``(baseline, canary)``, all within 5 minutes of its exposure. The canary
    gets units in its first ``canary_intervals`` intervals only (all by default)."""
    rng = np.random.default_rng(seed)
    canary_intervals = intervals if canary_intervals is None else canary_intervals
    interval = np.repeat(np.arange(intervals), 2 * UNITS)
    canary = np.tile(np.repeat([False, True], UNITS), intervals)
    keep = ~canary | (interval < canary_intervals)
    interval, canary = interval[keep], canary[keep]
    size = interval.size
    users = np.array([f"u{i:06d}" for i in range(size)])
    base_us = int(np.datetime64(BASE, "us").astype(np.int64))
    exposure_us = base_us + interval * INTERVAL_S * 1_000_000 + rng.integers(0, INTERVAL_S * 1_000_000, size=size)
    arm = canary.astype(int)
    latency_value = rng.normal(np.array(latency)[arm], 10.0)
    error_count = rng.poisson(np.array(errors)[arm])
    bought = rng.random(size) < np.array(conversion)[arm]
    owners = np.concatenate([np.arange(size), np.repeat(np.arange(size), error_count), np.flatnonzero(bought)])
    names = np.concatenate([np.repeat("request", size), np.repeat("error", error_count.sum()),
                            np.repeat("purchase", bought.sum())])
    values = np.concatenate([latency_value, np.full(error_count.sum() + bought.sum(), np.nan)])
    events = pl.DataFrame({
        "user_id": users[owners],
        "timestamp": (exposure_us[owners] + rng.integers(1, 300 * 1_000_000, size=owners.size)).astype("datetime64[us]"),
        "event": names, "value": values,
    }).with_columns(pl.col("value").fill_nan(None))
    exposures = pl.DataFrame({
        "user_id": users, "experiment": "exp", "variant": np.where(canary, "canary", "baseline"),
        "timestamp": exposure_us.astype("datetime64[us]"),
    })
    return events, exposures


def canary_config(folder, *, metrics=METRICS, rollout=None):
    rollout = {"kind": "canary", "interval": "10m", "group_weights": WEIGHTS} if rollout is None else rollout
    lines = ["[rollout]", *(f"{key} = {_toml(value)}" for key, value in rollout.items())]
    return write_config(folder, metrics=metrics, control="baseline", expected_split=None, window="1h",
                        experiment_extra={"pre_period": False}, extra="\n".join(lines))


def _toml(value):
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {_toml(item)}" for key, item in value.items()) + " }"
    return f'"{value}"' if isinstance(value, str) else repr(value)


def run(tmp_path, name, **effects):
    folder = tmp_path / name
    folder.mkdir()
    events, exposures = canary_logs(7, **effects)
    write_logs(folder, events, exposures)
    return events, exposures, iterate.rollout(canary_config(folder))
