"""Experiment configuration: the TOML file of DESIGN.md, or the same objects built in Python."""

from __future__ import annotations

from iterate.config.durations import parse_duration
from iterate.config.model import (
    EVENT_COLUMNS,
    EXPOSURE_COLUMNS,
    Cap,
    Condition,
    Experiment,
    History,
    Metric,
    Rollout,
    Side,
    Source,
    Stage,
)
from iterate.config.toml import load_config, parse_config, parse_timestamp

__all__ = [
    "EVENT_COLUMNS", "EXPOSURE_COLUMNS", "Cap", "Condition", "Experiment", "History", "Metric", "Rollout", "Side", "Source", "Stage",
    "load_config", "parse_config", "parse_duration", "parse_timestamp",
]
