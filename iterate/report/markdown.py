"""Markdown: a pull-request comment or GitHub step summary (GitHub Flavored Markdown, GFM tables).

Rendered from the result's document only. The analysis report reads, top to bottom:

1. ``## <LABEL>: <experiment> (verdict <verdict>, exit code <code>)``: the first line names the
   verdict (a plain label per verdict, :data:`iterate.report.wording.VERDICT_LABELS`);
2. the recommendation (when the document has one), the units per arm and the variants' verdicts;
3. **Why**: the reasons, most decisive first (the decision's order);
4. **Metrics**: one GFM table row per metric and variant: effect and relative effect with their
   intervals, p, adjusted p, outcome; chance to beat control / expected loss columns only when the
   Bayesian view is present; margin / one-sided p / non-inferior columns only when a guardrail has
   a margin; notes under it (anytime-valid intervals, the look's alpha, CUPED);
5. **Checks**: failed and warning checks; the passed ones in a collapsed ``<details>`` block;
6. **What would change it**: the pending reasons (:func:`iterate.report.wording.is_pending`) with
   the extra units per arm / days of their ``details``;
7. **Segments** and **Timeline** (collapsed) when present; the decision trace (collapsed) and the
   provenance (config hash, iterate version) when the document has them.

Every user-provided name (experiment, metric, variant, segment value, and the messages that quote
them) goes through :func:`escape`, so a hostile name can neither break a table nor inject HTML.
Plans and calibrations render as a heading and one table each.

Example:
    >>> escape("a|b<script>")
    'a\\\\|b\\\\<script\\\\>'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, time
from typing import Any

from iterate.report import wording
from iterate.report.wording import Row

EXTENSION = ".md"
"""File extension of this format's report in an output folder."""

_ACTIVE = frozenset("\\`*_[]<>|&~$!#@")
"""ASCII punctuation that Markdown (CommonMark, GFM tables and strikethrough, GitHub math, mentions
and HTML) may give a meaning anywhere in a line; CommonMark renders any backslash-escaped ASCII
punctuation literally. Parentheses need no escape (a link needs the escaped ``]`` before them), and
characters active only at the start of a line cannot occur there (names are never first on a line)."""


def render(kind: str, document: Mapping[str, Any], *, color: bool = False) -> str:
    """The document as GitHub Flavored Markdown (``color`` is ignored)."""
    renderers: Mapping[str, Callable[[Row], list[str]]] = {
        "analysis": _analysis, "plan": _plan, "calibration": _calibration, "rollout": _rollout,
    }
    text = "\n".join(renderers[kind](document)).rstrip("\n") + "\n"
    if kind == "analysis" and len(text) > COMMENT_LIMIT:
        return _within_comment_limit(document)
    return text


COMMENT_LIMIT = 65_000
"""Characters a report may have: GitHub refuses a pull-request comment over 65,536 characters."""

_DETAIL_KEYS = ("decision_trace", "timeline", "segments")
"""What a report too long for a comment leaves out first (the JSON report keeps all of it)."""


def _within_comment_limit(document: Row) -> str:
    """The report without its longest optional parts (trace, then timeline, then segments), each left
    out with a note, until it fits in a comment; the verdict, why, metrics and checks always stay."""
    shortened = dict(document)
    left_out = []
    for key in _DETAIL_KEYS:
        if shortened.get(key):
            left_out.append(f"{len(shortened[key]):,} {key.replace('_', ' ')} rows")
            shortened[key] = [] if key != "timeline" else None
        note = (f"_Left out to fit GitHub's comment limit: {', '.join(left_out)}; the JSON report "
                "(`--format json`) holds them._")
        text = "\n".join([*_analysis(shortened), note]).rstrip("\n") + "\n"
        if len(text) <= COMMENT_LIMIT:
            return text
    return text


def escape(text: Any) -> str:
    """``text`` as literal Markdown inline text: active punctuation backslash-escaped, line breaks
    and other control characters as spaces (a cell or a heading stays on its line)."""
    plain = "".join(" " if ord(char) < 32 or ord(char) == 127 else char for char in str(text))
    return "".join(f"\\{char}" if char in _ACTIVE else char for char in plain)


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: Sequence[int] = ()) -> list[str]:
    """A GFM table; ``header`` and cells must already be escaped; ``numeric`` columns right-aligned."""
    align = ["---:" if i in numeric else "---" for i in range(len(header))]
    return [_row(header), _row(align), *(_row(cells) for cells in rows)]


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell or " " for cell in cells) + " |"


