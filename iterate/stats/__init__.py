"""Statistics on summary statistics (moments) only: no engine, no data frames.

Everything here takes per-arm ``Moments`` (count, mean, sample variance) and
returns flat, frozen results, so it runs the same whatever engine produced the
numbers, and works in a notebook with numbers typed by hand.

Example:
    >>> from iterate.stats import Moments, welch_t_test
    >>> e = welch_t_test(Moments(1000, 10.0, 4.0), Moments(1000, 10.3, 4.2))
    >>> e.status, round(e.effect, 2), round(e.ci_low, 3), round(e.ci_high, 3)
    ('ok', 0.3, 0.122, 0.478)
    >>> round(e.p_value, 5), round(e.relative_effect, 3)
    (0.00094, 0.03)
"""

from __future__ import annotations

from iterate.stats.estimate import Alternative, Estimate, Status, interval_and_p_value, relative_lift
from iterate.stats.means import welch_t_test
from iterate.stats.moments import Moments
from iterate.stats.proportions import two_proportion_z_test
from iterate.stats.srm import SrmResult, sample_ratio_mismatch

__all__ = [
    "Alternative",
    "Estimate",
    "Moments",
    "SrmResult",
    "Status",
    "interval_and_p_value",
    "relative_lift",
    "sample_ratio_mismatch",
    "two_proportion_z_test",
    "welch_t_test",
]
