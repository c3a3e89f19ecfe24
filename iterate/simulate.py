"""Synthetic usage logs (events + exposures) for demos, tests and benchmarks.

Everything is generated inside DuckDB and written with ``COPY ... TO``: no row ever becomes a
Python object, so 50 million events take seconds (see ``benchmarks/README.md``). Beside the two
logs goes an ``experiment.toml`` that analyzes them as they are (``iterate analyze
DIR/experiment.toml``), with the true effects in its comments. A folder that already holds a log
or a config is refused unless ``force=True``: nothing a user had is overwritten by surprise.

The generative model, per unit ``i`` (a user):

* **Units.** ``units`` exposed units plus ``round(units * unexposed_share)`` units that produce
  events but are never exposed. User ids are ``1..N`` in a seeded random order, so exposure status
  cannot be read from the id.
* **Assignment.** An exposed unit's variant is drawn with probabilities ``split`` (multinomial, so
  the per-variant counts are near, not exactly at, the split; an SRM test should not fire).
  Its exposure time is ``start + U * days`` (``U`` uniform on [0, 1)).
* **Activity.** Units are heterogeneous: an activity weight ``w_i = exp(s Z - s^2/2)`` with
  ``s = 1.0`` (log-normal, mean 1, heavily skewed) and, per event type ``k``, an affinity
  ``g_ik = exp(t_k Z - t_k^2/2)`` with ``t_k`` from 0.5 (app_open, page_load) to 1.1 (purchase)
  and 1.3 (crash): rare events are concentrated on fewer units. The expected number of events
  of type ``k`` is ``lambda_ik = r * share_k * w_i * g_ik * (1 + lift[variant_i][k])``, where
  ``r`` makes the expected total equal to ``events``. The realised count is
  ``floor(lambda_ik + U)`` (randomized rounding; its expectation is exactly ``lambda_ik``, its
  variance smaller than Poisson's, the log-normal mixing supplies the over-dispersion). So many
  units have no event of a type (with the defaults, 45% of units never purchase and 77% never
  crash), and a few have hundreds.
* **Effects are exact in expectation.** A lift multiplies the expected per-unit count of that
  event type for units of that variant, and values are drawn independently of the count. Hence
  for a ``count`` metric on that event, and for a ``mean`` metric summing its ``value`` per unit,
  the true relative lift (treatment mean / control mean - 1) equals the given lift, inside any
  analysis window that starts at or after exposure. Before exposure every arm has the base rate
  (rows are thinned there), so a pre-exposure comparison is an A/A test. A ``proportion`` metric (unit had at least one such event) moves in the same
  direction but by less.
* **Event types and base shares** (:data:`EVENT_TYPES`): ``app_open`` 45%, ``page_load`` 30%
  (``value`` = latency in ms, log-normal, median 320 ms x platform factor ios 1.0 / android 1.25 /
  web 1.6, sigma 0.55), ``add_to_cart`` 15%, ``purchase`` 8% (``value`` = revenue, log-normal,
  median 28, sigma 0.8, mean about 38.5), ``crash`` 2%. ``value`` is null for the other types.
* **Dimensions.** ``platform`` (ios 35%, android 40%, web 25%) and ``country`` are properties of
  the unit.
* **Timestamps.** A unit's events are uniform over ``[exposure - 2 days,
  exposure + window_days + 2 days)`` (millisecond precision), so a correct analysis must drop
  pre-exposure and post-window events.
* **Exposure quality problems.** ``cross_exposure_share`` of exposed units get a second exposure
  row, later, to a different variant (an analysis must exclude them; their events follow their
  first variant). ``duplicate_exposure_share`` get a second, harmless, row to the same variant.

Randomness is a counter-based hash: a uniform is ``(hash(key XOR stream) >> 11) * 2^-53`` where
the stream constant is derived from ``seed``; normals use Box-Muller. DuckDB's ``random()`` is not
used, because it is not reproducible across threads. The same seed gives identical files (for the
same DuckDB version).

Example:
    >>> import tempfile
    >>> from iterate.simulate import simulate_logs
    >>> summary = simulate_logs(tempfile.mkdtemp(), units=1_000, events=20_000,
    ...                         effects={"treatment": {"purchase": 0.05}})
    >>> summary.units_exposed
    1000
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from iterate.engines import Dialect, Engine, FileFormat, create_engine
from iterate.errors import DataError, OutputError
from iterate.outputs import Output, plan_output
from iterate.templates import Parameters, Query, render

__all__ = ["EVENT_TYPES", "SimulationSummary", "simulate_logs"]



#: Event types: name -> base share of all events. ``page_load`` carries a latency (ms) and
#: ``purchase`` a revenue in ``value``; the others have a null ``value``.
EVENT_TYPES: Mapping[str, float] = {
    "app_open": 0.45,
    "page_load": 0.30,
    "add_to_cart": 0.15,
    "purchase": 0.08,
    "crash": 0.02,
}

_EXTENSIONS: Mapping[str, str] = {"parquet": "parquet", "csv": "csv", "ndjson": "ndjson"}
CONFIG_NAME = "experiment.toml"
#: What a folder must not hold for ``simulate_logs`` to write into it without ``force``.
_EARLIER_RUN = tuple(f"{log}.{ext}" for log in ("events", "exposures") for ext in _EXTENSIONS) + (CONFIG_NAME,)

#: The metrics of the written ``experiment.toml`` (they fit the simulated event types), each with
#: whether its true relative effect is exactly the lift of its event's rate (a count, or a mean
#: of the event's value) or only moves the same way, by less (the share of units doing it).
_CONFIG_METRICS: tuple[tuple[Mapping[str, str], bool], ...] = (
    ({"name": "purchasers", "type": "proportion", "event": "purchase", "role": "success",
      "direction": "increase"}, False),
    ({"name": "revenue_per_user", "type": "mean", "event": "purchase", "value": "value", "role": "success",
      "direction": "increase"}, True),
    ({"name": "crashes_per_user", "type": "count", "event": "crash", "role": "guardrail",
      "direction": "decrease"}, True),
    ({"name": "app_opens_per_user", "type": "count", "event": "app_open", "role": "guardrail",
      "direction": "increase"}, True),
)

_ACTIVITY_SIGMA = 1.0  # log-normal spread of unit activity
#: log-normal spread of a unit's taste for each event type: rare types are concentrated
_AFFINITY_SIGMA: Mapping[str, float] = {
    "app_open": 0.5,
    "page_load": 0.5,
    "add_to_cart": 0.8,
    "purchase": 1.1,
    "crash": 1.3,
}
_PRE_EXPOSURE_DAYS = 2  # events start this long before exposure...
_POST_WINDOW_DAYS = 2  # ...and end this long after the metric window
_LATENCY_MEDIAN_MS, _LATENCY_SIGMA = 320.0, 0.55
_REVENUE_MEDIAN, _REVENUE_SIGMA = 28.0, 0.8
_PLATFORMS: tuple[tuple[str, float, float], ...] = (  # name, share, latency factor
    ("ios", 0.35, 1.0),
    ("android", 0.40, 1.25),
    ("web", 0.25, 1.6),
)
_COUNTRIES: tuple[tuple[str, float], ...] = (
    ("US", 0.30), ("IN", 0.15), ("BR", 0.10), ("DE", 0.08), ("GB", 0.07),
    ("FR", 0.06), ("JP", 0.06), ("CA", 0.05), ("MX", 0.05), ("ES", 0.04), ("AU", 0.04),
)  # fmt: skip

_MS_PER_DAY = 86_400_000
_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class SimulationSummary:
    """What :func:`simulate_logs` wrote: paths, counts and the true effects.

    Attributes:
        events_path: The events file.
        exposures_path: The exposures file.
        config_path: The ``experiment.toml`` beside them, which analyzes them as they are.
        events: Number of event rows written.
        exposure_rows: Number of exposure rows written (first exposures, duplicates, crossings).
        units_exposed: Number of distinct exposed units (including cross-exposed ones).
        units_per_variant: Exposed units per variant of their first exposure.
        units_unexposed: Units with events but no exposure row.
        units_cross_exposed: Units also exposed, later, to a different variant.
        units_duplicate_exposure: Units with a second exposure row to the same variant.
        effects: variant -> event name -> true relative lift of the per-unit event count.
        experiment: The experiment name in the exposures file.
        variants: Variant names, control first.
        split: Assignment probabilities, aligned with ``variants``.
        seed: The seed.
        start: Start of the exposure period.
        days: Length of the exposure period in days.
        window_days: Metric window the logs were designed around.
        file_format: ``parquet``, ``csv`` or ``ndjson``.
    """

    events_path: Path
    exposures_path: Path
    config_path: Path
    events: int
    exposure_rows: int
    units_exposed: int
    units_per_variant: dict[str, int]
    units_unexposed: int
    units_cross_exposed: int
    units_duplicate_exposure: int
    effects: dict[str, dict[str, float]]
    experiment: str
    variants: tuple[str, ...]
    split: tuple[float, ...]
    seed: int
    start: datetime
    days: int
    window_days: int
    file_format: str = field(default="parquet")

    @property
    def control(self) -> str:
        """The control variant (the first one)."""
        return self.variants[0]

    def describe(self) -> str:
        """A plain-text description of the simulated data, for docs and notebooks."""
        end = self.start + timedelta(days=self.days)
        lines = [
            f"Simulated experiment {self.experiment!r} (seed {self.seed}, {self.file_format}).",
            f"  events:    {self.events_path} ({self.events:,} rows)",
            f"  exposures: {self.exposures_path} ({self.exposure_rows:,} rows)",
            f"  config:    {self.config_path} (analyze with: iterate analyze {self.config_path})",
            f"Exposed units: {self.units_exposed:,}, first exposed between "
            f"{self.start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M}:",
        ]
        for variant, share in zip(self.variants, self.split, strict=True):
            role = " (control)" if variant == self.control else ""
            lines.append(
                f"  {variant}{role}: {self.units_per_variant.get(variant, 0):,} units "
                f"(expected share {share:.4g})"
            )
        lines += [
            f"  {self.units_cross_exposed:,} units later also exposed to another variant "
            "(should be excluded),",
            f"  {self.units_duplicate_exposure:,} units with a duplicate exposure to the same "
            "variant (harmless).",
            f"Unexposed units with events: {self.units_unexposed:,}.",
            "Event types (base share of events): "
            + ", ".join(f"{name} {share:.0%}" for name, share in EVENT_TYPES.items())
            + "; value = latency ms for page_load, revenue for purchase, null otherwise.",
            f"Events of a unit span [exposure - {_PRE_EXPOSURE_DAYS}d, exposure + "
            f"{self.window_days + _POST_WINDOW_DAYS}d); the metric window is "
            f"{self.window_days}d after first exposure.",
        ]
        if any(lifts for lifts in self.effects.values()):
            lines.append(
                "True effects (relative lift of the expected per-unit event count, hence of "
                "count and value-sum means):"
            )
            for variant, lifts in self.effects.items():
                for event, lift in lifts.items():
                    lines.append(f"  {variant} vs {self.control}: {event} {lift:+.2%}")
        else:
            lines.append("True effects: none (an A/A test).")
        return "\n".join(lines)


def simulate_logs(
    output_dir: str | Path,
    *,
    units: int = 20_000,
    events: int = 400_000,
    variants: Sequence[str] = ("control", "treatment"),
    split: Sequence[float] | None = None,
    effects: Mapping[str, Mapping[str, float]] | None = None,
    experiment: str = "checkout_v2",
    seed: int = 0,
    start: datetime = datetime(2026, 1, 5),
    days: int = 14,
    window_days: int = 7,
    file_format: FileFormat = "parquet",
    cross_exposure_share: float = 0.002,
    unexposed_share: float = 0.1,
    duplicate_exposure_share: float = 0.01,
    engine: Engine | None = None,
    force: bool = False,
) -> SimulationSummary:
    """Generate an events log and an exposures log for one experiment, inside DuckDB.

    Writes ``events.<ext>`` (``user_id`` BIGINT, ``timestamp`` TIMESTAMP, ``event`` VARCHAR,
    ``value`` DOUBLE or null, ``platform``, ``country``) and ``exposures.<ext>`` (``user_id``,
    ``experiment``, ``variant``, ``timestamp``) into ``output_dir`` (created if missing), and an
    ``experiment.toml`` that analyzes them (name, control, split, a ``window_days`` window, the two
    files, metrics on purchases, revenue, crashes and app opens; the true effects in its comments).
    A folder already holding an events or exposures log (any format) or an ``experiment.toml`` is
    refused, unchanged, unless ``force=True``. The model is described in the module docstring; in
    short, an effect ``{"treatment": {"purchase": 0.05}}`` multiplies the expected number of ``purchase`` events
    per treatment unit by 1.05, so the true relative lift of a ``count`` metric on ``purchase``
    (and of a ``mean`` metric on its ``value``) is exactly +5%, whatever the window.

    Args:
        output_dir: Folder for the two files.
        units: Number of exposed units.
        events: Approximate total number of event rows (exact in expectation).
        variants: Variant names; the first is the control.
        split: Assignment probabilities aligned with ``variants``; default equal.
        effects: variant -> event name -> relative lift (> -1) of that event's per-unit rate.
        experiment: Experiment name written in the exposures log.
        seed: Seed; the same seed gives the same files.
        start: Start of the exposure period (naive = UTC; aware datetimes are converted).
        days: Exposures are uniform over ``[start, start + days)``.
        window_days: Metric window the analysis is expected to use; events extend 2 days
            before exposure and 2 days after the window.
        file_format: ``parquet``, ``csv`` or ``ndjson`` (newline-delimited JSON).
        cross_exposure_share: Share of exposed units later also exposed to another variant.
        unexposed_share: Extra units, as a share of ``units``, with events but no exposure.
        duplicate_exposure_share: Share of exposed units with a repeated same-variant exposure.
        engine: The engine generating the logs; by default a new embedded DuckDB that keeps the
            rows in the order generated (so the same seed gives the same files).
        force: Overwrite the logs and ``experiment.toml`` of an earlier run in ``output_dir``.

    Returns:
        A :class:`SimulationSummary` with the paths, the counts and the true effects.

    Raises:
        DataError: Invalid arguments (all problems listed at once), or ``output_dir`` is a file.
        OutputError: ``output_dir`` holds logs or a config of an earlier run (and not ``force``),
            or cannot be written.

    Example:
        >>> import tempfile
        >>> summary = simulate_logs(tempfile.mkdtemp(), units=500, events=10_000, seed=3,
        ...                         effects={"treatment": {"purchase": 0.3}})
        >>> sorted(summary.units_per_variant)
        ['control', 'treatment']
    """
    settings = _validate(
        output_dir=output_dir, units=units, events=events, variants=tuple(variants), split=split, effects=effects,
        experiment=experiment, seed=seed, start=start, days=days, window_days=window_days, file_format=file_format,
        cross_exposure_share=cross_exposure_share, unexposed_share=unexposed_share,
        duplicate_exposure_share=duplicate_exposure_share,
    )
    if not force:
        _refuse_earlier_run(Path(output_dir))
    paths = _output_paths(Path(output_dir), file_format)
    config = plan_output(Path(output_dir) / CONFIG_NAME)
    owned = engine is None
    engine = engine or create_engine("duckdb", keep_row_order=True)
    try:
        written = _generate(engine, settings, *paths)
    except DataError as exc:
        raise DataError(f"could not write simulated logs to {str(Path(output_dir))!r}: {exc}") from exc
    finally:
        if owned:
            engine.close()
    _write_config(config, settings, *paths)
    return _summary(settings, *paths, config.path, *written)


@dataclass(frozen=True, slots=True)
class _Settings:
    """The validated arguments of :func:`simulate_logs` (shares aligned with the variants, lifts
    for every variant, the start as naive UTC)."""

    units: int
    events: int
    variants: tuple[str, ...]
    shares: tuple[float, ...]
    lifts: dict[str, dict[str, float]]
    experiment: str
    seed: int
    start: datetime
    days: int
    window_days: int
    file_format: FileFormat
    cross_exposure_share: float
    unexposed_share: float
    duplicate_exposure_share: float

    @property
    def unexposed_units(self) -> int:
        return round(self.units * self.unexposed_share)


def _refuse_earlier_run(out: Path) -> None:
    """Refuse a folder holding logs or a config (``force`` not given), before anything is written."""
    found = [name for name in _EARLIER_RUN if os.path.lexists(out / name)]
    if found:
        raise OutputError(
            f"folder {out} already holds {', '.join(found)}; nothing was changed. Overwrite them with "
            "`iterate simulate --force` (Python: force=True), or choose another folder"
        )


def _output_paths(out: Path, file_format: FileFormat) -> tuple[Path, Path]:
    """The events and exposures files in ``out`` (created if missing)."""
    ext = _EXTENSIONS[file_format]
    events_path, exposures_path = out / f"events.{ext}", out / f"exposures.{ext}"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create output folder {str(out)!r}: {exc}") from exc
    for path in (events_path, exposures_path):
        if path.is_dir():
            raise DataError(f"{str(path)!r} is a folder; expected a file path to write to")
    return events_path, exposures_path


def _generate(engine: Engine, settings: _Settings, events_path: Path,
              exposures_path: Path) -> tuple[int, int, Sequence[tuple[Any, ...]]]:
    """Draw the units, write both logs; returns the rows written and what was drawn per variant."""
    dialect = engine.dialect
    streams = _Streams(settings.seed, dialect)
    n_total = settings.units + settings.unexposed_units
    rate = _base_rate(settings.events, settings.units, settings.unexposed_units, settings.shares, settings.lifts)
    engine.create_table("units", _units_query(n_total, settings.units, settings.shares, streams, settings.start,
                                              settings.days, dialect))
    events_query = _events_query(rate, settings.lifts, streams, settings.window_days, dialect)
    n_events = engine.write_file(events_query, events_path, settings.file_format)
    exposures_query = _exposures_query(settings.variants, settings.start, settings.days, settings.cross_exposure_share,
                                       settings.duplicate_exposure_share, streams, settings.experiment, dialect)
    n_exposure_rows = engine.write_file(exposures_query, exposures_path, settings.file_format)
    drawn = engine.execute(render("simulate_summary", dialect, cross_share=repr(settings.cross_exposure_share),
                                  duplicate_share=repr(settings.duplicate_exposure_share))).values
    return n_events, n_exposure_rows, drawn


def _summary(settings: _Settings, events_path: Path, exposures_path: Path, config_path: Path, n_events: int,
             n_exposure_rows: int, drawn: Sequence[tuple[Any, ...]]) -> SimulationSummary:
    per_variant = {v_idx: count for v_idx, count, _, _ in drawn}
    n_cross, n_dup = (drawn[0][2], drawn[0][3]) if drawn else (0, 0)
    return SimulationSummary(
        events_path=events_path,
        exposures_path=exposures_path,
        config_path=config_path,
        events=int(n_events),
        exposure_rows=int(n_exposure_rows),
        units_exposed=settings.units,
        units_per_variant={v: int(per_variant.get(i, 0)) for i, v in enumerate(settings.variants)},
        units_unexposed=settings.unexposed_units,
        units_cross_exposed=int(n_cross),
        units_duplicate_exposure=int(n_dup),
        effects={v: dict(e) for v, e in settings.lifts.items() if e},
        experiment=settings.experiment,
        variants=settings.variants,
        split=settings.shares,
        seed=settings.seed,
        start=settings.start,
        days=settings.days,
        window_days=settings.window_days,
        file_format=settings.file_format,
    )


# --------------------------------------------------------------------------- experiment.toml


def _write_config(config: Output, settings: _Settings, events_path: Path, exposures_path: Path) -> None:
    """Write the ``experiment.toml`` that analyzes the simulated logs as they are."""
    config.write(_config_text(settings, events_path.name, exposures_path.name))


def _config_text(settings: _Settings, events_name: str, exposures_name: str) -> str:
    """TOML of the experiment: its name, control, split, window, the two logs (relative to the
    config) and :data:`_CONFIG_METRICS`, each with its true effect in a comment."""
    declared = [(v, share) for v, share in zip(settings.variants, settings.shares, strict=True)
                if share > 0 or v == settings.variants[0]]  # a variant never assigned has no units
    split = ", ".join(f"{_toml(v)} = {share!r}" for v, share in declared)
    lines = [
        "# Written by `iterate simulate` beside the logs it generated, to analyze them as they are:",
        "#   iterate analyze experiment.toml",
        f"# Seed {settings.seed}: {settings.units:,} exposed units, about {settings.events:,} events, "
        f"exposures over {settings.days} days, {settings.window_days} days of activity after each.",
        *_truth_comments(settings.lifts, settings.variants[0]),
        "",
        "[experiment]",
        f"name = {_toml(settings.experiment)}",
        f"control = {_toml(settings.variants[0])}",
        "alpha = 0.05",
        f'window = "{settings.window_days}d"',
        f"expected_split = {{ {split} }}",
        "",
        "[data]",
        f"events = {_toml(events_name)}",
        f"exposures = {_toml(exposures_name)}",
    ]
    for metric, exact in _CONFIG_METRICS:
        lines += ["", *_metric_truth(metric["event"], exact, settings.lifts), "[[metrics]]",
                  *(f"{key} = {_toml(value)}" for key, value in metric.items())]
    return "\n".join(lines) + "\n"


def _truth_comments(lifts: Mapping[str, Mapping[str, float]], control: str) -> list[str]:
    """Comment lines listing the true effects (variant, event, lift)."""
    effects = [(variant, event, lift) for variant, by_event in lifts.items() for event, lift in by_event.items()]
    if not effects:
        return ["# True effects: none (an A/A test); the verdict should not be ship."]
    return [
        "# True effects (relative lift of the expected per-unit event count after exposure, hence of",
        "# count metrics and of means of the event's value; a proportion moves the same way, by less):",
        *(f"#   {variant} vs {control}: {event} {lift:+.2%}" for variant, event, lift in effects),
    ]


def _metric_truth(event: str, exact: bool, lifts: Mapping[str, Mapping[str, float]]) -> list[str]:
    """Comment lines with a metric's true effect in each treatment where the rate of ``event`` moves."""
    moved = [(variant, by_event[event]) for variant, by_event in lifts.items() if event in by_event]
    if not moved:
        return [f"# true effect: none ({event} is unchanged in every variant)"]
    if exact:
        return [f"# true relative effect in {variant}: {lift:+.2%}" for variant, lift in moved]
    return [f"# true effect in {variant}: the same sign as the {event} rate's {lift:+.2%}, smaller"
            for variant, lift in moved]


