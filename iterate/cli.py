"""Command line: ``iterate analyze``, ``plan``, ``calibrate`` and ``simulate``, thin over the Python API.

Exit codes (the CI contract of DESIGN.md): 0 ship, 10 rollback, 11 continue, 12 inconclusive,
13 invalid, 2 bad usage or bad input (one clear message, no traceback), 1 internal error.
Heavy modules are imported inside the commands so that ``iterate --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from functools import wraps
from pathlib import Path
from typing import Callable, Collection

import click

from iterate import __version__
from iterate.errors import IterateError
from iterate.report import FORMATS
from iterate.result import VERDICTS

BAD_INPUT_EXIT = 2
INTERNAL_ERROR_EXIT = 1


def _reports_errors(command: Callable) -> Callable:
    """Turn a user's mistake into a message and exit 2, and a bug into exit 1 with a short note."""

    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except IterateError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(BAD_INPUT_EXIT)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as error:  # a bug of iterate, not of the user
            if os.environ.get("ITERATE_DEBUG"):
                traceback.print_exc()
            click.echo(
                f"internal error: {type(error).__name__}: {error}\n"
                "This is a bug in iterate; rerun with ITERATE_DEBUG=1 for the traceback and report it.",
                err=True,
            )
            sys.exit(INTERNAL_ERROR_EXIT)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="iterate")
def main() -> None:
    """Decide from usage event logs whether each increment of a product should ship.

    Exit codes: 0 ship, 10 rollback, 11 continue, 12 inconclusive, 13 invalid,
    2 bad usage or input, 1 internal error (iterate rollout: 0 advance, 10 rollback, 11 hold, 13 invalid).
    """


@main.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path), required=False, metavar="CONFIG")
@click.option("--events", help="Events log (file, glob or folder), overriding [data] events.")
@click.option("--exposures", help="Exposures log (file, glob or folder), overriding [data] exposures.")
@click.option("--format", "report_formats", default="text", show_default=True, metavar="FORMAT[,FORMAT...]",
              help=f"Report format(s), comma-separated: {', '.join(FORMATS)}. Several need --output-dir.")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path), metavar="HISTORY",
              help="Append the analysis to this iteration history (a DuckDB file), overriding [history] path.")
@click.option("--replay", metavar="HISTORY#ID",
              help="Rerun recorded analysis ID of HISTORY from its stored config (instead of CONFIG), and say "
                   "whether the data and the verdict changed since; HISTORY alone replays its latest record.")
@click.option("--output", "-o", type=click.Path(path_type=Path),
              help="Write the report to this file instead of standard output (checked before the analysis; "
                   "a symlink, FIFO or /dev/stdout is written into, a file keeps its permissions).")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write each format's report into this folder (created if missing) as EXPERIMENT.EXT, "
                   "e.g. checkout_v2.json, checkout_v2.md, checkout_v2.junit.xml.")
@click.option("--fail-on", "fail_on", default=",".join(v for v in VERDICTS if v != "ship"), show_default=True,
              metavar="VERDICT[,VERDICT...]",
              help="Verdicts that give their non-zero exit code; any other verdict exits 0 (e.g. --fail-on "
                   "rollback,invalid lets a nightly job pass on continue). The report is the same either way.")
@click.option("--segment", "segments", multiple=True, metavar="COLUMN",
              help="Break every metric down by this dimension column (repeatable); overrides [experiment] segments.")
@click.option("--as-of", "as_of", metavar="TIME",
              help="Analyze the data as it was at TIME (ISO-8601, e.g. 2026-01-20T00:00:00Z).")
@click.option("--timeline", is_flag=True,
              help="Also show the per-day cumulative effects with always-valid intervals (one scan per day).")
