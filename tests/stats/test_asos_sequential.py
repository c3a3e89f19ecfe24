"""Always-valid inference on the ASOS Digital Experiments Dataset (Liu et al., NeurIPS 2021).

Every experiment x variant x metric with variances is replayed look by look (sorted by
``time_since_start``; cumulative per-arm count, mean and variance at each look; looks
without variances, or with an arm below 2 users, are skipped). At each look
``effect = mean_t - mean_c`` and ``se = sqrt(variance_t / count_t + variance_c / count_c)``;
the fixed-horizon reference is the two-sided z test on the same numbers.

The mSPRT is tuned with :func:`default_mixing_variance` at the last look's standard
error (the "planned" size), the confidence sequence with ``tuning_n`` = the last look's
users. Both choices use no outcome data.

What must hold at every look:

- the always-valid p-value path is non-increasing (running minimum);
- a look's own always-valid p-value is never below that look's fixed-horizon p-value,
  and its always-valid interval contains (and is wider than) the fixed-horizon interval;
- the running always-valid p-value is never below the *peeking* p-value (the running
  minimum of the fixed-horizon p-values) and the running always-valid interval contains
  the running intersection of the fixed-horizon intervals.

The running quantities are *not* comparable with the current look's fixed-horizon
numbers: once a look has been significant, the always-valid p-value keeps that
evidence while the fixed p-value of a later look may be large again, and the running
intersection may cut off part of the current fixed interval. On this dataset (381
series, 23,366 looks) the running mSPRT p-value is below the look's fixed p-value at
5,998 looks (confidence sequence: 6,135), and the running interval misses part of the
look's fixed interval at 15,065 looks (14,044). So "p_always_valid >= p_fixed at the
same look" and "the always-valid interval contains the fixed one" hold look by look
(asserted), not for the running path (asserted against the peeking p-value and the
running fixed intersection instead).

The estimand drifts here: the ASOS metrics are cumulative per-user quantities (the
control mean of 036afc metric 1 grows from 0.11 to 0.46 over the experiment), so the
effect at day 2 and at day 30 are different numbers, against the constant-effect
premise of both methods. The running intersection is empty at the last look of 24
series (mSPRT; 21 for the confidence sequence), 898 looks in all (695).

Significance at alpha = 0.05 over the 381 series with variances (78 experiments):

=======================================  ======  ===========
rule                                     series  experiments
=======================================  ======  ===========
fixed z test at the last look            105     41
fixed z test, peeking at every look      225     66
mSPRT, always-valid p at the last look   108     42
confidence sequence at the last look     105     41
=======================================  ======  ===========

(An experiment counts when any of its variant x metric series is significant.)
"""

from __future__ import annotations


import numpy as np
import polars as pl
import pytest
from helpers import dataset_file

from iterate.stats import interval_and_p_value
from iterate.stats.sequential import (
    confidence_sequence,
    confidence_sequence_path,
    default_mixing_variance,
    msprt,
    msprt_path,
)


CSV = dataset_file("asos_digital_experiments", "asos_digital_experiments_dataset.csv")
ASOS = CSV.parent

ALPHA = 0.05
KEYS = ["experiment_id", "variant_id", "metric_id"]


def _series() -> list[tuple[tuple, pl.DataFrame]]:
    frame = (
        pl.read_csv(CSV, schema_overrides={"experiment_id": pl.String})
        .filter(
            pl.col("variance_c").is_not_null() & pl.col("variance_t").is_not_null()
            & (pl.col("count_c") >= 2) & (pl.col("count_t") >= 2)
        )
        .with_columns(
            effect=pl.col("mean_t") - pl.col("mean_c"),
            std_error=(pl.col("variance_t") / pl.col("count_t") + pl.col("variance_c") / pl.col("count_c")).sqrt(),
            units=(pl.col("count_c") + pl.col("count_t")).cast(pl.Int64),
        )
        .filter(pl.col("std_error") > 0)
        .sort([*KEYS, "time_since_start"])
    )
    return [(key, group) for key, group in frame.group_by(KEYS, maintain_order=True)]


SERIES = _series()


def _fixed(effects, std_errors) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = [interval_and_p_value(e, s, alternative="two-sided", alpha=ALPHA) for e, s in zip(effects, std_errors)]
    low, high, _, p = (np.array(column) for column in zip(*rows))
    return low, high, p


