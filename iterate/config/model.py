"""The objects an analysis is configured with: :class:`Experiment`, :class:`Metric` and their parts.

They are what the TOML file parses into, and can be built directly in Python. Each validates
itself on construction and lists every problem at once in one :class:`ConfigError`.

Example:
    >>> from iterate.config import Experiment, Metric
    >>> experiment = Experiment(
    ...     name="checkout_v2",
    ...     control="control",
    ...     metrics=(Metric(name="conversion", type="proportion", event="purchase"),),
    ... )
    >>> experiment.metrics[0].role
    'success'
"""

from __future__ import annotations

import difflib
import json
import math
import re
from functools import cache
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin, get_type_hints

from iterate.config.durations import parse_duration
from iterate.errors import ConfigError

if TYPE_CHECKING:
    from iterate.metrics import MetricKind

Role = Literal["success", "guardrail", "deterioration"]
Direction = Literal["increase", "decrease"]
Operator = Literal["eq", "ne", "in", "not_in", "lt", "le", "gt", "ge"]
Correction = Literal["holm", "bonferroni", "benjamini-hochberg", "none"]
MarginType = Literal["relative", "absolute"]
SequentialMethod = Literal["msprt", "confidence_sequence"]
Spending = Literal["obrien-fleming", "pocock", "power"]
Inference = Literal["frequentist", "bayesian", "both"]
OnlineFdr = Literal["lord"]
RolloutKind = Literal["ramp", "canary", "version"]
OnNoData = Literal["hold", "rollback"]

OPERATORS: tuple[str, ...] = get_args(Operator)

EVENT_COLUMNS: tuple[str, ...] = ("user_id", "timestamp", "event", "value", "variant", "experiment")
EXPOSURE_COLUMNS: tuple[str, ...] = ("user_id", "experiment", "variant", "timestamp")

_DATA = {"toml": "data"}
_COLUMNS = {"toml": "columns"}
_METRICS = {"toml": "metrics"}
_HISTORY = {"toml": "history"}
_ROLLOUT = {"toml": "rollout"}
_CANARY = {"omit_default": True}
"""Fields of the canary judge, left out of the config document (and hash) at their defaults, so that
an experiment that does not use them keeps the document it had before they existed."""


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``where`` condition: ``column <operator> value``; ``in`` / ``not_in`` take a tuple.

    Written in TOML as ``where = { platform = "ios" }`` (eq), ``{ platform = ["ios", "android"] }``
    (in) or ``{ amount = { gt = 0 } }``.
    """

    column: str
    operator: Operator
    value: Any


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a ratio metric: the per-unit sum of ``value`` (or count) over ``event`` rows."""

    event: str
    value: str | None = None
    where: tuple[Condition, ...] = ()


