#!/usr/bin/env python3
"""Benchmark ``iterate analyze`` against the best hand-written DuckDB query for the same moments.

For each size (number of event rows) the script

1. generates logs once into a cache folder with ``iterate simulate DIR --units N/20 --events N
   --seed 1 --effect purchase=0.02`` (reused on later runs),
2. writes a config with three metrics on the event ``purchase`` (proportion, mean of ``value``,
   count), 7-day window,
3. measures, each in a fresh process, from process start to printed result (best of
   ``--repeat``) with the peak resident memory of that process:
   (a) ``iterate analyze config.toml --format json``,
   (b) a hand-written DuckDB query in ``python -c`` computing the same per-variant moments,
4. prints the timings, the ratios against the budget of DESIGN.md (time <= 1.2x, memory <= 1.5x),
   the moments of both side by side, and the wall time of ``iterate --help`` (budget 0.3 s).

This is a script, not a test: run it by hand or in a scheduled CI job on a quiet machine.

Usage:
    python benchmarks/bench_analyze.py                     # 10M and 50M events
    python benchmarks/bench_analyze.py --sizes 1M          # quick check
    python benchmarks/bench_analyze.py --sizes 1M,10M --workdir /data/bench --json-out bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXPERIMENT = "checkout_v2"
METRICS = ("purchasers", "revenue", "purchases")  # names in the config, in the query's order
VERDICT_EXIT_CODES = {0, 10, 11, 12, 13}  # ship, rollback, continue, inconclusive, invalid
TIME_BUDGET, MEMORY_BUDGET, HELP_BUDGET_S = 1.2, 1.5, 0.3

CONFIG_TEMPLATE = """\
[experiment]
name = "checkout_v2"
control = "control"
alpha = 0.05
window = "7d"
expected_split = {{ control = 0.5, treatment = 0.5 }}

[data]
events = {events}
exposures = {exposures}

[[metrics]]
name = "purchasers"
type = "proportion"
event = "purchase"
role = "success"
direction = "increase"

[[metrics]]
name = "revenue"
type = "mean"
event = "purchase"
value = "value"
role = "success"
direction = "increase"

[[metrics]]
name = "purchases"
type = "count"
event = "purchase"
role = "guardrail"
direction = "increase"
"""

# The reference: what an expert would write by hand for these three metrics, as fast as possible.
# - exposures: one pass; first exposure per unit; units seen in two variants dropped with
#   min = max (cheaper than count(DISTINCT));
# - events: only the needed columns, `event = 'purchase'` pushed into the Parquet scan, joined to
#   the (small) exposed-unit table, window [first exposure, + 7 days);
# - per unit: had a purchase, revenue, purchases; exposed units without events are zeros;
# - per variant: count, avg, var_samp (no sum-of-squares shortcut).
HAND_QUERY = """
WITH exposed AS (
    SELECT user_id, min("timestamp") AS first_exposure, min(variant) AS variant
    FROM read_parquet($exposures)
    WHERE experiment = $experiment
    GROUP BY user_id
    HAVING min(variant) = max(variant)
),
per_unit AS (
    SELECT e.user_id, count(*) AS purchases, sum(e.value) AS revenue
    FROM read_parquet($events) AS e
    JOIN exposed AS x ON e.user_id = x.user_id
    WHERE e.event = 'purchase'
      AND e."timestamp" >= x.first_exposure
      AND e."timestamp" < x.first_exposure + INTERVAL 7 DAY
    GROUP BY e.user_id
),
units AS (
    SELECT x.variant,
           CASE WHEN u.purchases IS NULL THEN 0.0 ELSE 1.0 END AS purchasers,
           coalesce(u.revenue, 0.0) AS revenue,
           coalesce(u.purchases, 0)::DOUBLE AS purchases
    FROM exposed AS x
    LEFT JOIN per_unit AS u ON u.user_id = x.user_id
)
SELECT variant, count(*) AS n,
       avg(purchasers) AS purchasers_mean, var_samp(purchasers) AS purchasers_var,
       avg(revenue) AS revenue_mean, var_samp(revenue) AS revenue_var,
       avg(purchases) AS purchases_mean, var_samp(purchases) AS purchases_var
FROM units
GROUP BY variant
ORDER BY variant
"""

HAND_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import duckdb
    query, events, exposures, experiment = sys.argv[1:5]
    # DuckDB draws its progress bar on stdout for queries over 2 s, even into a pipe
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    cursor = con.execute(
        query, {"events": events, "exposures": exposures, "experiment": experiment}
    )
    names = [d[0] for d in cursor.description]
    print(json.dumps([dict(zip(names, row)) for row in cursor.fetchall()]))
    """
)

