"""What ``iterate history`` shows: the releases and their decisions, a metric's trajectory across
releases (a table, a text sparkline and, with matplotlib, a figure), as text or JSON.

Example:
    >>> sparkline([0.01, -0.01, 0.0, None])
    '█▁▅ '
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from iterate.errors import HistoryError
from iterate.history.store import Estimate, Release

_BARS = "▁▂▃▄▅▆▇█"


def release_rows(releases: Sequence[Release]) -> list[dict[str, Any]]:
    """One row per recorded analysis: id, time, experiment, verdict, variant recommended, short config hash."""
    return [{
        "id": release.id,
        "recorded_at": release.recorded_at.isoformat(timespec="seconds") + "Z",
        "experiment": release.experiment,
        "verdict": release.verdict,
        "recommended_variant": release.recommended_variant,
        "config_hash": release.config_hash,
        "fdr_alpha": release.fdr_alpha,
    } for release in releases]


def trajectory_rows(estimates: Sequence[Estimate]) -> list[dict[str, Any]]:
    """One row per record and variant: the relative effect with its interval."""
    return [{
        "id": estimate.analysis_id,
        "experiment": estimate.experiment,
        "verdict": estimate.verdict,
        "variant": estimate.variant,
        "shipped": estimate.verdict == "ship" and estimate.variant == estimate.recommended_variant,
        "relative_effect": estimate.relative_effect,
        "relative_ci_low": estimate.relative_ci_low,
        "relative_ci_high": estimate.relative_ci_high,
        "status": estimate.status,
    } for estimate in estimates]


def sparkline(values: Sequence[float | None]) -> str:
    """One bar per value, from the lowest (▁) to the highest (█); a space for a missing value."""
    present = [value for value in values if value is not None]
    if not present:
        return " " * len(values)
    low, high = min(present), max(present)
    span = high - low
    bars = []
    for value in values:
        if value is None:
            bars.append(" ")
        else:
            level = 0 if span == 0 else round((value - low) / span * (len(_BARS) - 1))
            bars.append(_BARS[level if span else len(_BARS) // 2])
    return "".join(bars)


def render_releases(path: str, rows: Sequence[dict[str, Any]], report_format: str) -> str:
    """The releases of a history as text (a table) or JSON."""
    if report_format == "json":
        return _json("history", {"history": path, "releases": list(rows)})
    if not rows:
        return f"{path}: no analysis recorded yet\n"
    header = ("id", "recorded (UTC)", "experiment", "verdict", "variant", "config")
    table = [(str(row["id"]), row["recorded_at"], row["experiment"], row["verdict"],
              row["recommended_variant"] or "-", _short(row["config_hash"])) for row in rows]
    return f"{path}: {len(rows)} analyses recorded\n" + _table(header, table)


def render_trajectory(path: str, metric: str, rows: Sequence[dict[str, Any]], report_format: str) -> str:
    """A metric's relative effect across releases as text (table and sparkline) or JSON."""
    line = sparkline([row["relative_effect"] for row in rows])
    if report_format == "json":
        return _json("trajectory", {"history": path, "metric": metric, "points": list(rows), "sparkline": line})
    header = ("id", "experiment", "variant", "verdict", "relative effect", "interval")
    table = [(str(row["id"]), row["experiment"], row["variant"] + (" *" if row["shipped"] else ""), row["verdict"],
              _percent(row["relative_effect"]), _interval(row["relative_ci_low"], row["relative_ci_high"]))
             for row in rows]
    return (f"{metric} across {len({row['id'] for row in rows})} recorded releases of {path} "
            f"(* shipped)\n" + _table(header, table) + f"trajectory: {line}\n")


def plot_trajectory(metric: str, rows: Sequence[dict[str, Any]], path: Path) -> None:
    """A figure of the relative effect and its interval per release, written to ``path`` (.png or .svg).

    Raises:
        HistoryError: matplotlib is not installed, or the suffix is not .png / .svg.
    """
    if path.suffix.lower() not in (".png", ".svg"):
        raise HistoryError(f"--plot {path}: the figure is written as .png or .svg; give a path ending in one of them")
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        raise HistoryError("--plot needs matplotlib, which is not installed; install it with "
                           "pip install 'iterate[plot]' (or drop --plot for the text sparkline)") from None
    points = [row for row in rows if row["relative_effect"] is not None]
    figure, axes = pyplot.subplots(figsize=(max(4.0, 0.6 * len(points) + 2), 3.5))
    positions = list(range(len(points)))
    effects = [row["relative_effect"] * 100 for row in points]
    lower = [(row["relative_effect"] - (row["relative_ci_low"] if row["relative_ci_low"] is not None
                                        else row["relative_effect"])) * 100 for row in points]
    upper = [((row["relative_ci_high"] if row["relative_ci_high"] is not None else row["relative_effect"])
              - row["relative_effect"]) * 100 for row in points]
    axes.errorbar(positions, effects, yerr=[lower, upper], fmt="o", capsize=3)
    axes.axhline(0, color="grey", linewidth=0.8)
    axes.set_xticks(positions, [f"#{row['id']} {row['variant']}" for row in points], rotation=45, ha="right")
    axes.set_ylabel(f"{metric}: relative effect (%)")
    figure.tight_layout()
    figure.savefig(path, metadata={"Date": None} if path.suffix.lower() == ".svg" else None)
    pyplot.close(figure)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(item) for item in column) for column in zip(header, *rows)]
    lines = ["  ".join(item.ljust(width) for item, width in zip(line, widths)).rstrip() for line in (header, *rows)]
    return "\n".join(lines) + "\n"


def _short(config_hash: str | None) -> str:
    return "-" if config_hash is None else config_hash.removeprefix("sha256:")[:12]


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2%}"


def _interval(low: float | None, high: float | None) -> str:
    return "n/a" if low is None or high is None else f"[{low:+.2%}, {high:+.2%}]"


def _json(kind: str, document: dict[str, Any]) -> str:
    """A history listing as a JSON report of ``kind`` (``history`` or ``trajectory``; schema.json)."""
    from iterate.report import json as json_format

    return json_format.render(kind, {"schema_version": 1, "kind": kind, **document})
