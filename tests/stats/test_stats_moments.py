from __future__ import annotations

import math

import numpy as np
import pytest

from iterate.errors import StatsError
from iterate.stats import Moments


def test_from_values_equals_numpy() -> None:
    values = np.random.default_rng(1).gamma(2.0, 3.0, size=1_001)
    m = Moments.from_values(values)
    assert m.n == 1_001
    assert m.mean == pytest.approx(values.mean(), rel=1e-12)
    assert m.variance == pytest.approx(values.var(ddof=1), rel=1e-12)
    assert m.std_error == pytest.approx(values.std(ddof=1) / math.sqrt(1_001), rel=1e-12)


def test_add_equals_moments_of_concatenation() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(5.0, 2.0, size=37), rng.exponential(9.0, size=1_200)
    merged = Moments.from_values(a) + Moments.from_values(b)
    whole = Moments.from_values(np.concatenate([a, b]))
    assert merged.n == whole.n
    assert merged.mean == pytest.approx(whole.mean, rel=1e-12)
    assert merged.variance == pytest.approx(whole.variance, rel=1e-12)


def test_add_with_empty_and_single_unit_sides() -> None:
    empty = Moments(0, 0.0, 0.0)
    m = Moments.from_values([1.0, 4.0, 7.0])
    assert m + empty == m
    assert empty + m == m
    one, other = Moments.from_values([3.0]), Moments.from_values([5.0])
    assert one + other == Moments.from_values([3.0, 5.0])
    assert sum([one, other, m]) == Moments.from_values([3.0, 5.0, 1.0, 4.0, 7.0])


def test_merging_shards_near_1e8_stays_accurate() -> None:
    values = 1e8 + np.random.default_rng(3).normal(0.0, 1.0, size=200_000)
    shards = np.array_split(values, 16)
    merged = sum(Moments.from_values(shard) for shard in shards)
    two_pass = values.var(ddof=1)
    assert merged.n == values.size
    assert merged.variance == pytest.approx(two_pass, rel=1e-6)
    # The textbook one-pass formula loses every significant digit here.
    naive = (np.sum(values * values) - np.sum(values) ** 2 / values.size) / (values.size - 1)
    assert abs(naive - two_pass) / two_pass > 1e-2


def test_from_proportion() -> None:
    m = Moments.from_proportion(30, 120)
    values = np.r_[np.ones(30), np.zeros(90)]
    assert m.mean == pytest.approx(values.mean(), rel=1e-15)
    assert m.variance == pytest.approx(values.var(ddof=1), rel=1e-12)
    assert Moments.from_proportion(1, 1) == Moments(1, 1.0, 0.0)
    with pytest.raises(StatsError, match="successes == 5"):
        Moments.from_proportion(5, 4)


def test_tiny_negative_variance_is_clamped() -> None:
    assert Moments(3, 1e8, -1e-6).variance == 0.0
    assert Moments(3, 1.0, -1e-13).variance == 0.0


@pytest.mark.parametrize(
    ("n", "mean", "variance", "message"),
    [
        (-1, 0.0, 0.0, "n == -1"),
        (2.5, 0.0, 0.0, "n == 2.5"),
        (True, 0.0, 0.0, "n == True"),
        (3, math.nan, 0.0, "mean == nan"),
        (3, 1.0, -0.1, "variance == -0.1"),
        (3, 1.0, math.inf, "variance == inf"),
    ],
)
def test_invalid_moments_raise(n: object, mean: float, variance: float, message: str) -> None:
    with pytest.raises(StatsError, match=message):
        Moments(n, mean, variance)  # type: ignore[arg-type]


def test_numpy_integers_are_accepted_and_normalized() -> None:
    m = Moments(np.int64(4), np.float32(2.5), np.float64(1.0))
    assert type(m.n) is int and type(m.mean) is float


def test_std_error_of_empty_arm_raises() -> None:
    with pytest.raises(StatsError, match="n == 0"):
        _ = Moments(0, 0.0, 0.0).std_error


def test_moments_are_frozen() -> None:
    m = Moments(2, 1.0, 1.0)
    with pytest.raises(AttributeError):
        m.n = 3  # type: ignore[misc]
