"""Terminal report: the verdict first, then why, then the quality checks and a table of metrics."""

from __future__ import annotations

from collections.abc import Sequence

from iterate.result import AnalysisResult, MetricResult

_VERDICT_LINE = {
    "ship": ("SHIP", "32"),
    "rollback": ("ROLL BACK", "31"),
    "continue": ("KEEP COLLECTING", "33"),
    "inconclusive": ("INCONCLUSIVE", "33"),
    "invalid": ("INVALID: fix the experiment before deciding", "31"),
}
_OUTCOME_MARK = {"better": "better", "worse": "WORSE", "no_difference": "-", "not_tested": "n/a"}
_CHECK_MARK = {(True, "error"): "ok  ", (True, "warning"): "ok  ", (False, "error"): "FAIL", (False, "warning"): "warn"}


def render_text(result: AnalysisResult, *, color: bool = False) -> str:
    """A plain-text report readable in an 80+ column terminal."""
    label, code = _VERDICT_LINE[result.verdict]
    headline = f"\x1b[1;{code}m{label}\x1b[0m" if color else label
    units = ", ".join(f"{variant} {count:,}" for variant, count in result.units.items())
    excluded = ", ".join(f"{count:,} {cause.replace('_', ' ')}" for cause, count in result.excluded_units.items() if count)
    correction = "no correction" if result.correction == "none" else f"{result.correction} correction"
    lines = [
        f"{result.experiment}: {headline}  (exit code {result.exit_code})",
        "",
        "Why:",
        *(f"  - [{reason.variant or 'all'}] {reason.message}" for reason in result.reasons),
        "",
        "Checks:",
        *(f"  {_CHECK_MARK[(check.passed, check.severity)]} {check.message}" for check in result.checks),
        "",
        f"Units: {units}; excluded: {excluded or 'none'}"
        + (f"; window {result.window} after first exposure" if result.window else ""),
        f"Tests two-sided at alpha = {result.alpha}; p adj: {correction} within the success metrics and "
        "within the guardrail / deterioration metrics.",
        "",
        _metric_table(result.metric_results),
    ]
    notes = _notes(result.metric_results)
    if notes:
        lines += ["", *notes]
    if result.segment_results:
        lines += ["", "Segments (effects by segment value; flagged: differs from the other values):", "",
                  _segment_table(result.segment_results)]
    return "\n".join(lines) + "\n"


def _metric_table(rows: Sequence[MetricResult]) -> str:
    header = ("metric", "variant", "role", "control", "treatment", "effect", "relative (CI)", "p", "p adj", "outcome")
    body = [
        (row.name, row.variant, row.role, _number(row.control_mean), _number(row.treatment_mean),
         _number(row.effect, signed=True), _relative(row), _p(row.p_value), _p(row.p_value_adjusted), _outcome(row))
        for row in rows
    ]
    return _table(header, body)


def _segment_table(rows: Sequence[MetricResult]) -> str:
    header = ("segment", "value", "metric", "variant", "n ctl/trt", "effect", "relative (CI)", "p adj", "outcome", "flag")
    body = [
        (row.segment or "", "(no value)" if row.segment_value is None else row.segment_value, row.name, row.variant, f"{row.n_control:,}/{row.n_treatment:,}",
         _number(row.effect, signed=True), _relative(row), _p(row.p_value_adjusted), _outcome(row),
         f"FLAGGED (p {row.deviation_p_value:.3g})" if row.flagged else "")
        for row in rows
    ]
    return _table(header, body)


def _notes(rows: Sequence[MetricResult]) -> list[str]:
    notes = []
    for row in rows:
        if row.missing_units:
            notes.append(f"{row.name} ({row.variant}): {row.missing_units:,} units without a value left out "
                         f"({row.missing_control:,} control, {row.missing_treatment:,} treatment)")
        if row.cap is not None:
            notes.append(f"{row.name} ({row.variant}): per-unit values capped at {row.cap:.4g} "
                         f"({row.capped_units:,} treatment units capped)")
    return notes


def _table(header: tuple[str, ...], body: list[tuple[str, ...]]) -> str:
    table = [header, *body]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    rendered = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in table]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(rendered)


def _outcome(row: MetricResult) -> str:
    return _OUTCOME_MARK[row.outcome] if row.status == "ok" else row.status


def _relative(row: MetricResult) -> str:
    if row.relative_effect is None:
        return "n/a"
    if row.relative_ci_low is None or row.relative_ci_high is None:
        return f"{row.relative_effect:+.2%}"
    return f"{row.relative_effect:+.2%} [{row.relative_ci_low:+.2%}, {row.relative_ci_high:+.2%}]"


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _number(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.4g}" if signed else f"{value:.4g}"
