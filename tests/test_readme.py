"""The README shows what iterate prints: its sample report is the report of the sample experiment."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from iterate.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_sample_report_is_what_analyze_prints():
    text = README.read_text(encoding="utf-8")
    start = text.index("## What you get\n\n```\n") + len("## What you get\n\n```\n")
    shown = text[start:text.index("```", start)]
    printed = CliRunner().invoke(main, ["analyze", "sample_data/experiment.toml"])
    assert printed.exit_code == 0
    assert printed.output == shown
