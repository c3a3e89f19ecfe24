"""CUPED on the Hillstrom e-mail test: spend, "Mens E-Mail" vs "No E-Mail", covariate ``history``.

Reference numbers are those of ``hillstrom/README.md`` in the shared datasets folder (unadjusted
diff $0.7698, Welch p = 1.16e-7; CUPED diff $0.7674, theta = 0.00122), and an independent
regression adjustment, OLS ``spend ~ T + history`` on the two arms (statsmodels).

The folder is found at ``$ITERATE_DATASETS`` or at ``<repo>/../shared/datasets``; without it the
whole module is skipped.
"""

from __future__ import annotations


import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from scipy import stats

from iterate.stats.cuped import JointMoments, cuped_test
from helpers import dataset_file


HILLSTROM = dataset_file("hillstrom", "hillstrom.csv").parent

EXACT = 1e-9


@pytest.fixture(scope="module")
def arms() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    customers = pl.read_csv(
        HILLSTROM / "hillstrom.csv", schema_overrides={"history": pl.Float64, "spend": pl.Float64}
    )
    result = {}
    for segment in ("No E-Mail", "Mens E-Mail"):
        arm = customers.filter(pl.col("segment") == segment)
        result[segment] = (arm["spend"].to_numpy(), arm["history"].to_numpy())
    return result


def test_published_unadjusted_and_cuped_numbers(arms) -> None:
    (spend_c, history_c), (spend_t, history_t) = arms["No E-Mail"], arms["Mens E-Mail"]
    assert (spend_c.size, spend_t.size) == (21_306, 21_307)
    e = cuped_test(JointMoments.from_values(spend_c, y0=history_c),
                   JointMoments.from_values(spend_t, y0=history_t))
    assert e.adjusted and e.status == "ok"
    assert round(e.unadjusted.effect, 4) == 0.7698
    assert f"{e.unadjusted.p_value:.2e}" == "1.16e-07"
    welch = stats.ttest_ind(spend_t, spend_c, equal_var=False)
    assert e.unadjusted.p_value == pytest.approx(welch.pvalue, rel=EXACT)
    assert round(e.effect, 4) == 0.7674
    assert f"{e.theta:.3g}" == "0.00122"
    # corr(spend, history) is about 0.02: the variance reduction is tiny but positive.
    assert 0 < e.variance_reduction < 0.001
    assert e.std_error < e.unadjusted.std_error
    # The adjusted effect is a little smaller too, so p barely moves (1.26e-7).
    assert f"{e.p_value:.2e}" == "1.26e-07"


def test_cuped_effect_is_the_regression_adjustment(arms) -> None:
    (spend_c, history_c), (spend_t, history_t) = arms["No E-Mail"], arms["Mens E-Mail"]
    spend, history = np.r_[spend_c, spend_t], np.r_[history_c, history_t]
    treated = np.r_[np.zeros(spend_c.size), np.ones(spend_t.size)]
    ols = sm.OLS(spend, sm.add_constant(np.column_stack([treated, history]))).fit(cov_type="HC2")
    e = cuped_test(JointMoments.from_values(spend_c, y0=history_c),
                   JointMoments.from_values(spend_t, y0=history_t))
    assert e.effect == pytest.approx(ols.params[1], rel=EXACT)
    assert e.theta == pytest.approx(ols.params[2], rel=EXACT)
    assert e.std_error == pytest.approx(ols.bse[1], rel=0.01)
