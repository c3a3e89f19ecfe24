"""The interval of each exposure of a canary (``[rollout] interval``): its fixed-length time bucket.

As with the stages of a ramp (:mod:`iterate.aggregation.stages`), the exposures are written once
into a table with one more dimension column; the unit spine reads a unit's interval at its first
exposure like any exposure segment, so the one unit-metrics scan returns the moments per interval
and per arm. An interval is labelled by its index ``floor(epoch seconds / length)`` (as text), so
intervals are aligned on the clock and need no origin; :func:`interval_start` turns an index back
into the interval's start.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from iterate.engines import Engine
from iterate.ingest import PreparedLogs, dimension
from iterate.templates import Parameters, quote_identifier, render

INTERVAL_EXPOSURES_TABLE = "iterate_interval_exposures"
_EPOCH = datetime(1970, 1, 1)


def interval_exposures(engine: Engine, logs: PreparedLogs, column: str, seconds: float) -> PreparedLogs:
    """The logs whose exposures carry the dimension ``column``: the index of the ``seconds``-long
    interval holding each exposure's time."""
    parameters = Parameters(engine.dialect)
    length = parameters.bind(float(seconds))
    epoch = engine.dialect.epoch_seconds('"timestamp"')
    index = (f"CAST(CAST(floor({epoch} / {length}) AS BIGINT) "
             f"AS {engine.dialect.text_type})")
    query = render("interval_exposures", engine.dialect, parameters.values, exposures=logs.exposures.view,
                   interval=quote_identifier(dimension(column)), interval_index=index)
    table = engine.create_table(INTERVAL_EXPOSURES_TABLE, query)
    return replace(logs, exposures=replace(logs.exposures, view=table),
                   exposure_dimensions=logs.exposure_dimensions | {column})


def interval_start(index: int, seconds: float) -> datetime:
    """The start (naive UTC) of interval ``index`` of length ``seconds``.

    Example:
        >>> interval_start(2_946_012, 600.0)
        datetime.datetime(2026, 1, 5, 10, 0)
    """
    return _EPOCH + timedelta(seconds=index * seconds)
