"""The preamble every workflow shares (analyze, timeline, calibrate, plan): resolve the config and
the logs, open the engine, prepare the logs; then the unit spine, its exposure counts, the
variants to compare and the time range of the events, each one call away.

Example:
    >>> from iterate.session import open_session, resolve
    >>> experiment, events, exposures = resolve("sample_data/experiment.toml")  # doctest: +SKIP
    >>> with open_session(experiment, events, exposures) as session:  # doctest: +SKIP
    ...     spine = session.exposed_spine()
    ...     variants = session.variants(session.count_exposures(spine))
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from iterate import aggregation
from iterate.config import Experiment, Source, load_config, parse_timestamp
from iterate.engines import Engine, open_engine
from iterate.errors import ConfigError, DataError
from iterate.ingest import PreparedLogs, log_problems, prepare_logs


def resolve(
    config: Experiment | str | Path,
    events: Any = None,
    exposures: Any = None,
    *,
    as_of: datetime | str | None = None,
    segments: Sequence[str] | str | None = None,
    events_only: bool = False,
) -> tuple[Experiment, Any, Any]:
    """The experiment (loaded from TOML if a path, with the ``as_of`` and ``segments`` overrides;
    a string is one segment column) and the logs to read (arguments win over the config).

    Raises:
        ConfigError: the configuration or an override is invalid (with the problems of the logs
            that can be found without it, see :func:`load_experiment`).
    """
    experiment = load_experiment(config, events, exposures, events_only=events_only)
    changes: dict[str, Any] = {}
    if as_of is not None:
        try:
            changes["as_of"] = parse_timestamp(as_of)
        except ValueError:
            raise ConfigError(f"as_of == {as_of!r}, must be a date-time like 2026-01-20T00:00:00Z") from None
    if isinstance(segments, str):
        segments = (segments,)  # one column, not its letters
    if segments:
        changes["segments"] = tuple(segments)
    if changes:
        experiment = experiment.replace(**changes)
    events = _as_source(events) if events is not None else experiment.events
    exposures = _as_source(exposures) if exposures is not None else experiment.exposures
    return experiment, events, exposures


def load_experiment(config: Experiment | str | Path, events: Any = None, exposures: Any = None, *,
                    events_only: bool = False) -> Experiment:
    """The experiment of ``config``: as given, or loaded from its TOML file.

    A configuration that cannot be loaded does not hide the logs' own problems: the logs it names
    (or ``events`` / ``exposures``, which win; only the events with ``events_only``) are opened,
    and a missing or unreadable one is listed with the configuration's problems.

    Raises:
        ConfigError: the configuration is invalid, with every problem of it and of its logs.
    """
    if isinstance(config, Experiment):
        return config
    if not isinstance(config, (str, os.PathLike)):
        raise ConfigError(f"config == {config!r}, of type {type(config).__name__}: expected an iterate.Experiment "
                          "or the path of its TOML file (a str or a pathlib.Path)")
    try:
        return load_config(config)
    except ConfigError as error:
        logs = {"events": events if events is not None else error.logs.get("events")}
        if not events_only:
            logs["exposures"] = exposures if exposures is not None else error.logs.get("exposures")
        logs = {role: _as_source(source) for role, source in logs.items() if source is not None}
        if not logs:
            raise
        with open_engine(None) as engine:
            problems = log_problems(engine, logs)
        if not problems:
            raise
        head = str(error.args[0]).rstrip(":")
        raise ConfigError(f"{head}, and its input logs {len(problems)}:", [*error.problems, *problems],
                          logs=error.logs) from None


def now() -> datetime:
    """The analysis time: now, as a naive UTC datetime."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class Session:
    """An experiment with its logs prepared on an engine."""

    experiment: Experiment
    engine: Engine
    logs: PreparedLogs

    def exposed_spine(self, experiment: Experiment | None = None, *, materialize: bool = True) -> aggregation.Spine:
        """The unit spine of ``experiment`` (the session's by default).

        Raises:
            DataError: no unit is exposed to the experiment (naming the experiments found).
        """
        spine = aggregation.build_spine(self.engine, experiment or self.experiment, self.logs, materialize=materialize)
        if spine.first_exposure is None:
            raise DataError(self._no_exposures_message())
        return spine

    def count_exposures(self, spine: aggregation.Spine, segments: Sequence[str] = ()) -> aggregation.ExposureCounts:
        """Units per variant (and per exposure segment) of the spine."""
        return aggregation.count_exposures(self.engine, spine, segments)

    def variants(self, counts: aggregation.ExposureCounts) -> tuple[str, ...]:
        """The variants to compare, control first (see :func:`check_variants`)."""
        return check_variants(self.experiment, counts, self.logs.exposures.label)

    def event_times(self, started: datetime | None, at: datetime | None = None) -> aggregation.EventTimes:
        """The time range of the events, judged at ``at`` (now by default)."""
        return aggregation.event_times(self.engine, self.logs, at or now(), started)

    def _no_exposures_message(self) -> str:
        """Why no unit is exposed: the exposure event never occurs (with the nearest event names),
        the experiment name is absent, the as-of time comes before the first exposure, or the unit
        filters leave none (the first that applies)."""
        experiment, logs, label = self.experiment, self.logs, self.logs.exposures.label
        event = experiment.exposure_event
        if event is not None and not aggregation.events_found(self.engine, logs, [event]):
            from iterate.evidence import missing_exposure_event_problem

            return missing_exposure_event_problem(event, aggregation.event_names(self.engine, logs))
        first = aggregation.first_exposure(self.engine, experiment.replace(as_of=None, where=()), logs)
        if first is None and logs.has_experiment_column:
            found = aggregation.experiments_in_exposures(self.engine, logs)
            return (
                f"{label}: no exposure of experiment `{experiment.name}`; experiments found: "
                f"{', '.join(found) or 'none'}. Fix [experiment] name or the exposures log"
            )
        if first is None and experiment.exposure_event is not None:
            return (f"{label}: no `{experiment.exposure_event}` event (the exposure event); "
                    "fix [data] exposure_event or the events log")
        if first is None:
            return f"{label}: no exposure in the exposures log; check the log"
        if experiment.as_of is not None and experiment.as_of < first:
            return (f"{label}: no exposure of `{experiment.name}` is left before the as-of time "
                    f"{experiment.as_of:%Y-%m-%d %H:%M:%S}: the first exposure is at {first:%Y-%m-%d %H:%M:%S} (UTC); "
                    "set --as-of (or [experiment] as_of) after it")
        return (f"{label}: no exposure of `{experiment.name}` is left by the unit filters of [experiment] where"
                + (f" before the as-of time {experiment.as_of:%Y-%m-%d %H:%M:%S}" if experiment.as_of else "")
                + "; check their values")


