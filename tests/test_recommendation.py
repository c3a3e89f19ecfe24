"""A/B/n verdicts name the arm to ship (``AnalysisResult.recommendation``, reason ``recommended_arm``).

Rule (iterate/decision.py): among the arms that ship, the best on the first success metric; its
direct test against the runner-up (the best other treatment arm on that metric), Bonferroni-
corrected for the k(k-1)/2 pairs of the k treatment arms, says whether it is distinguishably better.

References: the Hillstrom (2008) MineThatData e-mail test, where the Mens e-mail beats the Womens
e-mail on visits and on spend (Hillstrom 2008; Radcliffe 2008, "Hillstrom's MineThatData Email
Analytics Challenge"), with the pairwise p-values of statsmodels' ``proportions_ztest`` and scipy's
Welch test; seeded three-arm logs with a Welch test from scipy on per-unit counts recomputed with
NumPy; hand-built rows for the rule's corner cases.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

import iterate
from helpers import BASE, dataset_file, write_config, write_logs
from iterate.cli import main
from iterate.decision import decide, recommend
from iterate.result import Check, MetricResult

DAY_US = 86_400 * 1_000_000
EXACT = 1e-9
PASSED = [Check("srm", True, "sample ratio as planned")]


# ------------------------------------------------------------------------------ Hillstrom

NO_EMAIL, MENS, WOMENS = "No E-Mail", "Mens E-Mail", "Womens E-Mail"
VISIT = {"name": "visit", "type": "proportion", "event": "visit"}
CONVERSION = {"name": "conversion", "type": "proportion", "event": "conversion"}
SPEND = {"name": "spend", "type": "mean", "event": "purchase", "value": "value"}


@pytest.fixture(scope="module")
def customers() -> pl.DataFrame:
    path = dataset_file("hillstrom", "hillstrom.csv")
    frame = pl.read_csv(path, schema_overrides={"history": pl.Float64, "spend": pl.Float64}).with_row_index("user_id")
    return frame.with_columns(user_id=pl.col("user_id").cast(pl.Int64),
                              t0=pl.lit(datetime(2026, 1, 1)) + pl.duration(hours=pl.col("user_id").cast(pl.Int64) % 168))


@pytest.fixture(scope="module")
def hillstrom_folder(customers: pl.DataFrame, tmp_path_factory) -> Path:
    """The customers as logs: a visit 2 days, a conversion 3 days and a purchase (value = spend)
    3 days and an hour after the e-mail; the arms as exposures at the e-mail time."""
    folder = tmp_path_factory.mktemp("hillstrom_arms")
    c = customers
    exposures = c.select("user_id", "history", variant="segment", timestamp="t0")
    none = pl.lit(None, dtype=pl.Float64)
    events = pl.concat([
        c.filter(pl.col("visit") == 1).select("user_id", timestamp=pl.col("t0") + pl.duration(days=2),
                                               event=pl.lit("visit"), value=none),
        c.filter(pl.col("conversion") == 1).select("user_id", timestamp=pl.col("t0") + pl.duration(days=3),
                                                    event=pl.lit("conversion"), value=none),
        c.filter(pl.col("spend") > 0).select("user_id", timestamp=pl.col("t0") + pl.duration(days=3, hours=1),
                                              event=pl.lit("purchase"), value=pl.col("spend")),
    ]).sort("timestamp")
    write_logs(folder, events, exposures)
    return folder


def hillstrom(folder: Path, filename: str, metrics: list[dict]) -> iterate.AnalysisResult:
    config = write_config(folder, filename, name="hillstrom", control=NO_EMAIL, window="14d",
                          expected_split={arm: 1 / 3 for arm in (NO_EMAIL, MENS, WOMENS)}, metrics=metrics)
    return iterate.analyze(config)


def arm(customers: pl.DataFrame, name: str, column: str) -> np.ndarray:
    return customers.filter(pl.col("segment") == name)[column].cast(pl.Float64).to_numpy()


def test_hillstrom_recommends_the_mens_email_on_visits(hillstrom_folder, customers) -> None:
    result = hillstrom(hillstrom_folder, "visit_first.toml", [VISIT, CONVERSION, SPEND])
    assert result.variant_verdicts == {MENS: "ship", WOMENS: "ship"}
    recommendation = result.recommendation
    assert (recommendation.variant, recommendation.runner_up, recommendation.metric) == (MENS, WOMENS, "visit")
    mens, womens = arm(customers, MENS, "visit"), arm(customers, WOMENS, "visit")
    _, expected_p = proportions_ztest([mens.sum(), womens.sum()], [mens.size, womens.size])
    assert recommendation.pairs == 1  # two treatment arms: one pair
    assert recommendation.effect_difference == pytest.approx(mens.mean() - womens.mean(), rel=EXACT)
    assert recommendation.effect_difference == pytest.approx(0.1828 - 0.1514, abs=1e-4)  # published rates
    assert recommendation.p_value == pytest.approx(expected_p, rel=EXACT)
    assert recommendation.p_value_adjusted == pytest.approx(min(1.0, expected_p * 1), rel=EXACT)
    assert recommendation.distinguishable is True
    # every report names the arm: the reasons carry it, first, since the experiment ships
    assert result.verdict == "ship"
    first = result.reasons[0]
    assert (first.rule, first.variant, first.metric) == ("recommended_arm", MENS, "visit")
    assert MENS in first.message and WOMENS in first.message and f"{recommendation.p_value:.3g}" in first.message
    assert first.details["p_value_adjusted"] == recommendation.p_value_adjusted
    document = result.as_document()
    assert document["recommendation"]["variant"] == MENS
    assert document["recommendation"]["distinguishable"] is True


def test_hillstrom_recommends_the_mens_email_on_spend(hillstrom_folder, customers) -> None:
    result = hillstrom(hillstrom_folder, "spend_first.toml", [SPEND, VISIT])
    recommendation = result.recommendation
    assert (recommendation.variant, recommendation.runner_up, recommendation.metric) == (MENS, WOMENS, "spend")
    mens, womens = arm(customers, MENS, "spend"), arm(customers, WOMENS, "spend")
    welch = stats.ttest_ind(mens, womens, equal_var=False)
    assert recommendation.effect_difference == pytest.approx(mens.mean() - womens.mean(), rel=EXACT)
    assert recommendation.effect_difference == pytest.approx(1.4226 - 1.0772, abs=1e-4)  # published means
    assert recommendation.p_value == pytest.approx(welch.pvalue, rel=EXACT)
    assert recommendation.p_value_adjusted == pytest.approx(welch.pvalue * recommendation.pairs, rel=EXACT)
    assert recommendation.distinguishable is True


def test_hillstrom_pairwise_spend_is_cuped_adjusted_as_against_control(hillstrom_folder, customers) -> None:
    """With the pre-period spend ``history`` as covariate, the two e-mails are compared with CUPED
    too: for a mean and a plain covariate the effect is the OLS coefficient of the arm indicator in
    spend ~ arm + history over the two arms (Deng et al. 2013, section 3.2.2)."""
    import statsmodels.api as sm

    result = hillstrom(hillstrom_folder, "spend_cuped.toml", [SPEND | {"covariate": "history"}])
    recommendation = result.recommendation
    assert (recommendation.variant, recommendation.runner_up) == (MENS, WOMENS)
    assert recommendation.method.startswith("cuped")
    two = customers.filter(pl.col("segment").is_in([MENS, WOMENS]))
    design = sm.add_constant(np.column_stack([(two["segment"] == MENS).cast(pl.Float64).to_numpy(),
                                              two["history"].to_numpy()]))
    ols = sm.OLS(two["spend"].to_numpy(), design).fit()
    assert recommendation.effect_difference == pytest.approx(ols.params[1], rel=1e-9)
    assert recommendation.p_value == pytest.approx(ols.pvalues[1], rel=0.05)  # Welch-type variances vs OLS


# ---------------------------------------------------------------------- seeded three arms


def three_arm_logs(seed: int, rates: dict[str, float], n_per_arm: int = 3000):
    """Each unit makes Poisson(rate of its arm) purchases within 6 days of its exposure."""
    rng = np.random.default_rng(seed)
    arms = list(rates)
    users = np.array([f"u{i:05d}" for i in range(len(arms) * n_per_arm)])
    variant = np.array(arms * n_per_arm)
    exposure_us = int(np.datetime64(BASE, "us").astype(np.int64)) + rng.integers(0, 3 * DAY_US, size=users.size)
    counts = rng.poisson(np.array([rates[v] for v in variant]))
    events = pl.DataFrame({
        "user_id": np.repeat(users, counts),
        "timestamp": (np.repeat(exposure_us, counts) + rng.integers(0, 6 * DAY_US, size=int(counts.sum())))
        .astype("datetime64[us]"),
        "event": "purchase",
    })
    exposures = pl.DataFrame({"user_id": users, "experiment": "exp", "variant": variant,
                              "timestamp": exposure_us.astype("datetime64[us]")})
    per_arm = {name: counts[variant == name].astype(float) for name in arms}
    return events, exposures, per_arm


def three_arm_result(folder: Path, seed: int, rates: dict[str, float]):
    events, exposures, per_arm = three_arm_logs(seed, rates)
    write_logs(folder, events, exposures)
    config = write_config(folder, metrics=[{"name": "purchases", "type": "count", "event": "purchase"}],
                          expected_split={name: 1 / 3 for name in rates},
                          experiment_extra={"pre_period": False})
    return config, iterate.analyze(config), per_arm


def test_three_arms_recommend_the_clearly_better_one(tmp_path) -> None:
    config, result, per_arm = three_arm_result(tmp_path, 5, {"control": 1.0, "a": 1.12, "b": 1.4})
    assert result.variant_verdicts == {"a": "ship", "b": "ship"}
    recommendation = result.recommendation
    assert (recommendation.variant, recommendation.runner_up) == ("b", "a")
    welch = stats.ttest_ind(per_arm["b"], per_arm["a"], equal_var=False)
    assert recommendation.pairs == 1  # two treatment arms (a, b) besides control
    assert recommendation.effect_difference == pytest.approx(per_arm["b"].mean() - per_arm["a"].mean(), rel=EXACT)
    assert recommendation.p_value == pytest.approx(welch.pvalue, rel=1e-6)
    assert recommendation.distinguishable is True
    assert "ship b" in recommendation.message and "distinguishably better than the runner-up a" in recommendation.message
    # the CLI names the arm in the text report
    output = CliRunner().invoke(main, ["analyze", str(config)])
    assert output.exit_code == 0
    assert "[b] ship b: best on purchases" in output.output
    assert output.output.splitlines()[0] == "exp: SHIP b  (exit code 0)"  # the headline names the arm
    markdown = CliRunner().invoke(main, ["analyze", str(config), "--format", "markdown"])
    assert markdown.output.splitlines()[0] == "## SHIP b: exp (verdict ship, exit code 0)"


def test_four_treatment_arms_correct_for_six_pairs(tmp_path) -> None:
    rates = {"control": 1.0, "a": 1.15, "b": 1.3, "c": 1.2, "d": 1.1}
    events, exposures, per_arm = three_arm_logs(8, rates)
    write_logs(tmp_path, events, exposures)
    config = write_config(tmp_path, metrics=[{"name": "purchases", "type": "count", "event": "purchase"}],
                          expected_split={name: 1 / 5 for name in rates}, experiment_extra={"pre_period": False})
    recommendation = iterate.analyze(config).recommendation
    assert recommendation.pairs == 6  # k = 4 treatment arms: k(k-1)/2
    assert (recommendation.variant, recommendation.runner_up) == ("b", "c")
    welch = stats.ttest_ind(per_arm["b"], per_arm["c"], equal_var=False)
    assert recommendation.p_value == pytest.approx(welch.pvalue, rel=1e-6)
    assert recommendation.p_value_adjusted == pytest.approx(min(1.0, 6 * welch.pvalue), rel=1e-6)
    assert recommendation.distinguishable is bool(6 * welch.pvalue < 0.05)


def test_indistinguishable_best_arms_say_so(tmp_path) -> None:
    config, result, per_arm = three_arm_result(tmp_path, 3, {"control": 1.0, "a": 1.25, "b": 1.25})
    assert result.verdict == "ship"
    recommendation = result.recommendation
    best, runner_up = ("a", "b") if per_arm["a"].mean() > per_arm["b"].mean() else ("b", "a")
    assert (recommendation.variant, recommendation.runner_up) == (best, runner_up)
    welch = stats.ttest_ind(per_arm[best], per_arm[runner_up], equal_var=False)
    assert recommendation.p_value == pytest.approx(welch.pvalue, rel=1e-6)
    assert recommendation.p_value_adjusted >= 0.05
    assert recommendation.distinguishable is False
    assert f"not distinguishable from the runner-up {runner_up}" in recommendation.message
    reason = next(reason for reason in result.reasons if reason.rule == "recommended_arm")
    assert "not distinguishable" in reason.message and reason.details["distinguishable"] is False
    # JSON carries the recommendation
    output = CliRunner().invoke(main, ["analyze", str(config), "--format", "json"])
    assert json.loads(output.output)["recommendation"]["distinguishable"] is False


# --------------------------------------------------------------------------- hand-built rows


def metric_row(name: str, variant: str, effect: float, p_value: float, *, role: str = "success",
               direction: str = "increase", outcome: str | None = None, **fields) -> MetricResult:
    """A comparison row with the given effect and p-value (the adjusted p equals it)."""
    if outcome is None:
        good = effect > 0 if direction == "increase" else effect < 0
        outcome = "no_difference" if p_value >= 0.05 else ("better" if good else "worse")
    values = dict(
        name=name, variant=variant, role=role, type="mean", direction=direction, method="welch_t", status="ok",
        n_control=1000, n_treatment=1000, control_mean=1.0, treatment_mean=1.0 + effect, effect=effect,
        ci_low=effect - 0.1, ci_high=effect + 0.1, relative_effect=effect, relative_ci_low=None,
        relative_ci_high=None, p_value=p_value, p_value_adjusted=p_value, std_error=0.05, alpha=0.05,
        outcome=outcome,
    )
    return MetricResult(**{**values, **fields})


def test_one_treatment_is_recommended_when_it_ships() -> None:
    decision = decide([metric_row("m", "treatment", 0.2, 0.001)], PASSED)
    assert decision.verdict == "ship"
    assert decision.recommendation.variant == "treatment"
    assert decision.recommendation.pairs == 0 and decision.recommendation.runner_up is None
    assert not any(reason.rule == "recommended_arm" for reason in decision.reasons)  # nothing to choose between


def test_one_treatment_that_does_not_ship_is_not_recommended() -> None:
    decision = decide([metric_row("m", "treatment", 0.02, 0.4)], PASSED)
    assert decision.verdict == "continue"
    assert decision.recommendation.variant is None
    assert decision.recommendation.message == "no arm is recommended: none ships (treatment continue)"


def test_the_best_arm_in_a_decreasing_metric_has_the_most_negative_effect() -> None:
    rows = [metric_row("latency", "a", -0.3, 0.001, direction="decrease"),
            metric_row("latency", "b", -0.5, 0.001, direction="decrease")]
    pair = metric_row("latency", "b", -0.2, 0.004, direction="decrease")  # b against a
    recommendation = recommend(rows, {"a": "ship", "b": "ship"}, {("b", "a"): pair})
    assert (recommendation.variant, recommendation.runner_up) == ("b", "a")
    assert recommendation.p_value_adjusted == pytest.approx(0.004)
    assert recommendation.distinguishable is True


def test_a_harmful_arm_does_not_hold_back_a_safe_arm_that_ships() -> None:
    rows = [metric_row("m", "a", 0.5, 1e-6), metric_row("crashes", "a", 0.3, 1e-4, role="guardrail",
                                                       direction="decrease"),
            metric_row("m", "b", 0.2, 1e-3), metric_row("crashes", "b", 0.0, 0.9, role="guardrail",
                                                       direction="decrease")]
    pair = metric_row("m", "b", -0.3, 0.01)  # b against a: a is better on m, but a is harmful
    decision = decide(rows, PASSED, pairwise={("b", "a"): pair})
    assert decision.variant_verdicts == {"a": "rollback", "b": "ship"}
    assert decision.verdict == "ship"  # shipping b turns the harmful a off
    recommendation = decision.recommendation
    assert (recommendation.variant, recommendation.runner_up) == ("b", "a")
    assert recommendation.distinguishable is False  # the runner-up is better on m
    assert [reason.rule for reason in decision.reasons[:2]] == ["recommended_arm", "harm"]
    assert decision.reasons[1].variant == "a"  # the harm is still reported
    assert decision.trace[-1].message.startswith("experiment: ship, the recommended arm ships")


def arms_decision(verdict_of_a: str, distinguishable: bool):
    """Arm b ships (better on m); arm a is shipped, unproven or harmful; the pair b vs a is
    significant (p 0.001) or not (p 0.4)."""
    a_rows = {"ship": [metric_row("m", "a", 0.2, 1e-3)],
              "continue": [metric_row("m", "a", 0.1, 0.3)],
              "rollback": [metric_row("m", "a", 0.1, 0.3),
                           metric_row("crashes", "a", 0.3, 1e-4, role="guardrail", direction="decrease")]}
    rows = [*a_rows[verdict_of_a], metric_row("m", "b", 0.4, 1e-6)]
    pair = metric_row("m", "b", 0.2 if distinguishable else 0.05, 0.001 if distinguishable else 0.4)
    return decide(rows, PASSED, pairwise={("b", "a"): pair})


@pytest.mark.parametrize(("verdict_of_a", "distinguishable", "expected"), [
    ("ship", True, "ship"), ("ship", False, "ship"),  # either may go out; b is named
    ("continue", True, "ship"),  # a is unproven but clearly beaten: no reason to wait for it
    ("continue", False, "continue"),  # a might still beat b: wait
    ("rollback", True, "ship"), ("rollback", False, "ship"),  # a is out of the running
])
def test_the_experiment_ships_the_recommended_arm_once_the_choice_is_settled(verdict_of_a, distinguishable,
                                                                              expected) -> None:
    decision = arms_decision(verdict_of_a, distinguishable)
    assert decision.variant_verdicts == {"a": verdict_of_a, "b": "ship"}
    assert decision.recommendation.variant == "b"
    assert decision.recommendation.distinguishable is distinguishable
    assert decision.verdict == expected
    assert decision.trace[-1].outcome == expected


def test_the_pairwise_p_value_is_corrected_for_the_pairs_of_treatment_arms() -> None:
    rows = [metric_row("m", arm, effect, 1e-4) for arm, effect in (("a", 0.2), ("b", 0.3), ("c", 0.1))]
    pair = metric_row("m", "b", 0.1, 0.02)  # b against a: significant alone, not over 3 pairs
    recommendation = recommend(rows, {"a": "ship", "b": "ship", "c": "ship"}, {("b", "a"): pair})
    assert (recommendation.variant, recommendation.runner_up, recommendation.pairs) == ("b", "a", 3)
    assert recommendation.p_value == 0.02 and recommendation.p_value_adjusted == pytest.approx(0.06)
    assert recommendation.distinguishable is False
    assert "Bonferroni-adjusted over 3 pairs p = 0.06" in recommendation.message
    assert "either may be shipped" in recommendation.message


def test_no_pairwise_comparison_leaves_the_arm_named_but_not_distinguished() -> None:
    rows = [metric_row("m", "a", 0.2, 0.001), metric_row("m", "b", 0.3, 0.001)]
    recommendation = recommend(rows, {"a": "ship", "b": "ship"})
    assert recommendation.variant == "b" and recommendation.distinguishable is False
    assert recommendation.p_value is None and "unknown" in recommendation.message


def test_arms_shipping_on_guardrails_alone_cannot_be_ranked() -> None:
    rows = [metric_row("crashes", arm, -0.1, 0.5, role="guardrail", direction="decrease", noninferior=True,
                       noninferiority_margin=0.2, noninferiority_p_value=0.001) for arm in ("a", "b")]
    decision = decide(rows, PASSED)
    assert decision.verdict == "ship"
    assert decision.recommendation.variant is None
    assert "cannot be ranked" in decision.recommendation.message


def test_arms_without_an_estimate_on_the_first_success_metric_cannot_be_ranked() -> None:
    rows = [row for arm in ("a", "b") for row in (
        replace(metric_row("m1", arm, 0.0, 1.0), effect=None, p_value=None, p_value_adjusted=None,
                outcome="not_tested", status="no_data"),
        metric_row("m2", arm, 0.2, 0.001))]
    decision = decide(rows, PASSED)
    assert decision.variant_verdicts == {"a": "ship", "b": "ship"}
    assert decision.recommendation.variant is None and decision.recommendation.metric == "m1"
    assert decision.recommendation.message == "no arm is recommended: none of a, b has an estimate on m1 to rank them by"