@click.option("--moments", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Analyze summary statistics instead of the logs: per-variant moments (CSV, Parquet or JSON, schema "
                   "in the README under 'Summary statistics in').")
@click.option("--explain", is_flag=True,
              help="Print the decision trace (every rule evaluated, in order, with its numbers and alpha) after the "
                   "report; on standard error when standard output holds a JSON / Markdown / JUnit report.")
@_reports_errors
def analyze(config: Path | None, events: str | None, exposures: str | None, report_formats: str,
            record: Path | None, replay: str | None, output: Path | None, output_dir: Path | None, fail_on: str,
            segments: tuple[str, ...], as_of: str | None, timeline: bool, moments: Path | None, explain: bool) -> None:
    """Analyze the experiment described by CONFIG (a TOML file) and print the verdict.

    The exit code carries the verdict, so a CI step can gate a release on it (--fail-on chooses which).
    """
    from iterate.analysis import analyze as run_analysis
    from iterate.report.delivery import plan_reports
    from iterate.session import load_experiment

    formats = _names(report_formats, FORMATS, "--format")
    failing = _names(fail_on, VERDICTS, "--fail-on")
    if replay is not None or config is None:
        _replay(config, replay, formats, output, output_dir, failing, explain)
    if moments is not None:
        given = [name for name, value in (("--events", events), ("--exposures", exposures), ("--as-of", as_of),
                                          ("--timeline", timeline), ("--record", record)) if value]
        if given:
            raise click.UsageError(f"--moments analyzes summary statistics, without logs: {', '.join(given)} "
                                   "cannot be combined with it")
        _analyze_moments(config, moments, formats, output, output_dir, failing, segments, explain)

    experiment = load_experiment(config, events, exposures)
    configured = [source.path for source in (experiment.events, experiment.exposures) if source is not None]
    # checked before the analysis, so a bad path costs no analysis
    reports = plan_reports(formats, experiment.name, output=output, output_dir=output_dir,
                           inputs=[config, events, exposures, *configured])
    result = run_analysis(experiment, events=events, exposures=exposures, as_of=as_of, segments=segments or None,
                          timeline=timeline, record=record)
    _finish(result, reports, failing, explain)


def _analyze_moments(config: Path, moments: Path, formats, output: Path | None, output_dir: Path | None,
                     failing: Collection[str], segments: tuple[str, ...], explain: bool) -> None:
    """``analyze --moments``: the statistics and the decision on summary statistics, no logs read."""
    from iterate.moments_input import analyze_moments
    from iterate.report.delivery import plan_reports
    from iterate.session import load_experiment

    experiment = load_experiment(config)
    reports = plan_reports(formats, experiment.name, output=output, output_dir=output_dir, inputs=[config, moments])
    _finish(analyze_moments(experiment, moments, segments=segments or None), reports, failing, explain)


def _finish(result, reports, failing: Collection[str], explain: bool) -> None:
    """Write the reports, then the trace if asked, and exit with the verdict's code if it fails the job."""
    from iterate.report.delivery import deliver

    deliver(result, reports, color=sys.stdout.isatty())
    if explain:
        on_stdout = [report.report_format for report in reports if report.output is None]
        _explain(result, after_report=on_stdout == ["text"], to_stderr=on_stdout not in ([], ["text"]))
    sys.exit(result.exit_code if result.verdict in failing else 0)


def _explain(result, *, after_report: bool, to_stderr: bool) -> None:
    """The decision trace after the report: on standard output, or on standard error when standard
    output holds a report another program reads (e.g. JSON, where the trace is the decision_trace key)."""
    from iterate.report.trace import explain

    click.echo(("\n" if after_report else "") + explain(result.as_document()), nl=False, err=to_stderr)


def _names(text: str, choices: Collection[str], option: str) -> tuple[str, ...]:
    """The comma-separated names of ``text``, each one of ``choices`` (else exit 2 naming the valid ones)."""
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in choices]
    if unknown or not names:
        raise click.BadParameter(f"{', '.join(map(repr, unknown)) or 'nothing'} given; choose among "
                                 f"{', '.join(choices)} (comma-separated)", param_hint=option)
    return names


@main.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--events", help="Events log (file, glob or folder), overriding [data] events.")
@click.option("--exposures", help="Exposures log (file, glob or folder), overriding [data] exposures.")
@click.option("--as-of", "as_of", metavar="TIME",
              help="Judge the rollout as it was at TIME (ISO-8601, e.g. 2026-01-20T00:00:00Z).")