# Runs one command and reports its wall time (process start to exit, output captured) and the
# peak resident memory of that command alone (this wrapper has no other child).
WRAPPER_SCRIPT = textwrap.dedent(
    """
    import json, resource, subprocess, sys, time
    command = json.loads(sys.argv[1])
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    peak_bytes = peak if sys.platform == "darwin" else peak * 1024
    print(json.dumps({"seconds": seconds, "peak_bytes": peak_bytes, "returncode": done.returncode,
                      "stdout": done.stdout, "stderr": done.stderr}))
    """
)


def parse_size(text: str) -> int:
    """``"10M"`` -> 10_000_000; accepts K, M, G suffixes and plain integers."""
    text = text.strip().upper().replace("_", "")
    factor = {"K": 10**3, "M": 10**6, "G": 10**9}.get(text[-1:], 1)
    number = text[:-1] if factor != 1 else text
    try:
        value = float(number) * factor
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not a number like 1M, 500K or 2000000") from None
    if value < 20:
        raise argparse.ArgumentTypeError(f"size {text!r} is too small; need at least 20 events")
    return int(value)


def label(size: int) -> str:
    for factor, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "K")):
        if size % factor == 0:
            return f"{size // factor}{suffix}"
    return str(size)


def iterate_command() -> tuple[list[str], dict[str, str]]:
    """The ``iterate`` console script if on PATH, else ``python -m iterate`` on this checkout."""
    env = dict(os.environ)
    script = shutil.which("iterate")
    if script:
        return [script], env
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return [sys.executable, "-m", "iterate"], env


def run_measured(command: list[str], env: dict[str, str], ok_codes: set[int] = frozenset({0})) -> dict:
    """Run ``command`` once under the wrapper; return seconds, peak bytes and output."""
    wrapper = subprocess.run(
        [sys.executable, "-c", WRAPPER_SCRIPT, json.dumps(command)],
        env=env, stdout=subprocess.PIPE, text=True, check=True,
    )
    result = json.loads(wrapper.stdout)
    if result["returncode"] not in ok_codes:
        sys.exit(
            f"command failed with exit code {result['returncode']}: {' '.join(command)}\n"
            f"{result['stderr'][-3000:]}"
        )
    return result


def best_of(command: list[str], env: dict[str, str], repeat: int, ok_codes: set[int] = frozenset({0})) -> dict:
    """Best wall time of ``repeat`` fresh processes; peak memory is the largest seen."""
    runs = [run_measured(command, env, ok_codes) for _ in range(repeat)]
    best = min(runs, key=lambda run: run["seconds"])
    return {
        "seconds": best["seconds"],
        "all_seconds": [run["seconds"] for run in runs],
        "peak_bytes": max(run["peak_bytes"] for run in runs),
        "stdout": best["stdout"],
    }


