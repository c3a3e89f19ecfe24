"""iterate: decide from usage event logs whether each increment of a product should ship.

Example:
    >>> import iterate
    >>> result = iterate.analyze("sample_data/experiment.toml")  # doctest: +SKIP
    >>> result.verdict  # doctest: +SKIP
    'ship'

Heavy modules (duckdb, polars, scipy) are imported on first use so that ``iterate --help`` is fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "AnalysisResult", "ConfigError", "DataError", "Experiment", "IterateError", "Metric", "OutputError",
    "Source", "StatsError", "RolloutResult", "analyze", "calibrate", "load_config", "plan", "rollout", "simulate_logs",
]

_LAZY = {
    "analyze": "iterate.analysis",
    "calibrate": "iterate.calibration",
    "plan": "iterate.planning",
    "rollout": "iterate.rollout",
    "RolloutResult": "iterate.rollout.result",
    "AnalysisResult": "iterate.result",
    "Experiment": "iterate.config",
    "Metric": "iterate.config",
    "Source": "iterate.config",
    "load_config": "iterate.config",
    "simulate_logs": "iterate.simulate",
    "IterateError": "iterate.errors",
    "ConfigError": "iterate.errors",
    "DataError": "iterate.errors",
    "StatsError": "iterate.errors",
    "OutputError": "iterate.errors",
}

if TYPE_CHECKING:
    from iterate.analysis import analyze
    from iterate.calibration import calibrate
    from iterate.planning import plan
    from iterate.config import Experiment, Metric, Source, load_config
    from iterate.errors import ConfigError, DataError, IterateError, OutputError, StatsError
    from iterate.result import AnalysisResult
    from iterate.rollout import rollout
    from iterate.rollout.result import RolloutResult
    from iterate.simulate import simulate_logs


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'iterate' has no attribute {name!r}")
