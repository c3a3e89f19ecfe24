#!/usr/bin/env python3
"""Benchmark ``iterate analyze`` against the best hand-written DuckDB query for the same moments.

For each size (number of event rows) the script

1. generates logs once into a cache folder with ``iterate simulate DIR --units N/20 --events N
   --seed 1 --effect purchase=0.02`` (reused on later runs),
2. for each metric set (``--metric-sets``, default both), writes a config, 7-day window:
   - ``narrow``: three metrics on the event ``purchase`` (proportion, mean of ``value``, count);
   - ``wide``: eight metrics over the five event types of the simulated log (proportion, mean,
     counts, and two ratios: crashes per app open, revenue per add-to-cart),
   plus the same config with ``pre_period = false`` (no pre-exposure imbalance check),
3. byte-compiles the benchmarked iterate (as ``pip install`` does), then measures, each in a
   fresh process, from process start to printed result, with the peak resident memory of that
   process, in ``--repeat`` interleaved rounds (best and median of each):
   (a) ``iterate analyze config_<set>.toml --format json`` (iterate's defaults, which include
       the pre-exposure imbalance check),
   (b) the same with ``pre_period = false``,
   (c) a hand-written DuckDB query in ``python -c`` computing the same per-variant moments as (b),
   (d) the same query also computing the pre-exposure moments, as (a) does,
4. prints the timings, the ratios of each iterate run to the hand query computing the same
   moments against the budget of DESIGN.md (time <= 1.2x, memory <= 1.5x), the means side by
   side, and the wall time of ``iterate --help`` (budget 0.3 s).

This is a script, not a test: run it by hand or in a scheduled CI job on a quiet machine.

Usage:
    python benchmarks/bench_analyze.py                     # 10M and 50M events, both metric sets
    python benchmarks/bench_analyze.py --sizes 1M          # quick check
    python benchmarks/bench_analyze.py --sizes 1M,10M --metric-sets wide --workdir /data/bench --json-out bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXPERIMENT = "checkout_v2"
METRIC_SETS = ("narrow", "wide")
VERDICT_EXIT_CODES = {0, 10, 11, 12, 13}  # ship, rollback, continue, inconclusive, invalid
TIME_BUDGET, MEMORY_BUDGET, HELP_BUDGET_S = 1.2, 1.5, 0.3

# {pre_period} is empty (iterate's default: a 7-day pre-exposure imbalance check) or
# "pre_period = false\n" (no check)
CONFIG_TEMPLATE = """\
[experiment]
name = "checkout_v2"
control = "control"
alpha = 0.05
window = "7d"
{pre_period}expected_split = {{ control = 0.5, treatment = 0.5 }}

[data]
events = {events}
exposures = {exposures}
{metrics}"""

NARROW_METRICS_TOML = """
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

WIDE_METRICS_TOML = """
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
role = "success"
direction = "increase"

[[metrics]]
name = "carts"
type = "count"
event = "add_to_cart"
role = "success"
direction = "increase"

[[metrics]]
name = "crashes_per_open"
type = "ratio"
numerator = { event = "crash" }
denominator = { event = "app_open" }
role = "guardrail"
direction = "decrease"

[[metrics]]
name = "page_loads"
type = "count"
event = "page_load"
role = "success"
direction = "increase"

[[metrics]]
name = "opens"
type = "count"
event = "app_open"
role = "success"
direction = "increase"

[[metrics]]
name = "revenue_per_cart"
type = "ratio"
numerator = { event = "purchase", value = "value" }
denominator = { event = "add_to_cart" }
role = "success"
direction = "increase"
"""

