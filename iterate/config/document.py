"""An :class:`Experiment` as plain JSON values and back: what the iteration history stores of
each analysis (so that it can be replayed), and what its config hash is computed from.

The document holds every field of the effective experiment (after overrides such as ``as_of``
and ``segments``), keys sorted, so that neither comments nor the order of keys in a TOML file
change it. Date-times are written ``{"datetime": "2026-01-20T00:00:00"}`` (naive UTC), so that
they come back as date-times and not as strings.

Example:
    >>> from iterate.config import Experiment, Metric
    >>> experiment = Experiment(name="x", control="control", metrics=(Metric("m", "count", event="open"),))
    >>> experiment_from_document(experiment_document(experiment)) == experiment
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, fields, is_dataclass
from datetime import datetime
from typing import Any

from iterate.config.model import Cap, Condition, Experiment, History, Metric, Rollout, Side, Source, Stage
from iterate.errors import ConfigError

_DATETIME = "datetime"

_NESTED: dict[type, dict[str, type]] = {
    Experiment: {"metrics": Metric, "where": Condition, "events": Source, "exposures": Source, "history": History,
                 "rollout": Rollout},
    Rollout: {"stages": Stage},
    Metric: {"where": Condition, "numerator": Side, "denominator": Side, "cap": Cap},
    Side: {"where": Condition},
}
"""Fields holding configuration objects (or tuples of them), by class."""

_MAPPINGS = frozenset({"expected_split", "event_columns", "exposure_columns", "budget", "group_weights", "thresholds"})
"""Fields that are tables (JSON objects stay dicts; every other JSON array becomes a tuple)."""


def experiment_document(experiment: Experiment) -> dict[str, Any]:
    """Every field of ``experiment`` as JSON values (objects, arrays, strings, numbers, null).

    ``rollout`` is left out when it is ``None``, and the canary judge's fields at their defaults
    (field metadata ``omit_default``), so that an experiment without them keeps the document (and
    the config hash) it had before they existed."""
    document = _encode(experiment)
    if document.get("rollout") is None:
        del document["rollout"]
    return document


def experiment_from_document(document: Mapping[str, Any]) -> Experiment:
    """The :class:`Experiment` of :func:`experiment_document` (validated again).

    Raises:
        ConfigError: the document does not describe an experiment (a field unknown or missing).
    """
    try:
        return _decode(Experiment, document)
    except (TypeError, ValueError, AttributeError) as error:
        raise ConfigError(f"the stored configuration cannot be read back as an experiment: {error}") from None


def _encode(value: Any) -> Any:
    if is_dataclass(value):
        return {item.name: _encode(getattr(value, item.name)) for item in sorted(fields(value), key=lambda f: f.name)
                if not (item.metadata.get("omit_default") and getattr(value, item.name) == _default(item))}
    if isinstance(value, datetime):
        return {_DATETIME: value.isoformat()}
    if isinstance(value, Mapping):
        return {str(key): _encode(item) for key, item in sorted(value.items())}
    if isinstance(value, (tuple, list)):
        return [_encode(item) for item in value]
    return value


def _default(item: Any) -> Any:
    """A field's default value (its default factory's product)."""
    return item.default_factory() if item.default is MISSING else item.default


def _decode(cls: type, document: Mapping[str, Any]) -> Any:
    nested = _NESTED.get(cls, {})
    names = {item.name for item in fields(cls)}
    unknown = sorted(set(document) - names)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)} of {cls.__name__}")
    values = {}
    for name, raw in document.items():
        if name in nested and raw is not None:
            inner = nested[name]
            values[name] = (tuple(_decode(inner, item) for item in raw) if isinstance(raw, list)
                            else _decode(inner, raw))
        elif name in _MAPPINGS and isinstance(raw, Mapping):
            values[name] = {key: _value(item) for key, item in raw.items()}
        else:
            values[name] = _value(raw)
    return cls(**values)


def _value(raw: Any) -> Any:
    if isinstance(raw, Mapping) and set(raw) == {_DATETIME}:
        return datetime.fromisoformat(raw[_DATETIME])
    if isinstance(raw, list):
        return tuple(_value(item) for item in raw)
    return raw
