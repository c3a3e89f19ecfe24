"""Normal, Student t and chi-square distribution functions (``scipy.special``), imported on first use.

``scipy.special`` takes a few tenths of a second to import; deferring it lets an analysis import
it in the background while the engine aggregates (see ``iterate.analysis``), and keeps
``import iterate.stats`` light in a notebook.
"""

from __future__ import annotations

from typing import Any


def ndtr(x: Any) -> Any:
    """Standard normal CDF.

    Example:
        >>> round(float(ndtr(1.959963984540054)), 6)
        0.975
    """
    from scipy.special import ndtr as function

    return function(x)


def ndtri(p: Any) -> Any:
    """Standard normal quantile function."""
    from scipy.special import ndtri as function

    return function(p)


def stdtr(df: Any, t: Any) -> Any:
    """Student t CDF with ``df`` degrees of freedom."""
    from scipy.special import stdtr as function

    return function(df, t)


def stdtrit(df: Any, p: Any) -> Any:
    """Student t quantile function with ``df`` degrees of freedom."""
    from scipy.special import stdtrit as function

    return function(df, p)


def chdtrc(df: Any, x: Any) -> Any:
    """Chi-square survival function with ``df`` degrees of freedom."""
    from scipy.special import chdtrc as function

    return function(df, x)