# -- analysis ---------------------------------------------------------------------------------


def _analysis(report: Row) -> list[str]:
    arm = wording.shipped_arm(report)
    label = wording.VERDICT_LABELS[report["verdict"]] + (f" {escape(arm)}" if arm is not None else "")
    lines = [f"## {label}: {escape(report['experiment'])} "
             f"(verdict {report['verdict']}, exit code {report['exit_code']})", ""]
    lines += _recommendation(report.get("recommendation"))
    lines += _units(report)
    lines += ["### Why", "", *(f"- {_reason(reason)}" for reason in report["reasons"]), ""]
    if report["metrics"]:
        lines += ["### Metrics", "", *_metric_table(report["metrics"]), ""]
        lines += [f"- {note}" for note in _metric_notes(report)]
        lines += [""] if lines[-1] else []
    lines += _checks(report["checks"])
    lines += _pending(report["reasons"])
    if report["segments"]:
        lines += ["### Segments", "", *_segment_table(report["segments"]), ""]
    if report.get("timeline"):
        lines += _collapsed("Timeline (cumulative; always-valid intervals hold however often the experiment is "
                            "looked at)", _timeline_table(report["timeline"]))
    lines += _trace(report.get("decision_trace"))
    lines += _provenance(report.get("provenance"))
    return lines


def _rollout(report: Row) -> list[str]:
    """A rollout: verdict of the ramp's next step, why, checks, stages, pooled (stratified,
    anytime-valid) metrics, the naive pooled effects beside them, each stage's, the trace."""
    current = f", current stage {escape(report['current_stage'])}" if report["current_stage"] is not None else ""
    observational = report.get("observational", False)
    kind = escape(report["rollout"]) + (", observational: not randomized" if observational else "")
    lines = [f"## {wording.VERDICT_LABELS[report['verdict']]}: {escape(report['experiment'])} "
             f"({kind}{current}; verdict {report['verdict']}, exit code {report['exit_code']})", ""]
    if (score := wording.canary_score(report)) is not None:
        lines += [f"**{escape(score)}**", ""]
    lines += ["### Why", "", *(f"- {_reason(reason)}" for reason in report["reasons"]), ""]
    lines += _checks(report["checks"])
    lines += [] if observational else ["### Stages", "", *table(
        ["stage", "start", "end", "planned share", "observed share", "units", "verdict"],
        [[escape(stage["stage"]), _moment(stage["start"]), _moment(stage["end"]),
          wording.percent(stage["planned_share"], 1, signed=False),
          wording.percent(stage["observed_share"], 1, signed=False),
          ", ".join(f"{escape(variant)} {count:,}" for variant, count in stage["units"].items()) or "none",
          stage["verdict"]] for stage in report["stages"]]), ""]
    if report["metrics"]:
        heading = (f"### Metrics (difference-in-differences, observational; alpha = {report['alpha']})" if observational
                   else f"### {wording.CANARY_METRICS}" if report.get("canary")
                   else f"### Metrics (pooled over the stages, stratified; anytime-valid at alpha = {report['alpha']})")
        lines += [heading, "",
                  *_metric_table(report["metrics"]), ""]
        lines += [f"- {note}" for note in _metric_notes(report)]
        lines += [""] if lines[-1] else []
    if report["naive_metrics"]:
        lines += _collapsed("Naive post-period effects (updaters against comparison units: biased by self-selection)"
                            if observational else "Naive pooled effects (not stratified by stage: biased when "
                            "allocation and baseline change together)", table(
            ["metric", "variant", "naive effect", "adjusted effect" if observational else "stratified effect"],
            [[escape(naive["name"]), escape(naive["variant"]), wording.number(naive["effect"], signed=True),
              wording.number(pooled["effect"], signed=True)]
             for naive, pooled in zip(report["naive_metrics"], report["metrics"])]))
    if report["stage_metrics"]:
        lines += _collapsed("Each stage (fixed-horizon effects of the units first exposed in it)", table(
            ["stage", "metric", "variant", "units control / treatment", "effect [CI]", "p", "outcome"],
            [[escape(row["segment_value"] or ""), escape(row["name"]), escape(row["variant"]),
              f"{row['n_control']:,} / {row['n_treatment']:,}", wording.effect_with_interval(row),
              wording.p_value(row["p_value"]), wording.outcome(row)] for row in report["stage_metrics"]]))
    lines += _trace(report.get("decision_trace"))
    lines += _provenance(report.get("provenance"))
    return lines


