"""The unit spine: one row per exposed unit (first exposure, window start, variant, segments)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from iterate.aggregation.conditions import conditions_sql
from iterate.config import Experiment
from iterate.engines import Engine
from iterate.ingest import PreparedLogs, dimension
from iterate.templates import Parameters, quote_identifier, render

SPINE_TABLE = "iterate_exposed"
_UNITS_TABLE = "iterate_exposed_units"


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
        relation: What to read it from (after ``FROM``): the table's quoted name when
            materialized, else the spine's query in parentheses, which the reading query then
            computes itself (no table is written: at 50M events that saves a tenth of a second).
        parameters: Bind values ``relation`` needs (none for a table); their names start with
            ``spine_``, apart from the reading query's own.
        first_exposure: The experiment's earliest exposure, ``None`` when no unit is exposed.
    """

    relation: str
    parameters: Mapping[str, Any]
    first_exposure: datetime | None


def build_spine(engine: Engine, experiment: Experiment, logs: PreparedLogs, *, materialize: bool = True) -> Spine:
    """The unit spine, materialized as a table unless ``materialize`` is false.

    Exposures are filtered on the experiment name (when the log has one), the as-of time, the
    experiment's unit conditions and, for exposures taken from the events log, the exposure event.
    Segments come from the exposures when they carry the column, else from the unit's first event
    (which needs the table: such a spine is always materialized). Read a spine that is not
    materialized from one query only, or it is computed once per query.
    """
    dialect = engine.dialect
    parameters = Parameters(dialect, "spine_")
    exposure_filter = _exposure_filter(experiment, logs, parameters)
    started = engine.execute(render("first_exposure", dialect, parameters.values, exposures=logs.exposures.view,
                                    exposure_filter=exposure_filter)).first()[0]
    exposure_segments = [s for s in experiment.segments if s in logs.exposure_dimensions]
    covariates = sorted({m.covariate for m in experiment.metrics if m.covariate is not None})
    first_values = [(s, segment_column(s)) for s in exposure_segments] + [(c, covariate_column(c)) for c in covariates]
    segment_columns = "".join(
        f", {dialect.arg_min_keep_null(quote_identifier(dimension(column)), _TIME)} AS {quote_identifier(name)}"
        for column, name in first_values
    )
    window_offset = dialect.seconds(parameters.bind(float(experiment.exposure_delay_seconds)))
    query = render("exposed_units", dialect, parameters.values, exposures=logs.exposures.view,
                   exposure_filter=exposure_filter, segment_columns=segment_columns, window_offset=window_offset)
    event_segments = [s for s in experiment.segments if s not in logs.exposure_dimensions]
    if not materialize and not event_segments:
        return Spine(relation=f"({query.text})", parameters=query.parameters, first_exposure=started)
    if not event_segments:
        return Spine(relation=engine.create_table(SPINE_TABLE, query), parameters={}, first_exposure=started)
    units = engine.create_table(_UNITS_TABLE, query)
    return Spine(relation=_with_event_segments(engine, experiment, logs, units, event_segments), parameters={},
                 first_exposure=started)


def first_exposure(engine: Engine, experiment: Experiment, logs: PreparedLogs) -> datetime | None:
    """The experiment's earliest exposure after its filters (experiment name, exposure event,
    as-of, unit conditions), or ``None`` when they leave none; for messages when a spine is empty."""
    parameters = Parameters(engine.dialect, "spine_")
    exposure_filter = _exposure_filter(experiment, logs, parameters)
    return engine.execute(render("first_exposure", engine.dialect, parameters.values, exposures=logs.exposures.view,
                                 exposure_filter=exposure_filter)).first()[0]


def exposure_filter(experiment: Experiment, logs: PreparedLogs, parameters: Parameters) -> str:
    """The WHERE selecting the experiment's exposures: experiment name, exposure event, as-of, unit filters."""
    return _exposure_filter(experiment, logs, parameters)


def _exposure_filter(experiment: Experiment, logs: PreparedLogs, parameters: Parameters) -> str:
    """The WHERE selecting the experiment's exposures: experiment name, exposure event, as-of, unit filters."""
    filters = []
    if logs.has_experiment_column:
        filters.append(f'"experiment" = {parameters.bind(experiment.name)}')
    if experiment.exposure_event is not None:
        filters.append(f'"event" = {parameters.bind(experiment.exposure_event)}')
    if experiment.as_of is not None:
        filters.append(f'"timestamp" <= {parameters.bind(experiment.as_of)}')
    unit_conditions = [c for c in experiment.where if c.column in logs.exposure_dimensions]
    filters += conditions_sql(unit_conditions, logs.exposures.view, parameters)
    return ("WHERE " + " AND ".join(filters)) if filters else ""


def _with_event_segments(engine: Engine, experiment: Experiment, logs: PreparedLogs, units: str,
                         segments: list[str]) -> str:
    """The spine table with segment values read from each unit's first event after exposure."""
    dialect = engine.dialect
    parameters = Parameters(dialect)
    time_condition = f'AND e."timestamp" <= {parameters.bind(experiment.as_of)}' if experiment.as_of else ""
    columns = ", ".join(
        f'{dialect.arg_min(f"e.{quote_identifier(dimension(s))}", _EVENT_TIME)} AS {quote_identifier(segment_column(s))}'
        for s in segments
    )
    query = render("event_segments", dialect, parameters.values, events=logs.events.view, exposed=units,
                   segment_columns=columns, time_condition=time_condition)
    return engine.create_table(SPINE_TABLE, query)


_EVENT_TIME = 'e."timestamp"'
_TIME = '"timestamp"'