# The reference for `narrow`: what an expert would write by hand for these three metrics, as fast
# as possible.
# - exposures: one pass; first exposure per unit; units seen in two variants dropped with
#   min = max (cheaper than count(DISTINCT));
# - events: only the needed columns, `event = 'purchase'` pushed into the Parquet scan, joined to
#   the (small) exposed-unit table, window [first exposure, + 7 days);
# - per unit: had a purchase, revenue, purchases; exposed units without events are zeros;
# - per variant: count, avg, var_samp (no sum-of-squares shortcut).
NARROW_HAND_QUERY = """
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

# The reference for iterate's default run on `narrow`, which also measures every metric in the 7
# days before first exposure (the pre-exposure imbalance check): the query above with the scan
# widened to [first exposure - 7 days, + 7 days) and each per-unit value split by a FILTER on the
# period, then the same per-variant moments of the pre-exposure values.
NARROW_HAND_QUERY_WITH_PRE_PERIOD = """
WITH exposed AS (
    SELECT user_id, min("timestamp") AS first_exposure, min(variant) AS variant
    FROM read_parquet($exposures)
    WHERE experiment = $experiment
    GROUP BY user_id
    HAVING min(variant) = max(variant)
),
per_unit AS (
    SELECT e.user_id,
           count(*) FILTER (WHERE e."timestamp" >= x.first_exposure) AS purchases,
           sum(e.value) FILTER (WHERE e."timestamp" >= x.first_exposure) AS revenue,
           count(*) FILTER (WHERE e."timestamp" < x.first_exposure) AS pre_purchases,
           sum(e.value) FILTER (WHERE e."timestamp" < x.first_exposure) AS pre_revenue
    FROM read_parquet($events) AS e
    JOIN exposed AS x ON e.user_id = x.user_id
    WHERE e.event = 'purchase'
      AND e."timestamp" >= x.first_exposure - INTERVAL 7 DAY
      AND e."timestamp" < x.first_exposure + INTERVAL 7 DAY
    GROUP BY e.user_id
),
units AS (
    SELECT x.variant,
           CASE WHEN coalesce(u.purchases, 0) > 0 THEN 1.0 ELSE 0.0 END AS purchasers,
           coalesce(u.revenue, 0.0) AS revenue,
           coalesce(u.purchases, 0)::DOUBLE AS purchases,
           CASE WHEN coalesce(u.pre_purchases, 0) > 0 THEN 1.0 ELSE 0.0 END AS pre_purchasers,
           coalesce(u.pre_revenue, 0.0) AS pre_revenue,
           coalesce(u.pre_purchases, 0)::DOUBLE AS pre_purchases
    FROM exposed AS x
    LEFT JOIN per_unit AS u ON u.user_id = x.user_id
)
SELECT variant, count(*) AS n,
       avg(purchasers) AS purchasers_mean, var_samp(purchasers) AS purchasers_var,
       avg(revenue) AS revenue_mean, var_samp(revenue) AS revenue_var,
       avg(purchases) AS purchases_mean, var_samp(purchases) AS purchases_var,
       avg(pre_purchasers) AS purchasers_pre_mean, var_samp(pre_purchasers) AS purchasers_pre_var,
       avg(pre_revenue) AS revenue_pre_mean, var_samp(pre_revenue) AS revenue_pre_var,
       avg(pre_purchases) AS purchases_pre_mean, var_samp(pre_purchases) AS purchases_pre_var