def _trace(steps: Sequence[Row] | None) -> list[str]:
    """The decision trace, folded: every rule evaluated, in order."""
    if not steps:
        return []
    return _collapsed("Decision trace", [f"{number}. `{_code(step.get('rule', ''))}`: {escape(step.get('message', ''))}"
                                         for number, step in enumerate(steps, start=1)])


def _recommendation(recommendation: Row | None) -> list[str]:
    if not recommendation:
        return []
    variant = recommendation.get("variant")
    arm = f" `{_code(variant)}`" if variant else ""
    return [f"**Recommendation{arm}:** {escape(recommendation.get('message', ''))}", ""]


def _units(report: Row) -> list[str]:
    units = ", ".join(f"{escape(variant)} {count:,}" for variant, count in report["units"].items())
    excluded = ", ".join(f"{count:,} {cause.replace('_', ' ')}" for cause, count in report["excluded_units"].items()
                         if count)
    window = f"; window {escape(report['window'])} after first exposure" if report["window"] else ""
    lines = [f"**Units:** {units}; excluded: {excluded or 'none'}{window}.  "]
    lines.append(f"**Control:** {escape(report['control'])}; tests two-sided at alpha = {report['alpha']}, "
                 f"{'no correction' if report['correction'] == 'none' else escape(report['correction']) + ' correction'}"
                 " within the success metrics and within the guardrail / deterioration metrics.")
    if len(report["variants"]) > 1:
        verdicts = ", ".join(f"{escape(variant)}: {verdict}" for variant, verdict in report["variants"].items())
        lines[-1] += "  "
        lines.append(f"**Variants:** {verdicts}.")
    return [*lines, ""]


def _reason(reason: Row) -> str:
    scope = f"**{escape(reason['variant'])}** " if reason.get("variant") else ""
    return f"{scope}{escape(reason['message'])} (`{_code(reason['rule'])}`)"


def _metric_table(rows: Sequence[Row]) -> list[str]:
    bayesian = wording.has_any(rows, "chance_to_beat")
    margins = wording.has_any(rows, "noninferiority_margin")
    header = ["metric", "variant", "role", "effect [CI]", "relative [CI]", "p", "adjusted p", "outcome"]
    if bayesian:
        header += ["chance to beat control", "expected loss"]
    if margins:
        header += ["non-inferiority margin", "one-sided p", "non-inferior"]
    body = []
    for row in rows:
        cells = [escape(row["name"]), escape(row["variant"]), row["role"], wording.effect_with_interval(row),
                 wording.relative_with_interval(row), wording.p_value(row["p_value"]),
                 wording.p_value(row["p_value_adjusted"]), wording.outcome(row)]
        if bayesian:
            cells += [_optional(row["chance_to_beat"], lambda v: wording.percent(v, 1, signed=False)),
                      _optional(row["expected_loss"], lambda v: f"{v:.3g}")]
        if margins:
            cells += _noninferiority_cells(row)
        body.append(cells)
    return table(header, body, numeric=(5, 6))


def _noninferiority_cells(row: Row) -> list[str]:
    if row["noninferiority_margin"] is None:
        return ["", "", ""]
    shown = {True: "yes", False: "not shown", None: "n/a"}[row["noninferior"]]
    return [wording.number(row["noninferiority_margin"]), wording.p_value(row["noninferiority_p_value"]), shown]


