"""Terminal text: the verdict first, then why, then the checks and a table of metrics (analysis);
the plan and the calibration as tables. Rendered from the result's document only."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import time
from typing import Any

from iterate.report import wording

Row = Mapping[str, Any]

_VERDICT_LINE = {
    "ship": ("SHIP", "32"),
    "rollback": ("ROLL BACK", "31"),
    "continue": ("KEEP COLLECTING", "33"),
    "inconclusive": ("INCONCLUSIVE", "33"),
    "invalid": ("INVALID: fix the experiment before deciding", "31"),
    "advance": ("ADVANCE", "32"),
    "hold": ("HOLD", "33"),
}
_OUTCOME_MARK = {"better": "better", "worse": "WORSE", "no_difference": "-", "not_tested": "n/a"}
_CHECK_MARK = {(True, "error"): "ok  ", (True, "warning"): "ok  ", (False, "error"): "FAIL", (False, "warning"): "warn"}


EXTENSION = ".txt"
"""File extension of this format's report in an output folder."""


def render(kind: str, document: Mapping[str, Any], *, color: bool = False) -> str:
    """The document as plain text readable in an 80+ column terminal (``color``: ANSI verdict)."""
    renderers: Mapping[str, Callable[..., str]] = {"analysis": _analysis, "plan": _plan, "calibration": _calibration,
                                                   "rollout": _rollout}
    return renderers[kind](document, color=color)


def _analysis(report: Row, *, color: bool) -> str:
    label, code = _VERDICT_LINE[report["verdict"]]
    arm = wording.shipped_arm(report)
    label += f" {arm}" if arm is not None else ""
    headline = f"\x1b[1;{code}m{label}\x1b[0m" if color else label
    units = ", ".join(f"{variant} {count:,}" for variant, count in report["units"].items())
    excluded = ", ".join(f"{count:,} {cause.replace('_', ' ')}" for cause, count in report["excluded_units"].items() if count)
    correction = "no correction" if report["correction"] == "none" else f"{report['correction']} correction"
    lines = [
        f"{report['experiment']}: {headline}  (exit code {report['exit_code']})",
        "",
        "Why:",
        *(f"  - [{reason['variant'] or 'all'}] {reason['message']}" for reason in report["reasons"]),
        "",
        "Checks:",
        *(f"  {_CHECK_MARK[(check['passed'], check['severity'])]} {check['message']}" for check in report["checks"]),
        "",
        f"Units: {units}; excluded: {excluded or 'none'}"
        + (f"; window {report['window']} after first exposure" if report["window"] else ""),
        f"Tests two-sided at alpha = {report['alpha']}; p adj: {correction} within the success metrics and "
        "within the guardrail / deterioration metrics.",
        "",
        _metric_table(report["metrics"]),
    ]
    notes = _notes(report["metrics"])
    if notes:
        lines += ["", *notes]
    lines += _decision_inputs(report)
    if report["segments"]:
        lines += ["", "Segments (effects by segment value; flagged: differs from the other values):", "",
                  _segment_table(report["segments"])]
    text = "\n".join(lines) + "\n"
    if report.get("timeline") is not None:
        text += "\n" + _timeline(report["timeline"])
    provenance = wording.provenance_parts(report.get("provenance"))
    if provenance:
        text += "\nFrom: " + "; ".join(provenance) + "\n"
    return text


