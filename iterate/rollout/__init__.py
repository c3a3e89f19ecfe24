"""Rollouts: judge an increment while it reaches users, and say ``advance``, ``hold``,
``rollback`` or ``invalid`` (exit codes 0, 11, 10, 13).

The first kind is the **staged ramp** (``[rollout] kind = "ramp"``): a feature flag
ramps 1% -> 5% -> 25% -> 50% of the units, from a schedule of stages (``[rollout] stages``, each
with its start and the treatment's share) or from a column of the exposures log
(``[rollout] stage_column``). Units first exposed in a stage are compared with the control units
first exposed in the same stage; the pooled effect is stratified by stage (weights = the stages'
shares of all units), so a changing allocation with a baseline that drifts does not bias it
(Simpson's paradox; :mod:`iterate.rollout.estimates`), and it is anytime-valid, so the ramp may be
checked after every batch of data.

A **canary** (``[rollout] kind = "canary"``, :mod:`iterate.rollout.canary`) is judged the Kayenta
way instead: each metric's values over fixed intervals (``[rollout] interval``), canary against
baseline, with Mann-Whitney and a tolerance, a weighted score with pass / marginal / fail
thresholds, and the anytime-valid event-rate test of count metrics beside it
(:mod:`iterate.rollout.canary_decision`).

A **new app version** (``[rollout] kind = "version"``) is not randomized: users update on their
own. It is judged by a difference-in-differences on per-unit pre/post values over the same
calendar days, with a pre-trend check that refuses ``advance`` and an overlap check, and every
output says *observational* (:mod:`iterate.rollout.version`).

The ramp's verdict (:mod:`iterate.rollout.decision`), rules in order:

- ``invalid``: an error-level check fails: the sample ratio of a stage against its planned share
  (anytime-valid), units exposed to several variants, a pre-exposure imbalance within a stage;
- ``rollback``: any metric (any role) is shown worse on the anytime-valid stratified estimate;
- ``hold`` (``rollback`` with ``on_no_data = "rollback"``): no unit exposed or an arm without units,
  a metric without data in the current stage, or an arm of the current stage below
  ``min_units_per_stage``, each named;
- ``advance``: every guardrail with a margin is shown non-inferior (anytime-valid) and none of the
  above holds; at least one guardrail needs a margin. Success metrics are reported but a ramp
  does not need them to advance;
- ``hold`` otherwise, with what is missing.

Example:
    >>> import iterate
    >>> result = iterate.rollout("ramp.toml")  # doctest: +SKIP
    >>> result.verdict, result.exit_code  # doctest: +SKIP
    ('advance', 0)
"""

from __future__ import annotations

import sys
import types
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from iterate.config import Experiment
from iterate.engines import Engine
from iterate.errors import ConfigError
from iterate.rollout.result import ROLLOUT_EXIT_CODES, RolloutResult, RolloutVerdict, StageSummary

__all__ = ["ROLLOUT_EXIT_CODES", "RolloutResult", "RolloutVerdict", "StageSummary", "rollout"]


def rollout(
    config: Experiment | str | Path,
    *,
    events: Any = None,
    exposures: Any = None,
    as_of: datetime | str | None = None,
    engine: Engine | None = None,
) -> RolloutResult:
    """Judge a rollout (an experiment with a ``[rollout]`` table): advance, hold, rollback or invalid.

    Args:
        config: An :class:`~iterate.config.Experiment` with ``rollout`` set, or the path of its TOML file.
        events: Events log overriding the configured one (a path, a Source, or a frame).
        exposures: Exposures log overriding the configured one.
        as_of: Judge the ramp as of this time (exposures and events after it ignored).
        engine: The engine to run on; by default a new embedded DuckDB.

    Raises:
        ConfigError: the configuration is invalid, or has no ``[rollout]`` table.
        DataError: a log is unreadable or breaks the data contract.
    """
    from iterate.provenance import provenance
    from iterate.rollout import canary, ramp, version
    from iterate.session import resolve

    generated_at = datetime.now(timezone.utc).replace(tzinfo=None)
    experiment, events, exposures = resolve(config, events, exposures, as_of=as_of)
    if experiment.rollout is None:
        raise ConfigError(f"{experiment.name} has no [rollout] table: add one, such as\n"
                          "[rollout]\nkind = \"ramp\"\nstages = [{ start = 2026-01-05T00:00:00Z, share = 0.01 }, "
                          "{ start = 2026-01-06T00:00:00Z, share = 0.05 }]\n(or analyze it with iterate analyze)")
    judge = {"canary": canary.judge, "version": version.judge}.get(experiment.rollout.kind, ramp.judge)
    result, fingerprint = judge(experiment, events, exposures, engine)
    return replace(result, provenance=provenance(experiment, fingerprint, generated_at))


class _CallableModule(types.ModuleType):
    """This package, callable as :func:`rollout`: importing ``iterate.rollout.result`` (or any
    submodule) makes ``iterate.rollout`` the package rather than the function, and
    ``iterate.rollout(...)`` must work either way."""

    def __call__(self, *args: Any, **kwargs: Any) -> RolloutResult:
        return rollout(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