def _metric_notes(report: Row) -> list[str]:
    rows = report["metrics"]
    notes = []
    kinds = sorted({kind for row in rows if (kind := wording.interval_kind(row))})
    if kinds:
        notes.append(f"Intervals and p-values are {' and '.join(kinds)}: valid however often the experiment is "
                     "looked at; relative intervals are fixed-horizon quantities and are left out.")
    look_alphas = sorted({row["decision_alpha"] for row in rows if row.get("decision_alpha") is not None})
    if look_alphas:
        notes.append(f"Outcomes are judged at alpha = {', '.join(f'{a:.4g}' for a in look_alphas)} (a group-sequential "
                     f"look's nominal alpha, or the online-FDR level of the success metrics; overall alpha "
                     f"{report['alpha']}).")
    for row in rows:
        if row.get("variance_reduction") is not None:
            notes.append(f"{escape(row['name'])} ({escape(row['variant'])}): CUPED reduced the variance by "
                         f"{wording.percent(row['variance_reduction'], 1, signed=False)}; unadjusted effect "
                         f"{wording.number(row['unadjusted_effect'], signed=True)}.")
        if row.get("missing_units"):
            notes.append(f"{escape(row['name'])} ({escape(row['variant'])}): {row['missing_units']:,} units without "
                         "a value left out.")
        if row.get("cap") is not None:
            notes.append(f"{escape(row['name'])} ({escape(row['variant'])}): per-unit values capped at "
                         f"{wording.number(row['cap'])} ({row['capped_units']:,} treatment units capped).")
    return notes


def _checks(checks: Sequence[Row]) -> list[str]:
    failed = [check for check in checks if not check["passed"]]
    passed = [check for check in checks if check["passed"]]
    lines = ["### Checks", ""]
    lines += [f"- **{'FAILED' if check['severity'] == 'error' else 'WARNING'}** {escape(check['message'])}"
              for check in failed]
    if not failed:
        lines.append("- No check failed.")
    lines.append("")
    if passed:
        lines += _collapsed(f"{len(passed)} passed check{'s' if len(passed) != 1 else ''}",
                            [f"- {escape(check['message'])}" for check in passed])
    return lines


def _pending(reasons: Sequence[Row]) -> list[str]:
    pending = [reason for reason in reasons if wording.is_pending(reason)]
    if not pending:
        return []
    lines = ["### What would change it", ""]
    for reason in pending:
        amounts = wording.pending_amounts(reason)
        lines.append(f"- {_reason(reason)}" + (f": **{amounts}**" if amounts else ""))
    return [*lines, ""]


def _segment_table(rows: Sequence[Row]) -> list[str]:
    header = ["segment", "value", "metric", "variant", "units control / treatment", "effect [CI]", "relative [CI]",
              "adjusted p", "outcome", "differs from the other values"]
    body = [
        [escape(row["segment"] or ""), "(no value)" if row["segment_value"] is None else escape(row["segment_value"]),
         escape(row["name"]), escape(row["variant"]), f"{row['n_control']:,} / {row['n_treatment']:,}",
         wording.effect_with_interval(row), wording.relative_with_interval(row),
         wording.p_value(row["p_value_adjusted"]), wording.outcome(row),
         f"yes (p {wording.p_value(row['deviation_p_value'])})" if row["flagged"] else "no"]
        for row in rows
    ]
    return table(header, body, numeric=(4, 7))


def _timeline_table(points: Sequence[Row]) -> list[str]:
    header = ["day", "metric", "variant", "units control / treatment", "effect", "fixed CI", "always-valid CI",
              "always-valid p"]
    body = [
        [_moment(p["day"]), escape(p["metric"]), escape(p["variant"]), f"{p['n_control']:,} / {p['n_treatment']:,}",
         wording.number(p["effect"], signed=True), wording.interval(p["ci_low"], p["ci_high"]),
         wording.interval(p["always_valid_ci_low"], p["always_valid_ci_high"]),
         wording.p_value(p["always_valid_p_value"])]
        for p in points
    ]
    return table(header, body, numeric=(3, 4, 7))


def _provenance(provenance: Row | None) -> list[str]:
    parts = wording.provenance_parts(provenance)
    return [f"Reported by {escape('; '.join(parts))}.", ""] if parts else []


# -- plan and calibration ---------------------------------------------------------------------


