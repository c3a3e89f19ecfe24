"""Segments end to end on a simulated log where the treatment harms a guardrail on one platform only.

Per-segment effects, their multiplicity correction, Cochran's Q and each segment's deviation from
the pooled others are recomputed here with polars / NumPy / scipy / statsmodels on the per-unit
values; the segment may come from the exposures or, when they lack it, from the unit's first event
at or after its first exposure. A broken split on one platform is a per-segment SRM warning.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from click.testing import CliRunner
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

import iterate
from helpers import BASE, write_config, write_logs
from iterate.cli import main

DAY = 86_400
ALPHA = 0.05
BASE64 = np.datetime64(BASE, "us")
PLATFORMS = ("android", "ios", "web")
SHARES = (0.16, 0.42, 0.42)
METRICS = (
    {"name": "crashes", "type": "count", "event": "crash", "role": "guardrail", "direction": "decrease"},
    {"name": "conversion", "type": "proportion", "event": "purchase"},
)


def stamps(seconds) -> np.ndarray:
    return BASE64 + np.round(np.asarray(seconds, dtype=float)).astype(np.int64).astype("timedelta64[s]")


def simulate(seed: int = 2026, units: int = 6000):
    """Units on ios / android / web; crashes Poisson(0.5) per unit in the week, x1.5 for treated
    android units only; purchases with no effect. Events carry the platform of the device sending
    them: a few units have an earlier, pre-exposure event on another device, and a few switch
    device in their first session after exposure."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"u{i:05d}" for i in range(units)])
    platform = rng.choice(PLATFORMS, size=units, p=SHARES)
    treated = rng.random(units) < 0.5
    variant = np.where(treated, "treatment", "control")
    exposed = np.round(rng.uniform(0, 5 * DAY, size=units))
    exposures = pl.DataFrame({"user_id": ids, "experiment": "exp", "variant": variant,
                              "timestamp": stamps(exposed), "platform": platform})

    def other_platform(index):
        return np.array([PLATFORMS[(PLATFORMS.index(p) + 1) % 3] for p in platform[index]], dtype=object).astype(str)

    frames = []
    crash_rate = 0.5 * np.where(treated & (platform == "android"), 1.5, 1.0)
    for name, rate in (("crash", crash_rate), ("purchase", np.full(units, 0.3)), ("view", np.full(units, 3.0))):
        owner = np.repeat(np.arange(units), rng.poisson(rate))
        offsets = exposed[owner] + rng.uniform(3600, 7 * DAY, owner.size)
        frames.append(pl.DataFrame({"user_id": ids[owner], "timestamp": stamps(offsets), "event": name,
                                    "platform": platform[owner]}))
    # the first session after exposure: on another device for 4% of the units
    switched = rng.random(units) < 0.04
    first_platform = np.where(switched, other_platform(np.arange(units)), platform)
    frames.append(pl.DataFrame({"user_id": ids, "timestamp": stamps(exposed + rng.uniform(0, 3000, units)),
                                "event": "session_start", "platform": first_platform}))
    # an older session on another device, before exposure, for 10% of the units
    older = np.nonzero(rng.random(units) < 0.10)[0]
    frames.append(pl.DataFrame({"user_id": ids[older], "timestamp": stamps(exposed[older] - rng.uniform(60, DAY, older.size)),
                                "event": "session_start", "platform": other_platform(older)}))
    events = pl.concat(frames).sample(fraction=1.0, shuffle=True, seed=seed)
    return events, exposures


# --------------------------------------------------------------------------------------------
# reference


