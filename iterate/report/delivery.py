"""Where reports go: one format to standard output or ``--output``, several into ``--output-dir``.

Every destination is checked before the analysis runs (:func:`plan_reports`, through
:mod:`iterate.outputs`), so a bad path costs no analysis and nothing the user has is overwritten
unexpectedly; the reports are written once the result exists (:func:`deliver`).

In a folder, each format's report is named after the experiment and the format's file extension
(``EXTENSION`` of its module): ``checkout_v2.txt``, ``checkout_v2.json``, ``checkout_v2.md``,
``checkout_v2.junit.xml``. Characters of the experiment name that are not letters, digits, ``.``,
``-`` or ``_`` become ``_`` (a name cannot climb out of the folder).

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "reports"
    >>> [report.path.name for report in plan_reports(("json", "text"), "checkout v2", output_dir=folder)]
    ['checkout_v2.json', 'checkout_v2.txt']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from iterate.errors import OutputError
from iterate.outputs import Output, plan_output
from iterate.report import FORMATS, Reportable, render


@dataclass(frozen=True, slots=True)
class PlannedReport:
    """One format's report and where it goes: ``output`` ``None`` is standard output."""

    report_format: str
    path: Path | None
    output: Output | None


def file_name(experiment: str, report_format: str) -> str:
    """The report's file name in an output folder: the experiment's name (made safe) and the format's extension."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", experiment).lstrip(".") or "report"
    return stem + import_module(FORMATS[report_format]).EXTENSION


def plan_reports(formats: Sequence[str], experiment: str, *, output: Path | None = None,
                 output_dir: Path | None = None, inputs: Iterable[str | Path | None] = ()) -> list[PlannedReport]:
    """Where each report goes, every path checked now (before any analysis).

    Raises:
        OutputError: several formats without ``output_dir``, both ``output`` and ``output_dir``,
            a folder that cannot be created or written, or a report path that is unwritable or is
            one of ``inputs``.
    """
    inputs = list(inputs)
    if output is not None and output_dir is not None:
        raise OutputError("--output and --output-dir were both given; use --output FILE for one format or "
                          "--output-dir DIR for one file per format")
    if output_dir is None:
        if len(formats) > 1:
            raise OutputError(f"--format {','.join(formats)} asks for {len(formats)} reports; give --output-dir DIR "
                              "to write one file per format there")
        destination = None if output is None else plan_output(output, inputs=inputs, label="--output")
        return [PlannedReport(formats[0], output, destination)]
    _make_folder(output_dir)
    paths = [output_dir / file_name(experiment, report_format) for report_format in formats]
    return [PlannedReport(report_format, path, plan_output(path, inputs=inputs, label="--output-dir"))
            for report_format, path in zip(formats, paths)]


def deliver(result: Reportable, reports: Sequence[PlannedReport], *, color: bool = False) -> None:
    """Render each planned report and write it; a report to standard output is printed, and when
    every report goes to files, one line on standard error says the verdict and where they are."""
    import click

    for report in reports:
        text = render(result, report.report_format, color=color and report.output is None
                      and report.report_format == "text")
        if report.output is None:
            click.echo(text, nl=False)
        else:
            report.output.write(text)
    written = [str(report.path) for report in reports if report.output is not None]
    if written and len(written) == len(reports):
        verdict = getattr(result, "verdict", None)
        summary = f"{verdict} (exit code {result.exit_code}); " if verdict else ""
        click.echo(f"{summary}report{'s' if len(written) > 1 else ''} written to {', '.join(written)}", err=True)


def _make_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"--output-dir {folder} exists and is not a folder; give a folder path")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"--output-dir {folder} cannot be created ({error.strerror}); give a folder you can "
                          "write into") from None
