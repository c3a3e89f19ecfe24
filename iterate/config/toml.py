"""Read an experiment TOML file into an :class:`Experiment`, listing every problem at once.

An unknown key is named together with the nearest valid one ("`evnt`: unknown key in
[[metrics]] #1, did you mean `event`?"). Relative data paths are resolved from the file's folder.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any

from iterate.config.model import (
    DATA_KEYS,
    EVENT_COLUMNS,
    EXPERIMENT_KEYS,
    EXPOSURE_COLUMNS,
    HISTORY_KEYS,
    METRIC_KEYS,
    OPERATORS,
    RENAMED_KEYS,
    ROLLOUT_KEYS,
    SIDE_KEYS,
    SOURCE_KEYS,
    STAGE_KEYS,
    Cap,
    Condition,
    Experiment,
    History,
    Metric,
    Rollout,
    Side,
    Source,
    Stage,
    unknown_key,
)
from iterate.errors import ConfigError

_TOP_KEYS = ("experiment", "data", "columns", "metrics", "history", "rollout")


def load_config(path: str | Path) -> Experiment:
    """Read an experiment TOML file.

    Raises:
        ConfigError: the file is missing, is not TOML, or breaks the schema (all problems listed).
    """
    config_path = Path(path)
    try:
        text = config_path.read_text(encoding="utf-8-sig")  # a byte order mark (Windows editors) is dropped
    except FileNotFoundError:
        raise ConfigError(f"config file {config_path} does not exist; check the path") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"config file {config_path} is not UTF-8 text (byte {error.object[error.start]:#04x} at "
                          f"position {error.start}); save it as UTF-8, as TOML requires") from None
    except OSError as error:
        raise ConfigError(f"cannot read config file {config_path}: {error}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{config_path} is not valid TOML: {error}") from None
    return parse_config(document, base_dir=config_path.parent, origin=str(config_path))


def parse_config(document: Mapping[str, Any], *, base_dir: Path | None = None, origin: str = "config") -> Experiment:
    """Build an :class:`Experiment` from a parsed TOML document, listing every problem at once.

    Keys left out take the defaults of :class:`Experiment` and :class:`Metric`.
    """
    problems: list[str] = []
    problems += [unknown_key("top level", key, _TOP_KEYS) for key in document if key not in _TOP_KEYS]

    section = _table(document, "experiment", problems)
    for key in section:
        if key in RENAMED_KEYS:
            new = RENAMED_KEYS[key]
            problems.append(f"[experiment] `{key}` is now called `{new}`; rename it: {new} = {_toml(section[key])}")
        elif key not in EXPERIMENT_KEYS:
            problems.append(unknown_key("[experiment]", key, EXPERIMENT_KEYS))
    for required in ("name", "control"):
        if not isinstance(section.get(required), str) or not section.get(required):
            problems.append(f"[experiment] `{required}` is missing or not a string; add {required} = \"...\"")

    data = _table(document, "data", problems)
    problems += [unknown_key("[data]", k, DATA_KEYS) for k in data if k not in DATA_KEYS]
    exposure_event = data.get("exposure_event")
    if exposure_event is not None and (not isinstance(exposure_event, str) or not exposure_event):
        problems.append(f"[data] exposure_event == {exposure_event!r}, must be an event name")

    columns = _table(document, "columns", problems)
    problems += [unknown_key("[columns]", k, ("events", "exposures")) for k in columns if k not in ("events", "exposures")]

    raw_metrics = document.get("metrics", [])
    if not isinstance(raw_metrics, list):
        problems.append("`metrics` must be an array of tables: write each metric under [[metrics]]")
        raw_metrics = []
    metrics = [m for m in (_metric(raw, position, problems) for position, raw in enumerate(raw_metrics, 1)) if m]

    settings = {key: _experiment_value(key, value, problems) for key, value in section.items() if key in EXPERIMENT_KEYS}
    settings.update(name=section.get("name") or "unnamed", control=section.get("control") or "control")
    events = _source(data.get("events"), "events", base_dir, problems)
    exposures = _source(data.get("exposures"), "exposures", base_dir, problems)
    if "history" in document:
        settings["history"] = _history(_table(document, "history", problems), base_dir, problems)
    if "rollout" in document:
        settings["rollout"] = _rollout(_table(document, "rollout", problems), problems)
    try:
        experiment = Experiment(
            metrics=tuple(metrics),
            exposure_event=exposure_event,
            events=events,
            exposures=exposures,
            event_columns=_column_map(columns.get("events", {}), "events", EVENT_COLUMNS, problems),
            exposure_columns=_column_map(columns.get("exposures", {}), "exposures", EXPOSURE_COLUMNS, problems),
            **settings,
        )
    except ConfigError as error:
        reported = [p for p in error.problems if not (raw_metrics and p.startswith("no [[metrics]]"))]
        problems += [p for p in reported if p not in problems]
    if problems:
        # the logs it names, for a caller to report their problems too (not the exposures of an exposure event)
        logs = {"events": events, "exposures": None if exposure_event else exposures}
        raise ConfigError(f"{origin} has {len(problems)} problem(s):", problems, logs=logs)
    return experiment


def _experiment_value(key: str, value: Any, problems: list[str]) -> Any:
    """An ``[experiment]`` value as :class:`Experiment` takes it (TOML arrays and tables converted)."""
    if key == "expected_split" and isinstance(value, dict):
        return dict(value)
    if key == "segments" and isinstance(value, list):
        return tuple(value)
    if key == "where":
        return _conditions(value, "[experiment] where", problems)
    if key == "as_of":
        return _as_of(value, problems)
    if key == "pre_period" and value is False:
        return None
    return value


def _toml(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def parse_timestamp(value: Any) -> datetime:
    """A naive UTC datetime from a TOML date-time, a date or an ISO-8601 string.

    Example:
        >>> parse_timestamp("2026-01-20T12:00:00+01:00")
        datetime.datetime(2026, 1, 20, 11, 0)
    """
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if not isinstance(value, datetime):
        raise ValueError(f"{value!r} is not a date-time")
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _as_of(raw: Any, problems: list[str]) -> datetime | None:
    if raw is None:
        return None
    try:
        return parse_timestamp(raw)
    except ValueError:
        problems.append(f"[experiment] as_of == {raw!r}, must be a date-time like 2026-01-20T00:00:00Z")
        return None


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
    if not isinstance(raw, dict) or not isinstance(raw.get("path"), str) or not raw["path"].strip():
        problems.append(
            f"[data] {key} must be a path string (\"{key}.parquet\") or a table "
            f"{{ path = \"app.duckdb\", table = \"{key}\" }}" + ("; it is empty" if isinstance(raw, dict) and
                                                                    raw.get("path") == "" else "")
        )
        return None
    problems += [unknown_key(f"[data] {key}", k, SOURCE_KEYS) for k in raw if k not in SOURCE_KEYS]
    path = raw["path"]
    if base_dir is not None and not Path(path).is_absolute():
        path = str(base_dir / path)
    return Source(path=path, table=raw.get("table"))


def _history(raw: dict[str, Any], base_dir: Path | None, problems: list[str]) -> History:
    """The ``[history]`` table; a relative ``path`` is resolved from the config file's folder."""
    problems += [unknown_key("[history]", key, HISTORY_KEYS) for key in raw if key not in HISTORY_KEYS]
    settings = {key: value for key, value in raw.items() if key in HISTORY_KEYS}
    path = settings.get("path")
    if isinstance(path, str) and path.strip() and base_dir is not None and not Path(path).is_absolute():
        settings["path"] = str(base_dir / path)
    if isinstance(settings.get("budget"), dict):
        settings["budget"] = dict(settings["budget"])
    return History(**settings)