@click.option("--format", "report_formats", default="text", show_default=True, metavar="FORMAT[,FORMAT...]",
              help=f"Report format(s), comma-separated: {', '.join(FORMATS)}. Several need --output-dir.")
@click.option("--output", "-o", type=click.Path(path_type=Path),
              help="Write the report to this file instead of standard output (checked before the rollout is judged).")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write each format's report into this folder (created if missing) as EXPERIMENT.EXT.")
@click.option("--fail-on", "fail_on", default="hold,rollback,invalid", show_default=True,
              metavar="VERDICT[,VERDICT...]",
              help="Verdicts that give their non-zero exit code; any other verdict exits 0. The report is the same "
                   "either way.")
@click.option("--explain", is_flag=True,
              help="Print the decision trace (every rule evaluated, in order, with its numbers and alpha) after the "
                   "report; on standard error when standard output holds a JSON / Markdown / JUnit report.")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path), metavar="HISTORY",
              help="Append the judgement to this iteration history (a DuckDB file), beside the analyses.")
@_reports_errors
def rollout(config: Path, events: str | None, exposures: str | None, as_of: str | None, report_formats: str,
            output: Path | None, output_dir: Path | None, fail_on: str, explain: bool, record: Path | None) -> None:
    """Judge the staged rollout described by CONFIG (its [rollout] table): advance, hold or roll back.

    Exit codes: 0 advance, 10 rollback, 11 hold, 13 invalid, 2 bad usage or input. Checked anytime-valid,
    so running it after every batch of data (e.g. from an Argo Rollouts / Flagger analysis job) is safe.
    """
    from iterate.report.delivery import plan_reports
    from iterate.rollout import rollout as judge_rollout
    from iterate.rollout.result import ROLLOUT_EXIT_CODES
    from iterate.session import load_experiment

    formats = _names(report_formats, FORMATS, "--format")
    failing = _names(fail_on, tuple(ROLLOUT_EXIT_CODES), "--fail-on")
    experiment = load_experiment(config, events, exposures)
    configured = [source.path for source in (experiment.events, experiment.exposures) if source is not None]
    reports = plan_reports(formats, experiment.name, output=output, output_dir=output_dir,
                           inputs=[config, events, exposures, *configured])
    store = _history_store(record)
    started = time.perf_counter()
    result = judge_rollout(experiment, events=events, exposures=exposures, as_of=as_of)
    if store is not None:
        store.record(result, experiment, run_seconds=time.perf_counter() - started)
    _finish(result, reports, failing, explain)


def _history_store(path: Path | None):
    """The history ``--record`` writes into, checked before any work (a file that is not one is refused)."""
    if path is None:
        return None
    from iterate.history.store import HistoryStore

    store = HistoryStore(path)
    store.releases()  # refuses a file that is not an iterate history, unchanged
    return store


@main.command()
def schema() -> None:
    """Print the JSON Schema (draft 2020-12) of iterate's JSON reports (analyze, plan, calibrate, rollout, history).

    Validate a report with any JSON Schema validator, e.g. `iterate schema > schema.json` then
    `check-jsonschema --schemafile schema.json report.json`. `schema_version` in each report says
    which version of it the report follows.
    """
    from iterate.report import json_schema

    click.echo(json_schema(), nl=False)


def _replay(config: Path | None, replay: str | None, formats: tuple[str, ...], output: Path | None,
            output_dir: Path | None, failing: Collection[str], explain: bool) -> None:
    """``iterate analyze --replay HISTORY#ID``: the recorded analysis run again, its reports written as
    for an analysis, with the check ``replay`` (also on standard error); exits like an analysis."""
    from iterate.history.replay import replay as run_replay
    from iterate.report.delivery import plan_reports

    if replay is None:
        raise click.UsageError("Missing argument 'CONFIG': give the experiment's TOML file (or --replay HISTORY#ID)",
                               ctx=click.get_current_context())
    if config is not None:
        raise click.UsageError("give CONFIG or --replay HISTORY#ID, not both: a replay reads its config from the history",
                               ctx=click.get_current_context())
    result = run_replay(replay)
    reports = plan_reports(formats, result.experiment, output=output, output_dir=output_dir)
    click.echo(next(check.message for check in result.checks if check.name == "replay"), err=True)
    _finish(result, reports, failing, explain)


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--metric", metavar="NAME", help="Show the trajectory of this metric across the recorded releases.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.png|svg",
              help="With --metric: also draw the trajectory into this figure (needs matplotlib: iterate[plot]).")
