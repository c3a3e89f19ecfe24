"""JSON report: the fields of DESIGN.md, ``schema_version`` 1, no NaN or infinity."""

from __future__ import annotations

import json

from iterate.result import AnalysisResult


def render_json(result: AnalysisResult) -> str:
    """The result as indented JSON text, ending with a newline."""
    return json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n"
