"""The unit spine: one row per exposed unit (first exposure, window start, variant, segments)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from iterate.aggregation.parameters import Parameters, conditions_sql
from iterate.config import Experiment
from iterate.ingest import PreparedLogs, dimension
from iterate.templates import quote_identifier, render

if TYPE_CHECKING:
    import duckdb

SPINE = quote_identifier("iterate_exposed")


def segment_column(column: str) -> str:
    """Name of a segment's column in the spine."""
    return f"segment:{column}"


def covariate_column(column: str) -> str:
    """Name of a per-unit CUPED covariate's column in the spine (its value at first exposure)."""
    return f"covariate:{column}"


@dataclass(frozen=True, slots=True)
class Spine:
    """The unit spine of an analysis, as the queries that read it see it.

    Attributes:
        relation: What to read it from (after ``FROM``): the temp table's quoted name when
            materialized, else the spine's query in parentheses, which the reading query then
            computes itself (no table is written: at 50M events that saves a tenth of a second).
        parameters: Bind values ``relation`` needs (none for a table); their names start with
            ``spine_``, apart from the reading query's own.
        first_exposure: The experiment's earliest exposure, ``None`` when no unit is exposed.
    """

    relation: str
    parameters: Mapping[str, Any]
    first_exposure: datetime | None


def build_spine(con: duckdb.DuckDBPyConnection, experiment: Experiment, logs: PreparedLogs, *,
                materialize: bool = True) -> Spine:
    """The unit spine, materialized as a temp table unless ``materialize`` is false.

    Exposures are filtered on the experiment name (when the log has one), the as-of time, the
    experiment's unit conditions and, for exposures taken from the events log, the exposure event.
    Segments come from the exposures when they carry the column, else from the unit's first event
    (which needs the table: such a spine is always materialized). Read a spine that is not
    materialized from one query only, or it is computed once per query.
    """
    parameters = Parameters("spine_")
    filters = []
    if logs.has_experiment_column:
        filters.append(f'"experiment" = {parameters.bind(experiment.name)}')
    if experiment.exposure_event is not None:
        filters.append(f'"event" = {parameters.bind(experiment.exposure_event)}')
    if experiment.as_of is not None:
        filters.append(f'"timestamp" <= {parameters.bind(experiment.as_of)}')
    unit_conditions = [c for c in experiment.where if c.column in logs.exposure_dimensions]
    filters += conditions_sql(unit_conditions, logs.exposures.view, parameters)
    exposure_filter = ("WHERE " + " AND ".join(filters)) if filters else ""
    filter_values = dict(parameters.values)
    exposure_segments = [s for s in experiment.segments if s in logs.exposure_dimensions]
    covariates = sorted({m.covariate for m in experiment.metrics if m.covariate is not None})
    segment_columns = "".join(
        f", arg_min_null({quote_identifier(dimension(s))}, \"timestamp\") AS {quote_identifier(segment_column(s))}"
        for s in exposure_segments
    ) + "".join(
        f", arg_min_null({quote_identifier(dimension(c))}, \"timestamp\") AS {quote_identifier(covariate_column(c))}"
        for c in covariates
    )
    query = render(
        "exposed_units",
        exposures=logs.exposures.view,
        exposure_filter=exposure_filter,
        segment_columns=segment_columns,
        exposure_delay=parameters.bind(float(experiment.exposure_delay_seconds)),
    )
    started = con.execute(f'SELECT min("timestamp") FROM {logs.exposures.view} {exposure_filter}',
                          filter_values).fetchone()[0]
    event_segments = [s for s in experiment.segments if s not in logs.exposure_dimensions]
    if not materialize and not event_segments:
        return Spine(relation=f"({query})", parameters=parameters.values, first_exposure=started)

    con.execute(f"CREATE OR REPLACE TEMP TABLE {SPINE} AS {query}", parameters.values)
    if event_segments:
        _add_event_segments(con, experiment, logs, event_segments)
    return Spine(relation=SPINE, parameters={}, first_exposure=started)


def _add_event_segments(con, experiment: Experiment, logs: PreparedLogs, segments: list[str]) -> None:
    parameters = Parameters()
    time_condition = f'AND e."timestamp" <= {parameters.bind(experiment.as_of)}' if experiment.as_of else ""
    columns = ", ".join(
        f'arg_min(e.{quote_identifier(dimension(s))}, e."timestamp") AS {quote_identifier(segment_column(s))}'
        for s in segments
    )
    query = render("event_segments", events=logs.events.view, exposed=SPINE, segment_columns=columns,
                   time_condition=time_condition)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {SPINE} AS SELECT * FROM {SPINE} LEFT JOIN ({query}) USING (\"user_id\")",
        parameters.values,
    )
