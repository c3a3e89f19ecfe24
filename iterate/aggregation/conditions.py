"""``where`` conditions as SQL: identifiers quoted, values bound as parameters, never pasted."""

from __future__ import annotations

from collections.abc import Iterable

from iterate.config import Condition
from iterate.templates import Parameters, quote_identifier

_OPERATORS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def condition_sql(condition: Condition, column: str, parameters: Parameters) -> str:
    """SQL for one condition on ``column`` (already qualified and quoted by the caller).

    Example:
        >>> from iterate.engines.dialects import DUCKDB
        >>> parameters = Parameters(DUCKDB)
        >>> condition_sql(Condition("platform", "in", ("ios", "web")), 'e."dim:platform"', parameters)
        'e."dim:platform" IN ($p0, $p1)'
    """
    if condition.operator in ("in", "not_in"):
        placeholders = ", ".join(parameters.bind(value) for value in condition.value)
        negation = "NOT " if condition.operator == "not_in" else ""
        return f"{column} {negation}IN ({placeholders})"
    return f"{column} {_OPERATORS[condition.operator]} {parameters.bind(condition.value)}"


def conditions_sql(conditions: Iterable[Condition], alias: str, parameters: Parameters, prefix: str = "dim:") -> list[str]:
    """SQL of each condition on dimension columns of the relation ``alias``."""
    return [condition_sql(c, f"{alias}.{quote_identifier(prefix + c.column)}", parameters) for c in conditions]