def per_unit_values(events: pl.DataFrame, exposures: pl.DataFrame, platform_from: str) -> pl.DataFrame:
    """user_id, variant, platform, crashes (count in the 7-day window), conversion (0/1)."""
    units = exposures.group_by("user_id").agg(first=pl.col("timestamp").min(), variant=pl.col("variant").first(),
                                               platform=pl.col("platform").first())
    if platform_from == "events":
        first_event = (
            events.join(units.select("user_id", "first"), on="user_id")
            .filter(pl.col("timestamp") >= pl.col("first"))
            .sort("timestamp")
            .group_by("user_id").agg(pl.col("platform").first())
        )
        units = units.drop("platform").join(first_event, on="user_id", how="left")
    in_window = (
        events.join(units.select("user_id", "first"), on="user_id")
        .filter((pl.col("timestamp") >= pl.col("first")) & (pl.col("timestamp") < pl.col("first") + pl.duration(days=7)))
        .group_by("user_id")
        .agg(crashes=(pl.col("event") == "crash").sum().cast(pl.Float64),
             conversion=(pl.col("event") == "purchase").any().cast(pl.Float64))
    )
    return units.join(in_window, on="user_id", how="left").with_columns(pl.col("crashes", "conversion").fill_null(0.0))


def arm_test(metric: str, control: np.ndarray, treatment: np.ndarray) -> tuple[float, float, float]:
    """(effect, std_error, p_value) of the test iterate uses for the metric type."""
    effect = treatment.mean() - control.mean()
    if metric == "conversion":
        _, p = proportions_ztest(np.array([treatment.sum(), control.sum()]), np.array([treatment.size, control.size]))
        se = math.sqrt(control.mean() * (1 - control.mean()) / control.size
                       + treatment.mean() * (1 - treatment.mean()) / treatment.size)
        return effect, se, p
    se = math.sqrt(control.var(ddof=1) / control.size + treatment.var(ddof=1) / treatment.size)
    return effect, se, stats.ttest_ind(treatment, control, equal_var=False).pvalue


def segment_reference(units: pl.DataFrame) -> dict:
    """Per (metric, platform): effect, se, p, Holm over all segment rows; per metric: Cochran's Q
    and each platform's Holm-adjusted deviation from the inverse-variance pooled other platforms."""
    rows = {}
    for metric in ("crashes", "conversion"):
        for value in PLATFORMS:
            segment = units.filter(pl.col("platform") == value)
            control = segment.filter(pl.col("variant") == "control")[metric].to_numpy()
            treatment = segment.filter(pl.col("variant") == "treatment")[metric].to_numpy()
            rows[(metric, value)] = dict(zip(("effect", "std_error", "p_value"), arm_test(metric, control, treatment)),
                                         n_control=control.size, n_treatment=treatment.size)
    keys = list(rows)
    adjusted = multipletests([rows[k]["p_value"] for k in keys], method="holm")[1]
    for key, p in zip(keys, adjusted):
        rows[key]["p_value_adjusted"] = p
    heterogeneity = {}
    for metric in ("crashes", "conversion"):
        effects = np.array([rows[(metric, v)]["effect"] for v in PLATFORMS])
        weights = np.array([rows[(metric, v)]["std_error"] ** -2 for v in PLATFORMS])
        pooled = (weights * effects).sum() / weights.sum()
        q = float((weights * (effects - pooled) ** 2).sum())
        deviations = []
        for i in range(len(PLATFORMS)):
            rest = np.arange(len(PLATFORMS)) != i
            rest_effect = (weights[rest] * effects[rest]).sum() / weights[rest].sum()
            z = (effects[i] - rest_effect) / math.sqrt(1 / weights[i] + 1 / weights[rest].sum())
            deviations.append(2 * stats.norm.sf(abs(z)))
        deviation_adjusted = multipletests(deviations, method="holm")[1]
        for value, p in zip(PLATFORMS, deviation_adjusted):
            rows[(metric, value)]["deviation_p_value"] = p
        heterogeneity[metric] = {"statistic": q, "df": 2, "p_value": stats.chi2.sf(q, 2)}
    return {"rows": rows, "heterogeneity": heterogeneity}