def _paths(group: pl.DataFrame):
    effects, std_errors = group["effect"].to_list(), group["std_error"].to_list()
    units = group["units"].to_list()
    tau2 = default_mixing_variance(alpha=ALPHA, std_error_at_planned_n=std_errors[-1])
    m_looks = [msprt(e, s, alpha=ALPHA, mixing_variance=tau2) for e, s in zip(effects, std_errors)]
    c_looks = [confidence_sequence(e, s, n, alpha=ALPHA, tuning_n=units[-1])
               for e, s, n in zip(effects, std_errors, units)]
    m_path = msprt_path(effects, std_errors, alpha=ALPHA, mixing_variance=tau2)
    c_path = confidence_sequence_path(effects, std_errors, units, alpha=ALPHA, tuning_n=units[-1])
    return effects, std_errors, (m_looks, m_path), (c_looks, c_path)


def test_dataset_has_the_documented_series() -> None:
    assert len(SERIES) == 381
    assert len({key[0] for key, _ in SERIES}) == 78
    assert sum(group.height for _, group in SERIES) == 23_366


@pytest.mark.parametrize("method", ["msprt", "confidence_sequence"])
def test_always_valid_paths_on_every_series(method: str) -> None:
    looks_checked = 0
    for key, group in SERIES:
        effects, std_errors, m, c = _paths(group)
        looks, path = m if method == "msprt" else c
        fixed_low, fixed_high, fixed_p = _fixed(effects, std_errors)
        peeking_p = np.minimum.accumulate(fixed_p)
        fixed_run_low = np.maximum.accumulate(fixed_low)
        fixed_run_high = np.minimum.accumulate(fixed_high)
        assert all(r.status == "ok" for r in looks), key
        p = np.array([r.p_value for r in path])
        assert np.all(np.diff(p) <= 0), f"{key}: always-valid p-value increased"
        for i, (look, running) in enumerate(zip(looks, path)):
            where = f"{key} look {i} (t = {group['time_since_start'][i]})"
            assert look.p_value >= fixed_p[i], where
            assert look.ci_low < fixed_low[i] and look.ci_high > fixed_high[i], where
            assert running.p_value >= peeking_p[i], where
            assert running.p_value == pytest.approx(min(r.p_value for r in looks[: i + 1]), rel=1e-15), where
            if running.status == "empty_interval":
                # Then the fixed-horizon intervals are disjoint too.
                assert fixed_run_low[i] > fixed_run_high[i], where
            elif fixed_run_low[i] <= fixed_run_high[i]:
                assert running.ci_low <= fixed_run_low[i] and running.ci_high >= fixed_run_high[i], where
            looks_checked += 1
    assert looks_checked == sum(group.height for _, group in SERIES)


def test_significance_counts_fixed_peeking_vs_always_valid() -> None:
    """Counts of significant series (experiment x variant x metric) and experiments.

    At alpha = 0.05: fixed z test at the last look 105 series / 41 experiments; fixed
    z test with peeking at every look 225 / 66; mSPRT at the last look (running
    minimum) 108 / 42; confidence sequence 105 / 41. Peeking more than doubles the
    "wins" of the honest single look; the always-valid methods, which may be read at
    every look, find about as many as the single look.
    """
    fixed_last, peeking, m_last, c_last = set(), set(), set(), set()
    for key, group in SERIES:
        effects, std_errors, (_, m_path), (_, c_path) = _paths(group)
        _, _, fixed_p = _fixed(effects, std_errors)
        if fixed_p[-1] < ALPHA:
            fixed_last.add(key)
        if (fixed_p < ALPHA).any():
            peeking.add(key)
        if m_path[-1].p_value <= ALPHA:
            m_last.add(key)
        if c_path[-1].p_value <= ALPHA:
            c_last.add(key)
    counts = {name: (len(keys), len({k[0] for k in keys}))
              for name, keys in [("fixed_last", fixed_last), ("peeking", peeking),
                                 ("msprt", m_last), ("confidence_sequence", c_last)]}
    assert counts == {"fixed_last": (105, 41), "peeking": (225, 66),
                      "msprt": (108, 42), "confidence_sequence": (105, 41)}
    # Always-valid significance at the last look implies significance under peeking.
    assert m_last <= peeking and c_last <= peeking