def parse_json(text: str, what: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        sys.exit(f"the output of {what} is not JSON ({error}); it starts with:\n{text[:300]!r}")


def generate(size: int, workdir: Path, iterate: list[str], env: dict[str, str]) -> dict:
    """Simulated logs of ``size`` events in ``workdir/<size>``, reused when already there."""
    folder = workdir / f"events_{label(size)}"
    command_args = ["--units", str(size // 20), "--events", str(size), "--seed", "1", "--effect", "purchase=0.02"]
    marker = folder / "generated.json"
    events, exposures = folder / "events.parquet", folder / "exposures.parquet"
    if marker.exists() and events.exists() and exposures.exists():
        info = json.loads(marker.read_text())
        if info.get("args") == command_args:
            return {**info, "reused": True}
    folder.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    print(f"generating {label(size)} events into {folder} ...", flush=True)
    start = time.perf_counter()
    done = subprocess.run(
        [*iterate, "simulate", str(folder), *command_args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"`iterate simulate` failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    (folder / "simulate.txt").write_text(done.stdout)
    info = {
        "args": command_args,
        "seconds": seconds,
        "events_bytes": events.stat().st_size,
        "exposures_bytes": exposures.stat().st_size,
        "events_path": str(events),
        "exposures_path": str(exposures),
    }
    marker.write_text(json.dumps(info, indent=2))
    return {**info, "reused": False}


def write_config(folder: Path, events: str, exposures: str) -> Path:
    config = folder / "config.toml"
    # a JSON string is a valid TOML basic string (quotes and backslashes escaped)
    config.write_text(CONFIG_TEMPLATE.format(events=json.dumps(events), exposures=json.dumps(exposures)))
    return config


def moments_table(hand: list[dict], report: dict) -> list[str]:
    """Hand query's per-variant means next to iterate's, per metric."""
    by_variant = {row["variant"]: row for row in hand}
    lines = [f"    {'metric':<11} {'variant':<10} {'n hand':>10} {'n iterate':>10} {'mean hand':>16} {'mean iterate':>16}"]
    for row in report.get("metrics", []):
        name = row["name"]
        if name not in METRICS:
            continue
        for side, variant in (("control", report.get("control", "control")), ("treatment", row["variant"])):
            mine = by_variant.get(variant, {})
            lines.append(
                f"    {name:<11} {variant:<10} {mine.get('n', float('nan')):>10} {row[f'n_{side}']:>10} "
                f"{mine.get(f'{name}_mean', float('nan')):>16.10g} {row[f'{side}_mean']:>16.10g}"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10M,50M", help="comma-separated event counts (default 10M,50M)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "iterate-bench",
                        help="cache folder for the generated logs (reused when present)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best time counts")
    parser.add_argument("--help-repeat", type=int, default=5, help="runs of `iterate --help`")
    parser.add_argument("--json-out", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    sizes = [parse_size(part) for part in args.sizes.split(",") if part.strip()]
    if args.repeat < 1 or args.help_repeat < 1:
        parser.error("--repeat and --help-repeat must be >= 1")

    iterate, env = iterate_command()
    import duckdb  # only for the version in the report

    print(f"iterate command: {' '.join(iterate)}")
    print(f"python {platform.python_version()}, duckdb {duckdb.__version__}, {os.cpu_count()} CPUs, "
          f"{platform.platform()}")
    results: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                 "python": platform.python_version(), "duckdb": duckdb.__version__},
                     "sizes": []}

    for size in sizes:
        data = generate(size, args.workdir, iterate, env)
        folder = Path(data["events_path"]).parent
        config = write_config(folder, data["events_path"], data["exposures_path"])
        how = "reused" if data["reused"] else "generated"
        print(f"\n== {label(size)} events ({how}; generation took {data['seconds']:.1f} s, "
              f"events.parquet {data['events_bytes'] / 1e6:.0f} MB, "
              f"exposures.parquet {data['exposures_bytes'] / 1e6:.0f} MB)", flush=True)
        analyze = best_of([*iterate, "analyze", str(config), "--format", "json"], env, args.repeat,
                          VERDICT_EXIT_CODES)
        hand = best_of([sys.executable, "-c", HAND_SCRIPT, HAND_QUERY, data["events_path"],
                        data["exposures_path"], EXPERIMENT], env, args.repeat)
        report = parse_json(analyze["stdout"], "iterate analyze --format json")
        hand_rows = parse_json(hand["stdout"], "the hand-written query")
        print("\n".join(moments_table(hand_rows, report)))
        results["sizes"].append({
            "size": size,
            "generation": {k: data[k] for k in ("seconds", "events_bytes", "exposures_bytes", "reused")},
            "iterate": {k: analyze[k] for k in ("seconds", "all_seconds", "peak_bytes")},
            "duckdb": {k: hand[k] for k in ("seconds", "all_seconds", "peak_bytes")},
            "verdict": report.get("verdict"),
            "hand_moments": hand_rows,
            "iterate_metrics": [
                {k: row.get(k) for k in ("name", "variant", "n_control", "n_treatment", "control_mean",
                                         "treatment_mean")}
                for row in report.get("metrics", [])
            ],
        })

    help_run = best_of([*iterate, "--help"], env, args.help_repeat)
    results["help_seconds"] = help_run["seconds"]

    print("\nprocess start to printed result, best of", args.repeat)
    header = (f"{'size':>6} {'iterate s':>10} {'duckdb s':>9} {'ratio':>6} {'(<=1.2)':>7}  "
              f"{'iterate MB':>10} {'duckdb MB':>9} {'ratio':>6} {'(<=1.5)':>7}")
    print(header)
    for row in results["sizes"]:
        it, dk = row["iterate"], row["duckdb"]
        time_ratio = it["seconds"] / dk["seconds"]
        memory_ratio = it["peak_bytes"] / dk["peak_bytes"]
        row["time_ratio"], row["memory_ratio"] = time_ratio, memory_ratio
        print(f"{label(row['size']):>6} {it['seconds']:>10.2f} {dk['seconds']:>9.2f} {time_ratio:>6.2f} "
              f"{'ok' if time_ratio <= TIME_BUDGET else 'OVER':>7}  "
              f"{it['peak_bytes'] / 2**20:>10.0f} {dk['peak_bytes'] / 2**20:>9.0f} {memory_ratio:>6.2f} "
              f"{'ok' if memory_ratio <= MEMORY_BUDGET else 'OVER':>7}")
    print(f"\n`iterate --help`: {help_run['seconds']:.3f} s (best of {args.help_repeat}; budget "
          f"{HELP_BUDGET_S} s: {'ok' if help_run['seconds'] < HELP_BUDGET_S else 'OVER'})")

    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2, default=str))
        print(f"numbers written to {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
