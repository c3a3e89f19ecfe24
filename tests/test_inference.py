"""Sequential designs end to end: anytime-valid rows, group-sequential looks, Bayesian summaries and
the per-day timeline, each checked against :mod:`iterate.stats` / SciPy on the row's own numbers.

- ``sequential = true``: a row's p-value and interval are :func:`iterate.stats.sequential.msprt` of
  its effect and standard error, ``tau**2`` from :func:`default_mixing_variance` at the standard
  error scaled to ``planned_units`` (se * sqrt(n / planned), as designs.py documents); the
  always-valid p-value is never below the fixed-horizon one of the same data, and its interval
  contains the fixed one. ``sequential_method = "confidence_sequence"`` likewise.
- ``looks = 4, planned_units = N``: ``decision_alpha`` is the nominal alpha of
  :func:`spending_boundaries` at the current information fraction, and an effect significant at
  0.05 but not at that alpha is not "better".
- ``inference = "both"``: ``chance_to_beat`` is Phi(effect / se) toward the good direction (flat prior),
  and the normal-normal posterior with ``prior_std``.
- ``iterate analyze --timeline --format json``: days ascending, always-valid p non-increasing,
  nested always-valid intervals, and each day's fixed effect equals ``iterate.analyze(as_of=day)``
  over the units exposed by day - window (whose windows are complete); the always-valid columns are
  ``msprt_path`` / ``confidence_sequence_path`` over those days.
- a guardrail's non-inferiority under a sequential design must be as peeking-proof as the success
  test (not a fixed-horizon one-sided z at the full alpha).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from scipy import integrate, stats
from statsmodels.stats.proportion import proportions_ztest

import iterate
from helpers import BASE, write_config, write_logs
from iterate.cli import main
from iterate.stats.group_sequential import spending_boundaries
from iterate.stats.sequential import (
    confidence_sequence,
    confidence_sequence_path,
    default_mixing_variance,
    msprt,
    msprt_path,
)

DAY_US = 86_400 * 1_000_000
ALPHA = 0.05


def make_logs(seed: int, rates: dict[str, tuple[float, float]], n_per_arm: int, exposure_days: float = 3.0,
              activity_days: float = 6.0):
    """Balanced arms exposed over ``exposure_days``; each unit does ``event`` Poisson(rate) times within
    ``activity_days`` of its exposure."""
    rng = np.random.default_rng(seed)
    n = 2 * n_per_arm
    users = np.array([f"u{i:05d}" for i in range(n)])
    variant = np.array(["control", "treatment"] * n_per_arm)
    base_us = int(np.datetime64(BASE, "us").astype(np.int64))
    exposure_us = base_us + rng.integers(0, int(exposure_days * DAY_US), size=n)
    ids, times, names = [], [], []
    for event, (control_rate, treatment_rate) in rates.items():
        counts = rng.poisson(np.where(variant == "control", control_rate, treatment_rate))
        ids.append(np.repeat(users, counts))
        times.append(np.repeat(exposure_us, counts)
                     + rng.integers(0, int(activity_days * DAY_US), size=int(counts.sum())))
        names.append(np.full(int(counts.sum()), event))
    events = pl.DataFrame({"user_id": np.concatenate(ids),
                           "timestamp": np.concatenate(times).astype("datetime64[us]"),
                           "event": np.concatenate(names)})
    exposures = pl.DataFrame({"user_id": users, "experiment": "exp", "variant": variant,
                              "timestamp": exposure_us.astype("datetime64[us]")})
    return events, exposures


def row(result, name: str):
    rows = [r for r in result.metric_results if r.name == name]
    assert len(rows) == 1
    return rows[0]


METRICS = [
    {"name": "purchases", "type": "count", "event": "purchase"},
    {"name": "converted", "type": "proportion", "event": "signup"},
    {"name": "crashes", "type": "count", "event": "crash", "role": "guardrail", "direction": "decrease"},
]
RATES = {"purchase": (1.0, 1.09), "signup": (0.25, 0.28), "crash": (0.5, 0.5)}
PLANNED = 12_000


@pytest.fixture(scope="module")
def logs():
    return make_logs(31, RATES, n_per_arm=2500)


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory, logs):
    directory = tmp_path_factory.mktemp("sequential_logs")
    write_logs(directory, *logs)
    return directory


def analyze(directory, filename: str, metrics=METRICS, **extra):
    return iterate.analyze(write_config(directory, filename, metrics=metrics,
                                        experiment_extra={"pre_period": False, **extra}))


@pytest.fixture(scope="module")
def fixed(log_dir):
    return analyze(log_dir, "fixed.toml")


def per_unit(events: pl.DataFrame, exposures: pl.DataFrame, event: str) -> tuple[np.ndarray, np.ndarray]:
    counted = (events.filter(pl.col("event") == event)
               .join(exposures.select("user_id", pl.col("timestamp").alias("fe")), on="user_id")
               .filter(pl.col("timestamp") < pl.col("fe") + timedelta(days=7))
               .group_by("user_id").agg(pl.len().cast(pl.Float64).alias("y")))
    table = exposures.join(counted, on="user_id", how="left").with_columns(pl.col("y").fill_null(0.0))
    return (table.filter(pl.col("variant") == "control")["y"].to_numpy(),
            table.filter(pl.col("variant") == "treatment")["y"].to_numpy())


def test_fixed_rows_match_an_independent_welch(fixed, logs) -> None:
    control, treatment = per_unit(*logs, "purchase")
    r = row(fixed, "purchases")
    assert r.effect == pytest.approx(treatment.mean() - control.mean(), rel=1e-9)
    se = math.sqrt(control.var(ddof=1) / control.size + treatment.var(ddof=1) / treatment.size)
    assert r.std_error == pytest.approx(se, rel=1e-9)
    assert r.p_value == pytest.approx(stats.ttest_ind(treatment, control, equal_var=False).pvalue, rel=1e-7)


@pytest.mark.parametrize("planned_units", [PLANNED, None])
def test_msprt_rows(log_dir, fixed, planned_units) -> None:
    extra = {"sequential": True} | ({"planned_units": planned_units} if planned_units else {})
    result = analyze(log_dir, f"msprt_{planned_units}.toml", **extra)
    for name in ("purchases", "converted", "crashes"):
        r, f = row(result, name), row(fixed, name)
        # the estimate itself is unchanged (up to the engine's summation order)
        assert (r.effect, r.std_error) == pytest.approx((f.effect, f.std_error), rel=1e-12)
        n = r.n_control + r.n_treatment
        tau2 = default_mixing_variance(alpha=ALPHA, std_error_at_planned_n=r.std_error * math.sqrt(n / (planned_units or n)))
        expected = msprt(r.effect, r.std_error, alpha=ALPHA, mixing_variance=tau2)
        assert r.p_value == pytest.approx(expected.p_value, rel=1e-12)
        assert (r.ci_low, r.ci_high) == pytest.approx((expected.ci_low, expected.ci_high), rel=1e-12)
        assert r.method.endswith("+msprt")
        assert r.relative_ci_low is None and r.relative_ci_high is None and r.relative_status == "not_tested"
        assert f.relative_status == "ok" and f.relative_ci_low is not None
        # always valid costs: p never below the fixed-horizon p, the interval contains the fixed one
        assert r.p_value >= f.p_value
        assert r.ci_low <= f.ci_low and r.ci_high >= f.ci_high
    purchases = row(result, "purchases")
    assert purchases.p_value < 1  # a real effect: the mixture p is informative here
    # the success family is Holm-corrected on the always-valid p-values
    p = sorted(row(result, n).p_value for n in ("purchases", "converted"))
    assert min(row(result, n).p_value_adjusted for n in ("purchases", "converted")) == pytest.approx(min(1, 2 * p[0]))


def test_confidence_sequence_rows(log_dir, fixed) -> None:
    result = analyze(log_dir, "cs.toml", sequential=True, sequential_method="confidence_sequence",
                     planned_units=PLANNED)
    for name in ("purchases", "converted", "crashes"):
        r, f = row(result, name), row(fixed, name)
        expected = confidence_sequence(f.effect, f.std_error, r.n_control + r.n_treatment, alpha=ALPHA,
                                       tuning_n=PLANNED)
        assert r.p_value == pytest.approx(expected.p_value, rel=1e-12)
        assert (r.ci_low, r.ci_high) == pytest.approx((expected.ci_low, expected.ci_high), rel=1e-12)
        assert r.method.endswith("+confidence_sequence")
        assert r.p_value >= f.p_value


# ------------------------------------------------------------------------------------ group sequential


def binary_logs(n_per_arm: int, k_control: int, k_treatment: int):
    """Deterministic: the first k units of each arm convert (one ``purchase`` a day after exposure)."""
    rows_e, rows_x = [], []
    for variant, k in (("control", k_control), ("treatment", k_treatment)):
        for i in range(n_per_arm):
            user = f"{variant}-{i}"
            exposed = BASE + timedelta(minutes=2 * i)
            rows_x.append({"user_id": user, "experiment": "exp", "variant": variant, "timestamp": exposed})
            if i < k:
                rows_e.append({"user_id": user, "timestamp": exposed + timedelta(days=1), "event": "purchase"})
    return pl.DataFrame(rows_e), pl.DataFrame(rows_x)


def pooled_p(n: int, k_control: int, k_treatment: int) -> float:
    return float(proportions_ztest([k_treatment, k_control], [n, n])[1])


def find_treatment_count(n: int, k_control: int, low: float, high: float) -> int:
    """The first treatment count whose two-proportion z p-value is in (low, high)."""
    for k in range(k_control, n):
        if low < pooled_p(n, k_control, k) < high:
            return k
    raise AssertionError("no count in range")


CONVERSION = [{"name": "conversion", "type": "proportion", "event": "purchase"}]


def test_group_sequential_look_alpha(tmp_path) -> None:
    n, k_control = 1500, 300
    planned = 4500  # 3000 analyzed: information fraction 2/3, third of four looks
    design = spending_boundaries([0.25, 0.5, 2 / 3], alpha=ALPHA)
    nominal = design.nominal_alphas[-1]
    assert 0.005 < nominal < 0.02
    k_treatment = find_treatment_count(n, k_control, 2 * nominal, 0.045)
    write_logs(tmp_path, *binary_logs(n, k_control, k_treatment))

    gs = analyze(tmp_path, "gs.toml", CONVERSION, looks=4, planned_units=planned)
    r = row(gs, "conversion")
    assert r.decision_alpha == pytest.approx(nominal, rel=1e-9)
    assert r.p_value == pytest.approx(pooled_p(n, k_control, k_treatment), rel=1e-9)
    assert r.p_value < 0.05 and r.p_value > r.decision_alpha
    assert r.outcome == "no_difference"
    assert gs.verdict == "continue"

    plain = analyze(tmp_path, "plain.toml", CONVERSION)
    assert row(plain, "conversion").outcome == "better" and plain.verdict == "ship"
    assert row(plain, "conversion").decision_alpha is None

    # a clearly larger effect crosses the look's boundary
    strong = tmp_path / "strong"
    strong.mkdir()
    k_strong = find_treatment_count(n, k_control, 0.0, nominal / 10)
    write_logs(strong, *binary_logs(n, k_control, k_strong))
    crossed = analyze(strong, "gs.toml", CONVERSION, looks=4, planned_units=planned)
    assert row(crossed, "conversion").outcome == "better" and crossed.verdict == "ship"


@pytest.mark.parametrize("spending", ["obrien-fleming", "pocock"])
def test_group_sequential_final_look(tmp_path, spending) -> None:
    """At the planned size (fraction 1, look 4 of 4) the nominal alpha is the design's last one, and
    without a crossing the planned end is reached: inconclusive."""
    n, k_control = 1500, 300
    nominal = spending_boundaries([0.25, 0.5, 0.75, 1.0], alpha=ALPHA, spending=spending).nominal_alphas[-1]
    assert nominal < ALPHA
    k_treatment = find_treatment_count(n, k_control, nominal, ALPHA)
    write_logs(tmp_path, *binary_logs(n, k_control, k_treatment))
    result = analyze(tmp_path, "final.toml", CONVERSION, looks=4, planned_units=2 * n, spending=spending)
    r = row(result, "conversion")
    assert r.decision_alpha == pytest.approx(nominal, rel=1e-9)
    assert r.outcome == "no_difference" and r.p_value < ALPHA
    assert result.verdict == "inconclusive" and result.exit_code == 12


# ----------------------------------------------------------------------------------------- bayesian


def test_chance_to_beat_flat_prior(log_dir, fixed) -> None:
    result = analyze(log_dir, "both.toml", inference="both")
    for name in ("purchases", "converted", "crashes"):
        r, f = row(result, name), row(fixed, name)
        assert (r.effect, r.p_value) == pytest.approx((f.effect, f.p_value), rel=1e-12)  # frequentist rows unchanged
        assert r.outcome == f.outcome
        good = r.effect if r.direction == "increase" else -r.effect
        assert r.chance_to_beat == pytest.approx(stats.norm.cdf(good / r.std_error), rel=1e-12)
        # expected loss of shipping: E[max(0, -good effect)] under N(good, se^2), by quadrature
        loss = integrate.quad(lambda x: -x * stats.norm.pdf(x, good, r.std_error), good - 40 * r.std_error, 0.0,
                              epsabs=1e-15, epsrel=1e-12)[0] if good - 40 * r.std_error < 0 else 0.0
        assert r.expected_loss == pytest.approx(loss, rel=1e-9, abs=1e-15)
    assert row(result, "purchases").chance_to_beat > 0.95
    assert row(fixed, "purchases").chance_to_beat is None


def test_chance_to_beat_with_a_relative_prior(log_dir) -> None:
    prior_std = 0.02
    result = analyze(log_dir, "prior.toml", inference="both", prior_std=prior_std)
    for name in ("purchases", "crashes"):
        r = row(result, name)
        tau2 = (prior_std * abs(r.control_mean)) ** 2
        se2 = r.std_error**2
        mean = r.effect * tau2 / (tau2 + se2)
        sd = math.sqrt(tau2 * se2 / (tau2 + se2))
        good = mean if r.direction == "increase" else -mean
        assert r.chance_to_beat == pytest.approx(stats.norm.cdf(good / sd), rel=1e-9)


# ----------------------------------------------------------------------------------------- timeline


TIMELINE_METRICS = [
    {"name": "purchases", "type": "count", "event": "purchase"},
    {"name": "converted", "type": "proportion", "event": "signup"},
]
WINDOW = timedelta(days=2)
TIMELINE_PLANNED = 7000


@pytest.fixture(scope="module")
def timeline_setup(tmp_path_factory):
    directory = tmp_path_factory.mktemp("timeline_logs")
    events, exposures = make_logs(47, {"purchase": (0.8, 0.9), "signup": (0.2, 0.23)}, n_per_arm=3000,
                                  exposure_days=8.0, activity_days=2.5)
    write_logs(directory, events, exposures)
    extra = {"pre_period": False, "planned_units": TIMELINE_PLANNED}
    sequential = write_config(directory, "timeline.toml", metrics=TIMELINE_METRICS, window="2d",
                              experiment_extra={**extra, "sequential": True})
    fixed_config = write_config(directory, "timeline_fixed.toml", metrics=TIMELINE_METRICS, window="2d",
                                experiment_extra=extra)
    outcome = CliRunner().invoke(main, ["analyze", str(sequential), "--timeline", "--format", "json"])
    assert outcome.exit_code in (0, 11, 12), outcome.output
    report = json.loads(outcome.stdout)
    return events, exposures, fixed_config, report, outcome.exit_code


def points_of(report, metric: str) -> list[dict]:
    return [p for p in report["timeline"] if p["metric"] == metric and p["variant"] == "treatment"]


def test_timeline_json_shape_and_monotonicity(timeline_setup) -> None:
    events, exposures, _, report, exit_code = timeline_setup
    assert report["exit_code"] == exit_code and report["verdict"] in ("ship", "continue")
    assert isinstance(report["timeline"], list) and report["timeline"]
    for metric in ("purchases", "converted"):
        points = points_of(report, metric)
        days = [datetime.fromisoformat(p["day"]) for p in points]
        assert len(days) >= 6
        assert days == sorted(days) and len(set(days)) == len(days)
        # the first look is a day after the first exposure's midnight, plus the window
        first = exposures["timestamp"].min()
        assert days[0] == datetime(first.year, first.month, first.day) + timedelta(days=1) + WINDOW
        assert days[-1] == events["timestamp"].max()
        ns = [p["n_control"] + p["n_treatment"] for p in points]
        assert ns == sorted(ns) and ns[0] < ns[-1]
        p_values = [p["always_valid_p_value"] for p in points]
        assert all(later <= earlier for earlier, later in zip(p_values, p_values[1:]))
        for earlier, later in zip(points, points[1:]):
            assert earlier["always_valid_ci_low"] <= later["always_valid_ci_low"]
            assert later["always_valid_ci_high"] <= earlier["always_valid_ci_high"]
        # at the first look nothing is intersected yet: the always-valid interval is the look's own,
        # around its effect and wider than the fixed one
        first_point = points[0]
        assert first_point["always_valid_ci_low"] < first_point["ci_low"] < first_point["effect"]
        assert first_point["effect"] < first_point["ci_high"] < first_point["always_valid_ci_high"]
        assert first_point["always_valid_p_value"] >= first_point["p_value"]


@pytest.fixture(scope="module")
def daily_analyses(timeline_setup):
    """``iterate.analyze(as_of=day)`` of "purchases" over the units exposed by day - window, per timeline day."""
    events, exposures, fixed_config, report, _ = timeline_setup
    analyses = []
    for point in points_of(report, "purchases"):
        day = datetime.fromisoformat(point["day"])
        entered = exposures.filter(pl.col("timestamp") <= day - WINDOW)
        analyses.append(row(iterate.analyze(fixed_config, events=events, exposures=entered, as_of=day), "purchases"))
    return analyses


def test_timeline_points_equal_analyses_as_of_each_day(timeline_setup, daily_analyses) -> None:
    """Each day's fixed effect, n and p-value are those of ``iterate.analyze(as_of=day)`` over the
    units exposed by day - window; the always-valid p-values and intervals are ``msprt_path`` over
    those days' effects and standard errors, tau tuned at the last day's se scaled to planned_units."""
    events, exposures, fixed_config, report, _ = timeline_setup
    points = points_of(report, "purchases")
    analyses = daily_analyses
    for point, r in zip(points, analyses):
        assert (point["n_control"], point["n_treatment"]) == (r.n_control, r.n_treatment)
        assert point["effect"] == pytest.approx(r.effect, rel=1e-12)
        assert point["p_value"] == pytest.approx(r.p_value, rel=1e-9)
        assert (point["ci_low"], point["ci_high"]) == pytest.approx((r.ci_low, r.ci_high), rel=1e-9)
    last = analyses[-1]
    tuning = last.std_error * math.sqrt((last.n_control + last.n_treatment) / TIMELINE_PLANNED)
    tau2 = default_mixing_variance(alpha=ALPHA, std_error_at_planned_n=tuning)
    path = msprt_path([r.effect for r in analyses], [r.std_error for r in analyses], alpha=ALPHA, mixing_variance=tau2)
    for point, expected in zip(points, path):
        assert point["always_valid_p_value"] == pytest.approx(expected.p_value, rel=1e-9)
        assert point["always_valid_ci_low"] == pytest.approx(expected.ci_low, rel=1e-9)
        assert point["always_valid_ci_high"] == pytest.approx(expected.ci_high, rel=1e-9)

    # one day by hand with polars: units exposed by day - window, their events up to day in [fe, fe + 2d)
    point = points[len(points) // 2]
    day = datetime.fromisoformat(point["day"])
    units = exposures.filter(pl.col("timestamp") <= day - WINDOW).select("user_id", "variant", pl.col("timestamp").alias("fe"))
    counts = (events.filter(pl.col("event") == "purchase").join(units, on="user_id")
              .filter((pl.col("timestamp") >= pl.col("fe")) & (pl.col("timestamp") < pl.col("fe") + WINDOW)
                      & (pl.col("timestamp") <= day))
              .group_by("user_id").len())
    table = units.join(counts, on="user_id", how="left").with_columns(pl.col("len").fill_null(0))
    means = {v: table.filter(pl.col("variant") == v)["len"].mean() for v in ("control", "treatment")}
    assert point["effect"] == pytest.approx(means["treatment"] - means["control"], rel=1e-9)


# ------------------------------------------------------------- guardrails under sequential monitoring


@pytest.mark.parametrize("design", ["sequential", "looks"])
def test_noninferiority_is_not_a_fixed_horizon_test_under_sequential_designs(tmp_path, design) -> None:
    """With ``sequential = true`` (or planned looks) the experiment may be looked at again and again,
    so the guardrail's non-inferiority must hold whenever it is looked at, like the success test:
    a guardrail whose fixed-horizon one-sided statistic is only 1.8 (p = 0.036; any anytime-valid or
    alpha-spending boundary at 0.05 is far beyond it at this look) is not yet shown non-inferior,
    and the release must not ship on it. Without a sequential design the same data ships."""
    events, exposures = make_logs(5, {"purchase": (1.0, 1.35), "crash": (0.5, 0.5)}, n_per_arm=2500)
    write_logs(tmp_path, events, exposures)
    control, treatment = per_unit(events, exposures, "crash")
    se = math.sqrt(control.var(ddof=1) / control.size + treatment.var(ddof=1) / treatment.size)
    effect = treatment.mean() - control.mean()
    z = 1.8
    margin = z * se + effect  # direction decrease: (-effect + margin) / se = z
    assert margin > 0
    metrics = [{"name": "purchases", "type": "count", "event": "purchase"},
               {"name": "crashes", "type": "count", "event": "crash", "role": "guardrail",
                "direction": "decrease", "margin": float(margin), "margin_type": "absolute"}]

    fixed_result = analyze(tmp_path, "fixed.toml", metrics)
    assert row(fixed_result, "crashes").noninferiority_p_value == pytest.approx(stats.norm.sf(z), rel=1e-6)
    assert row(fixed_result, "crashes").noninferior is True and fixed_result.verdict == "ship"

    n = exposures.height
    extra = {"sequential": True, "planned_units": 2 * n} if design == "sequential" else \
        {"looks": 4, "planned_units": int(1.5 * n)}  # fraction 2/3: nominal alpha about 0.011
    result = analyze(tmp_path, f"{design}.toml", metrics, **extra)
    assert row(result, "purchases").outcome == "better"  # the success metric crosses its bound
    guardrail = row(result, "crashes")
    if design == "sequential":
        assert guardrail.ci_high > margin  # the always-valid interval reaches beyond the margin
    assert guardrail.noninferior is False, guardrail.noninferiority_p_value
    assert result.verdict == "continue", result.reasons


def test_timeline_confidence_sequence_path(timeline_setup, daily_analyses) -> None:
    from iterate.timeline import timeline

    events, exposures, fixed_config, _, _ = timeline_setup
    config = write_config(fixed_config.parent, "timeline_cs.toml", metrics=TIMELINE_METRICS[:1], window="2d",
                          experiment_extra={"pre_period": False, "planned_units": TIMELINE_PLANNED,
                                            "sequential": True, "sequential_method": "confidence_sequence"})
    points = [p for p in timeline(config) if p.metric == "purchases"]
    assert [p.effect for p in points] == pytest.approx([r.effect for r in daily_analyses], rel=1e-12)
    path = confidence_sequence_path([r.effect for r in daily_analyses], [r.std_error for r in daily_analyses],
                                    [r.n_control + r.n_treatment for r in daily_analyses], alpha=ALPHA,
                                    tuning_n=TIMELINE_PLANNED)
    for point, expected in zip(points, path, strict=True):
        assert point.always_valid_p_value == pytest.approx(expected.p_value, rel=1e-9)
        assert (point.always_valid_ci_low, point.always_valid_ci_high) == pytest.approx(
            (expected.ci_low, expected.ci_high), rel=1e-9)


def test_timeline_text_prints_each_day_once(timeline_setup) -> None:
    """The last period end fell on the date of the data end, and the text printed that day twice
    (issue 9, defect 9): the data end is the day's look, shown with its time."""
    _, _, fixed_config, _, _ = timeline_setup
    outcome = CliRunner().invoke(main, ["analyze", str(fixed_config), "--timeline"])
    assert outcome.exit_code in (0, 11, 12), outcome.output
    rows = [line.split() for line in outcome.stdout.split("Timeline", 1)[1].splitlines()
            if line[:4].isdigit() and " purchases " in line]
    days = [row[0] for row in rows]
    assert len(days) >= 6 and len(days) == len(set(days)), days
    assert ":" in rows[-1][1]  # the data end, mid-day, with its time


def test_timeline_looks_end_with_the_data_end_once_per_date() -> None:
    from iterate.timeline import _looks

    day = timedelta(days=1)
    looks = _looks(datetime(2026, 1, 25), datetime(2026, 1, 27, 23, 3), day)
    assert looks == [datetime(2026, 1, 25), datetime(2026, 1, 26), datetime(2026, 1, 27, 23, 3)]
    # a data end at midnight is its own day
    assert _looks(datetime(2026, 1, 25), datetime(2026, 1, 27), day) == [
        datetime(2026, 1, 25), datetime(2026, 1, 26), datetime(2026, 1, 27)]
    # a data end before the first period end: one look
    assert _looks(datetime(2026, 1, 25), datetime(2026, 1, 24, 8), day) == [datetime(2026, 1, 24, 8)]
