"""The layer boundaries of DESIGN.md, checked on the source (AST), so a shortcut fails CI.

- ``iterate/stats`` works on moments: it imports no engine, frame or CLI library, and nothing of
  iterate outside itself and ``iterate.errors``;
- only ``iterate/engines`` imports an engine's library (DuckDB; PySpark later);
- only ``iterate/metrics`` (and config parsing) knows metric type names: no other module compares
  anything with a type name, branches on ``.type`` or keys a table by type names;
- a metric kind is one module and one registry line: the newest kinds, ``active_days`` and
  ``event_rate``, are named in code nowhere else.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from iterate.metrics import METRIC_KINDS

PACKAGE = Path(__file__).resolve().parents[1] / "iterate"
ENGINE_LIBRARIES = {"duckdb", "pyspark"}
FRAME_AND_CLI_LIBRARIES = {"polars", "pandas", "pyarrow", "click", *ENGINE_LIBRARIES}


def _modules(*, under: str | None = None) -> list[Path]:
    root = PACKAGE / under if under else PACKAGE
    return sorted(root.rglob("*.py"))


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _relative(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def _code_constants(tree: ast.AST) -> list[ast.Constant]:
    """String constants of the code, docstrings left out."""
    docstrings = {
        id(node.body[0].value) for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    return [node for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_stats_imports_no_engine_frame_or_cli_library_and_no_other_layer():
    for path in _modules(under="stats"):
        for name in _imported(path):
            top = name.split(".")[0]
            assert top not in FRAME_AND_CLI_LIBRARIES, f"{_relative(path)} imports {name}"
            if top == "iterate":
                assert name.startswith("iterate.stats") or name == "iterate.errors", f"{_relative(path)} imports {name}"


def test_only_the_engines_import_an_engine_library():
    for path in _modules():
        if path.is_relative_to(PACKAGE / "engines"):
            continue
        imported = {name.split(".")[0] for name in _imported(path)}
        assert not imported & ENGINE_LIBRARIES, f"{_relative(path)} imports {imported & ENGINE_LIBRARIES}"


def _type_name_branches(path: Path) -> list[str]:
    """Comparisons with a metric type name or with ``.type``, ``match`` cases and dict keys on
    type names: every way of branching on a type."""
    names = set(METRIC_KINDS)
    tree = ast.parse(path.read_text())
    found = []

    def type_names(node: ast.AST) -> list[str]:
        items = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
        return [item.value for item in items if isinstance(item, ast.Constant) and item.value in names]

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                if isinstance(side, ast.Attribute) and side.attr == "type":
                    found.append(f"line {node.lineno}: compares .type")
                found += [f"line {node.lineno}: compares with {name!r}" for name in type_names(side)]
        elif isinstance(node, ast.MatchValue):
            found += [f"line {node.lineno}: match case {name!r}" for name in type_names(node.value)]
        elif isinstance(node, ast.Dict):
            found += [f"line {node.lineno}: dict keyed by {name!r}" for key in node.keys if key is not None
                      for name in type_names(key)]
    return found


def test_no_module_outside_metrics_and_config_branches_on_a_metric_type():
    # iterate/stats knows no metric type: its table of submodules has a "quantile" and a "ratio"
    knowing_types = [PACKAGE / "metrics", PACKAGE / "config", PACKAGE / "stats"]
    offenders = {
        _relative(path): branches
        for path in _modules()
        if not any(path.is_relative_to(folder) for folder in knowing_types)
        for branches in [_type_name_branches(path)] if branches
    }
    assert not offenders, offenders


def test_the_branch_detector_finds_branches(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f(metric, kind):\n"
        "    if metric.type == 'ratio':\n        return 1\n"
        "    if kind in ('proportion', 'retention'):\n        return 2\n"
        "    table = {'quantile': 3}\n"
        "    match kind:\n        case 'mean':\n            return 4\n"
        "    return table\n"
    )
    assert [finding.split(":")[0] for finding in _type_name_branches(sample)] == [
        "line 2", "line 2", "line 4", "line 4", "line 6", "line 8"]


@pytest.mark.parametrize(("spelling", "module"), [
    ("active_days", "active_days"), ("ACTIVE_DAYS", "active_days"), ("ActiveDays", "active_days"),
    ("event_rate", "event_rate"), ("EVENT_RATE", "event_rate"), ("EventRate", "event_rate"),
])
def test_the_newest_kind_is_one_module_and_one_registry_line(spelling, module):
    mentions = []
    for path in _modules():
        tree = ast.parse(path.read_text())
        constants = [node.lineno for node in _code_constants(tree) if spelling in node.value]
        identifiers = [node.lineno for node in ast.walk(tree)
                       if isinstance(node, ast.Name) and node.id == spelling
                       or isinstance(node, ast.alias) and spelling in (node.name, node.asname)
                       or isinstance(node, (ast.ClassDef, ast.Attribute)) and spelling in (
                           getattr(node, "name", None), getattr(node, "attr", None))]
        if constants or identifiers:
            mentions.append(_relative(path))
    assert set(mentions) <= {"iterate/metrics/__init__.py", f"iterate/metrics/{module}.py"}, mentions
    assert f"iterate/metrics/{module}.py" in mentions