def _rollout(report: Row, *, color: bool) -> str:
    """A rollout: the verdict for the ramp's next step first, why, the checks, the stages, then the
    pooled (stratified, anytime-valid) effects, the naive pooled ones beside them, and each stage's."""
    label, code = _VERDICT_LINE[report["verdict"]]
    headline = f"\x1b[1;{code}m{label}\x1b[0m" if color else label
    current = report["current_stage"]
    observational = report.get("observational", False)
    kind = f"{report['rollout']}, observational: not randomized" if observational else report["rollout"]
    lines = [
        f"{report['experiment']} ({kind}): {headline}  (exit code {report['exit_code']})"
        + (f"; current stage {current}" if current is not None else ""),
        *([score, ""] if (score := wording.canary_score(report)) else [""]),
        "Why:",
        *(f"  - [{reason['variant'] or 'all'}] {reason['message']}" for reason in report["reasons"]),
        "",
        "Checks:",
        *(f"  {_CHECK_MARK[(check['passed'], check['severity'])]} {check['message']}" for check in report["checks"]),
        "",
    ]
    if not observational:
        lines += ["Stages (units by their first exposure; verdict: judged on the data up to the stage's end):", "",
                  _stage_table(report["stages"]), "",
                  wording.CANARY_METRICS + ":" if report.get("canary") else
                  f"Pooled over the stages (stratified by stage, anytime-valid at alpha = {report['alpha']}: valid "
                  "however often the ramp is checked):"]
    else:
        lines.append(f"Difference-in-differences (observational; updaters' post - pre change against comparison "
                     f"units' over the same days; alpha = {report['alpha']}):")
    lines += ["", _metric_table(report["metrics"])]
    lines += _decision_inputs(report)
    if report["naive_metrics"]:
        title = ("Naive post-period effects (updaters against comparison units: biased by self-selection; for "
                 "comparison only):" if observational else "Naive pooled effects (not stratified: biased when the "
                 "allocation and the baseline change together; for comparison only):")
        lines += ["", title, "",
                  _table(("metric", "variant", "effect", "adjusted effect" if observational else "stratified effect"),
                         [(naive["name"], naive["variant"], wording.number(naive["effect"], signed=True),
                           wording.number(pooled["effect"], signed=True))
                          for naive, pooled in zip(report["naive_metrics"], report["metrics"])])]
    if report["stage_metrics"]:
        lines += ["", "Each stage (fixed-horizon effects of the units first exposed in it):", "",
                  _table(("stage", "metric", "variant", "n ctl/trt", "effect", "relative (CI)", "p", "outcome"),
                         [(row["segment_value"] or "", row["name"], row["variant"],
                           f"{row['n_control']:,}/{row['n_treatment']:,}", wording.number(row["effect"], signed=True),
                           wording.relative_with_interval(row), wording.p_value(row["p_value"]), _outcome(row))
                          for row in report["stage_metrics"]])]
    text = "\n".join(lines) + "\n"
    provenance = wording.provenance_parts(report.get("provenance"))
    if provenance:
        text += "\nFrom: " + "; ".join(provenance) + "\n"
    return text


def _stage_table(stages: Sequence[Row]) -> str:
    def when(value: Any) -> str:
        return "" if value is None else f"{value:%Y-%m-%d %H:%M}"

    return _table(
        ("stage", "start", "end", "planned share", "observed share", "units", "verdict"),
        [(stage["stage"], when(stage["start"]), when(stage["end"]),
          wording.percent(stage["planned_share"], 1, signed=False),
          wording.percent(stage["observed_share"], 1, signed=False),
          ", ".join(f"{variant} {count:,}" for variant, count in stage["units"].items()) or "none",
          stage["verdict"])
         for stage in stages])


def _metric_table(rows: Sequence[Row]) -> str:
    header = ("metric", "variant", "role", "control", "treatment", "effect", "relative (CI)", "p", "p adj", "outcome")
    body = [
        (row["name"], row["variant"], row["role"], wording.number(row["control_mean"]),
         wording.number(row["treatment_mean"]), wording.number(row["effect"], signed=True),
         wording.relative_with_interval(row), wording.p_value(row["p_value"]), wording.p_value(row["p_value_adjusted"]),
         _outcome(row))
        for row in rows
    ]
    return _table(header, body)


def _segment_table(rows: Sequence[Row]) -> str:
    header = ("segment", "value", "metric", "variant", "n ctl/trt", "effect", "relative (CI)", "p adj", "outcome", "flag")
    body = [
        (row["segment"] or "", "(no value)" if row["segment_value"] is None else row["segment_value"], row["name"],
         row["variant"], f"{row['n_control']:,}/{row['n_treatment']:,}", wording.number(row["effect"], signed=True),
         wording.relative_with_interval(row), wording.p_value(row["p_value_adjusted"]), _outcome(row),
         f"FLAGGED (p {row['deviation_p_value']:.3g})" if row["flagged"] else "")
        for row in rows
    ]
    return _table(header, body)


def _notes(rows: Sequence[Row]) -> list[str]:
    notes = []
    for row in rows:
        if row["relative_effect"] is None and row["control_mean"] is not None and row["control_mean"] <= 0:
            notes.append(f"{row['name']} ({row['variant']}): no relative effect: the control mean "
                         f"{row['control_mean']:.4g} is not positive, and a ratio to it would misstate the "
                         "direction of the effect; read the absolute effect")
        if row["missing_units"]:
            notes.append(f"{row['name']} ({row['variant']}): {row['missing_units']:,} units without a value left out "
                         f"({row['missing_control']:,} control, {row['missing_treatment']:,} treatment)")
        if row["cap"] is not None:
            notes.append(f"{row['name']} ({row['variant']}): per-unit values capped at {row['cap']:.4g} "
                         f"({row['capped_units']:,} treatment units capped)")
    return notes


