"""The stage of each exposure of a staged ramp, from the ramp's schedule (``[rollout] stages``).

The exposures are written once into a table with one more dimension column, the stage; the unit
spine then reads a unit's stage at its first exposure like any exposure segment, and the one
unit-metrics scan returns the moments per stage (:func:`iterate.aggregation.unit_metric_moments`
with ``exposure_segments``). A temporary table rather than a view: a view cannot hold the bind
parameters of the stage starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from iterate.engines import Engine
from iterate.ingest import PreparedLogs, dimension
from iterate.templates import Parameters, quote_identifier, render

STAGED_EXPOSURES_TABLE = "iterate_staged_exposures"


def staged_exposures(engine: Engine, logs: PreparedLogs, column: str, starts: Sequence[datetime],
                     labels: Sequence[str]) -> PreparedLogs:
    """The logs whose exposures carry the dimension ``column``: the label of the stage whose
    ``[start, next start)`` holds each exposure (``starts`` increasing, one label each; an exposure
    before the first start gets the first label).
    """
    parameters = Parameters(engine.dialect)
    branches = [f'WHEN "timestamp" >= {parameters.bind(start)} THEN {parameters.bind(label)}'
                for start, label in reversed(list(zip(starts[1:], labels[1:])))]
    stage_case = f"CASE {' '.join(branches)} ELSE {parameters.bind(labels[0])} END" if branches else parameters.bind(labels[0])
    query = render("staged_exposures", engine.dialect, parameters.values, exposures=logs.exposures.view,
                   stage=quote_identifier(dimension(column)), stage_case=f"CAST({stage_case} AS {engine.dialect.text_type})")
    table = engine.create_table(STAGED_EXPOSURES_TABLE, query)
    return replace(logs, exposures=replace(logs.exposures, view=table),
                   exposure_dimensions=logs.exposure_dimensions | {column})