@dataclass(frozen=True, slots=True)
class Cap:
    """Outlier capping of per-unit values: at a fixed ``value``, or at a pooled ``percentile`` (0-1)."""

    value: float | None = None
    percentile: float | None = None


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric of an experiment, aggregated per unit (or per event, for quantiles) and compared per variant.

    Attributes:
        name: Identifier shown in reports.
        type: The metric's kind, a name of :data:`iterate.metrics.METRIC_KINDS`: ``proportion``
            (unit did ``event``), ``count`` (events per unit), ``mean`` (per-unit sum of ``value``,
            or 1 per event), ``ratio`` (sum of ``numerator`` over sum of ``denominator``, per-unit
            sums, delta method), ``quantile`` (the ``quantile`` of event values, clustered by
            unit), ``retention`` (unit active within ``days`` after exposure), ``time_to_event``
            (hours from window start to the unit's first ``event``, among units that did it),
            ``active_days`` (distinct UTC dates with the event in the window), ``event_rate``
            (events per exposure hour in the window, cut at the data end).
        event: Event name (all types but ``ratio``).
        value: Numeric column of the events log (``mean``, ``quantile``).
        role: ``success``, ``guardrail`` or ``deterioration``.
        direction: Which way is good: ``increase`` or ``decrease``.
        where: Conditions on event columns, applied to this metric's events.
        window: Window overriding the experiment's (e.g. conversion within ``"1d"``).
        numerator: Numerator side of a ratio.
        denominator: Denominator side of a ratio.
        quantile: Probability of a quantile metric, in (0, 1).
        days: ``(first, last)`` days after exposure for retention, inclusive; day N is
            ``[start + N days, start + N+1 days)``. Units whose last day is not yet observable
            at the end of the data are left out and counted.
        cap: Outlier capping of per-unit values.
        margin: Non-inferiority margin of a guardrail: the largest degradation accepted, relative to
            the control mean (``margin_type = "relative"``, default) or in the metric's units.
        margin_type: ``relative`` or ``absolute``.
        cuped: CUPED with the same metric in a pre-exposure period of this length (``"14d"``);
            ``True`` uses the experiment's ``cuped`` / ``pre_period``; ``False`` turns it off.
        covariate: CUPED with this per-unit numeric column of the exposures instead (e.g. ``history``).
        critical: Canary judge (``[rollout] kind = "canary"``): a failing (or data-less) critical
            metric fails the canary whatever the score.
        group: Canary judge: the metric's group, weighted by ``[rollout] group_weights``
            (``"default"`` when not given).
        tolerance: Canary judge: the shift of the metric's interval values accepted as no change,
            relative to the baseline's median (``0.1``, 10%, when not given).
    """

    name: str
    type: str
    event: str | None = None
    value: str | None = None
    role: Role = "success"
    direction: Direction = "increase"
    where: tuple[Condition, ...] = ()
    window: str | None = None
    numerator: Side | None = None
    denominator: Side | None = None
    quantile: float | None = None
    days: tuple[int, int] | None = field(default=None, metadata={"toml_keys": ("day", "days")})
    cap: Cap | None = None
    margin: float | None = None
    margin_type: MarginType = "relative"
    cuped: str | bool | None = None
    covariate: str | None = None
    critical: bool = field(default=False, metadata=_CANARY)
    group: str | None = field(default=None, metadata=_CANARY)
    tolerance: float | None = field(default=None, metadata=_CANARY)

    @property
    def window_seconds(self) -> float | None:
        """The metric's own window in seconds, or ``None`` when it follows the experiment's."""
        return None if self.window is None else parse_duration(self.window)

    @property
    def kind(self) -> MetricKind:
        """What the metric's ``type`` declares (:mod:`iterate.metrics`)."""
        from iterate.metrics import METRIC_KINDS

        return METRIC_KINDS[self.type]

    @property
    def sides(self) -> tuple[Side, ...]:
        """Event aggregates this metric reads: ``(numerator, denominator)`` of a ratio, else one side."""
        return self.kind.sides(self)


@dataclass(frozen=True, slots=True)
class Source:
    """Where a log comes from: a file path / glob / folder, or a table in a DuckDB database file."""

    path: str
    table: str | None = None

    def describe(self) -> str:
        """Human-readable name used in messages."""
        return f"{self.path} (table {self.table})" if self.table else self.path


@dataclass(frozen=True, slots=True)
class History:
    """The ``[history]`` table: where analyses are recorded, and the rules that read the record.

    Attributes:
        path: DuckDB file of the iteration history (``iterate.history``); relative paths in a TOML
            file are resolved from its folder. ``iterate analyze --record PATH`` overrides it.
        budget: Release-train budget: guardrail (or any metric) name -> the relative loss accepted
            in total, over the shipped releases, in the metric's bad direction (``0.03`` for 3%).
        fail_on_budget: A release that would ship past a budget is rolled back instead (reason
            ``release_budget``); without it the budget check only warns.
        fdr: ``"lord"``: online FDR control over the stream of releases (LORD++); the alpha of the
            success metrics of each release comes from the recorded history.
        fdr_target: The false discovery rate controlled over the stream of releases.
        w0: Initial wealth of LORD++, in (0, fdr_target]; ``None``: ``fdr_target / 10``.
    """

    path: str | None = None
    budget: Mapping[str, float] = field(default_factory=dict)
    fail_on_budget: bool = False
    fdr: OnlineFdr | None = None
    fdr_target: float = 0.05
    w0: float | None = None

    @property
    def initial_wealth(self) -> float:
        """LORD++'s initial wealth ``w0`` (``fdr_target / 10`` unless given)."""
        return self.fdr_target / 10 if self.w0 is None else self.w0


@dataclass(frozen=True, slots=True)
class Stage:
    """One stage of a staged ramp: from ``start`` (naive UTC) on, ``share`` of the exposed units get
    the treatment (all treatment arms together), until the next stage starts."""

    start: datetime
    share: float


@dataclass(frozen=True, slots=True)
class Rollout:
    """The ``[rollout]`` table: the experiment is a rollout judged by ``iterate.rollout``.

    Attributes:
        kind: ``"ramp"`` (a staged ramp), ``"canary"`` (canary against baseline over fixed
            intervals) or ``"version"`` (a new app version that users install on their own:
            observational, difference-in-differences).
        stages: The ramp's schedule, starts strictly increasing, shares in (0, 1] non-decreasing; a
            unit's stage is the one whose ``[start, next start)`` holds its first exposure.
        stage_column: Instead of ``stages``: a column of the exposures log naming each unit's stage
            (its value at the unit's first exposure).
        on_no_data: What a metric without data, or a current stage with too few units, gives:
            ``"hold"`` (default) or ``"rollback"``.
        min_units_per_stage: Below this many units in an arm of the current stage, the ramp cannot advance
            (with ``kind = "version"``: below this many updaters or comparison units).
        new: ``kind = "version"``: the new version's value in the exposures' ``variant`` column (which
            holds each unit's app version; its ``timestamp`` the first time the unit is seen on it).
        pre_period: ``kind = "version"``: each unit's window before its update day (default ``"7d"``).
        post_period: ``kind = "version"``: the window after its update day (default ``"7d"``).
        max_pretrend_p: ``kind = "version"``: a pre-trend test p-value below this (default 0.05) says
            the trends of updaters and comparison units differ before the update: no ``advance``.
        interval: Canary: the length of the intervals compared (``"10m"``); a unit belongs to the
            interval of its first exposure, intervals aligned on the clock (multiples of the length
            since 1970-01-01T00:00:00Z).
        canary: Canary: the canary's variant; the experiment's ``control`` is the baseline. Not
            needed when exactly one other variant is exposed.
        group_weights: Canary: the weight of each metric group in the score (any positive numbers,
            normalized to 100); groups weigh the same when not given.
        thresholds: Canary: ``{ pass = 95, marginal = 75 }``, the scores from which the canary
            passes (advance) or is marginal (hold); below marginal it fails (rollback).
        min_units_per_interval: Canary: an arm's interval with fewer units with a value is left
            out of that arm's interval values (too few to be one observation).
    """

    kind: RolloutKind = "ramp"
    stages: tuple[Stage, ...] = ()
    stage_column: str | None = None
    on_no_data: OnNoData = "hold"
    min_units_per_stage: int = 100
    interval: str | None = field(default=None, metadata=_CANARY)
    canary: str | None = field(default=None, metadata=_CANARY)
    group_weights: Mapping[str, float] = field(default_factory=dict, metadata=_CANARY)
    thresholds: Mapping[str, float] = field(default_factory=dict, metadata=_CANARY)
    min_units_per_interval: int = field(default=1, metadata=_CANARY)

    @property
    def interval_seconds(self) -> float | None:
        """The canary's interval length in seconds, or ``None`` without one."""
        return None if self.interval is None else parse_duration(self.interval)

    @property
    def score_thresholds(self) -> dict[str, float]:
        """The canary's ``{"pass": ..., "marginal": ...}``, Spinnaker's 95 and 75 where not given."""
        return {"pass": 95.0, "marginal": 75.0, **{key: float(value) for key, value in self.thresholds.items()}}

    new: str | None = None
    pre_period: str | None = None
    post_period: str | None = None
    max_pretrend_p: float | None = None

    @property
    def pre_seconds(self) -> float:
        """``pre_period`` in seconds (7 days when not given)."""
        return parse_duration(self.pre_period or "7d")

    @property
    def post_seconds(self) -> float:
        """``post_period`` in seconds (7 days when not given)."""
        return parse_duration(self.post_period or "7d")

    @property
    def pretrend_threshold(self) -> float:
        """``max_pretrend_p`` (0.05 when not given)."""
        return 0.05 if self.max_pretrend_p is None else self.max_pretrend_p


@dataclass(frozen=True, slots=True)
class Experiment:
    """An experiment or rollout to analyze: arms, metrics, data, columns and checks.

    Attributes:
        name: Experiment name; exposures are filtered on it when they have an experiment column.
        control: Control variant; every other variant is compared with it.
        metrics: Metrics to analyze.
        alpha: Significance level, in (0, 1).
        window: Metric window after a unit's window start, such as ``"7d"``; ``None``: no end.
        expected_split: Planned share per variant (declares the variants); ``None``: equal split
            over the observed variants.
        correction: Multiple-comparison correction across variants and metrics (and segments).
        segments: Dimension columns (of the exposures, else of the events) to break metrics down by.
        where: Conditions selecting units (on exposure columns) or events (on event columns).
        exposure_delay: Time between first exposure and the start of a unit's window (e.g. ``"1h"``).
        as_of: Analysis end: exposures and events after it are ignored.
        exposure_event: Take exposures from this event of the events log (with its ``variant``
            column) instead of an exposures log.
        events: Events log source (overridable at analysis time).
        exposures: Exposures log source (overridable at analysis time).
        event_columns: Default event column names to the log's names.
        exposure_columns: Default exposure column names to the log's names.
        srm_threshold: p-value under which the sample ratio is declared mismatched.
        multiple_exposure_threshold: Share of units exposed to several variants that invalidates.
        pre_period: Pre-exposure period in which metrics are compared for imbalance.
        imbalance_threshold: p-value under which a pre-exposure difference invalidates.
        cuped: CUPED for every proportion, count, mean and ratio metric, with the same metric in a
            pre-exposure period of this length (Deng et al. 2013), unless a metric says otherwise.
        sequential: Anytime-valid p-values and intervals (valid however often the data is looked at).
        sequential_method: ``msprt`` (Johari et al. 2017) or ``confidence_sequence``
            (Waudby-Smith et al. 2024).
        looks: Planned number of looks of a group-sequential design (alpha spending).
        spending: Alpha-spending function: ``obrien-fleming``, ``pocock`` or ``power``.
        spending_rho: Exponent of the power spending family.
        planned_units: Planned number of analyzed units (all arms); sets the information fraction of
            a group-sequential look, and reaching it without a decision gives ``inconclusive``.
        max_duration: Planned maximum duration (e.g. ``"28d"``) after the first exposure; reaching it
            without a decision gives ``inconclusive``.
        mde: Relative minimum effect of interest of the success metrics (0.02 is +2%, the meaning of
            ``iterate plan --mde``): when no success metric could detect it at the largest sample
            ``planned_units`` / ``max_duration`` let reach, the verdict is ``inconclusive`` early
            (futility, :mod:`iterate.horizon`).
        inference: ``frequentist`` decisions; ``bayesian`` or ``both`` add posterior summaries.
        prior_std: Standard deviation of a normal prior on the relative effect (None: flat prior).
        check_duplicates: Count duplicate events (an extra scan of the events): ``None`` does it up to
            200,000 analyzed units and skips it beyond, ``True`` / ``False`` force it.
        min_units_per_arm: Below this many analyzed units in the control or a treatment, that
            treatment is not shipped (harm shown still rolls it back).
        min_active_share: Below this share of exposed units with any event the metrics read in
            their window, a warning says the logs may not join (none at all makes the analysis
            ``invalid``).
        srm_min_deviation: A sample ratio mismatch is declared only when some variant's share also
            deviates from its planned share by at least this much, relative (e.g. 0.01 for 1%):
            a practical floor against alarms on tiny imbalances at large N.
        history: The ``[history]`` table: recording, release-train budget, online FDR.
        rollout: The ``[rollout]`` table of a rollout (:class:`Rollout`), else ``None``.
    """

    name: str
    control: str
    metrics: tuple[Metric, ...] = field(metadata=_METRICS)
    alpha: float = 0.05
    window: str | None = None
    expected_split: Mapping[str, float] | None = None
    correction: Correction = "holm"
    segments: tuple[str, ...] = ()
    where: tuple[Condition, ...] = ()
    exposure_delay: str | None = None
    as_of: datetime | None = None
    exposure_event: str | None = field(default=None, metadata=_DATA)
    events: Source | None = field(default=None, metadata=_DATA)
    exposures: Source | None = field(default=None, metadata=_DATA)
    event_columns: Mapping[str, str] = field(default_factory=lambda: {c: c for c in EVENT_COLUMNS}, metadata=_COLUMNS)
    exposure_columns: Mapping[str, str] = field(default_factory=lambda: {c: c for c in EXPOSURE_COLUMNS},
                                                metadata=_COLUMNS)
    srm_threshold: float = 0.001
    multiple_exposure_threshold: float = 0.01
    pre_period: str | None = "7d"
    imbalance_threshold: float = 0.001
    cuped: str | None = None
    sequential: bool = False
    sequential_method: SequentialMethod = "msprt"
    looks: int | None = None
    spending: Spending = "obrien-fleming"
    spending_rho: float = 3.0
    planned_units: int | None = None
    max_duration: str | None = None
    mde: float | None = None
    inference: Inference = "frequentist"
    prior_std: float | None = None
    check_duplicates: bool | None = None
    min_units_per_arm: int = 100
    min_active_share: float = 0.01
    srm_min_deviation: float | None = None
    history: History | None = field(default=None, metadata=_HISTORY)
    rollout: Rollout | None = field(default=None, metadata=_ROLLOUT)

    def __post_init__(self) -> None:
        problems = experiment_problems(self)
        if problems:
            raise ConfigError("invalid experiment configuration:", problems)

    @property
    def window_seconds(self) -> float | None:
        """Metric window length in seconds, or ``None`` for an open window."""
        return None if self.window is None else parse_duration(self.window)

    @property
    def exposure_delay_seconds(self) -> float:
        """Seconds from first exposure to window start."""
        return 0.0 if self.exposure_delay is None else parse_duration(self.exposure_delay)

    @property
    def max_duration_seconds(self) -> float | None:
        """Planned maximum duration in seconds, or ``None``."""
        return None if self.max_duration is None else parse_duration(self.max_duration)

    def cuped_seconds(self, metric: Metric) -> float | None:
        """Length of the pre-exposure period used as the CUPED covariate of ``metric``, or ``None``."""
        if not metric.kind.cuped or metric.covariate is not None or metric.cuped is False:
            return None
        if isinstance(metric.cuped, str):
            return parse_duration(metric.cuped)
        if self.cuped is not None:
            return parse_duration(self.cuped)
        if metric.cuped is True:
            return self.pre_period_seconds or parse_duration("7d")
        return None

    def pre_seconds(self, metric: Metric) -> float | None:
        """Length of the pre-exposure period measured for ``metric`` (CUPED covariate and imbalance check)."""
        if not metric.kind.cuped:
            return None
        return self.cuped_seconds(metric) or self.pre_period_seconds

    def measures_pre_period(self, metric: Metric) -> bool:
        """Whether ``metric`` has a pre-exposure value: the same metric before exposure (imbalance
        check, CUPED covariate) or a per-unit covariate column."""
        return metric.covariate is not None or self.pre_seconds(metric) is not None

    def uses_cuped(self, metric: Metric) -> bool:
        """Whether ``metric`` is adjusted with CUPED (a pre-exposure covariate or a covariate column)."""
        return metric.covariate is not None or self.cuped_seconds(metric) is not None

    @property
    def pre_period_seconds(self) -> float | None:
        """Length of the pre-exposure period compared for imbalance, or ``None`` for no check."""
        return None if self.pre_period is None else parse_duration(self.pre_period)

    @property
    def variants(self) -> tuple[str, ...] | None:
        """Declared variants (control first), or ``None`` when taken from the data."""
        if self.expected_split is None:
            return None
        others = [v for v in self.expected_split if v != self.control]
        return (self.control, *others)

    def replace(self, **changes: Any) -> Experiment:
        """A validated copy with ``changes`` applied (e.g. ``as_of``, ``segments``)."""
        return replace(self, **changes)


def experiment_problems(experiment: Experiment) -> list[str]:
    """Every problem of an experiment's values, each naming the key and the fix."""
    problems: list[str] = []
    if not experiment.name:
        problems.append("[experiment] name is empty; give the experiment a name")
    problems += _probability("[experiment] alpha", experiment.alpha, example="0.05")
    if _is_number(experiment.alpha) and 0 < experiment.alpha < _MIN_ALPHA:
        problems.append(f"[experiment] alpha == {experiment.alpha!r}, must be at least {_MIN_ALPHA} (smaller levels "
                        "are beyond double precision); use a level such as 0.001")
    problems += _probability("[experiment] srm_threshold", experiment.srm_threshold, example="0.001")
    problems += _probability("[experiment] multiple_exposure_threshold", experiment.multiple_exposure_threshold,
                             example="0.01")
    problems += _probability("[experiment] imbalance_threshold", experiment.imbalance_threshold, example="0.001")
    for key in ("window", "exposure_delay", "pre_period"):
        problems += _duration(f"[experiment] {key}", getattr(experiment, key), allow_zero=key == "exposure_delay")
    problems += _choices_problems("[experiment]", experiment)
    problems += _duration("[experiment] cuped", experiment.cuped)
    problems += _duration("[experiment] max_duration", experiment.max_duration)
    if experiment.check_duplicates is not None and not isinstance(experiment.check_duplicates, bool):
        problems.append(f"[experiment] check_duplicates == {experiment.check_duplicates!r}, must be true or false")
    problems += _evidence_problems(experiment)
    problems += _design_problems(experiment)
    if experiment.as_of is not None and not isinstance(experiment.as_of, datetime):
        problems.append(f"[experiment] as_of == {experiment.as_of!r}, must be a date-time like 2026-01-20T00:00:00Z")
    if not isinstance(experiment.segments, tuple) or not all(isinstance(s, str) and s for s in experiment.segments):
        problems.append(f"[experiment] segments == {experiment.segments!r}, must be a list of column names")
    problems += conditions_problems("[experiment] where", experiment.where)
    problems += _split_problems(experiment)
    problems += _metrics_problems(experiment.metrics)
    if experiment.history is not None:
        problems += history_problems(experiment.history, experiment.metrics)
    if experiment.rollout is not None:
        problems += rollout_problems(experiment.rollout)
    problems += canary_metric_problems(experiment)
    for label, mapping, defaults in (
        ("events", experiment.event_columns, EVENT_COLUMNS),
        ("exposures", experiment.exposure_columns, EXPOSURE_COLUMNS),
    ):
        problems += [unknown_key(f"[columns.{label}]", key, defaults) for key in mapping if key not in defaults]
    return problems


def _evidence_problems(experiment: Experiment) -> list[str]:
    """Problems of the evidence rules' settings."""
    problems = []
    minimum = experiment.min_units_per_arm
    if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 2:
        problems.append(f"[experiment] min_units_per_arm == {minimum!r}, must be a whole number >= 2")
    share = experiment.min_active_share
    if not _is_number(share) or not 0 <= share < 1:
        problems.append(f"[experiment] min_active_share == {share!r}, must be a number in [0, 1), such as 0.01")
    floor = experiment.srm_min_deviation
    if floor is not None and (not _is_number(floor) or not 0 < floor < 1):
        problems.append(f"[experiment] srm_min_deviation == {floor!r}, must be a number in (0, 1), such as 0.01")
    return problems


def _design_problems(experiment: Experiment) -> list[str]:
    """Problems of the monitoring design: sequential or planned looks, the plan, the prior."""
    problems = []
    if not isinstance(experiment.sequential, bool):
        problems.append(f"[experiment] sequential == {experiment.sequential!r}, must be true or false")
    if experiment.looks is not None and (not isinstance(experiment.looks, int) or isinstance(experiment.looks, bool)
                                         or experiment.looks < 1):
        problems.append(f"[experiment] looks == {experiment.looks!r}, must be a whole number >= 1")
    elif experiment.looks is not None and experiment.looks > _MAX_LOOKS:
        problems.append(f"[experiment] looks == {experiment.looks!r}, must be at most {_MAX_LOOKS}; for continuous "
                        "monitoring use sequential = true instead")
    if experiment.looks is not None and experiment.planned_units is None:
        problems.append("[experiment] looks needs planned_units (the units at the last look), to know how far along a look is")
    if experiment.looks is not None and experiment.sequential:
        problems.append("[experiment] choose sequential = true (continuous monitoring) or looks = K (planned looks), not both")
    if experiment.planned_units is not None and (not isinstance(experiment.planned_units, int)
                                                 or isinstance(experiment.planned_units, bool) or experiment.planned_units < 2):
        problems.append(f"[experiment] planned_units == {experiment.planned_units!r}, must be a whole number >= 2")
    if experiment.mde is not None and (not _is_number(experiment.mde) or not 0 < experiment.mde < 1):
        problems.append(f"[experiment] mde == {experiment.mde!r}, must be a relative effect in (0, 1), such as "
                        "0.02 for +2% (a number, not a string; 2 would mean +200%)")
    if not _is_number(experiment.spending_rho) or experiment.spending_rho <= 0:
        problems.append(f"[experiment] spending_rho == {experiment.spending_rho!r}, must be a positive number")
    if experiment.prior_std is not None and (not _is_number(experiment.prior_std) or experiment.prior_std <= 0):
        problems.append(f"[experiment] prior_std == {experiment.prior_std!r}, must be a positive number")
    return problems


def history_problems(history: History, metrics: tuple[Metric, ...]) -> list[str]:
    """Every problem of the ``[history]`` table, each naming the key and the fix."""
    problems = []
    if history.path is not None and (not isinstance(history.path, str) or not history.path.strip()):
        problems.append(f"[history] path == {history.path!r}, must be the path of a DuckDB file, such as \"history.duckdb\"")
    names = tuple(metric.name for metric in metrics)
    if not isinstance(history.budget, Mapping):
        problems.append(f"[history] budget == {history.budget!r}, must be a table like {{ retention_7 = 0.03 }}")
    else:
        for name, loss in history.budget.items():
            if name not in names:
                problems.append(f"[history] budget names `{name}`, which is not a metric{nearest(name, names)}")
            if not _is_number(loss) or not 0 < loss < 1:
                problems.append(f"[history] budget.{name} == {loss!r}, must be a relative loss in (0, 1), such as 0.03")
    if not isinstance(history.fail_on_budget, bool):
        problems.append(f"[history] fail_on_budget == {history.fail_on_budget!r}, must be true or false")
    if history.fdr is not None:
        problems += _choice_problem("[history]", "fdr", history.fdr, get_args(OnlineFdr))
    problems += _probability("[history] fdr_target", history.fdr_target, example="0.05")
    if history.w0 is not None and (not _is_number(history.w0) or not 0 < history.w0 <= (
            history.fdr_target if _is_number(history.fdr_target) else 1)):
        problems.append(f"[history] w0 == {history.w0!r}, must be in (0, fdr_target], such as fdr_target / 10")
    return problems


_CANARY_KEYS = ("interval", "canary", "group_weights", "thresholds", "min_units_per_interval")
_METRIC_CANARY_KEYS = ("critical", "group", "tolerance")
_VERSION_KEYS = ("new", "pre_period", "post_period", "max_pretrend_p")
_RAMP_KEYS = ("stages", "stage_column")


def rollout_problems(rollout: Rollout) -> list[str]:
    """Every problem of the ``[rollout]`` table, each naming the key and the fix."""
    problems = _choice_problem("[rollout]", "kind", rollout.kind, ("ramp", "canary", "version"))
    problems += _choice_problem("[rollout]", "on_no_data", rollout.on_no_data, get_args(OnNoData))
    if rollout.kind == "canary":
        return problems + _canary_problems(rollout)
    defaults = Rollout()
    problems += [f"[rollout] {key} applies to kind = \"canary\"; remove it, or set kind = \"canary\""
                 for key in _CANARY_KEYS if getattr(rollout, key) != getattr(defaults, key)]
    minimum = rollout.min_units_per_stage
    if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 2:
        problems.append(f"[rollout] min_units_per_stage == {minimum!r}, must be a whole number >= 2, such as 100")
    if rollout.kind == "version":
        return problems + _version_problems(rollout)
    problems += [f"[rollout] `{key}` only applies to kind = \"version\"; remove it or set kind = \"version\""
                 for key in _VERSION_KEYS if getattr(rollout, key) is not None]
    if rollout.stage_column is not None and (not isinstance(rollout.stage_column, str) or not rollout.stage_column):
        problems.append(f"[rollout] stage_column == {rollout.stage_column!r}, must be a column name of the exposures log")
    if not isinstance(rollout.stages, tuple):
        return problems + [f"[rollout] stages == {rollout.stages!r}, must be a list of stages like "
                           "[{ start = 2026-01-05T00:00:00Z, share = 0.01 }]"]
    if bool(rollout.stages) == (rollout.stage_column is not None):
        problems.append("[rollout] give exactly one of `stages` (the schedule: [{ start = 2026-01-05T00:00:00Z, "
                        "share = 0.01 }, ...]) and `stage_column` (a column of the exposures naming each unit's stage)")
    return problems + _stages_problems(rollout.stages)


def _canary_problems(rollout: Rollout) -> list[str]:
    """Problems of a canary's ``[rollout]`` keys: the interval, the canary's name, the weights and
    thresholds; the ramp's keys refused."""
    problems = []
    if rollout.interval is None:
        problems.append("[rollout] interval is missing: a canary compares its values with the baseline's over fixed "
                        "intervals; give their length, such as interval = \"10m\"")
    else:
        problems += _duration("[rollout] interval", rollout.interval)
    if rollout.canary is not None and (not isinstance(rollout.canary, str) or not rollout.canary):
        problems.append(f"[rollout] canary == {rollout.canary!r}, must be the canary's variant name, such as \"canary\"")
    if rollout.stages or rollout.stage_column is not None:
        problems.append("[rollout] stages / stage_column apply to kind = \"ramp\"; a canary is judged over "
                        "[rollout] interval instead: remove them")
    problems += [f"[rollout] `{key}` only applies to kind = \"version\"; remove it from a canary"
                 for key in _VERSION_KEYS if getattr(rollout, key) is not None]
    if rollout.min_units_per_stage != Rollout().min_units_per_stage:
        problems.append("[rollout] min_units_per_stage applies to kind = \"ramp\"; a canary uses min_units_per_interval")
    minimum = rollout.min_units_per_interval
    if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 1:
        problems.append(f"[rollout] min_units_per_interval == {minimum!r}, must be a whole number >= 1, such as 10")
    if not isinstance(rollout.group_weights, Mapping):
        problems.append(f"[rollout] group_weights == {rollout.group_weights!r}, must be a table like "
                        "{ latency = 60, errors = 40 }")
    else:
        problems += [f"[rollout] group_weights.{group} == {weight!r}, must be a number > 0"
                     for group, weight in rollout.group_weights.items() if not _is_number(weight) or not weight > 0]
    if not isinstance(rollout.thresholds, Mapping):
        return problems + [f"[rollout] thresholds == {rollout.thresholds!r}, must be a table like "
                           "{ pass = 95, marginal = 75 }"]
    problems += [unknown_key("[rollout] thresholds", key, ("pass", "marginal")) for key in rollout.thresholds
                 if key not in ("pass", "marginal")]
    values = {key: value for key, value in rollout.thresholds.items() if key in ("pass", "marginal")}
    wrong = [f"[rollout] thresholds.{key} == {value!r}, must be a score in [0, 100]" for key, value in values.items()
             if not _is_number(value) or not 0 <= value <= 100]
    problems += wrong
    chosen = rollout.score_thresholds if not wrong else {}
    if chosen and chosen["marginal"] > chosen["pass"]:
        problems.append(f"[rollout] thresholds: marginal {chosen['marginal']:g} is above pass {chosen['pass']:g}; "
                        "need marginal <= pass, such as { pass = 95, marginal = 75 }")
    return problems


def canary_metric_problems(experiment: Experiment) -> list[str]:
    """Problems of the metrics' canary keys (``critical``, ``group``, ``tolerance``) and of
    ``[rollout] group_weights`` against the metrics' groups."""
    canary = experiment.rollout is not None and experiment.rollout.kind == "canary"
    problems = []
    for position, metric in enumerate(experiment.metrics, start=1):
        where = f"[[metrics]] #{position} ({metric.name})"
        if not canary:
            problems += [f"{where}: `{key}` applies to a canary ([rollout] kind = \"canary\"); remove it"
                         for key in _METRIC_CANARY_KEYS if getattr(metric, key) not in (None, False)]
            continue
        if not isinstance(metric.critical, bool):
            problems.append(f"{where}: critical == {metric.critical!r}, must be true or false")
        if metric.group is not None and (not isinstance(metric.group, str) or not metric.group):
            problems.append(f"{where}: group == {metric.group!r}, must be a group name, such as \"latency\"")
        if metric.tolerance is not None and (not _is_number(metric.tolerance) or metric.tolerance < 0):
            problems.append(f"{where}: tolerance == {metric.tolerance!r}, must be a number >= 0: the shift accepted "
                            "relative to the baseline's median, such as 0.1 for 10%")
    if canary and isinstance(experiment.rollout.group_weights, Mapping) and experiment.rollout.group_weights:
        groups = {metric.group or "default" for metric in experiment.metrics if isinstance(metric.group, str | None)}
        weights = experiment.rollout.group_weights
        problems += [f"[rollout] group_weights has no weight for group `{group}` (of the metrics); give every "
                     "group a weight" for group in sorted(groups - set(weights))]
        problems += [f"[rollout] group_weights names `{group}`, which no metric is in{nearest(group, sorted(groups))}"
                     for group in weights if group not in groups]
    return problems


def _version_problems(rollout: Rollout) -> list[str]:
    """Problems of a new app version's keys: ``new`` given, the periods durations, the threshold a
    probability, and no ramp keys."""
    problems = [f"[rollout] `{key}` only applies to kind = \"ramp\"; a new app version has no schedule: remove it"
                for key in _RAMP_KEYS if getattr(rollout, key) not in (None, ())]
    if not isinstance(rollout.new, str) or not rollout.new:
        problems.append(f"[rollout] new == {rollout.new!r}: name the new version, as its value in the exposures' "
                        "variant column, such as new = \"5.2.0\"")
    for key in ("pre_period", "post_period"):
        value = getattr(rollout, key)
        try:
            seconds = None if value is None else parse_duration(value)
        except ValueError:
            problems.append(f"[rollout] {key} == {value!r}, must be a duration like \"7d\" or \"36h\"")
            continue
        if seconds is not None and seconds <= 0:
            problems.append(f"[rollout] {key} == {value!r}, must be longer than 0, such as \"7d\"")
    if rollout.max_pretrend_p is not None and (not _is_number(rollout.max_pretrend_p)
                                               or not 0 < rollout.max_pretrend_p < 1):
        problems.append(f"[rollout] max_pretrend_p == {rollout.max_pretrend_p!r}, must be in (0, 1), such as 0.05")
    return problems


def _stages_problems(stages: tuple[Stage, ...]) -> list[str]:
    """Problems of a ramp's schedule: each stage's start and share, their order."""
    problems = []
    for position, stage in enumerate(stages, start=1):
        where = f"[rollout] stages #{position}"
        if not isinstance(stage.start, datetime):
            problems.append(f"{where}: start == {stage.start!r}, must be a date-time like 2026-01-05T00:00:00Z")
        if not _is_number(stage.share) or not 0 < stage.share <= 1:
            problems.append(f"{where}: share == {stage.share!r}, must be the treatment's share of the units in (0, 1], "
                            "such as 0.05 for 5%")
    for position, (before, after) in enumerate(zip(stages, stages[1:]), start=2):
        where = f"[rollout] stages #{position}"
        if isinstance(before.start, datetime) and isinstance(after.start, datetime) and after.start <= before.start:
            problems.append(f"{where}: start {after.start.isoformat()} is not after the previous stage's "
                            f"{before.start.isoformat()}; list the stages in time order, each starting later")
        if _is_number(before.share) and _is_number(after.share) and after.share < before.share:
            problems.append(f"{where}: share {after.share!r} is below the previous stage's {before.share!r}; a ramp's "
                            "shares do not decrease (a step back is a rollback: analyze it as a new ramp)")
    return problems


def _metrics_problems(metrics: tuple[Metric, ...]) -> list[str]:
    """Every problem of the metrics: none given, a name used twice, each metric's own."""
    problems = [] if metrics else ["no [[metrics]]: add at least one metric to analyze"]
    seen: set[str] = set()
    for position, metric in enumerate(metrics, start=1):
        where = f"[[metrics]] #{position} ({metric.name})"
        if metric.name in seen:
            problems.append(f"{where}: the name `{metric.name}` is used twice; metric names must be unique")
        seen.add(metric.name)
        problems += metric_problems(metric, where)
    return problems


def _choices_problems(where: str, item: Experiment | Metric) -> list[str]:
    """A problem for each field whose type is a ``Literal`` and whose value is not one of its choices."""
    return [problem for name, choices in _choice_fields(type(item)).items()
            for problem in _choice_problem(where, name, getattr(item, name), choices)]


@cache
def _choice_fields(cls: type) -> dict[str, tuple[str, ...]]:
    """Fields of ``cls`` typed with a ``Literal``, and their choices (the types are the one source)."""
    hints = get_type_hints(cls)
    return {item.name: get_args(hints[item.name]) for item in fields(cls) if get_origin(hints[item.name]) is Literal}


def metric_problems(metric: Metric, where: str) -> list[str]:
    """Every problem of one metric's values: the common keys here, the kind-specific ones from its kind."""
    from iterate.metrics import METRIC_KINDS

    kind = METRIC_KINDS.get(metric.type) if isinstance(metric.type, str) else None
    problems = _choice_problem(where, "type", metric.type, tuple(METRIC_KINDS))
    problems += _choices_problems(where, metric)
    problems += _duration(f"{where} window", metric.window)
    problems += conditions_problems(f"{where} where", metric.where)
    if kind is not None:
        problems += kind.problems(metric, where)
    if metric.margin is not None and (not _is_number(metric.margin) or metric.margin < 0):
        problems.append(f"{where}: margin == {metric.margin!r}, must be a number >= 0 (e.g. 0.02 for 2%)")
    if metric.margin is not None and metric.role != "guardrail":
        problems.append(f"{where}: `margin` applies to guardrails (role = \"guardrail\")")
    if metric.cuped is not None and not isinstance(metric.cuped, bool):
        problems += _duration(f"{where} cuped", metric.cuped)
    if (metric.cuped not in (None, False) or metric.covariate is not None) and kind is not None and not kind.cuped:
        cuped_kinds = [name for name, other in METRIC_KINDS.items() if other.cuped]
        problems.append(f"{where}: CUPED applies to {', '.join(cuped_kinds[:-1])} and {cuped_kinds[-1]} metrics, "
                        f"not {metric.type}")
    if metric.covariate is not None and (not isinstance(metric.covariate, str) or not metric.covariate):
        problems.append(f"{where}: covariate == {metric.covariate!r}, must be a column name")
    if metric.cap is not None:
        problems += _cap_problems(metric, where, kind)
    return problems


def _cap_problems(metric: Metric, where: str, kind: MetricKind | None) -> list[str]:
    cap = metric.cap
    problems = []
    if (cap.value is None) == (cap.percentile is None):
        problems.append(f"{where}: cap must be a number (cap = 1000) or a percentile (cap = {{ percentile = 0.99 }})")
    elif cap.percentile is not None and (not _is_number(cap.percentile) or not 0 < cap.percentile < 1):
        problems.append(f"{where}: cap percentile == {cap.percentile!r}, must be in (0, 1), such as 0.99")
    elif cap.value is not None and (not _is_number(cap.value) or not cap.value > 0):
        problems.append(f"{where}: cap == {cap.value!r}, must be a number > 0 (the largest per-unit value kept, "
                        "such as cap = 1000), or a percentile: cap = { percentile = 0.99 }")
    if kind is not None and not kind.cappable:
        from iterate.metrics import METRIC_KINDS

        cappable = [f'"{name}"' for name, other in METRIC_KINDS.items() if other.cappable]
        problems.append(f"{where}: cap does not apply to type = \"{metric.type}\"; it applies to "
                        f"{', '.join(cappable[:-1])} or {cappable[-1]}")
    return problems


def conditions_problems(where: str, conditions: tuple[Condition, ...]) -> list[str]:
    """Every problem of a ``where`` table's conditions."""
    problems = []
    for condition in conditions:
        problems += _choice_problem(where, f"operator on `{condition.column}`", condition.operator, OPERATORS)
        if condition.operator in ("in", "not_in"):
            if not isinstance(condition.value, tuple) or not condition.value:
                problems.append(f"{where}: `{condition.column}` {condition.operator} needs a non-empty list")
        elif not isinstance(condition.value, (str, int, float, bool, datetime)):
            problems.append(f"{where}: `{condition.column}` compares with {condition.value!r}; use a string or a number")
    return problems


def _split_problems(experiment: Experiment) -> list[str]:
    split = experiment.expected_split
    if split is None:
        return []
    if not isinstance(split, Mapping):
        return [f"[experiment] expected_split == {split!r}, must be a table of shares like {{ control = 0.5, treatment = 0.5 }}"]
    problems = []
    if experiment.control not in split:
        problems.append(
            f"[experiment] expected_split has no share for the control `{experiment.control}`; "
            f"add `{experiment.control} = ...` or fix `control`"
        )
    if len(split) < 2:
        problems.append("[experiment] expected_split needs at least two variants (control and a treatment)")
    for variant, share in split.items():
        if not _is_number(share) or not 0 < share < math.inf:
            problems.append(f"[experiment] expected_split.{variant} == {share!r}, must be a positive number")
    if not problems and abs(sum(split.values()) - 1) > _SPLIT_TOLERANCE:
        problems.append(f"[experiment] expected_split sums to {sum(split.values()):.6g}, must sum to 1 (the share of "
                        f"units planned for each variant); write {_scaled_split(split)}")
    return problems


_SPLIT_TOLERANCE = 1e-6 * (1 + 1e-9)
"""How far from 1 the shares of expected_split may sum (1e-6, and the rounding of ``1 - 1e-6``)."""


def _scaled_split(split: Mapping[str, float]) -> str:
    """The split divided by its sum, to 6 decimals, the last share making the sum exactly 1."""
    total = sum(split.values())
    names = list(split)
    shares = {name: round(split[name] / total, 6) for name in names[:-1]}
    shares[names[-1]] = round(1 - sum(shares.values()), 6)
    keys = {name: name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name) for name in names}
    return "expected_split = { " + ", ".join(f"{keys[name]} = {share:g}" for name, share in shares.items()) + " }"