def _toml(text: str) -> str:
    """A TOML basic string (a JSON string is one)."""
    return json.dumps(text)


# --------------------------------------------------------------------------- validation


def _validate(
    *,
    output_dir: str | Path,
    units: int,
    events: int,
    variants: tuple[str, ...],
    split: Sequence[float] | None,
    effects: Mapping[str, Mapping[str, float]] | None,
    experiment: str,
    seed: int,
    start: datetime,
    days: int,
    window_days: int,
    file_format: str,
    cross_exposure_share: float,
    unexposed_share: float,
    duplicate_exposure_share: float,
) -> _Settings:
    """Check every argument, collect all problems, return the settings to simulate."""
    problems = _number_problems(units=units, events=events, seed=seed, days=days, window_days=window_days)
    if file_format not in _EXTENSIONS:
        problems.append(f"`file_format == {file_format!r}`, must be one of {sorted(_EXTENSIONS)}")
    if not isinstance(experiment, str) or not experiment:
        problems.append(f"`experiment == {experiment!r}`, must be a non-empty string")
    if not isinstance(start, datetime):
        problems.append(f"`start == {start!r}`, must be a datetime")
    for name, value, high in (
        ("cross_exposure_share", cross_exposure_share, 1.0),
        ("duplicate_exposure_share", duplicate_exposure_share, 1.0),
        ("unexposed_share", unexposed_share, 100.0),
    ):
        if not _is_real(value) or not 0.0 <= value <= high:
            problems.append(f"`{name} == {value!r}`, must be a number in [0, {high:g}]")
    problems += _variant_problems(variants)
    shares = _shares(split, variants, problems)
    lifts = _lifts(effects, variants, problems)
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        problems.append(f"output folder {str(out)!r} exists and is a file; expected a folder")
    if problems:
        raise DataError("invalid arguments for simulate_logs", problems)
    if start.tzinfo is not None:
        start = start.astimezone(timezone.utc).replace(tzinfo=None)
    return _Settings(units, events, variants, shares, lifts, experiment, seed, start, days, window_days, file_format,
                     cross_exposure_share, unexposed_share, duplicate_exposure_share)


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_real(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _number_problems(*, units: object, events: object, seed: object, days: object, window_days: object) -> list[str]:
    problems = []
    if not _is_int(units) or units < 1:
        problems.append(f"`units == {units!r}`, must be an integer >= 1")
    if not _is_int(events) or events < 0:
        problems.append(f"`events == {events!r}`, must be an integer >= 0")
    if not _is_int(seed):
        problems.append(f"`seed == {seed!r}`, must be an integer")
    if not _is_int(days) or days < 1:
        problems.append(f"`days == {days!r}`, must be an integer >= 1")
    if not _is_int(window_days) or window_days < 1:
        problems.append(f"`window_days == {window_days!r}`, must be an integer >= 1")
    return problems


def _variant_problems(variants: tuple[str, ...]) -> list[str]:
    problems = []
    bad_names = [v for v in variants if not isinstance(v, str) or not v]
    if bad_names:
        problems.append(f"variant names {bad_names!r} are not non-empty strings")
    if len(variants) < 2:
        problems.append(f"variants {list(variants)!r}: need at least 2 (control first)")
    duplicates = sorted({v for v in variants if variants.count(v) > 1}, key=str)
    if duplicates:
        problems.append(f"variants {list(variants)!r} repeat {duplicates!r}; names must be unique")
    return problems


def _shares(split: Sequence[float] | None, variants: tuple[str, ...], problems: list[str]) -> tuple[float, ...]:
    """The assignment probabilities: ``split`` when valid (else a problem), equal by default."""
    shares: tuple[float, ...] = tuple(1.0 / len(variants) for _ in variants) if variants else ()
    if split is None:
        return shares
    split = tuple(split)
    if len(split) != len(variants):
        problems.append(
            f"`split` has {len(split)} shares {list(split)!r} for {len(variants)} variants "
            f"{list(variants)!r}; expected one share per variant"
        )
    elif not all(_is_real(s) and s >= 0 for s in split):
        problems.append(f"`split == {list(split)!r}`, shares must be finite numbers >= 0")
    elif abs(math.fsum(split) - 1.0) > 1e-9:
        problems.append(
            f"`split == {list(split)!r}` sums to {math.fsum(split)!r}, must sum to 1 "
            "(within 1e-9)"
        )
    else:
        shares = tuple(float(s) for s in split)
    return shares


def _lifts(effects: Mapping[str, Mapping[str, float]] | None, variants: tuple[str, ...],
           problems: list[str]) -> dict[str, dict[str, float]]:
    """variant -> event -> lift, for every variant; each invalid effect is a problem."""
    lifts: dict[str, dict[str, float]] = {v: {} for v in variants}
    for variant, by_event in (effects or {}).items():
        if variant not in lifts:
            problems.append(
                f"effect for unknown variant {variant!r}; expected one of {list(variants)[1:]!r}"
            )
        elif variants and variant == variants[0]:
            problems.append(
                f"effect given for the control variant {variant!r}; effects are relative to "
                f"the control, give them for {list(variants)[1:]!r}"
            )
        elif not isinstance(by_event, Mapping):
            problems.append(
                f"effects[{variant!r}] == {by_event!r}, expected a mapping event name -> lift"
            )
        else:
            for event, lift in by_event.items():
                if event not in EVENT_TYPES:
                    problems.append(
                        f"effect on unknown event type {event!r} for {variant!r}; expected one of "
                        f"{list(EVENT_TYPES)!r}"
                    )
                elif not _is_real(lift) or lift <= -1.0:
                    problems.append(
                        f"effect {variant!r}/{event!r} == {lift!r}, must be a finite relative lift "
                        "> -1 (e.g. 0.05 for +5%)"
                    )
                else:
                    lifts[variant][event] = float(lift)
    return lifts


# --------------------------------------------------------------------------- SQL building


class _Streams:
    """Per-purpose 63-bit constants derived from the seed: independent hash streams."""

    def __init__(self, seed: int, dialect: Dialect) -> None:
        self._seed = seed
        self.dialect = dialect

    def __getitem__(self, purpose: str) -> int:
        digest = hashlib.blake2b(f"{self._seed}:{purpose}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little") >> 1  # fits a signed BIGINT

    def uniform(self, key: str, purpose: str) -> str:
        """SQL for a uniform on [0, 1) from an integer ``key`` expression."""
        return self.dialect.hash_uniform(key, str(self[purpose]))

    def normal(self, key: str, purpose: str) -> str:
        """SQL for a standard normal (Box-Muller) from an integer ``key`` expression."""
        return _box_muller(self.uniform(key, purpose + ":1"), self.uniform(key, purpose + ":2"))


def _box_muller(u1: str, u2: str) -> str:
    """SQL for a standard normal from two independent uniforms (Box & Muller 1958)."""
    return f"(sqrt(-2.0 * ln(1.0 - {u1})) * cos({2 * math.pi!r} * {u2}))"


def _choice(u: str, options: Sequence[tuple[str, float]]) -> str:
    """SQL CASE picking ``options[j][0]`` (an SQL expression) with probability ``options[j][1]``."""
    whens, cum = [], 0.0
    for expr, share in options[:-1]:
        cum += share
        whens.append(f"WHEN {u} < {cum!r} THEN {expr}")
    return f"CASE {' '.join(whens)} ELSE {options[-1][0]} END"


def _sql_str(text: str) -> str:
    """A string literal of the generator's own constants (event, platform, country names)."""
    return "'" + text.replace("'", "''") + "'"


def _base_rate(
    events: int,
    units: int,
    n_unexposed: int,
    shares: Sequence[float],
    lifts: Mapping[str, Mapping[str, float]],
) -> float:
    """Events per unit before effects, so that the expected total is ``events``."""
    expected_multiplier = n_unexposed * 1.0
    for share, by_event in zip(shares, lifts.values(), strict=True):
        mix = sum(s * (1.0 + by_event.get(e, 0.0)) for e, s in EVENT_TYPES.items())
        expected_multiplier += units * share * mix
    return events / expected_multiplier if expected_multiplier > 0 else 0.0


def _units_query(n_total: int, n_exposed: int, shares: Sequence[float], streams: _Streams, start: datetime,
                 days: int, dialect: Dialect) -> Query:
    """One row per unit: id, exposure status and time, variant, activity, dimensions."""
    start_ms = (start - _EPOCH) // timedelta(milliseconds=1)
    u = streams.uniform
    return render(
        "simulate_units",
        dialect,
        unit_range=dialect.integer_range(str(n_total), "r", "i"),
        exposed_units=str(n_exposed),
        variant=_choice(u("i", "variant"), [(str(j), s) for j, s in enumerate(shares)]),
        start_ms=str(start_ms),
        period_ms=str(days * _MS_PER_DAY),
        exposure_uniform=u("i", "exposure"),
        activity_sigma=repr(_ACTIVITY_SIGMA),
        activity_normal=streams.normal("i", "activity"),
        activity_shift=repr(_ACTIVITY_SIGMA**2 / 2),
        platform=_choice(u("i", "platform"), [(_sql_str(p), s) for p, s, _ in _PLATFORMS]),
        country=_choice(u("i", "country"), [(_sql_str(c), s) for c, s in _COUNTRIES]),
        cross_uniform=u("i", "cross"),
        duplicate_uniform=u("i", "duplicate"),
        second_time_uniform=u("i", "second_time"),
        order_uniform=u("i", "order"),
        cross_variant_uniform=u("i", "cross_variant"),
        other_variants=str(len(shares) - 1),
        variants=str(len(shares)),
    )


def _events_query(rate: float, lifts: Mapping[str, Mapping[str, float]], streams: _Streams, window_days: int,
                  dialect: Dialect) -> Query:
    """One row per event, generated by expanding per (unit, event type) counts."""
    u = streams.uniform
    ut_key = "i * 8 + k"
    span_ms = (_PRE_EXPOSURE_DAYS + window_days + _POST_WINDOW_DAYS) * _MS_PER_DAY
    pre_ms = _PRE_EXPOSURE_DAYS * _MS_PER_DAY

    def row_uniform(stream: int) -> str:
        return dialect.uniform_from_hash(dialect.hash_combine("h_ut", f"j * 8 + {stream}"))

    return render(
        "simulate_events",
        dialect,
        types=", ".join(f"({k}, {_sql_str(name)}, {share!r}, {_AFFINITY_SIGMA[name]!r})"
                        for k, (name, share) in enumerate(EVENT_TYPES.items())),
        unit_type_hash=dialect.hash_combine(f"CAST(({ut_key}) AS BIGINT)", f"CAST({streams['row']} AS BIGINT)"),
        rate=repr(rate),
        affinity_normal=streams.normal(ut_key, "affinity"),
        multiplier=_lift_multiplier(lifts),
        rounding_uniform=u(ut_key, "rounding"),
        extra_rounding_uniform=u(ut_key, "extra_rounding"),
        post_fraction=repr((span_ms - pre_ms) / span_ms),
        row_range=dialect.unnest_range("n_base + n_extra"),
        hash_type=dialect.hash_type,
        position_uniform=row_uniform(0),
        thinning_uniform=row_uniform(3),
        span_ms=str(span_ms),
        pre_ms=str(pre_ms),
        post_span_ms=str(span_ms - pre_ms),
        timestamp=dialect.timestamp_from_microseconds(f"(exposure_ms - {pre_ms} + offset_ms) * 1000"),
        value=_event_value(_box_muller(row_uniform(1), row_uniform(2))),
    )


def _lift_multiplier(lifts: Mapping[str, Mapping[str, float]]) -> str:
    """SQL of the factor on a (unit, event type)'s rate: 1 + the lift of the unit's variant, 1
    for unexposed units."""
    whens = " ".join(
        f"WHEN v_idx = {j} AND k = {list(EVENT_TYPES).index(event)} THEN {1.0 + lift!r}"
        for j, by_event in enumerate(lifts.values())
        for event, lift in by_event.items()
    )
    return f"CASE WHEN NOT exposed THEN 1.0 {whens} ELSE 1.0 END"


def _event_value(normal: str) -> str:
    """SQL of an event's value: a log-normal latency (by platform) for page loads, a log-normal
    revenue for purchases, NULL otherwise."""
    latency_factor = "CASE platform " + " ".join(
        f"WHEN {_sql_str(p)} THEN {math.log(f)!r}" for p, _, f in _PLATFORMS
    ) + " ELSE 0.0 END"
    k_page_load = list(EVENT_TYPES).index("page_load")
    k_purchase = list(EVENT_TYPES).index("purchase")
    return (
        f"CASE k WHEN {k_page_load} THEN round(exp({math.log(_LATENCY_MEDIAN_MS)!r} + "
        f"{latency_factor} + {_LATENCY_SIGMA!r} * {normal}), 1) "
        f"WHEN {k_purchase} THEN round(exp({math.log(_REVENUE_MEDIAN)!r} + "
        f"{_REVENUE_SIGMA!r} * {normal}), 2) ELSE NULL END"
    )


def _exposures_query(variants: Sequence[str], start: datetime, days: int, cross_share: float,
                     duplicate_share: float, streams: _Streams, experiment: str, dialect: Dialect) -> Query:
    """First exposures, plus later duplicate and cross-variant exposures, in time order."""
    end_ms = (start - _EPOCH) // timedelta(milliseconds=1) + days * _MS_PER_DAY
    parameters = Parameters(dialect)
    names = ", ".join(f"({j}, {parameters.bind(v)})" for j, v in enumerate(variants))
    experiment_name = parameters.bind(experiment)
    return render(
        "simulate_exposures",
        dialect,
        parameters.values,
        names=names,
        duplicate_time=(f"exposure_ms + CAST(floor({streams.uniform('i', 'duplicate_time')} "
                        f"* ({end_ms} - exposure_ms)) AS BIGINT)"),
        second_time=f"exposure_ms + CAST(floor(u_second * ({end_ms} - exposure_ms)) AS BIGINT)",
        duplicate_share=repr(duplicate_share),
        cross_share=repr(cross_share),
        experiment=experiment_name,
        timestamp=dialect.timestamp_from_microseconds("rows.ts * 1000"),
    )
