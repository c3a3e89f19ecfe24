"""What an analysis returns: verdict, reasons, quality checks and one row per metric and variant.

The same content is available as a dict (``to_dict``, the JSON report of DESIGN.md with
``schema_version`` 1) and, for notebooks, as a polars DataFrame (``metrics``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Mapping, get_args

if TYPE_CHECKING:
    import polars as pl

    from iterate.provenance import Provenance
    from iterate.timeline import TimelinePoint

Verdict = Literal["ship", "rollback", "continue", "inconclusive", "invalid"]
Outcome = Literal["better", "worse", "no_difference", "not_tested"]

SCHEMA_VERSION = 1
EXIT_CODES: Mapping[str, int] = {"ship": 0, "rollback": 10, "continue": 11, "inconclusive": 12, "invalid": 13}
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)


@dataclass(frozen=True, slots=True)
class MetricResult:
    """One metric compared between one treatment variant and control (a row of the report).

    ``missing_units`` counts the units of both arms that have no value for the metric (retention
    whose day is not observable yet, time to an event that did not happen), split into
    ``missing_control`` and ``missing_treatment``; ``capped_units`` / ``cap`` describe outlier capping
    in the treatment arm. ``relative_status`` says why the relative interval's bounds may be ``None``:
    ``ok`` (given), ``unbounded`` (the Fieller set of the ratio has no finite bounds: the control mean
    is not significantly different from 0), ``not_tested`` (no test, or no fixed-horizon interval,
    as under anytime-valid inference) or ``control_not_positive`` (the control mean is 0 or negative:
    a ratio to it would misstate the direction of the effect, so there is no relative effect at all).
    ``decision_alpha`` is the level the outcome is judged at when it is not the experiment's alpha:
    a group-sequential look's nominal alpha, or for success metrics the online-FDR (LORD++) level
    the iteration history gives this release (the smaller of the two when both apply).
    """

    name: str
    variant: str
    role: str
    type: str
    direction: str
    method: str
    status: str
    n_control: int
    n_treatment: int
    control_mean: float | None
    treatment_mean: float | None
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    relative_effect: float | None
    relative_ci_low: float | None
    relative_ci_high: float | None
    p_value: float | None
    p_value_adjusted: float | None
    std_error: float | None
    alpha: float
    outcome: Outcome
    missing_units: int = 0
    missing_control: int = 0
    missing_treatment: int = 0
    capped_units: int = 0
    cap: float | None = None
    segment: str | None = None
    segment_value: str | None = None
    deviation_p_value: float | None = None
    flagged: bool = False
    noninferiority_margin: float | None = None
    noninferiority_p_value: float | None = None
    noninferior: bool | None = None
    unadjusted_effect: float | None = None
    unadjusted_std_error: float | None = None
    variance_reduction: float | None = None
    chance_to_beat: float | None = None
    expected_loss: float | None = None
    decision_alpha: float | None = None
    relative_status: str = "not_tested"


@dataclass(frozen=True, slots=True)
class Check:
    """A data-quality check with its numbers; a failed ``error`` check makes the verdict ``invalid``."""

    name: str
    passed: bool
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)
    severity: Literal["error", "warning"] = "error"


@dataclass(frozen=True, slots=True)
class Reason:
    """A decision rule that fired, with the numbers behind it (``details``: the same numbers as
    plain values, e.g. ``extra_units_per_arm`` and ``days`` of a pending metric)."""

    rule: str
    message: str
    variant: str | None = None
    metric: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


TraceOutcome = Literal["fired", "passed", "warning", "met", "not_met", "not_applicable",
                       "ship", "rollback", "continue", "inconclusive", "invalid", "advance", "hold"]


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One rule of the decision as ``decide`` evaluated it, in order (the decision trace).

    ``outcome`` is, for a gate (``check_<name>``, ``harm``, ``segment_harm``, ``no_data``,
    ``min_units``, ``no_success_metric``, ``planned_end``): ``fired`` (it holds and decides or
    blocks the verdict), ``passed`` (it does not hold) or ``warning`` (a failed warning-level check,
    which does not change the verdict); for a criterion of ``ship`` (``success``,
    ``noninferiority``): ``met`` or ``not_met``; ``not_applicable`` when the rule cannot be
    evaluated (no test, no data, no segment breakdown); for ``recommended_arm``: ``fired`` when an
    arm is named, else ``not_applicable``; for ``verdict``: the verdict itself. ``alpha`` is the
    level the rule's test used (the family-corrected p against the experiment's alpha, the look's
    ``decision_alpha`` under a group-sequential design, the one-sided alpha of non-inferiority);
    ``numbers`` holds the values compared, as plain values.
    """

    step: int
    rule: str
    variant: str | None
    metric: str | None
    outcome: TraceOutcome
    alpha: float | None
    numbers: Mapping[str, Any]
    message: str


@dataclass(frozen=True, slots=True)
class Recommendation:
    """Which treatment arm to ship (:func:`iterate.decision.recommend`), with the pairwise test of
    the best arm against the runner-up on the first success metric (``p_value_adjusted``:
    Bonferroni over the ``pairs`` = k(k-1)/2 pairs of the k treatment arms)."""

    variant: str | None
    metric: str | None
    runner_up: str | None
    effect_difference: float | None
    p_value: float | None
    p_value_adjusted: float | None
    pairs: int
    distinguishable: bool
    message: str
    ci_low: float | None = None
    ci_high: float | None = None
    alpha: float | None = None
    method: str | None = None


