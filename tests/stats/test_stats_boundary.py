from __future__ import annotations

import doctest
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = ["iterate.stats", "iterate.stats.moments", "iterate.stats.estimate",
           "iterate.stats.means", "iterate.stats.proportions", "iterate.stats.srm",
           "iterate.stats.ratio", "iterate.stats.quantile", "iterate.stats.multiplicity",
           "iterate.stats.heterogeneity", "iterate.stats.cuped", "iterate.stats.bayes", "iterate.stats.power",
           "iterate.stats.sequential", "iterate.stats.group_sequential", "iterate.stats.binomial",
           "iterate.stats.distributions"]


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
