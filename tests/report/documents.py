"""Plan and calibration results built by hand, for the report tests (no analysis behind them)."""

from __future__ import annotations

import math
from datetime import datetime

from iterate.calibration import CalibrationResult, MetricRate
from iterate.planning import MetricPlan, Plan


def plan(name: str = "checkout") -> Plan:
    """Units per arm for a +5% MDE: one metric planned, one without baseline data (NaN, no size)."""
    metric = MetricPlan(name="purchasers", role="success", type="proportion", units=4000, mean=0.25,
                        std_dev=math.sqrt(0.25 * 0.75), cuped_correlation=0.0, alpha=0.05, power=0.8,
                        units_per_arm=18_853, mde=None)
    undefined = MetricPlan(name="latency|<b>", role="guardrail", type="mean", units=0, mean=float("nan"),
                           std_dev=float("nan"), cuped_correlation=0.0, alpha=0.05, power=0.8, units_per_arm=None,
                           mde=None)
    return Plan(name, datetime(2026, 1, 1), datetime(2026, 1, 15), 1234.4, 2, 1.0, 0.05, 0.8, 0.05,
                (metric, undefined), 18_853, 31)


def calibration() -> CalibrationResult:
    """Two metrics: one within alpha, one firing too often (12% of 100 A/A replays at alpha 0.05)."""
    fine = MetricRate("purchasers", "success", significant=6, replicates=100, rate=0.06, ci_low=0.0223,
                      ci_high=0.126, within_alpha=True)
    loud = MetricRate("revenue", "success", significant=12, replicates=100, rate=0.12, ci_low=0.0636,
                      ci_high=0.2002, within_alpha=False)
    return CalibrationResult("checkout", 100, 0.05, 0.5, 20_000, (fine, loud), {"continue": 85, "ship": 15}, 0.15,
                             0.0865, 0.2353, 7)