def _probability(where: str, value: object, *, example: str) -> list[str]:
    if _is_number(value) and 0 < value < 1:
        return []
    return [f"{where} == {value!r}, must be a number in (0, 1), such as {example}"]


def _duration(where: str, value: str | None, *, allow_zero: bool = False) -> list[str]:
    if value is None:
        return []
    try:
        seconds = parse_duration(value)
    except ValueError as error:
        return [f"{where}: {error}"]
    if seconds <= 0 and not allow_zero:
        return [f"{where} == {value!r}, must be positive; omit it for no limit"]
    if seconds > _MAX_DURATION_SECONDS:
        return [f"{where} == {value!r}, must be at most 100 years (5200w); omit it for no limit"]
    return []


_MIN_ALPHA = 1e-9
_MAX_DURATION_SECONDS = 100 * 365.25 * 86_400  # beyond a century, durations overflow the engines' intervals
_MAX_LOOKS = 50


def _is_number(value: object) -> bool:
    """A finite int or float (NaN and infinities are not numbers a config can mean)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _choice_problem(where: str, key: str, value: object, choices: tuple[str, ...]) -> list[str]:
    if value in choices:
        return []
    return [f"{where}: {key} == {value!r}, must be one of {', '.join(choices)}{nearest(str(value), choices)}"]


def nearest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    """``"; did you mean `x`?"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f"; did you mean `{close[0]}`?" if close else ""