def _rollout(raw: dict[str, Any], problems: list[str]) -> Rollout | None:
    """The ``[rollout]`` table; stage starts are TOML date-times or ISO-8601 strings."""
    problems += [unknown_key("[rollout]", key, ROLLOUT_KEYS) for key in raw if key not in ROLLOUT_KEYS]
    settings = {key: value for key, value in raw.items() if key in ROLLOUT_KEYS}
    if "stages" in settings:
        settings["stages"] = _stages(settings["stages"], problems)
    return Rollout(**settings)


def _stages(raw: Any, problems: list[str]) -> tuple[Stage, ...] | Any:
    """The stages of a ramp's schedule (a value that is not a list is left for the model to refuse)."""
    if not isinstance(raw, list):
        return raw
    stages = []
    for position, item in enumerate(raw, start=1):
        where = f"[rollout] stages #{position}"
        if not isinstance(item, dict):
            problems.append(f"{where} must be a table like {{ start = 2026-01-05T00:00:00Z, share = 0.01 }}")
            continue
        problems += [unknown_key(where, key, STAGE_KEYS) for key in item if key not in STAGE_KEYS]
        missing = [key for key in STAGE_KEYS if key not in item]
        problems += [f"{where}: `{key}` is missing; write {{ start = 2026-01-05T00:00:00Z, share = 0.01 }}"
                     for key in missing]
        if missing:
            continue
        start = item["start"]
        try:
            start = parse_timestamp(start)
        except (ValueError, TypeError):
            pass  # the model names it
        stages.append(Stage(start=start, share=item["share"]))
    return tuple(stages)


