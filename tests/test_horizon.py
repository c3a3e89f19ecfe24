"""What would change a ``continue`` (extra units per arm and days) and futility (``inconclusive`` early).

References are independent of :mod:`iterate.stats.power`: the closed forms of Chow, Shao & Wang
(2008, §3.2.1 / §3.2.2), ``n' = n ((z_crit + z_0.8) / z)^2``, and statsmodels' ``NormalIndPower`` /
``zt_ind_solve_power`` on the standardized effect ``D / sigma``, ``sigma^2 = se^2 n_c n_t / (n_c + n_t)``.
End to end, the numbers are recomputed from the result's rows, the exposures file and ``as_of``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta

import polars as pl
import pytest
from click.testing import CliRunner
from scipy import stats
from scipy.optimize import brentq
from statsmodels.stats.power import NormalIndPower, zt_ind_solve_power

import iterate
from helpers import write_config
from iterate.cli import main
from iterate.decision import decide
from iterate.horizon import Horizon, reachable_mde, units_to_noninferiority, units_to_significance
from iterate.result import Check, MetricResult

Z80 = stats.norm.ppf(0.8)
PASSED = [Check("srm", True, "sample ratio as planned")]


def metric_row(name: str = "m", *, role: str = "success", effect: float = 0.1, se: float = 0.08,
               n_control: int = 1000, n_treatment: int = 1200, control_mean: float = 2.0, direction: str = "increase",
               margin: float | None = None, variant: str = "treatment") -> MetricResult:
    """A comparison row with the numbers the projections read (p-value from the z of effect / se)."""
    p = 2 * stats.norm.sf(abs(effect) / se)
    outcome = "no_difference" if p >= 0.05 else ("better" if (effect > 0) == (direction == "increase") else "worse")
    noninferior = None
    if margin is not None:
        toward_good = effect if direction == "increase" else -effect
        noninferior = bool(stats.norm.sf((toward_good + margin) / se) < 0.05)
    return MetricResult(
        name=name, variant=variant, role=role, type="mean", direction=direction, method="welch", status="ok",
        n_control=n_control, n_treatment=n_treatment, control_mean=control_mean,
        treatment_mean=control_mean + effect, effect=effect, ci_low=None, ci_high=None, relative_effect=None,
        relative_ci_low=None, relative_ci_high=None, p_value=p, p_value_adjusted=p, std_error=se, alpha=0.05,
        outcome=outcome, noninferiority_margin=margin, noninferior=noninferior,
    )


def sigma(row: MetricResult) -> float:
    return row.std_error * math.sqrt(row.n_control * row.n_treatment / (row.n_control + row.n_treatment))


def smaller_and_ratio(row: MetricResult) -> tuple[int, float]:
    small, large = sorted((row.n_control, row.n_treatment))
    return small, large / small


def statsmodels_extra(row: MetricResult, alpha: float) -> int:
    """Extra units of the smaller arm for a two-sided test of the observed effect at 80% power."""
    small, ratio = smaller_and_ratio(row)
    nobs = NormalIndPower().solve_power(effect_size=abs(row.effect) / sigma(row), alpha=alpha, power=0.8, ratio=ratio)
    return math.ceil(nobs) - small


def statsmodels_noninferiority_extra(row: MetricResult, alpha: float) -> int:
    small, ratio = smaller_and_ratio(row)
    toward_good = row.effect if row.direction == "increase" else -row.effect
    nobs = zt_ind_solve_power(effect_size=(toward_good + row.noninferiority_margin) / sigma(row), alpha=alpha,
                              power=0.8, ratio=ratio, alternative="larger")
    return math.ceil(nobs) - small


# ---------------------------------------------------------------- projections against closed forms


@pytest.mark.parametrize(("effect", "se", "n_control", "n_treatment"),
                         [(0.1, 0.08, 1000, 1200), (-0.3, 0.2, 5000, 4000), (0.02, 0.019, 300, 300)])
def test_units_to_significance_matches_the_closed_form_and_statsmodels(effect, se, n_control, n_treatment) -> None:
    row = metric_row(effect=effect, se=se, n_control=n_control, n_treatment=n_treatment)
    small = min(n_control, n_treatment)
    for alpha in (0.05, 0.025):
        extra = units_to_significance(row, alpha=alpha)
        closed = small * ((stats.norm.ppf(1 - alpha / 2) + Z80) / (abs(effect) / se)) ** 2 - small
        assert extra == pytest.approx(closed, abs=1.0)  # the exact solution also counts the far tail
        assert extra == pytest.approx(statsmodels_extra(row, alpha), abs=1)
    # 80% power needs more than the 50% point where the observed effect is just significant
    half = small * (stats.norm.ppf(0.975) / (abs(effect) / se)) ** 2 - small
    assert units_to_significance(row) > half


@pytest.mark.parametrize("direction", ["increase", "decrease"])
def test_units_to_noninferiority_matches_the_closed_form_and_statsmodels(direction) -> None:
    effect = -0.05 if direction == "increase" else 0.05  # toward bad, inside the margin
    row = metric_row(role="guardrail", effect=effect, se=0.06, margin=0.12, direction=direction)
    z = (0.12 - 0.05) / 0.06
    closed = math.ceil(1000 * ((stats.norm.ppf(0.95) + Z80) / z) ** 2) - 1000
    assert units_to_noninferiority(row) == closed  # one-sided: the closed form is exact
    assert units_to_noninferiority(row) == pytest.approx(statsmodels_noninferiority_extra(row, 0.05), abs=1)
    # beyond the margin in the bad direction nothing can show it
    beyond = metric_row(role="guardrail", effect=-0.2 if direction == "increase" else 0.2, se=0.06, margin=0.12,
                        direction=direction)
    assert units_to_noninferiority(beyond) is None


def standardized_mde(units: float, alpha: float, ratio: float) -> float:
    """The effect d (in sigmas) with two-sided power 0.8, both tails counted, solved by brentq."""
    z = stats.norm.ppf(1 - alpha / 2)
    scale = math.sqrt((1 + 1 / ratio) / units)
    return brentq(lambda d: stats.norm.sf(z - d / scale) + stats.norm.cdf(-z - d / scale) - 0.8, 1e-9, 100,
                  xtol=1e-15, rtol=1e-14)


def test_reachable_mde_matches_statsmodels() -> None:
    row = metric_row(effect=0.05, se=0.08, n_control=1000, n_treatment=1200, control_mean=2.0)
    small, ratio = smaller_and_ratio(row)
    for units, alpha in ((small * 2.5, 0.05), (small * 10, 0.025)):
        found = reachable_mde(row, units, alpha=alpha)
        assert found == pytest.approx(standardized_mde(units, alpha, ratio) * sigma(row) / 2.0, rel=1e-9)
        # statsmodels' solver stops at a power of 0.8 within about 1e-7, hence the looser tolerance
        d = NormalIndPower().solve_power(effect_size=None, nobs1=units, alpha=alpha, power=0.8, ratio=ratio)
        assert found == pytest.approx(d * sigma(row) / 2.0, rel=1e-4)


# ---------------------------------------------------------------- decide() with a horizon


def test_pending_metrics_and_verdict_horizon_in_decide() -> None:
    """Two success metrics (a family of two: alpha / 2) and two unproven guardrails: each pending
    metric gets its units and days; ship needs the quickest success metric and the slowest guardrail."""
    rows = [
        metric_row("fast", effect=0.1, se=0.06),
        metric_row("slow", effect=0.05, se=0.06),
        metric_row("wrong_way", effect=-0.05, se=0.06),
        metric_row("g_near", role="guardrail", effect=-0.02, se=0.05, margin=0.1),
        metric_row("g_far", role="guardrail", effect=-0.05, se=0.05, margin=0.1),
    ]
    horizon = Horizon(elapsed_days=5.0, analyzed_units=2200)
    decision = decide(rows, PASSED, horizon=horizon)
    assert decision.verdict == "continue"
    by_metric = {reason.metric: reason for reason in decision.reasons if reason.rule != "verdict_horizon"}
    daily = 1000 / 5.0
    for name in ("fast", "slow"):
        row = next(r for r in rows if r.name == name)
        extra = by_metric[name].details["extra_units_per_arm"]
        assert extra == pytest.approx(statsmodels_extra(row, 0.05 / 3), abs=1)  # 3 tested success rows
        assert by_metric[name].details["days"] == math.ceil(extra / daily)
        assert by_metric[name].details["daily_units_per_arm"] == pytest.approx(daily)
        assert by_metric[name].details["alpha"] == pytest.approx(0.05 / 3)
        assert f"{extra:,} more units per arm" in by_metric[name].message
        assert f"{math.ceil(extra / daily):,} more days" in by_metric[name].message
    assert by_metric["wrong_way"].details["extra_units_per_arm"] is None
    for name in ("g_near", "g_far"):
        row = next(r for r in rows if r.name == name)
        assert by_metric[name].details["extra_units_per_arm"] == pytest.approx(
            statsmodels_noninferiority_extra(row, 0.05), abs=1)
    extras = {name: by_metric[name].details["extra_units_per_arm"] for name in by_metric}
    expected = max(min(extras["fast"], extras["slow"]), extras["g_near"], extras["g_far"])
    (overall,) = [reason for reason in decision.reasons if reason.rule == "verdict_horizon"]
    assert overall.details["extra_units_per_arm"] == expected == extras["g_far"]
    assert overall.metric == "g_far" and overall.details["days"] == math.ceil(expected / daily)


def test_verdict_horizon_without_projection() -> None:
    decision = decide([metric_row("down", effect=-0.05, se=0.06)], PASSED, horizon=Horizon(elapsed_days=5.0))
    (overall,) = [reason for reason in decision.reasons if reason.rule == "verdict_horizon"]
    assert overall.details["extra_units_per_arm"] is None and "no projection" in overall.message
    assert decision.verdict == "continue"


def test_futility_rules_in_decide() -> None:
    row = metric_row("conv", effect=0.01, se=0.08, n_control=1000, n_treatment=1000, control_mean=2.0)
    small = 1000
    # planned_units = 4 times what is analyzed: n_max = 4000 per arm
    horizon = Horizon(elapsed_days=5.0, analyzed_units=2000, planned_units=8000, mde=0.02)
    reachable = standardized_mde(4 * small, 0.05, 1.0) * sigma(row) / 2.0
    assert reachable > 0.02
    decision = decide([row], PASSED, horizon=horizon)
    assert decision.verdict == "inconclusive"
    futility = decision.reasons[0]
    assert futility.rule == "futility"
    (finding,) = futility.details["metrics"]
    assert finding["reachable_mde"] == pytest.approx(reachable, rel=1e-6)
    assert finding["reachable_units_per_arm"] == 4000 and finding["mde"] == 0.02
    assert futility.details["days"] == finding["days"] == 15  # 5 days so far, 3 times as long again
    # an mde that can be reached keeps it collecting
    assert decide([row], PASSED, horizon=replace(horizon, mde=reachable * 1.01)).verdict == "continue"
    # no mde, no margin: never futile; no limit: never futile
    assert decide([row], PASSED, horizon=replace(horizon, mde=None)).verdict == "continue"
    assert decide([row], PASSED, horizon=replace(horizon, planned_units=None)).verdict == "continue"
    # too few units for the variance to be evidence: no futility
    assert decide([row], PASSED, shortfalls={"treatment": "too few"}, horizon=horizon).verdict == "continue"
    # harm shown wins over futility, a failed check over everything
    worse = replace(row, effect=-0.5, p_value=1e-6, p_value_adjusted=1e-6, outcome="worse")
    assert decide([worse], PASSED, horizon=horizon).verdict == "rollback"
    assert decide([row], [Check("srm", False, "mismatch")], horizon=horizon).verdict == "invalid"


def test_guardrail_futility_at_zero_true_effect() -> None:
    guard = metric_row("latency", role="guardrail", effect=0.0, se=0.05, margin=0.05, direction="decrease")
    success = metric_row("conv", effect=0.02, se=0.08)
    horizon = Horizon(elapsed_days=7.0, analyzed_units=2200, max_duration_days=14.0)  # n_max = 2000 per arm
    small, ratio = smaller_and_ratio(guard)
    power = NormalIndPower().power(effect_size=0.05 / sigma(guard), nobs1=2 * small, alpha=0.05, ratio=ratio,
                                   alternative="larger")
    assert power < 0.8
    decision = decide([success, guard], PASSED, horizon=horizon)
    assert decision.verdict == "inconclusive"
    (finding,) = decision.reasons[0].details["metrics"]
    assert finding["metric"] == "latency" and finding["power"] == pytest.approx(power, rel=1e-9)
    assert decision.reasons[0].details["limit"] == "max_duration" and finding["days"] == 7
    # a margin wide enough to be shown with 80% power is not futile
    wide = replace(guard, noninferiority_margin=0.2, noninferior=False)
    assert decide([success, wide], PASSED, horizon=horizon).verdict == "continue"


# ---------------------------------------------------------------- end to end on simulated logs

START = datetime(2026, 1, 5)
AS_OF = START + timedelta(days=3, hours=12)
METRICS = [
    {"name": "purchases", "type": "count", "event": "purchase"},
    {"name": "revenue", "type": "mean", "event": "purchase", "value": "value"},
    {"name": "crashes", "type": "count", "event": "crash", "role": "guardrail", "direction": "decrease",
     "margin": 0.4},
]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    directory = tmp_path_factory.mktemp("horizon_logs")
    iterate.simulate_logs(directory, units=6000, events=120_000, seed=2, days=6, window_days=3, start=START,
                          effects={"treatment": {"purchase": 0.04}})
    exposures = pl.read_parquet(directory / "exposures.parquet")
    return directory, exposures["timestamp"].min()


def config(directory, name, metrics=METRICS, **extra):
    return write_config(directory, name, metrics=metrics, window="3d", name="checkout_v2", expected_split={"control": 0.5, "treatment": 0.5},
                        experiment_extra={"pre_period": False, **extra})


def analyze(path):
    return iterate.analyze(path, as_of=AS_OF)


def test_end_to_end_continue_with_days(simulated) -> None:
    directory, first_exposure = simulated
    result = analyze(config(directory, "continue.toml"))
    assert result.verdict == "continue" and result.exit_code == 11
    elapsed = (AS_OF - first_exposure).total_seconds() / 86400
    pending = {reason.metric: reason for reason in result.reasons
               if reason.rule in ("no_evidence_yet", "not_yet_noninferior")}
    rows = {row.name: row for row in result.metric_results}
    assert set(pending) == {"purchases", "revenue", "crashes"}, [r.message for r in result.reasons]
    extras = {}
    for name, reason in pending.items():
        row = rows[name]
        small = min(row.n_control, row.n_treatment)
        daily = small / elapsed
        toward_good = row.effect if row.direction == "increase" else -row.effect
        if row.role == "success" and toward_good <= 0:
            assert reason.details["extra_units_per_arm"] is None and "no projection" in reason.message
            continue
        expected = (statsmodels_extra(row, 0.05 / 2) if row.role == "success"
                    else statsmodels_noninferiority_extra(row, 0.05))
        extra = reason.details["extra_units_per_arm"]
        assert extra == pytest.approx(expected, abs=1), name
        assert reason.details["daily_units_per_arm"] == pytest.approx(daily, rel=1e-12)
        assert reason.details["days"] == math.ceil(extra / daily)
        assert f"about {extra:,} more units per arm (about {math.ceil(extra / daily):,} more days" in reason.message
        extras[name] = extra
    (overall,) = [reason for reason in result.reasons if reason.rule == "verdict_horizon"]
    successes = [extras[n] for n in ("purchases", "revenue") if n in extras]
    assert successes, "the simulated effect should point the right way for at least one success metric"
    assert overall.details["extra_units_per_arm"] == max(min(successes), extras["crashes"])
    assert result.to_dict()["reasons"][-1]["details"]["extra_units_per_arm"] == overall.details["extra_units_per_arm"]


def test_end_to_end_futile_is_inconclusive_early(simulated) -> None:
    directory, first_exposure = simulated
    plain = analyze(config(directory, "plain.toml", metrics=METRICS[:2]))
    analyzed = sum(plain.units.values())
    planned = int(analyzed * 1.5)
    futile_config = config(directory, "futile.toml", metrics=METRICS[:2], planned_units=planned, mde=0.005)
    result = analyze(futile_config)
    assert result.verdict == "inconclusive" and result.exit_code == 12
    futility = result.reasons[0]
    assert futility.rule == "futility" and futility.details["limit"] == "planned_units"
    elapsed = (AS_OF - first_exposure).total_seconds() / 86400
    factor = planned / analyzed
    assert futility.details["days"] == math.ceil(elapsed * (factor - 1))
    findings = {item["metric"]: item for item in futility.details["metrics"]}
    assert set(findings) == {"purchases", "revenue"}
    for row in result.metric_results:
        small, ratio = smaller_and_ratio(row)
        expected = standardized_mde(small * factor, 0.025, ratio) * sigma(row) / abs(row.control_mean)
        item = findings[row.name]
        assert item["reachable_mde"] == pytest.approx(expected, rel=1e-6)
        assert item["reachable_mde"] > 0.005 and item["mde"] == 0.005
        assert item["reachable_units_per_arm"] == math.floor(small * factor)
        assert f"{item['reachable_mde']:.2%}" in futility.message and "0.50%" in futility.message
    # the same plan with an mde the reachable sample can detect keeps collecting
    largest = max(item["reachable_mde"] for item in findings.values())
    reachable = config(directory, "reachable.toml", metrics=METRICS[:2], planned_units=planned,
                       mde=round(largest + 0.01, 4))
    kept = analyze(reachable)
    assert kept.verdict == "continue" and "futility" not in {reason.rule for reason in kept.reasons}
    # without mde (and no guardrail margin) there is no futility at all
    assert analyze(config(directory, "no_mde.toml", metrics=METRICS[:2], planned_units=planned)).verdict \
        == "continue"


def test_end_to_end_harm_rolls_back_even_when_futile(tmp_path) -> None:
    iterate.simulate_logs(tmp_path, units=6000, events=120_000, seed=5, days=6, window_days=3, start=START,
                          effects={"treatment": {"purchase": 0.01, "crash": 0.8}})
    metrics = [*METRICS[:2], {"name": "crashes", "type": "count", "event": "crash", "role": "guardrail",
                              "direction": "decrease"}]
    futile = config(tmp_path, "harm.toml", metrics=metrics, planned_units=7000, mde=0.001)
    result = analyze(futile)
    assert {row.name: row.outcome for row in result.metric_results}["crashes"] == "worse"
    assert result.verdict == "rollback" and result.reasons[0].rule == "harm"
    assert "futility" not in {reason.rule for reason in result.reasons}
    # without the harmful guardrail the same plan is futile
    assert analyze(config(tmp_path, "futile.toml", metrics=metrics[:2], planned_units=7000,
                                  mde=0.001)).verdict == "inconclusive"


@pytest.mark.parametrize("bad", [0, -0.02, 1.5, "2%", True])
def test_bad_mde_is_exit_2(tmp_path, bad) -> None:
    path = write_config(tmp_path, experiment_extra={"mde": bad})
    outcome = CliRunner().invoke(main, ["analyze", str(path)])
    assert outcome.exit_code == 2, outcome.output
    assert "[experiment] mde" in outcome.output and "0.02 for +2%" in outcome.output
    assert "Traceback" not in outcome.output


def test_docstring_examples() -> None:
    import doctest

    import iterate.horizon

    outcome = doctest.testmod(iterate.horizon)
    assert outcome.attempted >= 3 and outcome.failed == 0
