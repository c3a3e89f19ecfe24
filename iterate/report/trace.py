"""The decision trace as readable text: every rule the decision evaluated, numbered, in order.

Not a report format (it is not in :data:`iterate.report.FORMATS`): ``iterate analyze --explain``
prints it after the text report; in the JSON report the same steps are the ``decision_trace``
key. Rendered from the analysis document alone.

Example:
    >>> print(explain({"experiment": "exp", "verdict": "invalid", "decision_trace": [
    ...     {"step": 1, "rule": "check_srm", "variant": None, "metric": None, "outcome": "fired",
    ...      "alpha": 0.001, "numbers": {"p_value": 1e-9}, "message": "sample ratio mismatch"}]}), end="")
    Decision trace of exp (verdict invalid): 1 step
      1. check_srm  FIRED  alpha 0.001
         sample ratio mismatch
         p_value 1e-09
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

_OUTCOME_MARK = {"fired": "FIRED", "warning": "warning"}
_NUMBER_FORMAT = ".6g"


def explain(document: Mapping[str, Any]) -> str:
    """The numbered decision trace of an analysis document (``as_document()``), ending with a newline.

    Each step: its number, rule, arm and metric, outcome (``fired`` in capitals) and alpha, then
    its one-line message, then its numbers.
    """
    steps = document.get("decision_trace") or []
    lines = [f"Decision trace of {document['experiment']} (verdict {document['verdict']}): "
             f"{len(steps)} step{'' if len(steps) == 1 else 's'}"]
    width = len(str(len(steps)))
    for step in steps:
        lines += _step_lines(step, width)
    return "\n".join(lines) + "\n"


def _step_lines(step: Mapping[str, Any], width: int) -> list[str]:
    scope = " / ".join(part for part in (step["variant"], step["metric"]) if part is not None)
    head = [f"{step['step']:>{width}}. {step['rule']}"]
    if scope:
        head.append(f"[{scope}]")
    head.append(_OUTCOME_MARK.get(step["outcome"], step["outcome"]))
    if step["alpha"] is not None:
        head.append(f"alpha {_value(step['alpha'])}")
    indent = " " * (width + 4)
    lines = ["  " + "  ".join(head), f"{indent}{step['message']}"]
    numbers = [f"{key} {_value(value)}" for key, value in step["numbers"].items() if value is not None]
    if numbers:
        lines.append(indent + "; ".join(numbers))
    return lines


def _value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        return format(value, _NUMBER_FORMAT) if math.isfinite(value) else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key} {_value(item)}" for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    return str(value)