def _column_map(raw: Any, label: str, defaults: tuple[str, ...], problems: list[str]) -> dict[str, str]:
    mapping = {column: column for column in defaults}
    if not isinstance(raw, dict):
        problems.append(f"[columns.{label}] must be a table mapping default names to yours, like user_id = \"uid\"")
        return mapping
    for key, value in raw.items():
        if key not in defaults:
            problems.append(unknown_key(f"[columns.{label}]", key, defaults))
        elif not isinstance(value, str) or not value:
            problems.append(f"[columns.{label}] {key} == {value!r}, must be a column name string")
        else:
            mapping[key] = value
    return mapping


def _conditions(raw: Any, where: str, problems: list[str]) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        problems.append(f"{where} must be a table like {{ platform = \"ios\" }} or {{ amount = {{ gt = 0 }} }}")
        return ()
    conditions = []
    for column, spec in raw.items():
        if isinstance(spec, list):
            conditions.append(Condition(column, "in", tuple(spec)))
        elif isinstance(spec, dict):
            for operator, value in spec.items():
                if operator not in OPERATORS:
                    problems.append(_unknown_operator(f"{where} `{column}`", operator))
                    continue
                conditions.append(Condition(column, operator, tuple(value) if isinstance(value, list) else value))
        else:
            conditions.append(Condition(column, "eq", spec))
    return tuple(conditions)


_OPERATOR_SPELLINGS = {"gte": "ge", ">=": "ge", "lte": "le", "<=": "le", "neq": "ne", "!=": "ne", "<>": "ne",
                       "==": "eq", "=": "eq", ">": "gt", "<": "lt", "nin": "not_in", "notin": "not_in"}


def _unknown_operator(where: str, operator: str) -> str:
    """An unknown operator, with the operator it most likely means (``gte`` means ``ge``, not ``gt``)."""
    meant = _OPERATOR_SPELLINGS.get(str(operator).lower())
    if meant is not None:
        return f"{where}: unknown operator `{operator}`; did you mean `{meant}`?"
    return unknown_key(where, operator, OPERATORS)


def _side(raw: Any, where: str, problems: list[str]) -> Side | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"event": raw}
    if not isinstance(raw, dict):
        problems.append(f"{where} must be a table like {{ event = \"purchase\", value = \"revenue\" }}")
        return None
    problems += [unknown_key(where, k, SIDE_KEYS) for k in raw if k not in SIDE_KEYS]
    return Side(event=raw.get("event"), value=raw.get("value"), where=_conditions(raw.get("where"), f"{where} where", problems))


def _cap(raw: Any, where: str, problems: list[str]) -> Cap | None:
    if raw is None:
        return None
    if isinstance(raw, dict):
        problems += [unknown_key(f"{where} cap", k, ("percentile",)) for k in raw if k != "percentile"]
        return Cap(percentile=raw.get("percentile"))
    return Cap(value=raw)


def _days(raw: dict[str, Any], where: str, problems: list[str]) -> tuple[int, int] | None:
    if "day" in raw and "days" in raw:
        problems.append(f"{where}: give `day` or `days`, not both")
    if "day" in raw:
        return (raw["day"], raw["day"])
    if "days" in raw:
        days = raw["days"]
        if isinstance(days, list) and len(days) == 2:
            return (days[0], days[1])
        problems.append(f"{where}: days == {days!r}, must be [first, last], such as [1, 7]")
    return None


def _metric(raw: Any, position: int, problems: list[str]) -> Metric | None:
    from iterate.metrics import METRIC_KINDS

    where = f"[[metrics]] #{position}"
    if not isinstance(raw, dict):
        problems.append(f"{where} must be a table")
        return None
    if isinstance(raw.get("name"), str):
        where += f" ({raw['name']})"
    problems += [unknown_key(where, k, METRIC_KEYS) for k in raw if k not in METRIC_KEYS]
    missing = [key for key in ("name", "type") if not isinstance(raw.get(key), str) or not raw.get(key)]
    kind = METRIC_KINDS.get(raw.get("type")) if isinstance(raw.get("type"), str) else None
    if (kind is None or "event" in kind.keys) and (not isinstance(raw.get("event"), str) or not raw.get("event")):
        missing.append("event")
    for key in missing:
        problems.append(f"{where}: `{key}` is missing or not a string")
    if missing:
        return None
    settings = {key: value for key, value in raw.items() if key in METRIC_KEYS and key not in ("day", "days")}
    settings.update(
        where=_conditions(raw.get("where"), f"{where} where", problems),
        numerator=_side(raw.get("numerator"), f"{where} numerator", problems),
        denominator=_side(raw.get("denominator"), f"{where} denominator", problems),
        days=_days(raw, where, problems),
        cap=_cap(raw.get("cap"), where, problems),
    )
    return Metric(**settings)
