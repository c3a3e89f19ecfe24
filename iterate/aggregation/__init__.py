"""The SQL layer: render the templates of ``sql/``, run them in the engine, return moments only.

Each metric declares the per-unit aggregates it needs; the aggregates of all unit-level metrics
are merged into one query, so the events log is scanned once for them whatever their number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from iterate.aggregation.quality import EventTimes, event_times
from iterate.aggregation.quantiles import quantile_summaries
from iterate.aggregation.spine import SPINE, build_spine, segment_column
from iterate.aggregation.unit_metrics import Duplicates, GroupMoments, UnitMetrics, duplicate_events, unit_metric_moments
from iterate.templates import quote_identifier, render

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import duckdb

    from iterate.ingest import PreparedLogs

__all__ = [
    "SPINE", "Duplicates", "duplicate_events", "EventTimes", "ExposureCounts", "GroupMoments", "UnitMetrics", "build_spine", "count_exposures",
    "event_times", "experiments_in_exposures", "first_exposure", "quantile_summaries", "unit_metric_moments",
]


@dataclass(frozen=True, slots=True)
class ExposureCounts:
    """Units per variant after exposure deduplication.

    Attributes:
        units: Units exposed to exactly one variant, by variant (these are analyzed).
        multiple_variant_units: Units exposed to more than one variant (excluded).
        segment_units: ``{segment: {value: {variant: units}}}`` for segments of the exposures.
    """

    units: Mapping[str, int]
    multiple_variant_units: int
    segment_units: Mapping[str, Mapping[str | None, Mapping[str, int]]] = field(default_factory=dict)


def count_exposures(con: duckdb.DuckDBPyConnection, spine: str, segments: Sequence[str] = ()) -> ExposureCounts:
    """Units per variant (overall and per exposure segment) and units exposed to several variants."""
    columns = [quote_identifier(segment_column(s)) for s in segments]
    query = render(
        "exposure_summary",
        exposed=spine,
        segments="".join(f"{c}, " for c in columns),
        groupings="".join(f"GROUPING({c}) AS {quote_identifier('grouping:' + s)}, " for c, s in zip(columns, segments)),
        grouping_sets=", ".join(['("variant")', *(f'("variant", {c})' for c in columns)]),
    )
    cursor = con.execute(query)
    names = [column[0].lower() for column in cursor.description]
    units: dict[str, int] = {}
    multiple = 0
    segment_units: dict[str, dict[str | None, dict[str, int]]] = {s: {} for s in segments}
    for row in (dict(zip(names, values)) for values in cursor.fetchall()):
        segment = next((s for s in segments if row[f"grouping:{s}".lower()] == 0), None)
        if segment is None:
            units[row["variant"]] = int(row["units"])
            multiple += int(row["multiple_variant_units"])
        else:
            value = row[segment_column(segment).lower()]
            by_variant = segment_units[segment].setdefault(None if value is None else str(value), {})
            by_variant[row["variant"]] = int(row["units"])
    return ExposureCounts(units=units, multiple_variant_units=multiple, segment_units=segment_units)


def first_exposure(con: duckdb.DuckDBPyConnection, spine: str):
    """Earliest first exposure of the experiment, or ``None`` without exposures."""
    return con.execute(f'SELECT min("first_exposure") FROM {spine}').fetchone()[0]


def experiments_in_exposures(con: duckdb.DuckDBPyConnection, logs: PreparedLogs) -> list[str]:
    """Distinct experiment names of the exposures log, for the message when none matches."""
    rows = con.execute(f'SELECT DISTINCT "experiment" FROM {logs.exposures.view} ORDER BY 1 LIMIT 20').fetchall()
    return [str(row[0]) for row in rows]
