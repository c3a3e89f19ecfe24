"""The SQL layer: render the templates of ``sql/``, run them in the engine, return moments only.

Each metric declares the per-unit aggregate it needs; the aggregates of all metrics are merged
into one query, so the events log is scanned once per analysis whatever the number of metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from iterate.config import Experiment, Metric
from iterate.ingest import PreparedLogs, value_column_name
from iterate.stats import Moments
from iterate.templates import quote_identifier, render

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True, slots=True)
class ExposureCounts:
    """Units per variant after exposure deduplication.

    Attributes:
        units: Units exposed to exactly one variant, by variant (these are analyzed).
        multiple_variant_units: Units exposed to more than one variant (excluded).
    """

    units: Mapping[str, int]
    multiple_variant_units: int


@dataclass(frozen=True, slots=True)
class VariantMoments:
    """Per-variant moments of each metric: ``moments[metric_name][variant]``."""

    moments: Mapping[str, Mapping[str, Moments]]


def unit_aggregate(metric: Metric, event_parameter: str | None, experiment: Experiment) -> str:
    """SQL aggregate computing ``metric`` for one unit over its window's events.

    ``proportion`` is 1 when the unit did the event; ``count`` counts the events; ``mean`` sums the
    value column over the events (1 per event without a value column). ``event_parameter`` is
    ``None`` when the scan reads only this metric's event, so no per-metric filter is needed.
    """
    matches = f'e."event" = {event_parameter}' if event_parameter else None
    only = f" FILTER (WHERE {matches})" if matches else ""
    if metric.type == "proportion":
        return f"CAST(bool_or({matches}) AS INTEGER)" if matches else "1"
    if metric.type == "mean" and metric.value:
        column = quote_identifier(f"value:{value_column_name(experiment, metric.value)}")
        return f"sum(e.{column}){only}"
    return f"count(*){only}"


EXPOSED_TABLE = quote_identifier("iterate_exposed")


def build_exposed_units(con: duckdb.DuckDBPyConnection, experiment: Experiment, logs: PreparedLogs) -> str:
    """Materialize the unit spine (first exposure, variant, multiple-variant flag); returns its name.

    It is unit-level, read by both the exposure summary and the metric query, so the exposures log
    is scanned once.
    """
    query = render("exposed_units", exposures=logs.exposures.view, experiment_filter=_experiment_filter(logs))
    parameters = {"experiment": experiment.name} if logs.has_experiment_column else {}
    con.execute(f"CREATE OR REPLACE TEMP TABLE {EXPOSED_TABLE} AS {query}", parameters)
    return EXPOSED_TABLE


def _experiment_filter(logs: PreparedLogs) -> str:
    return 'WHERE "experiment" = $experiment' if logs.has_experiment_column else ""


def _fetch_dicts(con: duckdb.DuckDBPyConnection, query: str, parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
    cursor = con.execute(query, dict(parameters))
    names = [column[0].lower() for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def count_exposures(con: duckdb.DuckDBPyConnection, exposed: str) -> ExposureCounts:
    """Units per variant and units exposed to several variants, from the unit spine."""
    rows = _fetch_dicts(con, render("exposure_summary", exposed=exposed), {})
    return ExposureCounts(
        units={row["variant"]: int(row["units"]) for row in rows},
        multiple_variant_units=sum(int(row["multiple_variant_units"]) for row in rows),
    )


def experiments_in_exposures(con: duckdb.DuckDBPyConnection, logs: PreparedLogs) -> list[str]:
    """Distinct experiment names of the exposures log, for the message when none matches."""
    rows = con.execute(f'SELECT DISTINCT "experiment" FROM {logs.exposures.view} ORDER BY 1 LIMIT 20').fetchall()
    return [str(row[0]) for row in rows]


def variant_moments(
    con: duckdb.DuckDBPyConnection, experiment: Experiment, logs: PreparedLogs, exposed: str
) -> VariantMoments:
    """Per-variant (n, mean, var_samp) of every metric, from one scan of the events log."""
    events = sorted({metric.event for metric in experiment.metrics})
    event_parameters = {event: f"$event_{position}" for position, event in enumerate(events)}
    filter_parameters = event_parameters if len(events) > 1 else {events[0]: None}
    aliases = {metric.name: f"m{position}" for position, metric in enumerate(experiment.metrics)}

    unit_aggregates = ", ".join(
        f"{unit_aggregate(metric, filter_parameters[metric.event], experiment)} AS \"{aliases[metric.name]}\""
        for metric in experiment.metrics
    )
    unit_values = ", ".join(f'coalesce(u."{alias}", 0) AS "{alias}"' for alias in aliases.values())
    moments = ", ".join(
        f'avg("{alias}") AS "{alias}_mean", var_samp("{alias}") AS "{alias}_variance"' for alias in aliases.values()
    )
    window = experiment.window_seconds
    query = render(
        "variant_moments",
        exposed=exposed,
        events=logs.events.view,
        window_condition='AND e."timestamp" < x."first_exposure" + to_seconds($window_seconds)' if window is not None else "",
        event_names=", ".join(event_parameters.values()),
        unit_aggregates=unit_aggregates,
        unit_values=unit_values,
        variant_moments=moments,
    )
    parameters: dict[str, Any] = {name[1:]: event for event, name in event_parameters.items()}
    if window is not None:
        parameters["window_seconds"] = window
    rows = _fetch_dicts(con, query, parameters)
    return VariantMoments(
        moments={
            metric.name: {
                row["variant"]: Moments(
                    n=int(row["units"]),
                    mean=float(row[f"{aliases[metric.name]}_mean"]),
                    variance=float(row[f"{aliases[metric.name]}_variance"] or 0.0),
                )
                for row in rows
            }
            for metric in experiment.metrics
        }
    )