@contextmanager
def open_session(experiment: Experiment, events: Any, exposures: Any, *, engine: Engine | None = None,
                 events_only: bool = False) -> Iterator[Session]:
    """Open the engine (``engine`` as given, or a new DuckDB one closed on exit) and prepare the logs.

    Raises:
        DataError: a log is unreadable or breaks the data contract (every problem listed).
    """
    with open_engine(engine) as opened:
        logs = prepare_logs(opened, experiment, events, exposures, events_only=events_only)
        yield Session(experiment, opened, logs)


def check_variants(experiment: Experiment, counts: aggregation.ExposureCounts, label: str) -> tuple[str, ...]:
    """Variants to analyze, control first; a missing control or an empty declared variant is an input error.

    Undeclared variants are not an error: their units are excluded and reported by a check.
    """
    observed = {variant for variant, units in counts.units.items() if units}
    declared = experiment.variants
    problems = []
    if declared is None:
        others = sorted(observed - {experiment.control})
        variants = (experiment.control, *others)
        if experiment.control not in observed:
            problems.append(
                f"{label}: the control variant `{experiment.control}` has no exposed unit; variants found: "
                f"{', '.join(sorted(observed)) or 'none'}. Fix [experiment] control"
            )
        elif not others:
            problems.append(f"{label}: only the control variant `{experiment.control}` is exposed; there is nothing to compare")
    else:
        variants = declared
        for variant in declared:
            if counts.units.get(variant, 0) == 0:
                found = ", ".join(sorted(observed)) or "none"
                problems.append(
                    f"{label}: variant `{variant}` has no exposed unit (after excluding units exposed to several "
                    f"variants; variants found: {found}); check the variant names in expected_split"
                )
    if problems:
        raise DataError("the variants of the exposures do not match the experiment:", problems)
    return variants


def _as_source(value: Any) -> Any:
    return Source(path=str(value)) if isinstance(value, (str, Path)) else value
