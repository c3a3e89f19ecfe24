"""Where the real A/B-test datasets are, for the tests that reproduce their published results.

The folder is ``$ITERATE_DATASETS`` or ``<repo>/../shared/datasets``. A test module that needs one
calls :func:`dataset_file` at import time: when the file is absent the whole module is skipped,
with a reason naming the folder (the only skip the suite has).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def datasets_folder() -> Path:
    """The datasets folder (which may not exist)."""
    configured = os.environ.get("ITERATE_DATASETS")
    if configured:
        return Path(configured).expanduser().resolve()
    return Path(__file__).resolve().parents[2] / "shared" / "datasets"


def dataset_file(*parts: str) -> Path:
    """Path of a file (or folder) of the datasets; skips the calling module when it is absent."""
    path = datasets_folder().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real dataset {path} is absent (set ITERATE_DATASETS to the datasets folder)",
                    allow_module_level=True)
    return path
