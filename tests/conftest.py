"""Fixtures of the test suite; the helpers themselves live in :mod:`helpers` (``from helpers import ...``)."""

from __future__ import annotations

import pytest

from helpers import write_config, write_logs


@pytest.fixture(name="write_logs")
def write_logs_fixture():
    """The :func:`helpers.write_logs` helper, as a fixture."""
    return write_logs


@pytest.fixture(name="write_config")
def write_config_fixture():
    """The :func:`helpers.write_config` helper, as a fixture."""
    return write_config


@pytest.fixture(autouse=True, scope="session")
def _every_json_report_follows_the_schema():
    """Every JSON report the suite produces (``--format json``, ``render(..., "json")``, ``to_dict()``)
    is validated against the schema shipped in the package (``iterate schema``)."""
    from schema_validation import validating_json_reports

    with validating_json_reports():
        yield
