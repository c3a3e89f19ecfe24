"""Balance of two groups on a covariate: the standardized mean difference.

In an observational comparison (users who chose to update against users who did not) the groups
may differ before any treatment. Stuart (2010), "Matching methods for causal inference: a review
and a look forward", Statistical Science 25(1), section 6.2, measures the difference of a
covariate's means in units of its spread,

    d = (mean_t - mean_c) / sqrt((var_t + var_c) / 2),

and calls ``|d| > 0.25`` a difference too large for a regression adjustment to be trusted on its own
(citing Rubin 2001). A difference-in-differences tolerates a level difference by design, so for
it the flag says the parallel-trends assumption carries more of the weight.

Example:
    >>> from iterate.stats import Moments
    >>> round(standardized_mean_difference(Moments(100, 1.0, 1.0), Moments(100, 1.5, 1.0)), 3)
    0.5
"""

from __future__ import annotations

import math

from iterate.stats.moments import Moments

SMD_THRESHOLD = 0.25
"""Stuart (2010), section 6.2: beyond this absolute standardized difference the groups differ."""


def standardized_mean_difference(control: Moments, treatment: Moments) -> float | None:
    """``(treatment.mean - control.mean) / sqrt((treatment.variance + control.variance) / 2)``
    (Stuart 2010, section 6.2); ``None`` when a group is empty or both variances are 0."""
    if not control.n or not treatment.n:
        return None
    spread = math.sqrt((treatment.variance + control.variance) / 2)
    if spread == 0:
        return None
    return (treatment.mean - control.mean) / spread