def unknown_key(where: str, key: str, valid: tuple[str, ...]) -> str:
    """Message for an unknown key, naming the nearest valid one (or listing them)."""
    return f"{where}: unknown key `{key}`{nearest(key, valid) or '; valid keys: ' + ', '.join(valid)}"


def _toml_keys(cls: type, section: str | None = None) -> tuple[str, ...]:
    """Keys of ``cls``'s fields as written in TOML (fields of another ``section`` left out)."""
    return tuple(
        key
        for item in fields(cls)
        if item.metadata.get("toml") == section
        for key in item.metadata.get("toml_keys", (item.name,))
    )


EXPERIMENT_KEYS: tuple[str, ...] = _toml_keys(Experiment)
"""Keys of ``[experiment]``, derived from :class:`Experiment`."""
DATA_KEYS: tuple[str, ...] = _toml_keys(Experiment, "data")
"""Keys of ``[data]``."""
METRIC_KEYS: tuple[str, ...] = _toml_keys(Metric)
"""Keys of each ``[[metrics]]`` table (``days`` is written ``day = N`` or ``days = [a, b]``)."""
SIDE_KEYS: tuple[str, ...] = _toml_keys(Side)
"""Keys of a ratio's ``numerator`` / ``denominator`` table."""
SOURCE_KEYS: tuple[str, ...] = _toml_keys(Source)
"""Keys of a ``[data]`` source given as a table."""
HISTORY_KEYS: tuple[str, ...] = _toml_keys(History)
"""Keys of the ``[history]`` table."""
ROLLOUT_KEYS: tuple[str, ...] = _toml_keys(Rollout)
"""Keys of the ``[rollout]`` table."""
STAGE_KEYS: tuple[str, ...] = _toml_keys(Stage)
"""Keys of each stage of ``[rollout] stages``."""
RENAMED_KEYS: Mapping[str, str] = {"engine": "inference"}
"""``[experiment]`` keys of earlier versions, and their new names."""
