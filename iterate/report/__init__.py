"""Reports of an analysis result: terminal text and JSON (``schema_version`` 1)."""

from __future__ import annotations

from typing import Literal

from iterate.report.json import render_json
from iterate.report.text import render_text

ReportFormat = Literal["text", "json"]
FORMATS: tuple[str, ...] = ("text", "json")

__all__ = ["FORMATS", "ReportFormat", "render", "render_json", "render_text"]


def render(result, report_format: ReportFormat, *, color: bool = False) -> str:
    """The result in ``report_format``."""
    if report_format == "json":
        return render_json(result)
    return render_text(result, color=color)