def _decision_inputs(report: Row) -> list[str]:
    """What the decision read beside the table: how intervals are valid, the look's alpha, and a
    small table per method in use (non-inferiority, CUPED, Bayesian), each only when present."""
    rows = report["metrics"]
    sequential = _sequential_section(report)
    sections = [sequential] if sequential else []
    sections += [
        ("Non-inferiority (a guardrail must be shown no worse than its margin; one-sided test):",
         ("effect", "margin", "one-sided p", "non-inferior"),
         [row for row in rows if row.get("noninferiority_margin") is not None],
         lambda row: (wording.number(row["effect"], signed=True), wording.number(row["noninferiority_margin"]),
                      wording.p_value(row["noninferiority_p_value"]),
                      {True: "yes", False: "NOT SHOWN", None: "n/a"}[row["noninferior"]])),
        ("CUPED (Deng et al. 2013: the effects above are adjusted with each unit's pre-exposure value):",
         ("effect", "unadjusted effect", "std error", "unadjusted std error", "variance reduction"),
         [row for row in rows if row.get("variance_reduction") is not None],
         lambda row: (wording.number(row["effect"], signed=True), wording.number(row["unadjusted_effect"], signed=True),
                      wording.number(row["std_error"]), wording.number(row["unadjusted_std_error"]),
                      wording.percent(row["variance_reduction"], 1, signed=False))),
        ("Bayesian view (normal posterior: chance the variant beats control; expected loss of shipping, in the "
         "metric's units):",
         ("chance to beat control", "expected loss"),
         [row for row in rows if row.get("chance_to_beat") is not None],
         lambda row: (wording.percent(row["chance_to_beat"], 1, signed=False), wording.number(row["expected_loss"]))),
    ]
    lines = []
    for title, header, judged, cells in sections:
        if judged:
            lines += ["", title, "",
                      _table(("metric", "variant", *header), [(row["name"], row["variant"], *cells(row)) for row in judged])]
    return lines


def _sequential_section(report: Row) -> tuple[str, tuple[str, ...], Sequence[Row], Callable[[Row], tuple[str, ...]]] | None:
    """The intervals and alphas of sequential monitoring: anytime-valid intervals (their method
    says which) and the level each outcome is judged at when it is not the overall alpha (a
    group-sequential look's nominal alpha, the online-FDR level of the success metrics)."""
    rows = report["metrics"]
    kinds = sorted({kind for row in rows if (kind := wording.interval_kind(row))})
    looks = [row for row in rows if row.get("decision_alpha") is not None]
    if not kinds and not looks:
        return None
    parts = []
    if kinds:
        parts.append(f"intervals and p-values are {' and '.join(kinds)}, valid however often the experiment is "
                     "looked at (relative intervals are fixed-horizon and left out)")
    if looks:
        parts.append(f"outcomes are judged at the level of their last column (a group-sequential look's nominal "
                     f"alpha, or the online-FDR level of the success metrics; overall alpha = {report['alpha']})")
    title = f"Sequential monitoring: {'; '.join(parts)}:"
    header = ("effect", f"{1 - report['alpha']:.0%} interval", "p adj", *(("alpha judged at",) if looks else ()),
              "outcome")
    return title, header, rows, lambda row: (
        wording.number(row["effect"], signed=True), wording.interval(row["ci_low"], row["ci_high"]),
        wording.p_value(row["p_value_adjusted"]), *((wording.p_value(row["decision_alpha"]),) if looks else ()), _outcome(row))