def segment_row(result, metric: str, value: str) -> dict:
    rows = result.segments.filter((pl.col("name") == metric) & (pl.col("segment_value") == value)).to_dicts()
    assert len(rows) == 1, rows
    return rows[0]


def check_against_reference(result, reference) -> None:
    for (metric, value), expected in reference["rows"].items():
        r = segment_row(result, metric, value)
        assert r["segment"] == "platform" and r["variant"] == "treatment"
        assert (r["n_control"], r["n_treatment"]) == (expected["n_control"], expected["n_treatment"])
        for key in ("effect", "std_error", "p_value", "p_value_adjusted", "deviation_p_value"):
            assert r[key] == pytest.approx(expected[key], rel=1e-8), (metric, value, key)
        assert r["flagged"] == (expected["deviation_p_value"] < ALPHA), (metric, value)
    for metric, expected in reference["heterogeneity"].items():
        [test] = [h for h in result.heterogeneity if h.metric == metric and h.segment == "platform"]
        assert test.df == expected["df"]
        assert test.statistic == pytest.approx(expected["statistic"], rel=1e-8)
        assert test.p_value == pytest.approx(expected["p_value"], rel=1e-6, abs=1e-300)


@pytest.fixture(scope="module")
def simulated():
    return simulate()


def analyze(path, events, exposures, **config):
    write_logs(path, events, exposures)
    return iterate.analyze(write_config(path, metrics=METRICS, experiment_extra={"segments": ["platform"]}, **config))


# --------------------------------------------------------------------------------------------
# platform on the exposures


@pytest.fixture(scope="module")
def exposure_platform(simulated, tmp_path_factory):
    events, exposures = simulated
    result = analyze(tmp_path_factory.mktemp("segments_exposures"), events, exposures)
    return result, segment_reference(per_unit_values(events, exposures, "exposures"))


def test_segment_rows_equal_reference(exposure_platform):
    result, reference = exposure_platform
    assert result.segments.height == 6
    check_against_reference(result, reference)


def test_android_harm_is_flagged_and_only_android(exposure_platform):
    result, reference = exposure_platform
    android = segment_row(result, "crashes", "android")
    assert android["effect"] > 0 and android["outcome"] == "worse"
    assert android["flagged"] and android["deviation_p_value"] < 1e-3
    for value in ("ios", "web"):
        other = segment_row(result, "crashes", value)
        assert not other["flagged"] and other["outcome"] == "no_difference", value
        assert other["deviation_p_value"] > ALPHA
    for value in PLATFORMS:
        assert not segment_row(result, "conversion", value)["flagged"]
    [crashes] = [h for h in result.heterogeneity if h.metric == "crashes"]
    assert crashes.p_value < 1e-3 and crashes.flagged_values == ("android",)
    [conversion] = [h for h in result.heterogeneity if h.metric == "conversion"]
    assert conversion.p_value > ALPHA and conversion.flagged_values == ()
    assert reference["heterogeneity"]["crashes"]["p_value"] < 1e-3


def test_segment_harm_rolls_back_naming_android(exposure_platform):
    result, _ = exposure_platform
    assert result.verdict == "rollback" and result.exit_code == 10
    harms = [reason for reason in result.reasons if reason.rule == "segment_harm"]
    assert len(harms) == 1
    assert harms[0].metric == "crashes" and "platform = android" in harms[0].message
    # nothing broken: the segment checks pass
    assert all(check.passed for check in result.checks if check.name.startswith("srm"))


def test_cli_segment_option_equals_configured_segments(simulated, exposure_platform, tmp_path):
    events, exposures = simulated
    write_logs(tmp_path, events, exposures)
    config = write_config(tmp_path, metrics=METRICS)
    outcome = CliRunner().invoke(main, ["analyze", str(config), "--segment", "platform", "--format", "json"])
    assert outcome.exit_code == 10, outcome.output
    report = json.loads(outcome.stdout)
    _, reference = exposure_platform
    assert len(report["segments"]) == 6
    for r in report["segments"]:
        expected = reference["rows"][(r["name"], r["segment_value"])]
        assert r["p_value_adjusted"] == pytest.approx(expected["p_value_adjusted"], rel=1e-8)
        assert r["flagged"] == (r["name"] == "crashes" and r["segment_value"] == "android")


