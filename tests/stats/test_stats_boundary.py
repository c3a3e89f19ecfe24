from __future__ import annotations

import doctest
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = ["iterate.stats", *sorted(f"iterate.stats.{path.stem}" for path in (ROOT / "iterate" / "stats").glob("*.py")
                                    if path.stem != "__init__")]
"""Every module of iterate.stats, found on disk so that a new one is held to the boundary too."""


def test_stats_imports_no_engine_and_no_scipy_stats() -> None:
    code = (
        "import iterate.stats, sys; "
        "[getattr(iterate.stats, name) for name in iterate.stats.__all__]; "
        "assert not any(m.split('.')[0] in {'duckdb', 'polars', 'click', 'pandas', 'statsmodels'} "
        "for m in sys.modules), sorted(sys.modules); "
        "assert 'scipy.stats' not in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    outcome = doctest.testmod(importlib.import_module(name))
    assert outcome.attempted > 0 and outcome.failed == 0


def test_lazy_names_match_the_imports_for_type_checkers() -> None:
    """``iterate.stats`` loads its submodules on first use; its ``TYPE_CHECKING`` imports (what type
    checkers and IDEs read) must name the same submodule for every public name."""
    import ast

    import iterate.stats as stats

    tree = ast.parse(Path(stats.__file__).read_text())
    guarded = next(node for node in tree.body if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING")
    declared = {alias.name: node.module.rsplit(".", 1)[-1] for node in guarded.body for alias in node.names}
    assert declared == stats._SUBMODULE
    for name in stats.__all__:
        assert getattr(stats, name).__module__ in {f"iterate.stats.{declared[name]}", "typing"}
    assert stats.cuped.__name__ == "iterate.stats.cuped" and stats.distributions.__name__ == "iterate.stats.distributions"
