"""JSON report: the document as indented JSON, no NaN or infinity (``schema_version`` 1)."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import Any


EXTENSION = ".json"
"""File extension of this format's report in an output folder."""


def render(kind: str, document: dict[str, Any], *, color: bool = False) -> str:
    """The document as indented JSON text, ending with a newline."""
    return json.dumps(json_ready(document), indent=2, allow_nan=False) + "\n"


def json_ready(value: Any) -> Any:
    """``value`` with infinite and NaN floats as ``None`` and dates as ISO-8601 strings.

    Example:
        >>> json_ready({"ci_high": float("inf"), "day": date(2026, 1, 5)})
        {'ci_high': None, 'day': '2026-01-05'}
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value
