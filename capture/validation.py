"""JSON Schema validation of items (the schema lives in ``capture/schemas/``).

Every item is checked twice (as it enters the pipeline and as it leaves it), so the check is on
the per-file hot path. ``fastjsonschema`` compiles the schema to Python code (an order of
magnitude faster than interpreting it) and answers "valid?"; only for an invalid item does
``jsonschema`` run, to name every offending field. The schema uses draft 2020-12 ``$schema``
but only keywords whose meaning is the same in draft 7, which fastjsonschema implements;
``tests/test_items_and_security.py`` checks that the two agree on valid and mutated items.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import fastjsonschema

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

DRAFT7 = "http://json-schema.org/draft-07/schema#"


@cache
def schema() -> dict[str, Any]:
    text = resources.files("capture.schemas").joinpath("captured_file.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator, FormatChecker  # only for invalid items

    Draft202012Validator.check_schema(schema())
    return Draft202012Validator(schema(), format_checker=FormatChecker())


@cache
def _compiled() -> Callable[[Any], Any]:
    return fastjsonschema.compile({**schema(), "$schema": DRAFT7})


def _fast_valid(data: dict[str, Any]) -> bool:
    try:
        _compiled()(data)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def item_errors(data: dict[str, Any]) -> list[str]:
    """Human-readable schema violations, each naming the offending field."""
    return [] if _fast_valid(data) else full_errors(data)


def full_errors(data: dict[str, Any]) -> list[str]:
    """The same answer from jsonschema alone (the reference the fast path is tested against)."""
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '<item>'}: {e.message}" for e in errors]
