"""Latency in a ramp, the documented alternative to a sequential comparison of quantiles: the share
of a unit's page loads slower than a service-level threshold (a ``ratio`` metric, numerator and
denominator the same event, the numerator kept by ``where = { value = { gt = ... } }``), stratified
by stage and anytime-valid like every ramp metric. A slower tail rolls the ramp back; an unchanged
one advances; the stratified share equals a hand computation with the delta method."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

import iterate
from helpers import BASE, write_logs
from test_ramp import DAY_US, SHARES, STAGE_UNITS, ramp_config

THRESHOLD_MS = 800.0
METRICS = [{
    "name": "slow_page_loads", "type": "ratio", "role": "guardrail", "direction": "decrease", "margin": 0.1,
    "numerator": {"event": "page_load", "where": {"value": {"gt": THRESHOLD_MS}}},
    "denominator": {"event": "page_load"},
}]


def latency_logs(seed: int, *, tail_factor: float, scale: float = 0.3):
    """Units of each stage load 1-6 pages; latency is lognormal (median 300 ms), the treatment's
    multiplied by ``tail_factor`` (1: no change)."""
    rng = np.random.default_rng(seed)
    stage = np.repeat(np.arange(4), [round(units * scale) for units in STAGE_UNITS])
    treated = rng.random(stage.size) < np.array(SHARES)[stage]
    users = np.array([f"u{i:06d}" for i in range(stage.size)])
    exposure_us = (int(np.datetime64(BASE, "us").astype(np.int64)) + stage * DAY_US
                   + rng.integers(0, DAY_US, size=stage.size))
    pages = rng.integers(1, 7, size=stage.size)
    owners = np.repeat(np.arange(stage.size), pages)
    latency = rng.lognormal(math.log(300.0), 0.8, size=owners.size) * np.where(treated[owners], tail_factor, 1.0)
    events = pl.DataFrame({
        "user_id": users[owners],
        "timestamp": (exposure_us[owners] + rng.integers(1, DAY_US, size=owners.size)).astype("datetime64[us]"),
        "event": "page_load", "value": latency,
    })
    exposures = pl.DataFrame({"user_id": users, "experiment": "exp",
                              "variant": np.where(treated, "treatment", "control"),
                              "timestamp": exposure_us.astype("datetime64[us]")})
    slow = np.bincount(owners, weights=latency > THRESHOLD_MS, minlength=stage.size)
    return events, exposures, {"stage": stage, "treated": treated, "slow": slow, "pages": pages.astype(float)}


def delta_ratio(slow: np.ndarray, pages: np.ndarray) -> tuple[float, float]:
    """Ratio of sums and its delta-method variance (Deng, Knoblich & Lu 2018, eq. 3)."""
    n, mean_x, mean_y = slow.size, slow.mean(), pages.mean()
    covariance = np.cov(slow, pages, ddof=1)
    variance = (covariance[0, 0] / mean_y ** 2 - 2 * mean_x * covariance[0, 1] / mean_y ** 3
                + mean_x ** 2 * covariance[1, 1] / mean_y ** 4) / n
    return mean_x / mean_y, variance


def hand_stratified_share(per_unit) -> tuple[float, float]:
    effects, variances, sizes = [], [], []
    for stage in range(4):
        inside = per_unit["stage"] == stage
        arms = [inside & ~per_unit["treated"], inside & per_unit["treated"]]
        (control, control_variance), (treatment, treatment_variance) = (
            delta_ratio(per_unit["slow"][arm], per_unit["pages"][arm]) for arm in arms)
        effects.append(treatment - control)
        variances.append(control_variance + treatment_variance)
        sizes.append(int(inside.sum()))
    weights = np.array(sizes) / sum(sizes)
    return float(weights @ effects), math.sqrt(float(weights ** 2 @ np.array(variances)))


@pytest.mark.parametrize(("tail_factor", "verdict"), [(1.0, "advance"), (1.5, "rollback")])
def test_the_share_of_slow_page_loads_guards_a_ramp(tmp_path, tail_factor, verdict):
    events, exposures, per_unit = latency_logs(21, tail_factor=tail_factor)
    write_logs(tmp_path, events, exposures)
    result = iterate.rollout(ramp_config(tmp_path, metrics=METRICS))
    row = result.metric_results[0]
    effect, std_error = hand_stratified_share(per_unit)
    assert row.effect == pytest.approx(effect, rel=1e-9)
    assert row.std_error == pytest.approx(std_error, rel=1e-6)
    assert result.verdict == verdict
    if verdict == "rollback":
        assert row.outcome == "worse" and [r.rule for r in result.reasons] == ["harm"]
    else:
        assert row.noninferior is True
