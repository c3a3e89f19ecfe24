"""The relative interval agrees with the test on the Hillstrom e-mail data (issue 9).

Spend, "Mens E-Mail" vs "No E-Mail", customers with ``channel == "Multichannel"``: Welch's t test
gives p = 0.0038, yet the symmetric delta-method interval with a normal quantile that iterate used
to report, [-21%, +414%], contains 0. Fieller's interval (Fieller 1954) with the t test's variances
and degrees of freedom is [+47.5%, +712%]: it excludes 0, as the absolute interval does.

The folder is found at ``$ITERATE_DATASETS`` or at ``<repo>/../shared/datasets``; without it the
whole module is skipped.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy import stats

from helpers import dataset_file, fieller_by_hand
from iterate.stats import Moments, welch_t_test

HILLSTROM = dataset_file("hillstrom", "hillstrom.csv")


@pytest.fixture(scope="module")
def multichannel_spend() -> tuple[np.ndarray, np.ndarray]:
    customers = pl.read_csv(HILLSTROM, schema_overrides={"history": pl.Float64, "spend": pl.Float64})
    multichannel = customers.filter(pl.col("channel") == "Multichannel")
    return tuple(multichannel.filter(pl.col("segment") == arm)["spend"].to_numpy()
                 for arm in ("No E-Mail", "Mens E-Mail"))  # type: ignore[return-value]


def test_multichannel_spend_relative_interval_excludes_zero_like_the_test(multichannel_spend) -> None:
    control, treatment = multichannel_spend
    assert (control.size, treatment.size) == (2_606, 2_577)
    e = welch_t_test(Moments.from_values(control), Moments.from_values(treatment))
    welch = stats.ttest_ind(treatment, control, equal_var=False)
    assert e.p_value == pytest.approx(welch.pvalue, rel=1e-9)
    assert round(e.p_value, 4) == 0.0038
    assert e.ci_low > 0  # the absolute interval excludes 0

    mc, mt = control.mean(), treatment.mean()
    vc, vt = control.var(ddof=1) / control.size, treatment.var(ddof=1) / treatment.size
    # before: the delta-method interval, symmetric, with a normal quantile, contains 0
    delta_se = math.sqrt(vt / mc**2 + mt**2 * vc / mc**4)
    z = stats.norm.ppf(0.975)
    before = (mt / mc - 1 - z * delta_se, mt / mc - 1 + z * delta_se)
    assert (round(before[0], 3), round(before[1], 3)) == (-0.213, 4.141)

    # after: Fieller's interval with Welch's df excludes 0, as the absolute interval does
    df = (vc + vt) ** 2 / (vc**2 / (control.size - 1) + vt**2 / (treatment.size - 1))
    low, high = fieller_by_hand(mc, vc, mt, vt, stats.t.ppf(0.975, df))
    assert e.relative_status == "ok"
    assert e.relative_effect == pytest.approx(mt / mc - 1, rel=1e-12)
    assert (e.relative_ci_low, e.relative_ci_high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))
    assert e.relative_ci_low > 0
    assert (round(e.relative_ci_low, 3), round(e.relative_ci_high, 3)) == (0.475, 7.122)


def test_multichannel_one_sided_bound_agrees_with_the_one_sided_test(multichannel_spend) -> None:
    control, treatment = multichannel_spend
    for alternative in ("greater", "less"):
        e = welch_t_test(Moments.from_values(control), Moments.from_values(treatment), alternative=alternative)
        significant = e.p_value < 0.05
        assert significant == (alternative == "greater")
        assert (e.relative_ci_low > 0 or e.relative_ci_high < 0) == significant
