"""Words and numbers shared by the report formats: verdict labels, how a number, a p-value or an
interval is written, and which reasons say what would change the verdict.

Pure functions on the values of a report document (``as_document()``), so that the text, Markdown
and JUnit reports write the same number the same way.

Example:
    >>> interval(-0.01, 0.0346)
    '[-0.01, +0.0346]'
    >>> p_value(0.000123)
    '0.000123'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Row = Mapping[str, Any]

VERDICT_LABELS: Mapping[str, str] = {
    "ship": "SHIP",
    "rollback": "ROLL BACK",
    "continue": "KEEP COLLECTING",
    "inconclusive": "INCONCLUSIVE",
    "invalid": "INVALID",
    "advance": "ADVANCE",
    "hold": "HOLD",
}
"""A plain, emoji-free label per verdict."""


def shipped_arm(report: Row) -> str | None:
    """The arm a ``ship`` of several treatment arms ships (its recommendation), else ``None``: with
    one treatment arm there is nothing to choose, so the headline need not name it."""
    recommendation = report.get("recommendation") or {}
    if report["verdict"] != "ship" or len(report.get("variants", {})) < 2:
        return None
    return recommendation.get("variant")

PENDING_RULES = frozenset({"no_evidence_yet", "not_yet_noninferior", "too_few_units", "no_data", "not_tested"})
"""Rules of :mod:`iterate.decision` that say what is still missing, not what was shown."""

PENDING_DETAILS = ("extra_units_per_arm", "days")
"""Keys of a reason's ``details`` that say how much more data would change the verdict."""

OUTCOME_WORDS: Mapping[str, str] = {"better": "better", "worse": "worse", "no_difference": "no difference",
                                    "not_tested": "not tested"}


def number(value: float | None, *, signed: bool = False) -> str:
    """Four significant digits; ``n/a`` for a missing value.

    Example:
        >>> number(0.345096, signed=True), number(None)
        ('+0.3451', 'n/a')
    """
    if value is None:
        return "n/a"
    return f"{value:+.4g}" if signed else f"{value:.4g}"


def p_value(value: float | None) -> str:
    """Three significant digits; ``n/a`` when there is no test."""
    return "n/a" if value is None else f"{value:.3g}"


def percent(value: float | None, digits: int = 2, *, signed: bool = True) -> str:
    """A share or relative effect as a percentage; ``n/a`` when missing.

    Example:
        >>> percent(0.0504), percent(0.651, 1, signed=False)
        ('+5.04%', '65.1%')
    """
    if value is None:
        return "n/a"
    return f"{value:+.{digits}%}" if signed else f"{value:.{digits}%}"


def interval(low: float | None, high: float | None) -> str:
    """``[low, high]`` with signs; ``n/a`` when a bound is missing (infinite bounds print as inf)."""
    return "n/a" if low is None or high is None else f"[{low:+.4g}, {high:+.4g}]"


def effect_with_interval(row: Row) -> str:
    """The absolute effect and its interval, e.g. ``+0.3451 [+0.1736, +0.5166]``."""
    if row["effect"] is None:
        return "n/a"
    bounds = interval(row["ci_low"], row["ci_high"])
    return number(row["effect"], signed=True) + ("" if bounds == "n/a" else f" {bounds}")


def relative_with_interval(row: Row) -> str:
    """The relative effect and its (Fieller) interval, ``[unbounded]`` when it has no finite bounds."""
    if row["relative_effect"] is None:
        return "n/a"
    if row.get("relative_status") == "unbounded":
        return f"{percent(row['relative_effect'])} [unbounded]"
    if row["relative_ci_low"] is None or row["relative_ci_high"] is None:
        return percent(row["relative_effect"])
    return f"{percent(row['relative_effect'])} [{percent(row['relative_ci_low'])}, {percent(row['relative_ci_high'])}]"


def outcome(row: Row) -> str:
    """``better`` / ``worse`` / ``no difference`` / ``not tested``, or the status when it is not ``ok``."""
    return OUTCOME_WORDS.get(row["outcome"], row["outcome"]) if row["status"] == "ok" else row["status"]


def interval_kind(row: Row) -> str | None:
    """How the row's interval and p-value are valid beyond a single fixed-horizon look, if they are.

    The method of a row under anytime-valid inference ends with the sequential method
    (:func:`iterate.inference.with_sequential`): ``+msprt`` (mixture SPRT, Johari et al. 2017) or
    ``+confidence_sequence`` (asymptotic confidence sequence, Waudby-Smith et al. 2023).
    """
    method = row.get("method") or ""
    if method.endswith("+msprt"):
        return "anytime-valid (mixture SPRT)"
    if method.endswith("+confidence_sequence"):
        return "anytime-valid (confidence sequence)"
    return None


def is_pending(reason: Row) -> bool:
    """Whether the reason says what would change the verdict: a pending rule, or how much more data."""
    details = reason.get("details") or {}
    return reason["rule"] in PENDING_RULES or any(key in details for key in PENDING_DETAILS)


def pending_amounts(reason: Row) -> str:
    """``about 1,200 more units per arm, about 3 days`` from the reason's details (empty when none)."""
    details = reason.get("details") or {}
    parts = []
    extra = details.get("extra_units_per_arm")
    if extra is not None:
        parts.append(f"about {_count(extra)} more units per arm")
    days = details.get("days")
    if days is not None:
        parts.append(f"about {_count(days)} more days at the observed traffic")
    return ", ".join(parts)


def has_any(rows: Sequence[Row], key: str) -> bool:
    """Whether any row carries ``key`` with a value."""
    return any(row.get(key) is not None for row in rows)


def _count(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or value.is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def provenance_parts(provenance: Row | None) -> list[str]:
    """What a report says of where it comes from: iterate's version, the config hash and, per log,
    its rows, time range and files (the data fingerprint), so a verdict can be traced to its inputs."""
    if not provenance:
        return []
    parts = [f"iterate {provenance['iterate_version']}", f"config {provenance['config_hash']}"]
    for role, log in provenance.get("data", {}).items():
        rows = "rows unknown" if log["rows"] is None else f"{log['rows']:,} rows"
        low, high = (log["time_range"][end] for end in ("min", "max"))
        span = f", {_minute(low)} to {_minute(high)} UTC" if low and high else ""
        files = len(log["files"])
        parts.append(f"{role} {rows}{span}" + (f", {files} file{'s' if files != 1 else ''}" if files else ""))
    return parts


def _minute(iso: str) -> str:
    return iso[:16].replace("T", " ")


def canary_score(report: Row) -> str | None:
    """The canary's score line (``None`` for a rollout that is not a canary)."""
    canary = report.get("canary")
    if not canary:
        return None
    arms = f"canary `{canary['canary'] or 'n/a'}` vs baseline `{canary['baseline']}` over {canary['interval']} intervals"
    if canary["score"] is None:
        return f"Canary score: none, nothing to compare ({arms})"
    thresholds = canary["thresholds"]
    return (f"Canary score {canary['score']:.4g} of 100: {canary['score_verdict']} (pass from {thresholds['pass']:g}, "
            f"marginal from {thresholds['marginal']:g}; {arms})")


CANARY_METRICS = ("Canary vs baseline (effect: Hodges-Lehmann shift of the canary's interval values, its interval "
                  "and the Mann-Whitney p; means over the units of the intervals compared)")