FROM units
GROUP BY variant
ORDER BY variant
"""

# The reference for `wide`, written the same way:
# - exposures as above; the window end is computed once per unit, not once per event row;
# - events: only the needed columns, the five event types as the scan filter (a filter on the
#   type column, pushed into the Parquet scan), joined to the exposed units, window
#   [first exposure, + 7 days);
# - per unit: one GROUP BY with a FILTER per event type (each count / sum reads only its type);
#   exposed units without events are zeros (LEFT JOIN + coalesce);
# - per variant: count, avg and var_samp of every per-unit value; for the two ratios also
#   covar_samp(numerator, denominator). Each metric gets its own output columns, but a ratio's
#   numerator and denominator are also other metrics (revenue, carts, opens): DuckDB computes
#   each distinct aggregate once, so the repeats cost nothing.
WIDE_HAND_QUERY = """
WITH exposed AS (
    SELECT user_id, min("timestamp") AS first_exposure,
           min("timestamp") + INTERVAL 7 DAY AS window_end, min(variant) AS variant
    FROM read_parquet($exposures)
    WHERE experiment = $experiment
    GROUP BY user_id
    HAVING min(variant) = max(variant)
),
per_unit AS (
    SELECT e.user_id,
           count(*) FILTER (WHERE e.event = 'purchase') AS purchases,
           sum(e.value) FILTER (WHERE e.event = 'purchase') AS revenue,
           count(*) FILTER (WHERE e.event = 'add_to_cart') AS carts,
           count(*) FILTER (WHERE e.event = 'crash') AS crashes,
           count(*) FILTER (WHERE e.event = 'app_open') AS opens,
           count(*) FILTER (WHERE e.event = 'page_load') AS page_loads
    FROM read_parquet($events) AS e
    JOIN exposed AS x ON e.user_id = x.user_id
    WHERE (e.event = 'app_open' OR e.event = 'page_load' OR e.event = 'add_to_cart'
           OR e.event = 'purchase' OR e.event = 'crash')
      AND e."timestamp" >= x.first_exposure
      AND e."timestamp" < x.window_end
    GROUP BY e.user_id
),
units AS (
    SELECT x.variant,
           CASE WHEN coalesce(u.purchases, 0) > 0 THEN 1.0 ELSE 0.0 END AS purchasers,
           coalesce(u.revenue, 0.0) AS revenue,
           coalesce(u.purchases, 0)::DOUBLE AS purchases,
           coalesce(u.carts, 0)::DOUBLE AS carts,
           coalesce(u.crashes, 0)::DOUBLE AS crashes,
           coalesce(u.opens, 0)::DOUBLE AS opens,
           coalesce(u.page_loads, 0)::DOUBLE AS page_loads
    FROM exposed AS x
    LEFT JOIN per_unit AS u ON u.user_id = x.user_id
)
SELECT variant, count(*) AS n,
       avg(purchasers) AS purchasers_mean, var_samp(purchasers) AS purchasers_var,
       avg(revenue) AS revenue_mean, var_samp(revenue) AS revenue_var,
       avg(purchases) AS purchases_mean, var_samp(purchases) AS purchases_var,
       avg(carts) AS carts_mean, var_samp(carts) AS carts_var,
       avg(crashes) AS crashes_per_open_num_mean, var_samp(crashes) AS crashes_per_open_num_var,
       avg(opens) AS crashes_per_open_den_mean, var_samp(opens) AS crashes_per_open_den_var,
       covar_samp(crashes, opens) AS crashes_per_open_cov,
       avg(page_loads) AS page_loads_mean, var_samp(page_loads) AS page_loads_var,
       avg(opens) AS opens_mean, var_samp(opens) AS opens_var,
       avg(revenue) AS revenue_per_cart_num_mean, var_samp(revenue) AS revenue_per_cart_num_var,
       avg(carts) AS revenue_per_cart_den_mean, var_samp(carts) AS revenue_per_cart_den_var,
       covar_samp(revenue, carts) AS revenue_per_cart_cov