def _plan(plan: Row) -> list[str]:
    planning_units = plan["mde"] is not None
    lines = [f"## Plan: {escape(plan['experiment'])}", "",
             f"Baseline {plan['baseline_start']:%Y-%m-%d} to {plan['baseline_end']:%Y-%m-%d}: "
             f"{plan['daily_units']:,.0f} new eligible units a day, {plan['arms']} arms, alpha = {plan['alpha']}, "
             f"power = {plan['power']:.0%}.", ""]
    if plan.get("baseline_shortened"):
        lines += [f"The log holds fewer days than the {plan['requested_baseline_days']} asked for; all of them are "
                  "the baseline.", ""]
    header = ["metric", "role", "type", "mean", "sd", "CUPED correlation", "alpha",
              "units per arm" if planning_units else "MDE (relative)"]
    body = []
    for metric in plan["metrics"]:
        if planning_units:
            last = "n/a" if metric["units_per_arm"] is None else f"{metric['units_per_arm']:,}"
        else:
            last = wording.percent(metric["mde"])
        body.append([escape(metric["name"]), metric["role"], escape(metric["type"]), wording.number(metric["mean"]),
                     wording.number(metric["std_dev"]), f"{metric['cuped_correlation']:.2f}",
                     f"{metric['alpha']:.3g}", last])
    lines += [*table(header, body, numeric=(3, 4, 5, 6, 7)), ""]
    if planning_units:
        lines.append(f"**Whole rule** (detect {plan['mde']:+.1%} on each success metric, every guardrail with a "
                     f"margin shown non-inferior): {_count(plan['units_per_arm'])} units per arm, about "
                     f"{_count(plan['days'])} days.")
    else:
        lines.append(f"**In {plan['days']} days:** {_count(plan['units_per_arm'])} units per arm; the MDE column "
                     "is the relative effect each metric detects with the planned power.")
    return lines


def _calibration(calibration: Row) -> list[str]:
    too_many = [rate for rate in calibration["metrics"] if not rate["within_alpha"]]
    outcome = (f"{len(too_many)} metric(s) fire too often" if too_many
               else "every metric's false-positive rate is consistent with alpha")
    lines = [f"## A/A calibration: {escape(calibration['experiment'])} ({outcome})", "",
             f"{calibration['replicates']} re-randomizations of {calibration['units']:,} units "
             f"({calibration['share']:.0%} / {1 - calibration['share']:.0%}), alpha = {calibration['alpha']}, "
             f"seed {calibration['seed']}.", ""]
    header = ["metric", "role", "significant", "rate", "95% interval", "judgement"]
    body = [[escape(rate["name"]), rate["role"], f"{rate['significant']} / {rate['replicates']}",
             wording.percent(rate["rate"], 1, signed=False),
             f"[{rate['ci_low']:.1%}, {rate['ci_high']:.1%}]",
             "ok" if rate["within_alpha"] else "**too many false positives**"]
            for rate in calibration["metrics"]]
    verdicts = ", ".join(f"{escape(verdict)} {count}" for verdict, count in sorted(calibration["verdicts"].items()))
    return [*lines, *table(header, body, numeric=(2, 3)), "",
            f"**Whole decision:** ship or rollback in {calibration['verdict_rate']:.1%} of A/A replays "
            f"[{calibration['verdict_ci_low']:.1%}, {calibration['verdict_ci_high']:.1%}] ({verdicts})."]


# -- small pieces -----------------------------------------------------------------------------


def _collapsed(summary: str, body: Sequence[str]) -> list[str]:
    # GitHub renders Markdown inside <details> when blank lines separate it from the HTML tags
    return ["<details>", f"<summary>{summary}</summary>", "", *body, "", "</details>", ""]


def _optional(value: float | None, written: Callable[[float], str]) -> str:
    return "" if value is None else written(value)


def _code(text: Any) -> str:
    """Text inside a code span: backticks (which would close it) and control characters replaced."""
    return "".join("'" if char == "`" else " " if ord(char) < 32 else char for char in str(text))


def _moment(value: datetime | Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d}" if value.time() == time() else f"{value:%Y-%m-%d %H:%M}"
    return escape(value)


def _count(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"
