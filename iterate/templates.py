"""The rendering gateway: SQL templates of ``sql/`` filled with slots, and their bind parameters.

Every query iterate runs is a :class:`Query` made here from a template shipped with the package
(the top-level ``sql/`` folder of the source tree, installed as ``iterate/sql`` in a wheel and
located with :mod:`importlib.resources`, as dbt ships its macros). Python supplies only slots:
SQL fragments built from quoted identifiers and the engine's dialect. Values never enter the
text: they travel as bind parameters, named by :class:`Parameters`. An engine executes queries,
so what an analysis ran can be observed by wrapping its engine (see ``tests/engines``).

A template refers to a constant spelling of the engine's dialect as ``{dialect.<name>}``
(e.g. ``{dialect.materialized_cte}``); comment lines (``--``), which document the template and
name its slots, are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iterate.errors import IterateError

if TYPE_CHECKING:
    from iterate.engines.base import Dialect


@dataclass(frozen=True, slots=True)
class Query:
    """A rendered template, ready for an engine.

    Attributes:
        template: Name of the template it was rendered from (``unit_metrics``, ...).
        text: The SQL text.
        parameters: Bind parameter values by name.
        includes: Names of the templates embedded in it as subqueries, at any depth.
    """

    template: str
    text: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    includes: tuple[str, ...] = ()


class Parameters:
    """Named bind parameters of one query; ``bind`` returns the placeholder to put in the SQL.

    A ``prefix`` other than ``p`` keeps the names apart from those of a query that embeds this one.

    Example:
        >>> from iterate.engines.dialects import DUCKDB
        >>> parameters = Parameters(DUCKDB)
        >>> parameters.bind("purchase"), parameters.bind(0.5), parameters.values
        ('$p0', '$p1', {'p0': 'purchase', 'p1': 0.5})
    """

    def __init__(self, dialect: Dialect, prefix: str = "p") -> None:
        self.dialect = dialect
        self.prefix = prefix
        self.values: dict[str, Any] = {}
        self._by_value: dict[tuple[type, Any], str] = {}

    def copy(self) -> Parameters:
        """A new set starting with these parameters (for queries that embed this one)."""
        other = Parameters(self.dialect, self.prefix)
        other.values.update(self.values)
        other._by_value.update(self._by_value)
        return other

    def bind(self, value: Any) -> str:
        """Placeholder of ``value`` (the same value reuses one parameter)."""
        key = (type(value), value)
        if key not in self._by_value:
            name = f"{self.prefix}{len(self.values)}"
            self.values[name] = value
            self._by_value[key] = self.dialect.placeholder(name)
        return self._by_value[key]


def render(name: str, dialect: Dialect, parameters: Mapping[str, Any] | None = None, **slots: str | Query) -> Query:
    """The template ``name`` with its ``{slot}`` markers filled, as a :class:`Query`.

    Slots are SQL fragments built from quoted identifiers and dialect spellings, or queries
    rendered from other templates (embedded as subqueries, their parameters merged); values go in
    ``parameters``.
    """
    code = "\n".join(line for line in load_template(name).splitlines() if not line.lstrip().startswith("--"))
    embedded = [slot for slot in slots.values() if isinstance(slot, Query)]
    merged = {key: value for query in embedded for key, value in query.parameters.items()}
    texts = {key: slot.text if isinstance(slot, Query) else slot for key, slot in slots.items()}
    return Query(
        template=name,
        text=code.format(dialect=dialect, **texts),
        parameters={**merged, **(parameters or {})},
        includes=tuple(included for query in embedded for included in (query.template, *query.includes)),
    )


def _template_dir():
    installed = resources.files("iterate") / "sql"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / "sql"


@cache
def load_template(name: str) -> str:
    """Text of the template ``name`` (without ``.sql``)."""
    path = _template_dir() / f"{name}.sql"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise IterateError(f"SQL template {name}.sql is missing from the installation; reinstall iterate") from None


def template_names() -> list[str]:
    """Every template shipped, for tests that render and run each one."""
    return sorted(entry.name[:-4] for entry in _template_dir().iterdir() if entry.name.endswith(".sql"))


def quote_identifier(name: str) -> str:
    r'''A SQL identifier in double quotes (standard SQL), embedded quotes doubled.

    Example:
        >>> print(quote_identifier('user "id"'))
        "user ""id"""
    '''
    return '"' + name.replace('"', '""') + '"'