FROM units
GROUP BY variant
ORDER BY variant
"""

# The reference for iterate's default run on `wide`: as above, with every per-unit value also
# taken in the 7 days before first exposure (a FILTER on the period), and the per-variant moments
# of those pre-exposure values too (for the two ratios with their covariance).
WIDE_HAND_QUERY_WITH_PRE_PERIOD = """
WITH exposed AS (
    SELECT user_id, min("timestamp") AS first_exposure,
           min("timestamp") - INTERVAL 7 DAY AS pre_start,
           min("timestamp") + INTERVAL 7 DAY AS window_end, min(variant) AS variant
    FROM read_parquet($exposures)
    WHERE experiment = $experiment
    GROUP BY user_id
    HAVING min(variant) = max(variant)
),
per_unit AS (
    SELECT e.user_id,
           count(*) FILTER (WHERE e.event = 'purchase' AND e."timestamp" >= x.first_exposure) AS purchases,
           sum(e.value) FILTER (WHERE e.event = 'purchase' AND e."timestamp" >= x.first_exposure) AS revenue,
           count(*) FILTER (WHERE e.event = 'add_to_cart' AND e."timestamp" >= x.first_exposure) AS carts,
           count(*) FILTER (WHERE e.event = 'crash' AND e."timestamp" >= x.first_exposure) AS crashes,
           count(*) FILTER (WHERE e.event = 'app_open' AND e."timestamp" >= x.first_exposure) AS opens,
           count(*) FILTER (WHERE e.event = 'page_load' AND e."timestamp" >= x.first_exposure) AS page_loads,
           count(*) FILTER (WHERE e.event = 'purchase' AND e."timestamp" < x.first_exposure) AS pre_purchases,
           sum(e.value) FILTER (WHERE e.event = 'purchase' AND e."timestamp" < x.first_exposure) AS pre_revenue,
           count(*) FILTER (WHERE e.event = 'add_to_cart' AND e."timestamp" < x.first_exposure) AS pre_carts,
           count(*) FILTER (WHERE e.event = 'crash' AND e."timestamp" < x.first_exposure) AS pre_crashes,
           count(*) FILTER (WHERE e.event = 'app_open' AND e."timestamp" < x.first_exposure) AS pre_opens,
           count(*) FILTER (WHERE e.event = 'page_load' AND e."timestamp" < x.first_exposure) AS pre_page_loads
    FROM read_parquet($events) AS e
    JOIN exposed AS x ON e.user_id = x.user_id
    WHERE (e.event = 'app_open' OR e.event = 'page_load' OR e.event = 'add_to_cart'
           OR e.event = 'purchase' OR e.event = 'crash')
      AND e."timestamp" >= x.pre_start
      AND e."timestamp" < x.window_end
    GROUP BY e.user_id
),
units AS (
    SELECT x.variant,
           CASE WHEN coalesce(u.purchases, 0) > 0 THEN 1.0 ELSE 0.0 END AS purchasers,
           coalesce(u.revenue, 0.0) AS revenue,
           coalesce(u.purchases, 0)::DOUBLE AS purchases,
           coalesce(u.carts, 0)::DOUBLE AS carts,
           coalesce(u.crashes, 0)::DOUBLE AS crashes,
           coalesce(u.opens, 0)::DOUBLE AS opens,
           coalesce(u.page_loads, 0)::DOUBLE AS page_loads,
           CASE WHEN coalesce(u.pre_purchases, 0) > 0 THEN 1.0 ELSE 0.0 END AS pre_purchasers,
           coalesce(u.pre_revenue, 0.0) AS pre_revenue,
           coalesce(u.pre_purchases, 0)::DOUBLE AS pre_purchases,
           coalesce(u.pre_carts, 0)::DOUBLE AS pre_carts,
           coalesce(u.pre_crashes, 0)::DOUBLE AS pre_crashes,
           coalesce(u.pre_opens, 0)::DOUBLE AS pre_opens,
           coalesce(u.pre_page_loads, 0)::DOUBLE AS pre_page_loads
    FROM exposed AS x
    LEFT JOIN per_unit AS u ON u.user_id = x.user_id
)
SELECT variant, count(*) AS n,
       avg(purchasers) AS purchasers_mean, var_samp(purchasers) AS purchasers_var,
       avg(revenue) AS revenue_mean, var_samp(revenue) AS revenue_var,
       avg(purchases) AS purchases_mean, var_samp(purchases) AS purchases_var,
       avg(carts) AS carts_mean, var_samp(carts) AS carts_var,
       avg(crashes) AS crashes_per_open_num_mean, var_samp(crashes) AS crashes_per_open_num_var,
       avg(opens) AS crashes_per_open_den_mean, var_samp(opens) AS crashes_per_open_den_var,
       covar_samp(crashes, opens) AS crashes_per_open_cov,
       avg(page_loads) AS page_loads_mean, var_samp(page_loads) AS page_loads_var,
       avg(opens) AS opens_mean, var_samp(opens) AS opens_var,
       avg(revenue) AS revenue_per_cart_num_mean, var_samp(revenue) AS revenue_per_cart_num_var,
       avg(carts) AS revenue_per_cart_den_mean, var_samp(carts) AS revenue_per_cart_den_var,
       covar_samp(revenue, carts) AS revenue_per_cart_cov,
       avg(pre_purchasers) AS purchasers_pre_mean, var_samp(pre_purchasers) AS purchasers_pre_var,
       avg(pre_revenue) AS revenue_pre_mean, var_samp(pre_revenue) AS revenue_pre_var,
       avg(pre_purchases) AS purchases_pre_mean, var_samp(pre_purchases) AS purchases_pre_var,
       avg(pre_carts) AS carts_pre_mean, var_samp(pre_carts) AS carts_pre_var,
       avg(pre_crashes) AS crashes_per_open_pre_num_mean, var_samp(pre_crashes) AS crashes_per_open_pre_num_var,
       avg(pre_opens) AS crashes_per_open_pre_den_mean, var_samp(pre_opens) AS crashes_per_open_pre_den_var,
       covar_samp(pre_crashes, pre_opens) AS crashes_per_open_pre_cov,
       avg(pre_page_loads) AS page_loads_pre_mean, var_samp(pre_page_loads) AS page_loads_pre_var,
       avg(pre_opens) AS opens_pre_mean, var_samp(pre_opens) AS opens_pre_var,
       avg(pre_revenue) AS revenue_per_cart_pre_num_mean, var_samp(pre_revenue) AS revenue_per_cart_pre_num_var,
       avg(pre_carts) AS revenue_per_cart_pre_den_mean, var_samp(pre_carts) AS revenue_per_cart_pre_den_var,
       covar_samp(pre_revenue, pre_carts) AS revenue_per_cart_pre_cov
