"""Reports: one registry of formats, each rendering the same document.

Every result that can be reported (:class:`iterate.result.AnalysisResult`, the plan of
:mod:`iterate.planning`, the calibration of :mod:`iterate.calibration`) gives one document,
``as_document()``: its rows and fields as plain Python values. Every format is derived from that
document alone, so a new format is one module here and one line in :data:`FORMATS` (which is also
where the CLI takes its ``--format`` choices from). Every format renders every kind of document
(``analysis``, ``plan``, ``calibration``): text for a terminal, JSON for machines, Markdown for a
pull-request comment or a CI step summary, JUnit XML for a CI's test report.

Example:
    >>> from iterate.report import FORMATS
    >>> list(FORMATS)
    ['text', 'json', 'markdown', 'junit']
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import Any, Protocol

FORMATS: Mapping[str, str] = {
    "text": "iterate.report.text",
    "json": "iterate.report.json",
    "markdown": "iterate.report.markdown",
    "junit": "iterate.report.junit",
}
"""Report formats by name: the module rendering each (imported on first use)."""


class Reportable(Protocol):
    """A result that reports itself as one document."""

    report_kind: str
    """What the document describes: ``analysis``, ``plan`` or ``calibration``."""

    def as_document(self) -> dict[str, Any]:
        """Every field and row as plain Python values (floats may be infinite, times are datetimes)."""


def json_schema() -> str:
    """The JSON Schema (draft 2020-12) of every JSON report, as shipped in the package (``schema.json``)."""
    from importlib.resources import files

    return files(__name__).joinpath("schema.json").read_text(encoding="utf-8")


def render(result: Reportable, report_format: str, *, color: bool = False) -> str:
    """The result in ``report_format`` (a name of :data:`FORMATS`); ``color`` for terminal text."""
    module = import_module(FORMATS[report_format])
    return module.render(result.report_kind, result.as_document(), color=color)
