"""The SQL layer: render the templates of ``sql/``, run them in the engine, return moments only.

Each metric declares the per-unit aggregates it needs; the aggregates of all unit-level metrics
are merged into one query, so the events log is scanned once for them whatever their number.
"""

from __future__ import annotations

from iterate.aggregation.exposures import (
    ExposureCounts,
    count_exposures,
    experiments_in_exposures,
    exposure_counts,
    exposure_summary_query,
)
from iterate.aggregation.quality import EventTimes, event_times
from iterate.aggregation.quantiles import quantile_summaries
from iterate.aggregation.spine import SPINE, Spine, build_spine
from iterate.aggregation.unit_metrics import Duplicates, GroupMoments, UnitMetrics, duplicate_events, unit_metric_moments

__all__ = [
    "SPINE", "Duplicates", "duplicate_events", "EventTimes", "ExposureCounts", "GroupMoments", "Spine", "UnitMetrics",
    "build_spine", "count_exposures", "event_times", "experiments_in_exposures", "exposure_counts",
    "exposure_summary_query", "quantile_summaries", "unit_metric_moments",
]