FROM units
GROUP BY variant
ORDER BY variant
"""

# Per metric set: the metrics of the config, the metric names in the hand query's order, the
# ratios among them (their hand mean is avg(numerator) / avg(denominator)), and the hand queries
# computing the same moments as iterate without and with its pre-exposure check.
SETS = {
    "narrow": {"toml": NARROW_METRICS_TOML, "metrics": ("purchasers", "revenue", "purchases"),
               "ratios": (), "query": NARROW_HAND_QUERY, "query_with_pre_period": NARROW_HAND_QUERY_WITH_PRE_PERIOD},
    "wide": {"toml": WIDE_METRICS_TOML,
             "metrics": ("purchasers", "revenue", "purchases", "carts", "crashes_per_open", "page_loads",
                         "opens", "revenue_per_cart"),
             "ratios": ("crashes_per_open", "revenue_per_cart"), "query": WIDE_HAND_QUERY,
             "query_with_pre_period": WIDE_HAND_QUERY_WITH_PRE_PERIOD},
}
# (key, label, pre-exposure check on, the hand query computing the same moments)
ITERATE_RUNS = (
    ("iterate", "iterate (defaults)", True, "duckdb_with_pre_period"),
    ("iterate_no_pre_period", "iterate (pre_period = false)", False, "duckdb"),
)
HAND_RUNS = (("duckdb", "query"), ("duckdb_with_pre_period", "query_with_pre_period"))

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


def byte_compile(iterate: list[str], env: dict[str, str]) -> None:
    """Compile the benchmarked iterate to bytecode first, as ``pip install`` does: from a checkout
    with ``PYTHONDONTWRITEBYTECODE`` set, every run would otherwise compile its modules anew."""
    python = iterate[0] if iterate[:2] == [sys.executable, "-m"] else Path(iterate[0]).read_text().splitlines()[0][2:]
    python = python.strip() or sys.executable
    found = subprocess.run([python, "-c", "import iterate, os; print(os.path.dirname(iterate.__file__))"],
                           env=env, stdout=subprocess.PIPE, text=True, check=True)
    subprocess.run([python, "-m", "compileall", "-q", found.stdout.strip()], env=env, check=True)


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
    return summarize([run_measured(command, env, ok_codes) for _ in range(repeat)])


def best_of_interleaved(commands: dict[str, tuple[list[str], set[int]]], env: dict[str, str], repeat: int) -> dict:
    """``best_of`` for several commands run in rounds (a, b, c, a, b, c, ...), so that a slow
    spell of a shared machine hits every command alike instead of one of them."""
    runs: dict[str, list[dict]] = {key: [] for key in commands}
    for _ in range(repeat):
        for key, (command, ok_codes) in commands.items():
            runs[key].append(run_measured(command, env, ok_codes))
    return {key: summarize(measured) for key, measured in runs.items()}


def summarize(runs: list[dict]) -> dict:
    best = min(runs, key=lambda run: run["seconds"])
    return {
        "seconds": best["seconds"],
        "all_seconds": [run["seconds"] for run in runs],
        "median_seconds": statistics.median(run["seconds"] for run in runs),
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
        [*iterate, "simulate", str(folder), *command_args, "--force"],  # replaces a stale cache
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


def write_config(folder: Path, events: str, exposures: str, metric_set: str, pre_period: bool) -> Path:
    """``config_<set>.toml`` (iterate's defaults) or ``config_<set>_no_pre_period.toml``."""
    config = folder / f"config_{metric_set}{'' if pre_period else '_no_pre_period'}.toml"
    # a JSON string is a valid TOML basic string (quotes and backslashes escaped)
    config.write_text(CONFIG_TEMPLATE.format(
        events=json.dumps(events), exposures=json.dumps(exposures),
        pre_period="" if pre_period else "pre_period = false\n", metrics=SETS[metric_set]["toml"],
    ))
    return config


def hand_mean(row: dict, name: str, metric_set: str) -> float:
    """The hand query's mean of a metric in one variant; for a ratio avg(numerator) / avg(denominator)."""
    if name in SETS[metric_set]["ratios"]:
        numerator, denominator = row.get(f"{name}_num_mean"), row.get(f"{name}_den_mean")
        if numerator is None or not denominator:
            return float("nan")
        return numerator / denominator
    value = row.get(f"{name}_mean")
    return float("nan") if value is None else value


def relative_difference(a: float, b: float) -> float:
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))  # nan when either is nan


