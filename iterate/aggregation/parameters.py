"""Bind parameters and ``where`` conditions: values never enter SQL text, identifiers are quoted."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from iterate.config import Condition
from iterate.templates import quote_identifier

_OPERATORS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


class Parameters:
    """Named bind parameters of one query; ``bind`` returns the placeholder to put in the SQL.

    A ``prefix`` other than ``p`` keeps the names apart from those of a query that embeds this one.

    Example:
        >>> parameters = Parameters()
        >>> parameters.bind("purchase"), parameters.bind(0.5), parameters.values
        ('$p0', '$p1', {'p0': 'purchase', 'p1': 0.5})
    """

    def __init__(self, prefix: str = "p") -> None:
        self.prefix = prefix
        self.values: dict[str, Any] = {}
        self._by_value: dict[tuple[type, Any], str] = {}

    def copy(self) -> Parameters:
        """A new set starting with these parameters (for queries that embed this one)."""
        other = Parameters(self.prefix)
        other.values.update(self.values)
        other._by_value.update(self._by_value)
        return other

    def bind(self, value: Any) -> str:
        """Placeholder of ``value`` (the same value reuses one parameter)."""
        key = (type(value), value)
        if key not in self._by_value:
            name = f"{self.prefix}{len(self.values)}"
            self.values[name] = value
            self._by_value[key] = f"${name}"
        return self._by_value[key]


def condition_sql(condition: Condition, column: str, parameters: Parameters) -> str:
    """SQL for one condition on the (normalized, unquoted) ``column``, qualified by the caller."""
    if condition.operator in ("in", "not_in"):
        placeholders = ", ".join(parameters.bind(value) for value in condition.value)
        negation = "NOT " if condition.operator == "not_in" else ""
        return f"{column} {negation}IN ({placeholders})"
    return f"{column} {_OPERATORS[condition.operator]} {parameters.bind(condition.value)}"


def conditions_sql(conditions: Iterable[Condition], alias: str, parameters: Parameters, prefix: str = "dim:") -> list[str]:
    """SQL of each condition on dimension columns of the relation ``alias``."""
    return [condition_sql(c, f"{alias}.{quote_identifier(prefix + c.column)}", parameters) for c in conditions]
