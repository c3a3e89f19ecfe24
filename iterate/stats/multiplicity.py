"""Multiple-comparison corrections of p-values (several metrics or variants).

Example:
    >>> from iterate.stats import adjust_p_values
    >>> adjust_p_values([0.01, 0.04, None, 0.03], method="holm")
    [0.03, 0.06, None, 0.06]
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate
from typing import Literal, get_args

from iterate.errors import StatsError

Correction = Literal["holm", "bonferroni", "benjamini-hochberg"]
"""Family-wise error control (``holm``, ``bonferroni``) or false discovery rate (``benjamini-hochberg``)."""

CORRECTIONS: tuple[str, ...] = get_args(Correction)


def adjust_p_values(
    p_values: Sequence[float | None],
    method: Correction = "holm",
) -> list[float | None]:
    """Adjusted p-values: reject hypothesis ``i`` at level ``alpha`` when ``adjusted[i] <= alpha``.

    With ``m`` the number of p-values given (None entries, e.g. untested
    metrics, are skipped and stay None) and ``p_(1) <= ... <= p_(m)`` sorted:

    - ``bonferroni``: ``min(1, m p_i)`` (Dunn 1961, "Multiple comparisons
      among means", JASA 56, the Bonferroni inequality);
    - ``holm``: ``adjusted_(k) = max_{j <= k} min(1, (m - j + 1) p_(j))``,
      the step-down procedure of Holm 1979, "A simple sequentially rejective
      multiple test procedure", Scandinavian Journal of Statistics 6;
    - ``benjamini-hochberg``: ``adjusted_(k) = min_{j >= k} min(1, m p_(j) / j)``,
      the step-up procedure controlling the false discovery rate of
      Benjamini & Hochberg 1995, "Controlling the false discovery rate",
      JRSS B 57, section 3.

    Equals ``statsmodels.stats.multitest.multipletests(..., method="holm" |
    "bonferroni" | "fdr_bh")[1]``.

    Args:
        p_values: p-values in [0, 1], or None for a hypothesis not tested.
        method: ``"holm"`` (default), ``"bonferroni"`` or ``"benjamini-hochberg"``.

    Returns:
        Adjusted p-values in the input order, None where the input was None.

    Raises:
        StatsError: On an unknown method, or p-values that are not numbers in
            [0, 1] (all of them listed).

    Example:
        >>> adjust_p_values([0.01, 0.04, 0.03], method="benjamini-hochberg")
        [0.03, 0.04, 0.04]
    """
    if method not in CORRECTIONS:
        raise StatsError(f"method == {method!r}, must be one of {', '.join(CORRECTIONS)}")
    problems = [
        f"p_values[{i}] == {p!r}, must be a number in [0, 1] or None"
        for i, p in enumerate(p_values)
        if p is not None
        and (isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1)
    ]
    if problems:
        raise StatsError(f"{len(problems)} invalid p-value(s)", problems)
    given = [i for i, p in enumerate(p_values) if p is not None]
    m = len(given)
    adjusted: list[float | None] = [None] * len(p_values)
    if m == 0:
        return adjusted
    p = [float(p_values[i]) for i in given]
    if method == "bonferroni":
        result = [min(1.0, m * value) for value in p]
    else:
        order = sorted(range(m), key=p.__getitem__)
        if method == "holm":
            steps = list(accumulate((p[i] * (m - rank) for rank, i in enumerate(order)), max))
        else:
            # m p / j >= p, but at j == m it can round below p (0.35 * 3 / 3 == 0.3499999999999999)
            from_largest = (max(p[i], p[i] * m / (rank + 1)) for rank, i in reversed(list(enumerate(order))))
            steps = list(accumulate(from_largest, min))[::-1]
        result = [0.0] * m
        for i, step in zip(order, steps, strict=True):
            result[i] = min(1.0, step)
    for i, value in zip(given, result, strict=True):
        adjusted[i] = value
    return adjusted
