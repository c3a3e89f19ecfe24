"""Experiment configuration: the TOML file of DESIGN.md, or the same objects built in Python.

Parsing collects every problem before raising one :class:`ConfigError`, and an unknown key is
named together with the nearest valid one ("`evnt`: unknown key in [[metrics]] #1, did you mean
`event`?").

Example:
    >>> from iterate.config import Experiment, Metric
    >>> experiment = Experiment(
    ...     name="checkout_v2",
    ...     control="control",
    ...     metrics=(Metric(name="conversion", type="proportion", event="purchase"),),
    ... )
    >>> experiment.window_seconds is None
    True
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Literal

from iterate.errors import ConfigError

MetricType = Literal["proportion", "mean", "count"]
Role = Literal["success", "guardrail", "deterioration"]
Direction = Literal["increase", "decrease"]

METRIC_TYPES: tuple[str, ...] = ("proportion", "mean", "count")
ROLES: tuple[str, ...] = ("success", "guardrail", "deterioration")
DIRECTIONS: tuple[str, ...] = ("increase", "decrease")

EVENT_COLUMNS: tuple[str, ...] = ("user_id", "timestamp", "event", "value")
EXPOSURE_COLUMNS: tuple[str, ...] = ("user_id", "experiment", "variant", "timestamp")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_SECONDS_PER_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``"7d"``, ``"36h"``, ``"90m"``, ``"2w"`` or ``"45s"``.

    Example:
        >>> parse_duration("7d")
        604800.0
    """
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"`{text}` is not a duration; write a number and a unit, like \"7d\", \"36h\" or \"90m\"")
    return float(match.group(1)) * _SECONDS_PER_UNIT[match.group(2)]


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric of an experiment, aggregated per unit in its window and compared per variant.

    Attributes:
        name: Identifier shown in reports.
        type: ``proportion`` (unit did ``event``), ``mean`` (per-unit sum of ``value`` over
            ``event``, or 1 per event without ``value``) or ``count`` (events per unit).
        event: Event name the metric counts.
        value: Column summed by ``mean``; ``None`` counts 1 per event.
        role: ``success`` (should improve), ``guardrail`` (must not degrade) or
            ``deterioration`` (a harm signal).
        direction: Which way is good: ``increase`` or ``decrease``.
    """

    name: str
    type: MetricType
    event: str
    value: str | None = None
    role: Role = "success"
    direction: Direction = "increase"


@dataclass(frozen=True, slots=True)
class Source:
    """Where a log comes from: a file path / glob / folder, or a table in a DuckDB database file."""

    path: str
    table: str | None = None

    def describe(self) -> str:
        """Human-readable name used in messages."""
        return f"{self.path} (table {self.table})" if self.table else self.path


@dataclass(frozen=True, slots=True)
class Experiment:
    """An experiment or rollout to analyze: arms, metrics, data and column names.

    Attributes:
        name: Experiment name; exposures rows are filtered on it when they have an experiment column.
        control: Name of the control variant; every other variant is compared with it.
        metrics: Metrics to analyze.
        alpha: Significance level of every test, in (0, 1).
        window: Metric window after first exposure, such as ``"7d"``; ``None`` means no end.
        expected_split: Planned traffic share per variant, for the sample-ratio-mismatch check;
            ``None`` means an equal split over the observed variants.
        events: Events log source (overridable at analysis time).
        exposures: Exposures log source (overridable at analysis time).
        event_columns: Mapping from the default event column names to the log's names.
        exposure_columns: Mapping from the default exposure column names to the log's names.
        srm_threshold: p-value under which the sample ratio is declared mismatched.
    """

    name: str
    control: str
    metrics: tuple[Metric, ...]
    alpha: float = 0.05
    window: str | None = None
    expected_split: Mapping[str, float] | None = None
    events: Source | None = None
    exposures: Source | None = None
    event_columns: Mapping[str, str] = field(default_factory=lambda: {c: c for c in EVENT_COLUMNS})
    exposure_columns: Mapping[str, str] = field(default_factory=lambda: {c: c for c in EXPOSURE_COLUMNS})
    srm_threshold: float = 0.001

    def __post_init__(self) -> None:
        problems = _experiment_problems(self)
        if problems:
            raise ConfigError("invalid experiment configuration:", problems)

    @property
    def window_seconds(self) -> float | None:
        """Metric window length in seconds, or ``None`` for an open window."""
        return None if self.window is None else parse_duration(self.window)

    @property
    def variants(self) -> tuple[str, ...] | None:
        """Declared variants (control first), or ``None`` when taken from the data."""
        if self.expected_split is None:
            return None
        others = [v for v in self.expected_split if v != self.control]
        return (self.control, *others)

    def with_sources(self, events: Source | None = None, exposures: Source | None = None) -> Experiment:
        """A copy with the given sources replacing the configured ones."""
        return replace(self, events=events or self.events, exposures=exposures or self.exposures)


def _experiment_problems(experiment: Experiment) -> list[str]:
    problems: list[str] = []
    if not experiment.name:
        problems.append("[experiment] name is empty; give the experiment a name")
    if not _is_number(experiment.alpha) or not 0 < experiment.alpha < 1:
        problems.append(f"[experiment] alpha == {experiment.alpha!r}, must be a number in (0, 1), such as 0.05")
    if experiment.window is not None:
        try:
            if parse_duration(experiment.window) <= 0:
                problems.append(f"[experiment] window == {experiment.window!r}, must be positive; omit it for no end")
        except ValueError as error:
            problems.append(f"[experiment] window: {error}")
    if not _is_number(experiment.srm_threshold) or not 0 < experiment.srm_threshold < 1:
        problems.append(f"[experiment] srm_threshold == {experiment.srm_threshold!r}, must be in (0, 1)")
    if experiment.expected_split is not None and not isinstance(experiment.expected_split, Mapping):
        problems.append(
            f"[experiment] expected_split == {experiment.expected_split!r}, must be a table of shares "
            "like { control = 0.5, treatment = 0.5 }"
        )
    elif experiment.expected_split is not None:
        split = experiment.expected_split
        if experiment.control not in split:
            problems.append(
                f"[experiment] expected_split has no share for the control `{experiment.control}`; "
                f"add `{experiment.control} = ...` or fix `control`"
            )
        if len(split) < 2:
            problems.append("[experiment] expected_split needs at least two variants (control and a treatment)")
        for variant, share in split.items():
            if not isinstance(share, (int, float)) or isinstance(share, bool) or share <= 0:
                problems.append(f"[experiment] expected_split.{variant} == {share!r}, must be a positive number")
    if not experiment.metrics:
        problems.append("no [[metrics]]: add at least one metric to analyze")
    seen: set[str] = set()
    for position, metric in enumerate(experiment.metrics, start=1):
        where = f"[[metrics]] #{position} ({metric.name})"
        if metric.name in seen:
            problems.append(f"{where}: the name `{metric.name}` is used twice; metric names must be unique")
        seen.add(metric.name)
        problems += _choice_problem(where, "type", metric.type, METRIC_TYPES)
        problems += _choice_problem(where, "role", metric.role, ROLES)
        problems += _choice_problem(where, "direction", metric.direction, DIRECTIONS)
        if not isinstance(metric.event, str) or not metric.event:
            problems.append(f"{where}: `event` is missing; name the event this metric counts")
        if metric.value is not None and (not isinstance(metric.value, str) or not metric.value):
            problems.append(f"{where}: value == {metric.value!r}, must be the name of a numeric column")
        elif metric.value is not None and metric.type != "mean":
            problems.append(f"{where}: `value` only applies to type = \"mean\"; remove it or change the type")
    for label, mapping, defaults in (
        ("events", experiment.event_columns, EVENT_COLUMNS),
        ("exposures", experiment.exposure_columns, EXPOSURE_COLUMNS),
    ):
        for key in mapping:
            if key not in defaults:
                problems.append(_unknown_key(f"[columns.{label}]", key, defaults))
    return problems


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _choice_problem(where: str, key: str, value: object, choices: tuple[str, ...]) -> list[str]:
    if value in choices:
        return []
    hint = _nearest(str(value), choices)
    return [f"{where}: {key} == {value!r}, must be one of {', '.join(choices)}{hint}"]


def _nearest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f"; did you mean `{close[0]}`?" if close else ""


def _unknown_key(where: str, key: str, valid: tuple[str, ...]) -> str:
    return f"{where}: unknown key `{key}`{_nearest(key, valid) or f'; valid keys: {chr(44).join(valid)}'}"


_TOP_KEYS = ("experiment", "data", "columns", "metrics")
_EXPERIMENT_KEYS = ("name", "control", "alpha", "window", "expected_split", "srm_threshold")
_DATA_KEYS = ("events", "exposures")
_SOURCE_KEYS = ("path", "table")
_METRIC_KEYS = ("name", "type", "event", "value", "role", "direction")


def load_config(path: str | Path) -> Experiment:
    """Read an experiment TOML file; relative data paths are resolved from the file's folder.

    Raises:
        ConfigError: the file is missing, is not TOML, or breaks the schema (all problems listed).
    """
    config_path = Path(path)
    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {config_path} does not exist; check the path") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {config_path}: {error}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{config_path} is not valid TOML: {error}") from None
    return parse_config(document, base_dir=config_path.parent, origin=str(config_path))


def parse_config(document: Mapping[str, Any], *, base_dir: Path | None = None, origin: str = "config") -> Experiment:
    """Build an :class:`Experiment` from a parsed TOML document, listing every problem at once."""
    problems: list[str] = []
    problems += [_unknown_key("top level", key, _TOP_KEYS) for key in document if key not in _TOP_KEYS]

    section = _table(document, "experiment", problems)
    problems += [_unknown_key("[experiment]", k, _EXPERIMENT_KEYS) for k in section if k not in _EXPERIMENT_KEYS]
    for required in ("name", "control"):
        if not isinstance(section.get(required), str) or not section.get(required):
            problems.append(f"[experiment] `{required}` is missing or not a string; add {required} = \"...\"")

    data = _table(document, "data", problems)
    problems += [_unknown_key("[data]", k, _DATA_KEYS) for k in data if k not in _DATA_KEYS]
    sources = {key: _source(data.get(key), key, base_dir, problems) for key in _DATA_KEYS}

    columns = _table(document, "columns", problems)
    problems += [_unknown_key("[columns]", k, _DATA_KEYS) for k in columns if k not in _DATA_KEYS]
    event_columns = _column_map(columns.get("events", {}), "events", EVENT_COLUMNS, problems)
    exposure_columns = _column_map(columns.get("exposures", {}), "exposures", EXPOSURE_COLUMNS, problems)

    metrics = []
    raw_metrics = document.get("metrics", [])
    if not isinstance(raw_metrics, list):
        problems.append("`metrics` must be an array of tables: write each metric under [[metrics]]")
        raw_metrics = []
    for position, raw in enumerate(raw_metrics, start=1):
        metric = _metric(raw, position, problems)
        if metric is not None:
            metrics.append(metric)

    split = section.get("expected_split")
    try:
        experiment = Experiment(
            name=section.get("name") or "unnamed",
            control=section.get("control") or "control",
            metrics=tuple(metrics),
            alpha=section.get("alpha", 0.05),
            window=section.get("window"),
            expected_split=dict(split) if isinstance(split, dict) else split,
            srm_threshold=section.get("srm_threshold", 0.001),
            events=sources["events"],
            exposures=sources["exposures"],
            event_columns=event_columns,
            exposure_columns=exposure_columns,
        )
    except ConfigError as error:
        if raw_metrics:
            error.problems[:] = [p for p in error.problems if not p.startswith("no [[metrics]]")]
        problems += [p for p in error.problems if p not in problems]
    if problems:
        raise ConfigError(f"{origin} has {len(problems)} problem(s):", problems)
    return experiment


def _table(document: Mapping[str, Any], key: str, problems: list[str]) -> dict[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        problems.append(f"`{key}` must be a table: write it as [{key}]")
        return {}
    return value


def _source(raw: Any, key: str, base_dir: Path | None, problems: list[str]) -> Source | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"path": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("path"), str):
        problems.append(
            f"[data] {key} must be a path string (\"{key}.parquet\") or a table "
            f"{{ path = \"app.duckdb\", table = \"{key}\" }}"
        )
        return None
    problems += [_unknown_key(f"[data] {key}", k, _SOURCE_KEYS) for k in raw if k not in _SOURCE_KEYS]
    path = raw["path"]
    if base_dir is not None and not Path(path).is_absolute():
        path = str(base_dir / path)
    return Source(path=path, table=raw.get("table"))


def _column_map(raw: Any, label: str, defaults: tuple[str, ...], problems: list[str]) -> dict[str, str]:
    mapping = {column: column for column in defaults}
    if not isinstance(raw, dict):
        problems.append(f"[columns.{label}] must be a table mapping default names to yours, like user_id = \"uid\"")
        return mapping
    for key, value in raw.items():
        if key not in defaults:
            problems.append(_unknown_key(f"[columns.{label}]", key, defaults))
        elif not isinstance(value, str) or not value:
            problems.append(f"[columns.{label}] {key} == {value!r}, must be a column name string")
        else:
            mapping[key] = value
    return mapping


def _metric(raw: Any, position: int, problems: list[str]) -> Metric | None:
    where = f"[[metrics]] #{position}"
    if not isinstance(raw, dict):
        problems.append(f"{where} must be a table")
        return None
    if isinstance(raw.get("name"), str):
        where += f" ({raw['name']})"
    problems += [_unknown_key(where, k, _METRIC_KEYS) for k in raw if k not in _METRIC_KEYS]
    missing = [key for key in ("name", "type", "event") if not isinstance(raw.get(key), str) or not raw.get(key)]
    for key in missing:
        problems.append(f"{where}: `{key}` is missing or not a string")
    if missing:
        return None
    return Metric(
        name=raw["name"],
        type=raw["type"],
        event=raw["event"],
        value=raw.get("value"),
        role=raw.get("role", "success"),
        direction=raw.get("direction", "increase"),
    )
