"""When iterate refuses to decide: the evidence rules, pure functions on what the engine counted.

A release gate that passes when nothing was measured is the worst failure this tool can have, so
every rule here removes a way to ship on no evidence:

- a metric whose event never occurs in the events log is a configuration error (exit 2), named
  with the nearest event names found (:func:`missing_event_problems`);
- a metric whose windows hold no evidence (no unit with a non-zero value in any arm, or no
  variance in any arm) gets the status ``no_data`` and a failed check; it never counts toward
  ``ship``, and a guardrail or deterioration metric without data blocks it (:func:`no_data_metrics`);
- exposures and events that do not join (no exposed unit has any event the metrics read in its
  window) make the analysis ``invalid``, with the likely cause: the id types and an example id of
  each log, and their time ranges when they do not overlap; a low share is a warning
  (:func:`activity_check`);
- below ``min_units_per_arm`` analyzed units in an arm there is no ``ship`` (a rollback still
  fires on harm shown) (:func:`sample_shortfalls`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from iterate.config import Experiment, Metric
from iterate.result import Check, MetricResult

if TYPE_CHECKING:
    from iterate.aggregation import GroupMoments
    from iterate.aggregation.quality import LogSummary

DEFAULT_MIN_UNITS_PER_ARM = 100


def no_data_metrics(experiment: Experiment, variants: Sequence[str], groups: Sequence[GroupMoments],
                    quantiles: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Metric name -> why its windows hold no evidence, for every metric that has none (its kind
    judges its arms' moments: :meth:`iterate.metrics.MetricKind.no_evidence`)."""
    overall = {(g.metric, g.variant): g.moments for g in groups if g.segment is None and g.replicate is None}
    reasons = {}
    for metric in experiment.metrics:
        if metric.kind.per_unit:
            arms = [overall[(metric.name, variant)] for variant in variants if (metric.name, variant) in overall]
        else:
            arms = [summary for variant, summary in quantiles.get(metric.name, {}).items() if variant in variants]
        reason = metric.kind.no_evidence(arms) if arms else "no arm has units"
        if reason is not None:
            reasons[metric.name] = reason
    return reasons


def missing_event_problems(metrics: Sequence[Metric], found: set[str], names_in_log: Sequence[str]) -> list[str]:
    """One problem per metric reading an event that never occurs in the events log, with the
    nearest event names found."""
    problems = []
    for metric in metrics:
        for event in dict.fromkeys(side.event for side in metric.sides):
            if event not in found:
                problems.append(f"metric `{metric.name}` reads the event `{event}`, which never occurs in the events log"
                                f"{_nearest(event, names_in_log)}")
    return problems


def missing_exposure_event_problem(event: str, names_in_log: Sequence[str]) -> str:
    """The exposure event never occurs in the events log."""
    return f"[data] exposure_event `{event}` never occurs in the events log{_nearest(event, names_in_log)}"


def _nearest(event: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(event, list(names), n=3, cutoff=0.5)
    if close:
        return "; nearest event names: " + ", ".join(f"`{name}`" for name in close)
    shown = ", ".join(f"`{name}`" for name in list(names)[:10])
    return f"; event names found: {shown or 'none'}"


def with_no_data(rows: Sequence[MetricResult], reasons: Mapping[str, str]) -> list[MetricResult]:
    """Rows of metrics without evidence marked ``no_data``: not tested, not shown non-inferior."""
    return [
        replace(row, status="no_data", outcome="not_tested", p_value=None, p_value_adjusted=None,
                noninferior=False if row.noninferiority_margin is not None else row.noninferior)
        if row.name in reasons else row
        for row in rows
    ]


def evidence_check(reasons: Mapping[str, str], window: str | None) -> Check:
    """A failed check naming every metric without evidence (a warning: the decision already keeps
    such metrics from counting toward ``ship``)."""
    scope = f"in the units' {window} windows" if window else "in the units' windows"
    if not reasons:
        return Check("metric_evidence", True, f"every metric has data {scope}", {}, "warning")
    listed = "; ".join(f"{name}: {reason}" for name, reason in reasons.items())
    return Check("metric_evidence", False,
                 f"no evidence {scope} for {listed}; these metrics cannot count toward ship (check the event "
                 "names, `where` filters and windows, or that the logging works)",
                 {"metrics": dict(reasons)}, "warning")


def activity_check(experiment: Experiment, units_with_events: Mapping[str, int], units: Mapping[str, int],
                   summaries: tuple[LogSummary, LogSummary] | None) -> Check:
    """The share of analyzed units with any event the metrics read in their window: none means
    the logs do not join (``invalid``); fewer than ``min_active_share`` is a warning. Either
    comes with the facts that explain it (``summaries``: events log, exposures log)."""
    total = sum(units.values())
    active = sum(units_with_events.get(variant, 0) for variant in units)
    share = active / total if total else 0.0
    details = {"units": total, "units_with_events": active, "share": share,
               "min_active_share": experiment.min_active_share}
    counted = (f"{active:,} of {total:,} exposed units ({share:.2%}) have an event the metrics read in their "
               "window")
    if active and share >= experiment.min_active_share:
        return Check("events_join_exposures", True, counted, details, "warning")
    facts = _join_facts(summaries)
    details["facts"] = facts
    if not active:
        return Check("events_join_exposures", False,
                     f"{counted}: the events do not join the exposures; {facts}", details, "error")
    return Check("events_join_exposures", False,
                 f"{counted}, below min_active_share = {experiment.min_active_share}: check that both logs use "
                 f"the same ids and cover the same period; {facts}", details, "warning")


def _join_facts(summaries: tuple[LogSummary, LogSummary] | None) -> str:
    """The likely cause of a failed join, in words: id types, example ids, time ranges."""
    if summaries is None:
        return "the logs could not be summarized"
    events, exposures = summaries
    facts = [f"ids are {events.id_type} in the events (e.g. {events.example_id!r}) and {exposures.id_type} in "
             f"the exposures (e.g. {exposures.example_id!r})"]
    if events.first is None or exposures.first is None:
        return facts[0]
    overlap = events.first <= exposures.last and exposures.first <= events.last
    ranges = (f"events from {events.first} to {events.last}, exposures from {exposures.first} to "
              f"{exposures.last}")
    facts.append(ranges if overlap else f"the time ranges do not overlap: {ranges}")
    return "; ".join(facts)


def sample_shortfalls(experiment: Experiment, units: Mapping[str, int], variants: Sequence[str]) -> dict[str, str]:
    """Treatment variant -> why it cannot ship yet: it, or the control, has fewer analyzed units
    than ``min_units_per_arm``."""
    minimum = experiment.min_units_per_arm
    control = variants[0]
    shortfalls = {}
    for variant in variants[1:]:
        short = [arm for arm in (control, variant) if units.get(arm, 0) < minimum]
        if short:
            counts = ", ".join(f"{arm} {units.get(arm, 0):,}" for arm in short)
            shortfalls[variant] = (f"too few units to ship: {counts} analyzed, below min_units_per_arm = {minimum:,} "
                                   f"({max(minimum - units.get(arm, 0) for arm in short):,} more needed)")
    return shortfalls
