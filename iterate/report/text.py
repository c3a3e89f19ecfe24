"""Terminal report: the verdict first, then why, then the quality checks and a table of metrics."""

from __future__ import annotations

from iterate.result import AnalysisResult, MetricResult

_VERDICT_LINE = {
    "ship": ("SHIP", "32"),
    "rollback": ("ROLL BACK", "31"),
    "continue": ("KEEP COLLECTING", "33"),
    "inconclusive": ("INCONCLUSIVE", "33"),
    "invalid": ("INVALID: fix the experiment before deciding", "31"),
}
_OUTCOME_MARK = {"better": "better", "worse": "WORSE", "no_difference": "-", "not_tested": "n/a"}


def render_text(result: AnalysisResult, *, color: bool = False) -> str:
    """A plain-text report readable in an 80+ column terminal."""
    label, code = _VERDICT_LINE[result.verdict]
    headline = f"\x1b[1;{code}m{label}\x1b[0m" if color else label
    units = ", ".join(f"{variant} {count:,}" for variant, count in result.units.items())
    excluded = sum(result.excluded_units.values())
    lines = [
        f"{result.experiment}: {headline}  (exit code {result.exit_code})",
        "",
        "Why:",
        *(f"  - [{reason.variant or 'all'}] {reason.message}" for reason in result.reasons),
        "",
        "Checks:",
        *(f"  {'ok  ' if check.passed else 'FAIL'} {check.message}" for check in result.checks),
        "",
        f"Units: {units}; excluded: {excluded:,} exposed to several variants"
        + (f"; window {result.window} after first exposure" if result.window else ""),
        "",
        _metric_table(result.metric_results),
    ]
    return "\n".join(lines) + "\n"


def _metric_table(rows: tuple[MetricResult, ...]) -> str:
    header = ("metric", "variant", "role", "control", "treatment", "effect", "relative (CI)", "p", "outcome")
    table = [header]
    for row in rows:
        table.append((
            row.name,
            row.variant,
            row.role,
            _number(row.control_mean),
            _number(row.treatment_mean),
            _number(row.effect, signed=True),
            _relative(row),
            "n/a" if row.p_value is None else f"{row.p_value:.3g}",
            _OUTCOME_MARK[row.outcome] if row.status == "ok" else row.status,
        ))
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    rendered = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in table]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(rendered)


def _relative(row: MetricResult) -> str:
    if row.relative_effect is None:
        return "n/a"
    if row.relative_ci_low is None or row.relative_ci_high is None:
        return f"{row.relative_effect:+.2%}"
    return f"{row.relative_effect:+.2%} [{row.relative_ci_low:+.2%}, {row.relative_ci_high:+.2%}]"


def _number(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.4g}" if signed else f"{value:.4g}"
