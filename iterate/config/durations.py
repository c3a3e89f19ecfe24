"""Durations written as in the config: ``"7d"``, ``"36h"``, ``"90m"``, ``"2w"``, ``"45s"``."""

from __future__ import annotations

import re

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