def test_a_segment_given_as_a_string_in_python_is_one_column(simulated, exposure_platform, tmp_path):
    """``segments="platform"`` was split into the one-letter columns p, l, a, ... (issue 9, defect 9)."""
    events, exposures = simulated
    write_logs(tmp_path, events, exposures)
    result = iterate.analyze(write_config(tmp_path, metrics=METRICS), segments="platform")
    listed = iterate.analyze(write_config(tmp_path, metrics=METRICS), segments=["platform"])
    assert set(result.segments["segment"].unique()) == {"platform"}
    assert_frame_equal(result.segments, listed.segments, check_exact=False, rel_tol=1e-12)
    _, reference = exposure_platform
    check_against_reference(result, reference)


# --------------------------------------------------------------------------------------------
# platform on the events only


def test_segments_from_first_event_after_exposure(simulated, tmp_path):
    events, exposures = simulated
    result = analyze(tmp_path, events, exposures.drop("platform"))
    units = per_unit_values(events, exposures, "events")
    # the first event decides: some units differ from their exposure platform, none is unknown
    exposure_units = per_unit_values(events, exposures, "exposures")
    moved = units.join(exposure_units.select("user_id", exposure_platform="platform"), on="user_id").filter(
        pl.col("platform") != pl.col("exposure_platform"))
    assert 100 < moved.height < 500 and units["platform"].null_count() == 0
    assert set(result.segments["segment_value"]) == set(PLATFORMS)
    check_against_reference(result, segment_reference(units))
    assert segment_row(result, "crashes", "android")["flagged"]
    assert any(reason.rule == "segment_harm" and "android" in reason.message for reason in result.reasons)


# --------------------------------------------------------------------------------------------
# SRM within a segment


def units_by_platform(counts: dict[str, tuple[int, int]]) -> tuple[list[str], list[str], list[str]]:
    """Unit ids, variants and platforms for ``{platform: (control units, treatment units)}``."""
    ids, variants, platforms = [], [], []
    for platform, (control, treatment) in counts.items():
        for variant, n in (("control", control), ("treatment", treatment)):
            ids += [f"{platform}-{variant}-{i}" for i in range(n)]
            variants += [variant] * n
            platforms += [platform] * n
    return ids, variants, platforms


def test_broken_split_on_one_platform_is_a_segment_warning(tmp_path):
    counts = {"ios": (1000, 1000), "android": (1000, 1000), "web": (140, 60)}
    rng = np.random.default_rng(8)
    ids, variants, platforms = units_by_platform(counts)
    exposures = pl.DataFrame({"user_id": ids, "experiment": "exp", "variant": variants,
                              "timestamp": stamps(rng.uniform(0, DAY, len(ids))), "platform": platforms})
    buyers = rng.random(len(ids)) < 0.2
    events = pl.DataFrame({"user_id": np.array(ids)[buyers],
                           "timestamp": exposures["timestamp"].to_numpy()[buyers] + np.timedelta64(60, "s"),
                           "event": "purchase"})
    write_logs(tmp_path, events, exposures)
    result = iterate.analyze(write_config(tmp_path, metrics=[METRICS[1]], experiment_extra={"segments": ["platform"]}))

    checks = {check.name: check for check in result.checks}
    overall = stats.chisquare([2140, 2060], [2100, 2100])
    assert overall.pvalue > 0.001  # the overall split passes the default threshold
    assert checks["srm"].passed
    assert checks["srm"].details["statistic"] == pytest.approx(overall.statistic, rel=1e-12)
    assert checks["srm"].details["p_value"] == pytest.approx(overall.pvalue, rel=1e-9)

    web = stats.chisquare([140, 60], [100, 100])
    assert web.pvalue < 0.001
    assert not checks["srm:platform=web"].passed and checks["srm:platform=web"].severity == "warning"
    assert checks["srm:platform=web"].details["statistic"] == pytest.approx(web.statistic, rel=1e-12)
    assert checks["srm:platform=web"].details["p_value"] == pytest.approx(web.pvalue, rel=1e-9)
    assert checks["srm:platform=web"].details["observed"] == {"control": 140, "treatment": 60}
    assert "srm:platform=ios" not in checks and "srm:platform=android" not in checks
    assert result.verdict != "invalid"