@click.option("--format", "report_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_reports_errors
def history(path: Path, metric: str | None, plot: Path | None, report_format: str) -> None:
    """List the releases and decisions recorded in the history PATH (written by `iterate analyze --record`).

    With --metric NAME: the relative effect of NAME, with its interval, release after release, and a
    text sparkline of it.
    """
    from iterate.errors import HistoryError
    from iterate.history.store import HistoryStore
    from iterate.history.views import plot_trajectory, release_rows, render_releases, render_trajectory, trajectory_rows

    store = HistoryStore(path)
    if not path.exists():
        raise HistoryError(f"history file {path} does not exist; record analyses into it with "
                           "`iterate analyze CONFIG --record PATH`")
    if metric is None:
        if plot is not None:
            raise click.UsageError("--plot draws a metric's trajectory: add --metric NAME")
        click.echo(render_releases(str(path), release_rows(store.releases()), report_format), nl=False)
        return
    estimates = store.estimates(metric)
    if not estimates:
        names = store.metric_names()
        from iterate.config.model import nearest

        raise HistoryError(f"{path} has no estimate of metric `{metric}` (metrics recorded: "
                           f"{', '.join(names) or 'none'}){nearest(metric, names)}")
    rows = trajectory_rows(estimates)
    if plot is not None:
        from iterate.outputs import plan_output

        plan_output(plot, inputs=[path], label="--plot")
        plot_trajectory(metric, rows, plot)
    click.echo(render_trajectory(str(path), metric, rows, report_format), nl=False)


@main.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--events", help="Events log (file, glob or folder), overriding [data] events.")
@click.option("--baseline-days", type=click.IntRange(min=2), default=14, show_default=True,
              help="Days of the log (its last ones) used as the baseline.")
@click.option("--mde", type=float, help="Relative effect to detect on the success metrics, e.g. 0.02 for +2%.")
@click.option("--days", type=click.IntRange(min=1), help="Planned duration: report the MDE of each metric instead.")
@click.option("--power", type=click.FloatRange(0.5, 0.999), default=0.8, show_default=True)
@click.option("--traffic-share", type=click.FloatRange(0.0, 1.0, min_open=True), default=1.0, show_default=True,
              help="Share of eligible units that enter the experiment.")
@click.option("--format", "report_format", type=click.Choice(list(FORMATS)), default="text", show_default=True)
@_reports_errors
def plan(config: Path, events: str | None, baseline_days: int, mde: float | None, days: int | None, power: float,
         traffic_share: float, report_format: str) -> None:
    """Sample size, MDE and duration for CONFIG's metrics and decision rule, from a baseline of its log.

    Every user active in the baseline is a would-be unit; each metric is measured as the analysis
    would (same SQL), giving its mean, variance and CUPED correlation.
    """
    from iterate.planning import plan as run_plan
    from iterate.report import render

    result = run_plan(config, events=events, baseline_days=baseline_days, mde=mde, days=days, power=power,
                      traffic_share=traffic_share)
    click.echo(render(result, report_format), nl=False)


@main.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--events", help="Events log (file, glob or folder), overriding [data] events.")
@click.option("--exposures", help="Exposures log (file, glob or folder), overriding [data] exposures.")
@click.option("--replicates", type=click.IntRange(min=10), default=200, show_default=True,
              help="Number of A/A re-randomizations.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the re-randomization.")
@click.option("--format", "report_format", type=click.Choice(list(FORMATS)), default="text", show_default=True)
@_reports_errors
def calibrate(config: Path, events: str | None, exposures: str | None, replicates: int, seed: int,
              report_format: str) -> None:
    """Replay A/A tests on CONFIG's own units: the false-positive rate of each metric and of the verdict.

    Units are re-randomized into two arms REPLICATES times inside the engine; every replicate runs
    the same tests, corrections, checks and decision as `iterate analyze`. Exit code 0 when every
    metric's false-positive rate is consistent with alpha, 13 when one fires too often.
    """
    from iterate.calibration import calibrate as run_calibration
    from iterate.report import render

    result = run_calibration(config, events=events, exposures=exposures, replicates=replicates, seed=seed)
    click.echo(render(result, report_format), nl=False)
    sys.exit(0 if all(rate.within_alpha for rate in result.metrics) else 13)


@main.command()
@click.argument("output_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--units", type=click.IntRange(min=1), default=20_000, show_default=True, help="Exposed units.")
@click.option("--events", "event_count", type=click.IntRange(min=1), default=400_000, show_default=True,
              help="Approximate number of event rows.")
@click.option("--variants", default="control,treatment", show_default=True,
              help="Comma-separated variant names, control first.")
@click.option("--split", default=None, help="Comma-separated traffic shares, e.g. 0.5,0.5 (default equal).")
@click.option("--effect", "effects", multiple=True, metavar="[VARIANT:]EVENT=LIFT",
              help="Relative lift of an event's rate per unit, e.g. purchase=0.05 (all treatments) "
                   "or treatment:crash=0.2. Repeatable.")
@click.option("--experiment", default="checkout_v2", show_default=True, help="Experiment name in the exposures.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same files).")
@click.option("--days", type=click.IntRange(min=1), default=14, show_default=True,
              help="Days over which units are exposed.")
@click.option("--window-days", type=click.IntRange(min=1), default=7, show_default=True,
              help="Days of activity simulated after each exposure.")
@click.option("--format", "file_format", type=click.Choice(["parquet", "csv", "ndjson"]), default="parquet",
              show_default=True)
@click.option("--force", is_flag=True,
              help="Overwrite the logs and experiment.toml of an earlier run in OUTPUT_DIR (refused without it).")
@_reports_errors
def simulate(output_dir: Path, units: int, event_count: int, variants: str, split: str | None,
             effects: tuple[str, ...], experiment: str, seed: int, days: int, window_days: int,
             file_format: str, force: bool) -> None:
    """Write a synthetic events + exposures log with known true effects to OUTPUT_DIR.

    Beside the logs goes an experiment.toml that analyzes them (iterate analyze OUTPUT_DIR/experiment.toml),
    with the true effects in its comments. A folder already holding a log or experiment.toml is refused,
    unchanged, unless --force.
    """
    from iterate.simulate import simulate_logs

    variant_names = [name.strip() for name in variants.split(",") if name.strip()]
    shares = _parse_split(split)
    summary = simulate_logs(
        output_dir,
        units=units,
        events=event_count,
        variants=variant_names,
        split=shares,
        effects=_parse_effects(effects, variant_names),
        experiment=experiment,
        seed=seed,
        days=days,
        window_days=window_days,
        file_format=file_format,
        force=force,
    )
    click.echo(summary.describe())


def _parse_split(split: str | None) -> list[float] | None:
    if split is None:
        return None
    try:
        return [float(share) for share in split.split(",")]
    except ValueError:
        raise click.BadParameter(f"`{split}` is not a list of numbers; write e.g. 0.5,0.5", param_hint="--split") from None


def _parse_effects(effects: tuple[str, ...], variants: list[str]) -> dict[str, dict[str, float]]:
    parsed: dict[str, dict[str, float]] = {}
    for text in effects:
        target, _, lift = text.partition("=")
        variant, _, event = target.rpartition(":")
        try:
            value = float(lift)
        except ValueError:
            raise click.BadParameter(
                f"`{text}` is not [VARIANT:]EVENT=LIFT; write e.g. purchase=0.05", param_hint="--effect"
            ) from None
        targets = [variant] if variant else variants[1:]
        for name in targets:
            parsed.setdefault(name, {})[event.strip()] = value
    return parsed
