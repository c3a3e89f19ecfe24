"""Validation of every JSON report against ``iterate/report/schema.json`` (used by conftest.py for the
whole suite, and by tests/report/test_schema.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import jsonschema
import pytest

from iterate.report import json_schema

VALIDATED: list[str] = []
"""The ``kind`` of each report validated so far in this session."""


@cache
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(json_schema())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def assert_follows_schema(report: dict[str, Any]) -> None:
    """Fail with every violation (path and message) when ``report`` does not follow the schema."""
    errors = list(validator().iter_errors(report))
    if errors and report.get("kind") in validator().schema["$defs"]:  # the errors of its own kind, not oneOf's
        errors = list(validator().evolve(schema={**validator().schema, "oneOf": [],
                                                 "$ref": f"#/$defs/{report['kind']}"}).iter_errors(report)) or errors
    errors.sort(key=lambda error: list(error.absolute_path))
    if errors:
        details = "\n".join(f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:10])
        raise AssertionError(f"a JSON report breaks iterate/report/schema.json:\n{details}")
    VALIDATED.append(report.get("kind", "?"))


@contextmanager
def validating_json_reports() -> Iterator[None]:
    """Within the block, every JSON text rendered and every ``to_dict()`` is checked against the schema."""
    from iterate.calibration import CalibrationResult
    from iterate.planning import Plan
    from iterate.report import json as json_format
    from iterate.result import AnalysisResult

    render = json_format.render

    def validated_render(kind: str, document: dict[str, Any], *, color: bool = False) -> str:
        text = render(kind, document, color=color)
        assert_follows_schema(json.loads(text))
        return text

    def validated_to_dict(to_dict):
        def wrapper(self) -> dict[str, Any]:
            report = to_dict(self)
            assert_follows_schema(report)
            return report
        return wrapper

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(json_format, "render", validated_render)
        for result_class in (AnalysisResult, CalibrationResult, Plan):
            patch.setattr(result_class, "to_dict", validated_to_dict(result_class.to_dict))
        yield