def compare_means(hand: list[dict], report: dict, metric_set: str) -> list[dict]:
    """Per metric and variant: n and mean of the hand query and of iterate."""
    by_variant = {row["variant"]: row for row in hand}
    rows = []
    for row in report.get("metrics", []):
        name = row["name"]
        if name not in SETS[metric_set]["metrics"] or row.get("segment") is not None:
            continue
        for side, variant in (("control", report.get("control", "control")), ("treatment", row["variant"])):
            mine = by_variant.get(variant, {})
            mean_hand, mean_iterate = hand_mean(mine, name, metric_set), row[f"{side}_mean"]
            rows.append({"metric": name, "variant": variant, "n_hand": mine.get("n"),
                         "n_iterate": row[f"n_{side}"], "mean_hand": mean_hand, "mean_iterate": mean_iterate,
                         "relative_difference": relative_difference(mean_hand, mean_iterate)})
    return rows


def moments_table(compared: list[dict]) -> list[str]:
    """Hand query's per-variant means next to iterate's, per metric."""
    width = max([11, *(len(row["metric"]) for row in compared)])
    lines = [f"    {'metric':<{width}} {'variant':<10} {'n hand':>10} {'n iterate':>10} {'mean hand':>16} "
             f"{'mean iterate':>16} {'rel. diff':>9}"]
    for row in compared:
        n_hand = "nan" if row["n_hand"] is None else row["n_hand"]
        lines.append(
            f"    {row['metric']:<{width}} {row['variant']:<10} {n_hand:>10} {row['n_iterate']:>10} "
            f"{row['mean_hand']:>16.10g} {row['mean_iterate']:>16.10g} {row['relative_difference']:>9.1e}"
        )
    return lines


def largest(values) -> float:
    """Largest of ``values``, nan if any is nan (a missing mean must not pass for agreement)."""
    values = list(values)
    if any(value != value for value in values):
        return float("nan")
    return max(values, default=0.0)


def parse_metric_sets(text: str) -> list[str]:
    """``"narrow,wide"`` -> ``["narrow", "wide"]`` (in the given order, without repeats)."""
    names = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [name for name in names if name not in METRIC_SETS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown metric set(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(METRIC_SETS)}"
        )
    return names