def test_broken_split_overall_is_invalid_even_with_segments(tmp_path):
    """The same broken web split on a larger web share breaks the overall split too: invalid."""
    counts = {"ios": (500, 500), "web": (1400, 600)}
    ids, variants, platforms = units_by_platform(counts)
    exposures = pl.DataFrame({"user_id": ids, "experiment": "exp", "variant": variants,
                              "timestamp": stamps(np.zeros(len(ids))), "platform": platforms})
    events = pl.DataFrame({"user_id": ids[:50], "timestamp": stamps(np.full(50, 60)), "event": "purchase"})
    write_logs(tmp_path, events, exposures)
    result = iterate.analyze(write_config(tmp_path, metrics=[METRICS[1]], experiment_extra={"segments": ["platform"]}))
    overall = stats.chisquare([1900, 1100], [1500, 1500])
    checks = {check.name: check for check in result.checks}
    assert overall.pvalue < 0.001 and not checks["srm"].passed
    assert checks["srm"].details["statistic"] == pytest.approx(overall.statistic, rel=1e-12)
    assert result.verdict == "invalid"


def test_segment_srm_checks_come_in_a_stable_order(tmp_path):
    """The per-value checks follow the segment values' order, not the order the engine returned them."""
    from iterate.aggregation import ExposureCounts
    from iterate.checks import segment_srm_checks

    broken = {"control": 140, "treatment": 60}
    by_value = {"web": broken, None: broken, "android": broken, "ios": {"control": 100, "treatment": 100}}
    counts = ExposureCounts(units={"control": 480, "treatment": 280}, multiple_variant_units=0,
                            segment_units={"platform": by_value})
    experiment = iterate.load_config(write_config(tmp_path, metrics=[METRICS[1]]))
    names = [check.name for check in segment_srm_checks(experiment, counts, ("control", "treatment"))]
    assert names == ["srm:platform=android", "srm:platform=web", "srm:platform=None"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_segment_arm_of_zeros_beside_large_values_has_variance_zero(tmp_path, seed):
    """Variances come from sums shifted by the pooled mean (thousands here): in a small segment arm
    where every unit is 0 the two terms cancel to rounding noise, which is a variance of 0, not an
    error (regression: "numerator_variance == -1.86e-09, must be >= 0")."""
    rng = np.random.default_rng(seed)
    exposures, events = [], []
    for i in range(400):
        platform = "web" if i < 7 else "ios"
        time = BASE + timedelta(minutes=i)
        exposures.append({"user_id": f"u{i}", "experiment": "exp", "variant": "control" if i % 2 else "treatment",
                          "timestamp": time, "platform": platform})
        buys = platform == "ios" and rng.random() < 0.5
        events.append({"user_id": f"u{i}", "timestamp": time + timedelta(hours=1), "event": "purchase" if buys else "view",
                       "value": float(rng.uniform(1000, 9000)) if buys else 1.0})
    write_logs(tmp_path, events, exposures)
    config = write_config(tmp_path, metrics=({"name": "revenue", "type": "mean", "event": "purchase", "value": "value"},),
                          experiment_extra={"segments": ["platform"]})
    web = [row for row in iterate.analyze(config).segment_results if row.segment_value == "web"]
    assert web and all(row.control_mean == row.treatment_mean == 0.0 for row in web)
