"""Exposure counts: units per variant (overall and per exposure segment), and units exposed to
several variants, from the unit spine (for the sample-ratio and multiple-exposure checks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from iterate.aggregation.spine import Spine, segment_column
from iterate.engines import Dialect, Engine
from iterate.templates import Query, quote_identifier, render

if TYPE_CHECKING:
    from iterate.ingest import PreparedLogs


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


def exposure_summary_query(spine: str, segments: Sequence[str], dialect: Dialect,
                           parameters: Mapping[str, Any] | None = None) -> Query:
    """Query of the units per variant (overall and per exposure segment) of the relation ``spine``."""
    columns = [quote_identifier(segment_column(s)) for s in segments]
    return render(
        "exposure_summary",
        dialect,
        parameters,
        exposed=spine,
        segments="".join(f"{c}, " for c in columns),
        groupings="".join(f"GROUPING({c}) AS {quote_identifier('grouping:' + s)}, " for c, s in zip(columns, segments)),
        grouping_sets=", ".join(['("variant")', *(f'("variant", {c})' for c in columns)]),
    )


def exposure_summary_columns(segments: Sequence[str]) -> list[str]:
    """The columns of :func:`exposure_summary_query`, in order."""
    return ["variant", *(segment_column(s) for s in segments), *(f"grouping:{s}" for s in segments),
            "units", "multiple_variant_units"]


def count_exposures(engine: Engine, spine: Spine, segments: Sequence[str] = ()) -> ExposureCounts:
    """Units per variant (overall and per exposure segment) and units exposed to several variants."""
    rows = engine.execute(exposure_summary_query(spine.relation, segments, engine.dialect, spine.parameters))
    return exposure_counts(rows.dicts(), segments)


def exposure_counts(rows: Sequence[Mapping[str, Any]], segments: Sequence[str] = ()) -> ExposureCounts:
    """:class:`ExposureCounts` from the rows of the exposure summary (lower-case column names)."""
    units: dict[str, int] = {}
    multiple = 0
    segment_units: dict[str, dict[str | None, dict[str, int]]] = {s: {} for s in segments}
    for row in rows:
        segment = next((s for s in segments if row[f"grouping:{s}".lower()] == 0), None)
        if segment is None:
            units[row["variant"]] = int(row["units"])
            multiple += int(row["multiple_variant_units"])
        else:
            value = row[segment_column(segment).lower()]
            by_variant = segment_units[segment].setdefault(None if value is None else str(value), {})
            by_variant[row["variant"]] = int(row["units"])
    return ExposureCounts(units=units, multiple_variant_units=multiple, segment_units=segment_units)


def experiments_in_exposures(engine: Engine, logs: PreparedLogs) -> list[str]:
    """Distinct experiment names of the exposures log (up to 20), for the message when none matches."""
    rows = engine.execute(render("experiments_found", engine.dialect, exposures=logs.exposures.view))
    return [str(row[0]) for row in rows.values]
