"""Event-rate regressions in a ramp, the proof of issue 11 item 2:

- a simulated crash-rate regression of +30% at a 5% stage is rolled back within a bounded number of
  events: the ramp is checked every hour (``as_of``); the per-stage sums of crashes and exposure
  hours the SQL returns equal those computed from the logs with NumPy, its test equals
  :func:`iterate.stats.stratified_rate_test` on them, and the first hour it rolls back is the
  first hour the pure test on the NumPy sums rejects; the median hours and events to detection
  over seeded ramps are bounded;
- with no regression, checks after every hour for 30 days roll back at most at rate alpha
  (``slow``: the pure stratified test on simulated per-hour sums of many ramps; the end-to-end
  agreement of SQL and simulated sums is the first test's).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest

import iterate
from helpers import BASE, write_config, write_logs
from iterate.stats import sequential_rate_test, stratified_rate_test

HOUR_US = 3_600 * 1_000_000
SCHEDULE = [{"start": BASE.isoformat() + "Z", "share": 0.01},
            {"start": (BASE + timedelta(hours=12)).isoformat() + "Z", "share": 0.05}]
STAGE_STARTS = (0.0, 12.0)
SHARES = (0.01, 0.05)
ARRIVALS_PER_HOUR = 400
BASE_RATE = 0.02  # crashes per user-hour
HORIZON_HOURS = 72
METRICS = [{"name": "crash_rate", "type": "event_rate", "event": "crash", "role": "guardrail",
            "direction": "decrease"}]


def simulated_ramp(seed: int, *, ratio: float, hours: int = HORIZON_HOURS):
    """Units arrive at ``ARRIVALS_PER_HOUR`` (stage 1 at 1% treatment for 12 hours, then 5%), stay
    online, and crash as Poisson processes at ``BASE_RATE`` per hour (``ratio`` times it in the
    treatment) until ``hours``. Returns the unit table (exposure hour, stage, arm) and the crash
    table (unit, hour)."""
    rng = np.random.default_rng(seed)
    arrival = np.sort(rng.uniform(0, hours, size=rng.poisson(ARRIVALS_PER_HOUR * hours)))
    stage = (arrival >= STAGE_STARTS[1]).astype(int)
    treated = rng.random(arrival.size) < np.array(SHARES)[stage]
    rate = BASE_RATE * np.where(treated, ratio, 1.0)
    counts = rng.poisson(rate * (hours - arrival))
    owners = np.repeat(np.arange(arrival.size), counts)
    crash_hour = arrival[owners] + rng.uniform(0, 1, size=owners.size) * (hours - arrival[owners])
    return {"arrival": arrival, "stage": stage, "treated": treated}, {"owner": owners, "hour": crash_hour}


def hourly_sums(units, crashes, hour: float):
    """``(control events, control hours, treatment events, treatment hours)`` per stage at ``hour``."""
    strata = []
    exposed = units["arrival"] <= hour
    seen = crashes["hour"] <= hour
    for stage in (0, 1):
        row = []
        for treated in (False, True):
            members = exposed & (units["stage"] == stage) & (units["treated"] == treated)
            events = int(np.count_nonzero(seen & members[crashes["owner"]]))
            row += [events, float(np.sum(hour - units["arrival"][members]))]
        strata.append(tuple(row))
    return strata


def first_detection(units, crashes, *, alpha: float = 0.05, hours: int = HORIZON_HOURS):
    """The first whole hour whose stratified rate test rejects, with the treatment events by then."""
    for hour in range(1, hours + 1):
        strata = [s for s in hourly_sums(units, crashes, hour) if s[1] > 0 and s[3] > 0]
        if strata and stratified_rate_test(strata, alpha=alpha).regression:
            return hour, sum(s[0] + s[2] for s in strata), sum(s[2] for s in strata)
    return None, None, None


def write_ramp(folder, units, crashes):
    base_us = int(np.datetime64(BASE, "us").astype(np.int64))
    users = np.array([f"u{i:06d}" for i in range(units["arrival"].size)])
    exposures = pl.DataFrame({
        "user_id": users, "experiment": "exp", "variant": np.where(units["treated"], "treatment", "control"),
        "timestamp": (base_us + np.round(units["arrival"] * HOUR_US)).astype("datetime64[us]")})
    events = pl.DataFrame({"user_id": users[crashes["owner"]], "event": "crash",
                           "timestamp": (base_us + np.round(crashes["hour"] * HOUR_US)).astype("datetime64[us]")})
    write_logs(folder, events, exposures)
    # the exact times written (rounded to the microsecond) are the ones the sums use
    units = {**units, "arrival": (exposures["timestamp"].to_numpy().astype(np.int64) - base_us) / HOUR_US}
    crashes = {**crashes, "hour": (events["timestamp"].to_numpy().astype(np.int64) - base_us) / HOUR_US}
    return units, crashes


def ramp_at(folder, hour: float):
    as_of = (BASE + timedelta(hours=hour)).isoformat()
    rollout = 'kind = "ramp"\nstages = [' + ", ".join(
        f'{{ start = {s["start"]}, share = {s["share"]} }}' for s in SCHEDULE) + "]"
    config = write_config(folder, metrics=[{**METRICS[0], "margin": 0.5, "margin_type": "relative"}], window="30d",
                          expected_split=None, experiment_extra={"pre_period": False, "as_of": as_of},
                          extra="[rollout]\n" + rollout)
    return iterate.rollout(config)


@pytest.fixture(scope="module")
def regressed_ramp(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crash_ramp")
    units, crashes = write_ramp(folder, *simulated_ramp(1, ratio=1.3))
    return folder, units, crashes


def test_the_sql_sums_and_test_equal_the_simulated_ones_and_the_ramp_rolls_back_at_the_first_rejecting_hour(
        regressed_ramp):
    folder, units, crashes = regressed_ramp
    hour, _, _ = first_detection(units, crashes)
    assert hour is not None and hour > 1
    for look in (6, hour - 1, hour):
        result = ramp_at(folder, look)
        (rate,) = result.rate_tests
        expected = hourly_sums(units, crashes, look)
        got = [(s.control_events, s.control_hours, s.treatment_events, s.treatment_hours) for s in rate.stages]
        assert len(got) == (1 if look < STAGE_STARTS[1] else 2)  # the stages started by then
        assert all(s == (0, 0.0, 0, 0.0) for s in expected[len(got):])
        for sql, simulated in zip(got, expected[:len(got)], strict=True):
            assert sql[0] == simulated[0] and sql[2] == simulated[2]
            assert sql[1] == pytest.approx(simulated[1], rel=1e-9) and sql[3] == pytest.approx(simulated[3], rel=1e-9)
        pure = stratified_rate_test(got, alpha=0.05, alternative="greater")
        assert rate.test.log_bayes_factor == pytest.approx(pure.log_bayes_factor, rel=1e-12)
        assert rate.test.p_value == pytest.approx(pure.p_value, rel=1e-12)
        # each stage's factor is the single-stratum test of that stage
        for stage, sums in zip(rate.stages, got, strict=True):
            alone = sequential_rate_test(*sums) if sums[1] and sums[3] else None
            assert stage.log_bayes_factor == pytest.approx(
                alone.log_bayes_factor if alone and alone.log_bayes_factor is not None else 0.0, abs=1e-12)
        fired = [reason for reason in result.reasons if reason.rule == "rate_regression"]
        if look < hour:
            assert not fired and not rate.test.regression
            continue
        assert result.verdict == "rollback" and result.exit_code == 10 and rate.test.regression
        (reason,) = fired
        assert reason.metric == "crash_rate"
        for text in ("rate ratio", "interval", "log Bayes factor", "p = "):
            assert text in reason.message
        step = next(s for s in result.decision_trace if s.rule == "rate_regression")
        assert step.outcome == "fired" and step.numbers["p_value"] <= 0.05
        assert step.numbers["log_bayes_factor"] == pytest.approx(pure.log_bayes_factor)
        # the confidence sequence is two-sided (its lower end a conservative one-sided bound)
        assert step.numbers["ci_low"] < step.numbers["rate_ratio"] < step.numbers["ci_high"]
        assert step.numbers["rate_ratio"] == pytest.approx(pure.rate_ratio) and pure.rate_ratio > 1.0
        document = result.to_dict()
        assert document["rate_tests"][0]["test"]["regression"] is True


def test_a_thirty_percent_crash_regression_at_a_five_percent_stage_is_caught_within_a_bounded_number_of_events():
    detections = [first_detection(*simulated_ramp(seed, ratio=1.3)) for seed in range(100, 108)]
    hours = [d[0] for d in detections]
    assert all(h is not None for h in hours), hours
    median_hours = float(np.median(hours))
    median_events = float(np.median([d[1] for d in detections]))
    median_treatment_events = float(np.median([d[2] for d in detections]))
    print(f"\n+30% crash rate at a 5% stage: median detection {median_hours} h, {median_events} events "
          f"({median_treatment_events} in the treatment); hours {hours}")
    # 400 arrivals an hour, 0.02 crashes per user-hour: detection within the first two days, after a
    # few hundred treatment crashes at most (a fixed-horizon design for 30% at 5% needs the same order)
    assert median_hours <= 48
    assert max(d[2] for d in detections) <= 600


@pytest.mark.slow
def test_without_a_regression_hourly_checks_over_thirty_days_roll_back_at_most_at_rate_alpha():
    """Ramps of 30 days (1% for 12 hours, then 5%), crash rate equal in both arms with a daily
    cycle common to both (the test is free of it: Lindon & Malek 2022, Section 4), checked every
    hour with the stratified test; the share of ramps ever rolled back is at most alpha (Ville)."""
    alpha, runs, hours = 0.05, 300, 30 * 24
    rollbacks = 0
    for seed in range(runs):
        rng = np.random.default_rng(10_000 + seed)
        strata = np.zeros((2, 4))  # per stage: control events, control hours, treatment events, treatment hours
        online = np.zeros((2, 2))  # per stage and arm: units online
        for hour in range(1, hours + 1):
            stage = 0 if hour <= 12 else 1
            arrivals = rng.poisson(ARRIVALS_PER_HOUR / 10)
            treated = rng.binomial(arrivals, SHARES[stage])
            # units arrive at the hour's start: their exposure accrues over the whole hour
            online[stage] += (arrivals - treated, treated)
            cycle = 1.0 + 0.6 * np.sin(2 * np.pi * hour / 24)
            strata[:, [1, 3]] += online
            strata[:, [0, 2]] += rng.poisson(BASE_RATE * cycle * online)
            exposed = [(int(s[0]), float(s[1]), int(s[2]), float(s[3])) for s in strata if s[1] > 0 and s[3] > 0]
            if exposed and stratified_rate_test(exposed, alpha=alpha).regression:
                rollbacks += 1
                break
    rate = rollbacks / runs
    print(f"\nno regression, hourly checks for 30 days: {rollbacks}/{runs} ramps rolled back ({rate:.3f})")
    assert rate <= alpha + 2 * np.sqrt(alpha * (1 - alpha) / runs)


def test_the_stratified_rate_test_multiplies_the_stages_bayes_factors_and_its_interval_solves_the_hand_equation():
    from scipy.special import betaln

    strata = [(40, 10_000.0, 90, 10_000.0), (300, 95_000.0, 24, 5_000.0), (0, 10.0, 0, 1.0)]
    test = stratified_rate_test(strata)
    alone = [sequential_rate_test(*s).log_bayes_factor for s in strata[:2]]
    assert test.log_bayes_factor == pytest.approx(sum(alone), rel=1e-12)
    assert test.stratum_log_bayes_factors[2] == 0.0
    assert test.p_value == pytest.approx(min(1.0, np.exp(-sum(alone))), rel=1e-12)
    mh = (90 * 1e4 / 2e4 + 24 * 95e3 / 1e5) / (40 * 1e4 / 2e4 + 300 * 5e3 / 1e5)  # Greenland & Robins 1985
    assert test.rate_ratio == pytest.approx(mh, rel=1e-12)

    def excess(theta):  # sum_s [log L_s(p_s(theta)) - log m_s] - log alpha, prior at the null share
        total = -np.log(0.05)
        for x_c, t_c, x_t, t_t in strata[:2]:
            p0 = t_t / (t_t + t_c)
            a, b = 100 * p0, 100 * (1 - p0)
            p = theta * t_t / (theta * t_t + t_c)
            total += x_t * np.log(p) + x_c * np.log1p(-p) - (betaln(a + x_t, b + x_c) - betaln(a, b))
        return total

    assert excess(test.ci_low) == pytest.approx(0.0, abs=1e-8) and excess(test.ci_high) == pytest.approx(0.0, abs=1e-8)
    assert excess(mh) > 0 and test.ci_low < mh < test.ci_high
    # strata that disagree (no treatment crash where 6 were expected, 1.07x elsewhere): no common ratio
    disagree = stratified_rate_test([(685, 33564.0, 0, 291.0), (1755, 87328.0, 96, 4263.0)])
    assert (disagree.status, disagree.ci_low, disagree.ci_high, disagree.regression) == ("ok", None, None, False)
    # "less" mirrors "greater" with the arms swapped
    swapped = [(x_t, t_t, x_c, t_c) for x_c, t_c, x_t, t_t in strata]
    assert stratified_rate_test(swapped, alternative="less").log_bayes_factor == pytest.approx(
        sum(sequential_rate_test(*s, alternative="less").log_bayes_factor for s in swapped[:2]), rel=1e-12)
