"""JSON Schema validation of items (the schema lives in ``capture/schemas/``)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker


@cache
def _validator() -> Draft202012Validator:
    text = resources.files("capture.schemas").joinpath("captured_file.schema.json").read_text()
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def item_errors(data: dict[str, Any]) -> list[str]:
    """Human-readable schema violations, each naming the offending field."""
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '<item>'}: {e.message}" for e in errors]