def _timeline(points: Sequence[Row]) -> str:
    # a look at midnight shows its date; another (the data end) its time too
    days = [f"{p['day']:%Y-%m-%d}" if p["day"].time() == time() else f"{p['day']:%Y-%m-%d %H:%M}" for p in points]
    width = max([10, *map(len, days)])
    lines = ["Timeline (cumulative; always-valid = valid however often it was looked at):", "",
             f"{'day':<{width}} {'metric':<22} {'variant':<10} {'n ctl/trt':>15} {'effect':>10} "
             f"{'fixed CI':>22} {'always-valid CI':>22} {'p (always-valid)':>16}"]
    for p, day in zip(points, days):
        always_valid_p = p["always_valid_p_value"]
        lines.append(
            f"{day:<{width}} {p['metric']:<22} {p['variant']:<10} {p['n_control']:>7,}/{p['n_treatment']:<7,} "
            f"{p['effect']:>+10.4g} {wording.interval(p['ci_low'], p['ci_high']):>22} "
            f"{wording.interval(p['always_valid_ci_low'], p['always_valid_ci_high']):>22} "
            f"{'n/a' if always_valid_p is None else format(always_valid_p, '.3g'):>16}"
        )
    return "\n".join(lines) + "\n"


def _plan(plan: Row, *, color: bool) -> str:
    planning_units = plan["mde"] is not None
    lines = [
        f"{plan['experiment']}: plan from the baseline {plan['baseline_start']:%Y-%m-%d} to {plan['baseline_end']:%Y-%m-%d}",
        f"  {plan['daily_units']:,.0f} new eligible units a day, {plan['arms']} arms, alpha = {plan['alpha']}, "
        f"power = {plan['power']:.0%}",
        *_shortened_baseline(plan),
        "",
        f"{'metric':<24} {'role':<10} {'mean':>10} {'sd':>10} {'cuped r':>8} {'alpha':>7} "
        f"{'units/arm' if planning_units else 'MDE':>10}",
    ]
    for metric in plan["metrics"]:
        if planning_units:
            last = f"{metric['units_per_arm']:>10,}" if metric["units_per_arm"] is not None else f"{'n/a':>10}"
        else:
            last = f"{metric['mde']:>+10.2%}" if metric["mde"] is not None else f"{'n/a':>10}"
        lines.append(f"{metric['name']:<24} {metric['role']:<10} {metric['mean']:>10.4g} {metric['std_dev']:>10.4g} "
                     f"{metric['cuped_correlation']:>8.2f} {metric['alpha']:>7.3g} {last}")
    lines.append("")
    if planning_units:
        lines.append(f"Whole rule (detect {plan['mde']:+.1%} on each success metric, every guardrail with a margin "
                     "shown non-inferior): "
                     f"{plan['units_per_arm']:,} units per arm, about {plan['days']} days.")
    else:
        lines.append(f"In {plan['days']} days: {plan['units_per_arm']:,} units per arm; the MDE column is the relative "
                     "effect each metric detects with the planned power.")
    return "\n".join(lines) + "\n"


def _shortened_baseline(plan: Row) -> list[str]:
    if not plan.get("baseline_shortened"):
        return []
    held = (plan["baseline_end"] - plan["baseline_start"]).total_seconds() / 86400
    return [f"  note: the log holds only {held:.1f} days, all used as the baseline; --baseline-days asked for "
            f"{plan['requested_baseline_days']}"]


def _calibration(calibration: Row, *, color: bool) -> str:
    lines = [
        f"{calibration['experiment']}: A/A calibration, {calibration['replicates']} re-randomizations of "
        f"{calibration['units']:,} units ({calibration['share']:.0%} / {1 - calibration['share']:.0%}), "
        f"alpha = {calibration['alpha']}",
        "",
        f"{'metric':<24} {'role':<12} {'significant':>11} {'rate':>7}  95% interval       verdict",
    ]
    for rate in calibration["metrics"]:
        judgement = "ok" if rate["within_alpha"] else "TOO MANY false positives"
        lines.append(f"{rate['name']:<24} {rate['role']:<12} {rate['significant']:>11} {rate['rate']:>7.1%}  "
                     f"[{rate['ci_low']:.1%}, {rate['ci_high']:.1%}]   {judgement}")
    verdicts = ", ".join(f"{verdict} {count}" for verdict, count in sorted(calibration["verdicts"].items()))
    lines += [
        "",
        f"Whole decision: ship or rollback in {calibration['verdict_rate']:.1%} of A/A replays "
        f"[{calibration['verdict_ci_low']:.1%}, {calibration['verdict_ci_high']:.1%}] ({verdicts}).",
    ]
    return "\n".join(lines) + "\n"


def _table(header: tuple[str, ...], body: list[tuple[str, ...]]) -> str:
    table = [header, *body]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    rendered = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in table]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(rendered)


def _outcome(row: Row) -> str:
    return _OUTCOME_MARK[row["outcome"]] if row["status"] == "ok" else row["status"]
