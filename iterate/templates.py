"""SQL templates shipped with the package (the top-level ``sql/`` folder of the source tree).

In a wheel the folder is installed as ``iterate/sql``; from a source checkout it is found beside
the package. Templates are located with :mod:`importlib.resources`, as dbt ships its macros.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from iterate.errors import IterateError


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


def render(name: str, **slots: str) -> str:
    """Fill a template's ``{slot}`` markers with SQL fragments built from quoted identifiers.

    Values never go through here: they travel as bind parameters. Comment lines (the template's
    documentation, which names the slots) are dropped first.
    """
    code = "\n".join(line for line in load_template(name).splitlines() if not line.lstrip().startswith("--"))
    return code.format(**slots)


def template_names() -> list[str]:
    """Every template shipped, for tests that render and parse each one."""
    return sorted(entry.name[:-4] for entry in _template_dir().iterdir() if entry.name.endswith(".sql"))


def quote_identifier(name: str) -> str:
    r'''A SQL identifier in double quotes, embedded quotes doubled.

    Example:
        >>> print(quote_identifier('user "id"'))
        "user ""id"""
    '''
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A SQL string literal, for the few statements that take no bind parameters (ATTACH)."""
    return "'" + text.replace("'", "''") + "'"
