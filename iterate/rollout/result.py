"""What ``iterate.rollout`` returns: the ramp's verdict, its stages, and the pooled, naive and
per-stage metric rows, as a document (``as_document``: the one source of every report format) and
as polars frames for notebooks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

from iterate.result import SCHEMA_VERSION, Check, MetricResult, Reason, TraceStep, _frame

if TYPE_CHECKING:
    import polars as pl

    from iterate.rollout.event_rates import RateRegressionTest

    from iterate.provenance import Provenance
    from iterate.rollout.canary import CanaryJudgement

RolloutVerdict = Literal["advance", "hold", "rollback", "invalid"]
ROLLOUT_EXIT_CODES: Mapping[str, int] = {"advance": 0, "rollback": 10, "hold": 11, "invalid": 13}
ROLLOUT_VERDICTS: tuple[RolloutVerdict, ...] = get_args(RolloutVerdict)



@dataclass(frozen=True, slots=True)
class RolloutDecision:
    """A rollout's verdict, the rules that fired (most decisive first) and the trace of every rule
    evaluated, ending with the verdict."""

    verdict: RolloutVerdict
    reasons: tuple[Reason, ...]
    trace: tuple[TraceStep, ...]


def decided(judged: str, verdict: RolloutVerdict, reasons: Sequence[Reason], trace: Sequence[TraceStep],
            why: str) -> RolloutDecision:
    """The decision, its trace closed by the ``verdict`` step of ``judged`` (``ramp``, ``canary``, ...)."""
    from iterate.decision import numbered, trace_step

    final = trace_step("verdict", verdict, f"{judged}: {verdict} ({why})")
    return RolloutDecision(verdict, tuple(reasons), numbered([*trace, final]))


@dataclass(frozen=True, slots=True)
class StageSummary:
    """One stage of the ramp.

    Attributes:
        stage: The stage's label (``"stage 1"``, ... for a schedule; the value of ``stage_column``).
        start: When the stage starts: its scheduled start, or its first exposure with ``stage_column``.
        end: When it ends: the next stage's start (``None`` for the current stage of a schedule), or
            its last first exposure with ``stage_column``.
        planned_share: The treatment's planned share of the stage's units (``None`` without a schedule).
        units: Analyzed units per variant first exposed in this stage.
        observed_share: The treatment units' share of the stage's units (``None`` without units).
        verdict: The ramp's verdict had it been judged at this stage's end, on the data of this
            stage and the earlier ones (stratified over them); for a canary, judged on the
            intervals up to this one (``None`` beyond the last 200 intervals).
    """

    stage: str
    start: datetime | None
    end: datetime | None
    planned_share: float | None
    units: Mapping[str, int]
    observed_share: float | None
    verdict: RolloutVerdict | None


@dataclass(frozen=True, slots=True)
class RolloutResult:
    """Outcome of ``iterate.rollout``.

    Attributes:
        experiment: Experiment name.
        kind: The rollout's kind (``"ramp"``, ``"canary"`` (its stages are its intervals) or ``"version"``).
        verdict: ``advance``, ``hold``, ``rollback`` or ``invalid``.
        reasons: Rules that fired, most decisive first, and what is missing for ``advance``.
        checks: Data-quality checks with their numbers (sample ratio per stage, ...).
        stages: The stages started so far, in order.
        current_stage: The stage the ramp is in (the last started), ``None`` when none has started.
        metric_results: One row per metric and treatment variant: the effect stratified by stage,
            anytime-valid; the rows the verdict reads.
        naive_results: The same rows unstratified (arms pooled over all stages, fixed-horizon):
            what a naive analysis would say, biased when the allocation and the baseline change.
        stage_results: One row per stage, metric and treatment variant (``segment = "stage"``,
            ``segment_value`` = the stage's label), each stage's own fixed-horizon test.
        decision_trace: Every rule evaluated, in order, with its numbers.
        alpha: Significance level.
        control: The control variant.
        rate_tests: The anytime-valid event-rate test of each event-rate metric (crashes per
            user-hour) and treatment variant, stratified by stage
            (:class:`iterate.rollout.event_rates.RateRegressionTest`); a regression rolls back.
        provenance: Config hash, version, time of the run and data fingerprint.
        canary: A canary's score, thresholds, rules, per-metric comparisons, event-rate tests and
            interval values (``None`` for other kinds; the document's ``canary`` key only then).
        observational: The comparison is not randomized (a new app version users install on their
            own): every output says so.
    """

    report_kind: ClassVar[str] = "rollout"

    experiment: str
    kind: str
    verdict: RolloutVerdict
    reasons: tuple[Reason, ...]
    checks: tuple[Check, ...]
    stages: tuple[StageSummary, ...]
    current_stage: str | None
    metric_results: tuple[MetricResult, ...]
    naive_results: tuple[MetricResult, ...]
    stage_results: tuple[MetricResult, ...]
    decision_trace: tuple[TraceStep, ...]
    alpha: float
    control: str
    provenance: Provenance | None = None
    canary: CanaryJudgement | None = None
    observational: bool = False
    rate_tests: tuple[RateRegressionTest, ...] = ()

    @property
    def exit_code(self) -> int:
        """Exit code of the verdict: ``advance`` 0, ``rollback`` 10, ``hold`` 11, ``invalid`` 13."""
        return ROLLOUT_EXIT_CODES[self.verdict]

    @property
    def metrics(self) -> pl.DataFrame:
        """The pooled (stratified) rows, as a polars DataFrame."""
        import polars as pl

        return _frame(pl, self.metric_results)

    @property
    def stage_metrics(self) -> pl.DataFrame:
        """The per-stage rows, as a polars DataFrame."""
        import polars as pl

        return _frame(pl, self.stage_results)

    @property
    def stages_frame(self) -> pl.DataFrame:
        """One row per stage (units per variant as ``units_<variant>`` columns), as a polars DataFrame."""
        import polars as pl

        variants = sorted({variant for stage in self.stages for variant in stage.units})
        rows = [{"stage": stage.stage, "start": stage.start, "end": stage.end, "planned_share": stage.planned_share,
                 **{f"units_{variant}": stage.units.get(variant, 0) for variant in variants},
                 "observed_share": stage.observed_share, "verdict": stage.verdict} for stage in self.stages]
        schema = {"stage": pl.String, "start": pl.Datetime("us"), "end": pl.Datetime("us"), "planned_share": pl.Float64,
                  **{f"units_{variant}": pl.Int64 for variant in variants}, "observed_share": pl.Float64,
                  "verdict": pl.String}
        return pl.DataFrame(rows, schema=schema, orient="row")

    def as_document(self) -> dict[str, Any]:
        """Every field and row as plain Python values: the one source of every report format."""
        document = {
            "schema_version": SCHEMA_VERSION,
            "kind": self.report_kind,
            "rollout": self.kind,
            "observational": self.observational,
            "experiment": self.experiment,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "control": self.control,
            "alpha": self.alpha,
            "current_stage": self.current_stage,
            "reasons": [asdict(reason) for reason in self.reasons],
            "checks": [asdict(check) for check in self.checks],
            "stages": [{**asdict(stage), "units": dict(stage.units)} for stage in self.stages],
            "metrics": [asdict(row) for row in self.metric_results],
            "naive_metrics": [asdict(row) for row in self.naive_results],
            "stage_metrics": [asdict(row) for row in self.stage_results],
            "decision_trace": [asdict(step) for step in self.decision_trace],
            "rate_tests": [asdict(rate) for rate in self.rate_tests],
        }
        if self.canary is not None:
            document["canary"] = self.canary.as_document()
        if self.provenance is not None:
            document["provenance"] = self.provenance.as_document()
        return document

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (``schema_version`` 1): infinite bounds and NaN become ``None``."""
        from iterate.report.json import json_ready

        return json_ready(self.as_document())
