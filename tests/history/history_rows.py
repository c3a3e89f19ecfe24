"""Hand-built metric rows and results for the history tests (no engine)."""

from __future__ import annotations

from iterate.result import AnalysisResult, MetricResult


def metric_row(name: str, *, variant: str = "treatment", role: str = "success", direction: str = "increase",
               relative: float | None = 0.0, low: float | None = None, high: float | None = None,
               p_value: float | None = 0.5, outcome: str = "no_difference", margin: float | None = None,
               noninferior: bool | None = None) -> MetricResult:
    return MetricResult(
        name=name, variant=variant, role=role, type="mean", direction=direction, method="welch", status="ok",
        n_control=10_000, n_treatment=10_000, control_mean=1.0,
        treatment_mean=None if relative is None else 1.0 + relative,
        effect=relative, ci_low=low, ci_high=high, relative_effect=relative, relative_ci_low=low,
        relative_ci_high=high, p_value=p_value, p_value_adjusted=p_value, std_error=0.001, alpha=0.05,
        outcome=outcome, noninferiority_margin=margin, noninferior=noninferior, relative_status="ok",
    )


def result_of(experiment: str, verdict: str, rows: list[MetricResult]) -> AnalysisResult:
    variants = sorted({row.variant for row in rows})
    return AnalysisResult(
        experiment=experiment, verdict=verdict, reasons=(), checks=(), metric_results=tuple(rows),
        variant_verdicts={variant: verdict for variant in variants}, units={"control": 10_000, "treatment": 10_000},
        excluded_units={}, alpha=0.05, window="7d", control="control",
    )