def load_average() -> str | None:
    """The 1, 5 and 15-minute load averages (Linux), to judge whether the machine was quiet."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return None


def checkout_commit() -> str | None:
    """The commit of this checkout (read-only ``git rev-parse``); uncommitted changes are not seen."""
    try:
        done = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10M,50M", help="comma-separated event counts (default 10M,50M)")
    parser.add_argument("--metric-sets", type=parse_metric_sets, default=list(METRIC_SETS),
                        help="comma-separated metric sets: narrow (3 metrics on purchase), wide (8 metrics "
                             "over 5 event types, 2 of them ratios); default narrow,wide")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "iterate-bench",
                        help="cache folder for the generated logs (reused when present)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of runs; the best time counts")
    parser.add_argument("--help-repeat", type=int, default=5, help="runs of `iterate --help`")
    parser.add_argument("--json-out", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    sizes = [parse_size(part) for part in args.sizes.split(",") if part.strip()]
    if args.repeat < 1 or args.help_repeat < 1:
        parser.error("--repeat and --help-repeat must be >= 1")

    iterate, env = iterate_command()
    byte_compile(iterate, env)
    import duckdb  # only for the version in the report

    commit = checkout_commit()
    print(f"iterate command: {' '.join(iterate)} (checkout at commit {commit or 'unknown'})")
    print(f"python {platform.python_version()}, duckdb {duckdb.__version__}, {os.cpu_count()} CPUs, "
          f"{platform.platform()}; load average {load_average() or 'unknown'}")
    results: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                 "python": platform.python_version(), "duckdb": duckdb.__version__},
                     "commit": commit, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                     "load_average_start": load_average(),
                     "repeat": args.repeat, "metric_sets": args.metric_sets, "sizes": []}

    for size in sizes:
        data = generate(size, args.workdir, iterate, env)
        folder = Path(data["events_path"]).parent
        how = "reused" if data["reused"] else "generated"
        print(f"\n== {label(size)} events ({how}; generation took {data['seconds']:.1f} s, "
              f"events.parquet {data['events_bytes'] / 1e6:.0f} MB, "
              f"exposures.parquet {data['exposures_bytes'] / 1e6:.0f} MB)", flush=True)
        for metric_set in args.metric_sets:
            entry: dict = {
                "size": size,
                "metric_set": metric_set,
                "generation": {k: data[k] for k in ("seconds", "events_bytes", "exposures_bytes", "reused")},
            }
            commands = {}
            for key, _, pre_period, _ in ITERATE_RUNS:
                config = write_config(folder, data["events_path"], data["exposures_path"], metric_set, pre_period)
                commands[key] = ([*iterate, "analyze", str(config), "--format", "json"], VERDICT_EXIT_CODES)
            for key, query in HAND_RUNS:
                commands[key] = ([sys.executable, "-c", HAND_SCRIPT, SETS[metric_set][query], data["events_path"],
                                  data["exposures_path"], EXPERIMENT], {0})
            measured = best_of_interleaved(commands, env, args.repeat)
            reports, hand_rows = {}, {}
            for key, _, _, _ in ITERATE_RUNS:
                run = measured[key]
                reports[key] = parse_json(run["stdout"], f"iterate analyze {commands[key][0][-3]} --format json")
                entry[key] = {k: run[k] for k in ("seconds", "all_seconds", "median_seconds", "peak_bytes")}
                entry[key]["config"] = commands[key][0][-3]
                entry[key]["verdict"] = reports[key].get("verdict")
            for key, _ in HAND_RUNS:
                hand = measured[key]
                entry[key] = {k: hand[k] for k in ("seconds", "all_seconds", "median_seconds", "peak_bytes")}
                hand_rows[key] = parse_json(hand["stdout"], f"the hand-written query ({metric_set}, {key})")
            report = reports["iterate"]
            compared = compare_means(hand_rows["duckdb"], report, metric_set)
            without = compare_means(hand_rows["duckdb"], reports["iterate_no_pre_period"], metric_set)
            with_pre = compare_means(hand_rows["duckdb_with_pre_period"], report, metric_set)
            same = largest(relative_difference(a["mean_iterate"], b["mean_iterate"]) for a, b in zip(compared, without))
            expected = len(SETS[metric_set]["metrics"]) * 2
            print(f"-- {metric_set}: {len(SETS[metric_set]['metrics'])} metrics, verdict "
                  f"{report.get('verdict')} (pre_period = false: {reports['iterate_no_pre_period'].get('verdict')})")
            print("\n".join(moments_table(compared)))
            agree = largest(row["relative_difference"] for row in compared)
            agree_pre = largest(row["relative_difference"] for row in with_pre)
            n_agree = all(row["n_hand"] == row["n_iterate"] for row in compared + with_pre)
            print(f"    hand vs iterate: largest relative difference of the means {agree:.1e} "
                  f"({agree_pre:.1e} against the post-exposure means of the hand query with the pre-period; its "
                  f"pre-exposure moments are not in iterate's report), n "
                  f"{'identical' if n_agree else 'DIFFERENT'}, {len(compared)} of {expected} rows compared\n"
                  f"    iterate (pre_period = false) vs iterate: largest relative difference of the means "
                  f"{same:.1e}", flush=True)
            entry.update({
                "verdict": report.get("verdict"),
                "largest_relative_difference": agree,
                "n_identical": n_agree,
                "rows_compared": len(compared),
                "largest_relative_difference_no_pre_period": same,
                "largest_relative_difference_hand_with_pre_period": agree_pre,
                "hand_moments": hand_rows["duckdb"],
                "hand_moments_with_pre_period": hand_rows["duckdb_with_pre_period"],
                "iterate_metrics": [
                    {k: row.get(k) for k in ("name", "variant", "n_control", "n_treatment", "control_mean",
                                             "treatment_mean")}
                    for row in report.get("metrics", [])
                ],
            })
            results["sizes"].append(entry)

    help_run = best_of([*iterate, "--help"], env, args.help_repeat)
    results["help_seconds"] = help_run["seconds"]
    results["load_average_end"] = load_average()

    print(f"\nprocess start to printed result, best of {args.repeat} (runs interleaved); each iterate run against "
          "the hand query computing the same moments; median ratio: of the medians")
    run_width = max(len(name) for _, name, _, _ in ITERATE_RUNS)
    header = (f"{'size':>6} {'metrics':<7} {'run':<{run_width}} {'iterate s':>10} {'hand s':>7} {'ratio':>6} "
              f"{'(<=1.2)':>7} {'median ratio':>12}  {'iterate MB':>10} {'hand MB':>8} {'ratio':>6} {'(<=1.5)':>7}")
    print(header)
    for row in results["sizes"]:
        for key, name, _, hand_key in ITERATE_RUNS:
            it, dk = row[key], row[hand_key]
            time_ratio = it["seconds"] / dk["seconds"]
            it["median_time_ratio"] = it["median_seconds"] / dk["median_seconds"]
            memory_ratio = it["peak_bytes"] / dk["peak_bytes"]
            it["time_ratio"], it["memory_ratio"], it["compared_with"] = time_ratio, memory_ratio, hand_key
            print(f"{label(row['size']):>6} {row['metric_set']:<7} {name:<{run_width}} {it['seconds']:>10.2f} "
                  f"{dk['seconds']:>7.2f} {time_ratio:>6.2f} {'ok' if time_ratio <= TIME_BUDGET else 'OVER':>7} "
                  f"{it['median_time_ratio']:>12.2f}  {it['peak_bytes'] / 2**20:>10.0f} {dk['peak_bytes'] / 2**20:>8.0f} "
                  f"{memory_ratio:>6.2f} {'ok' if memory_ratio <= MEMORY_BUDGET else 'OVER':>7}")
        plain = row["iterate"]["seconds"] / row["duckdb"]["seconds"]
        row["iterate"]["time_ratio_against_plain_hand_query"] = plain
        print(f"{'':>6} {'':<7} {'(defaults against the hand query without the pre-period: ' + format(plain, '.2f') + ')'}")
        row["time_ratio"], row["memory_ratio"] = row["iterate"]["time_ratio"], row["iterate"]["memory_ratio"]
    print(f"\n`iterate --help`: {help_run['seconds']:.3f} s (best of {args.help_repeat}; budget "
          f"{HELP_BUDGET_S} s: {'ok' if help_run['seconds'] < HELP_BUDGET_S else 'OVER'})")
    print(f"load average at the end: {results['load_average_end'] or 'unknown'}")

    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2, default=str))
        print(f"numbers written to {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
