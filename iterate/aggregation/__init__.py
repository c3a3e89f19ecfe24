"""The SQL layer: render the templates of ``sql/``, run them on an engine, return moments only.

Each metric kind declares the per-unit aggregates it needs; the aggregates of all per-unit
metrics are merged into one query, so the events log is scanned once for them whatever their
number. Event-level quantile metrics take three passes over their own events.
"""

from __future__ import annotations

from iterate.aggregation.duplicates import Duplicates, duplicate_events
from iterate.aggregation.exposures import (
    ExposureCounts,
    count_exposures,
    experiments_in_exposures,
    exposure_counts,
    exposure_summary_query,
)
from iterate.aggregation.quality import EventTimes, LogSummary, event_names, event_times, events_found, log_summaries
from iterate.aggregation.quantiles import quantile_summaries
from iterate.aggregation.ranges import metric_range
from iterate.aggregation.spine import Spine, build_spine, first_exposure
from iterate.aggregation.unit_metrics import GroupMoments, Replicates, UnitMetrics, unit_metric_moments

__all__ = [
    "Duplicates", "EventTimes", "ExposureCounts", "GroupMoments", "LogSummary", "Replicates", "Spine", "UnitMetrics",
    "build_spine", "count_exposures", "duplicate_events", "event_names", "event_times", "events_found",
    "experiments_in_exposures", "first_exposure", "log_summaries",
    "exposure_counts", "exposure_summary_query", "metric_range", "quantile_summaries", "unit_metric_moments",
]