@dataclass(frozen=True, slots=True)
class Heterogeneity:
    """Cochran's Q across the values of one segment for one metric and variant."""

    metric: str
    variant: str
    segment: str
    statistic: float | None
    df: int
    p_value: float | None
    i_squared: float | None
    flagged_values: tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    """Outcome of ``iterate.analyze``.

    Attributes:
        experiment: Experiment name.
        verdict: ``ship``, ``rollback``, ``continue``, ``inconclusive`` or ``invalid``.
        reasons: Rules that fired, most decisive first, and what would change the verdict.
        checks: Data-quality checks with their numbers.
        metric_results: One row per metric and treatment variant.
        variant_verdicts: Verdict of each treatment variant against control.
        units: Analyzed units per variant.
        excluded_units: Units left out, by cause (e.g. ``multiple_variants``).
        alpha: Significance level used.
        window: Metric window after first exposure, as configured.
        control: The control variant.
        correction: Multiple-comparison correction used.
        segment_results: One row per segment value, metric and treatment variant.
        heterogeneity: Cochran's Q across the values of each segment.
        timeline: Per-day cumulative effects with always-valid intervals, when asked for.
        decision_trace: Every rule the decision evaluated, in order, with its numbers and alpha.
        recommendation: Which treatment arm to ship, with the pairwise test of the two best arms.
        provenance: Config hash, iterate version, time of the run and data fingerprint
            (:mod:`iterate.provenance`); document key ``provenance``.
    """

    report_kind: ClassVar[str] = "analysis"

    experiment: str
    verdict: Verdict
    reasons: tuple[Reason, ...]
    checks: tuple[Check, ...]
    metric_results: tuple[MetricResult, ...]
    variant_verdicts: Mapping[str, Verdict]
    units: Mapping[str, int]
    excluded_units: Mapping[str, int]
    alpha: float
    window: str | None
    control: str
    correction: str = "holm"
    segment_results: tuple[MetricResult, ...] = ()
    heterogeneity: tuple[Heterogeneity, ...] = ()
    timeline: tuple[TimelinePoint, ...] | None = None
    decision_trace: tuple[TraceStep, ...] = ()
    recommendation: Recommendation | None = None
    provenance: Provenance | None = None

    @property
    def exit_code(self) -> int:
        """Exit code of the verdict (the CI contract of DESIGN.md)."""
        return EXIT_CODES[self.verdict]

    @property
    def metrics(self) -> pl.DataFrame:
        """One row per metric and variant, as a polars DataFrame."""
        import polars as pl

        return _frame(pl, self.metric_results)

    @property
    def segments(self) -> pl.DataFrame:
        """One row per segment value, metric and variant, as a polars DataFrame."""
        import polars as pl

        return _frame(pl, self.segment_results)

    def with_timeline(self, points: Sequence[TimelinePoint]) -> AnalysisResult:
        """The result with its per-day timeline (``iterate.timeline.timeline``) attached."""
        return replace(self, timeline=tuple(points))

    def as_document(self) -> dict[str, Any]:
        """Every field and row as plain Python values: the one source of every report format."""
        document = {
            "schema_version": SCHEMA_VERSION,
            "kind": self.report_kind,
            "experiment": self.experiment,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "control": self.control,
            "alpha": self.alpha,
            "window": self.window,
            "reasons": [asdict(reason) for reason in self.reasons],
            "checks": [asdict(check) for check in self.checks],
            "units": dict(self.units),
            "excluded_units": dict(self.excluded_units),
            "variants": dict(self.variant_verdicts),
            "correction": self.correction,
            "metrics": [asdict(row) for row in self.metric_results],
            "segments": [asdict(row) for row in self.segment_results],
            "heterogeneity": [asdict(row) for row in self.heterogeneity],
            "recommendation": None if self.recommendation is None else asdict(self.recommendation),
            "decision_trace": [asdict(step) for step in self.decision_trace],
        }
        if self.timeline is not None:
            document["timeline"] = [asdict(point) for point in self.timeline]
        if self.provenance is not None:
            document["provenance"] = self.provenance.as_document()
        return document

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (``schema_version`` 1): infinite bounds and NaN become ``None``."""
        from iterate.report.json import json_ready

        return json_ready(self.as_document())


def _frame(pl, rows: tuple[MetricResult, ...]) -> pl.DataFrame:
    return pl.DataFrame([asdict(row) for row in rows], schema=_METRIC_SCHEMA(pl), orient="row")


def _METRIC_SCHEMA(pl) -> dict[str, Any]:  # noqa: N802 - built lazily so polars is imported only on use
    text, number, count = pl.String, pl.Float64, pl.Int64
    return {
        "name": text, "variant": text, "role": text, "type": text, "direction": text, "method": text,
        "status": text, "n_control": count, "n_treatment": count, "control_mean": number,
        "treatment_mean": number, "effect": number, "ci_low": number, "ci_high": number,
        "relative_effect": number, "relative_ci_low": number, "relative_ci_high": number,
        "p_value": number, "p_value_adjusted": number, "std_error": number, "alpha": number, "outcome": text,
        "missing_units": count, "missing_control": count, "missing_treatment": count, "capped_units": count, "cap": number, "segment": text, "segment_value": text,
        "deviation_p_value": number, "flagged": pl.Boolean, "noninferiority_margin": number,
        "noninferiority_p_value": number, "noninferior": pl.Boolean, "unadjusted_effect": number,
        "unadjusted_std_error": number, "variance_reduction": number, "chance_to_beat": number,
        "expected_loss": number, "decision_alpha": number, "relative_status": text,
    }
