"""Declared spider arguments (``-a name=value``).

Each spider declares its arguments once, as a pydantic model handed to
``scrapy_spider_metadata.Args`` (the idiom of zyte-spider-templates): types, ranges, comma
lists, defaults and help text. :class:`spiders.base.CaptureSpider` validates ``-a`` values
against it before anything else happens, so a bad argument ends the crawl with one line
(``error: kegg: max_entries must be a positive integer, got 'abc'``) instead of a traceback,
and ``capture run``, the README table and scrapyd UIs read the same declarations
(``get_spider_metadata(cls)["param_schema"]``).

The types below accept what a command line gives (strings) and what a JSON config gives
(numbers, booleans, lists).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def _split(value: Any) -> Any:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``; lists pass through (from JSON configs)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return value


def _flag(value: Any) -> Any:
    if isinstance(value, str):
        v = value.strip().lower()
        if v in TRUE:
            return True
        if v in FALSE:
            return False
        raise ValueError(f"must be one of 1/0, true/false, yes/no, on/off, got {value!r}")
    return value


#: A comma-separated list (``-a tables=ps,pscomppars``).
CommaList = Annotated[list[str], BeforeValidator(_split)]
#: A yes/no switch (``-a render_js=1``).
Flag = Annotated[bool, BeforeValidator(_flag)]
#: ``-a replica=``: file bodies from the archive itself or from its open cloud replica.
Replica = Literal["origin", "cloud"]
#: A whole number >= 1.
PositiveInt = Annotated[int, Field(ge=1)]


class CaptureParams(BaseModel):
    """Arguments every spider takes."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    base_url: str | None = Field(
        None,
        description="a mirror of the archive's origin, scheme://host[:port] "
        "(default: the archive's real origin)",
    )
    render_js: Flag = Field(
        False, description="render listing pages in Chromium (scrapy-playwright)"
    )
    # scrapyd passes -a _job=<job id> to every spider it runs.
    job: str | None = Field(None, alias="_job", description="scrapyd job id (set by scrapyd)")


class SpiderArgumentError(ValueError):
    """A spider argument (``-a name=value``) is missing or malformed: one line for the user."""


def _lower_bound(field: Any) -> Any:
    """The ``ge`` bound declared on a field (also inside ``Optional[Annotated[...]]``)."""
    if field is None:
        return None
    stack: list[Any] = [*field.metadata, field.annotation]
    while stack:
        item = stack.pop()
        if getattr(item, "ge", None) is not None:
            return item.ge
        stack.extend(getattr(item, "__metadata__", ()))
        meta = getattr(item, "metadata", None)  # a FieldInfo inside Annotated[...]
        if isinstance(meta, list):
            stack.extend(meta)
        stack.extend(get_args(item))
    return None


def _describe(err: ErrorDetails, model: type[BaseModel]) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ())) or "arguments"
    name = str(err["loc"][0]) if err.get("loc") else loc
    kind = err.get("type", "")
    given = err.get("input")
    if kind == "extra_forbidden":
        known = sorted(
            (f.alias or n) for n, f in model.model_fields.items() if (f.alias or n) != "_job"
        )
        return f"unknown argument {name!r} (known: {', '.join(known)})"
    if kind == "missing":
        return f"{name} is required"
    field = model.model_fields.get(name)
    annotation = str(field.annotation) if field else ""
    if kind in ("int_parsing", "int_type", "int_from_float") or (
        kind in ("greater_than_equal", "greater_than") and "int" in annotation
    ):
        ge = err.get("ctx", {}).get("ge", _lower_bound(field))
        what = {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}.get(
            ge, f"an integer >= {ge}"
        )
        return f"{name} must be {what}, got {given!r}"
    if kind in ("float_parsing", "float_type"):
        return f"{name} must be a number, got {given!r}"
    message = str(err.get("msg", "is not valid"))
    if kind == "value_error":  # our validators name the bad value themselves
        return f"{name}: {message.removeprefix('Value error, ')}"
    return f"{name}: {message}" + ("" if given is None else f", got {given!r}")


def parse_params(spider: str, model: type[BaseModel], values: dict[str, Any]) -> Any:
    """Validate ``-a`` values against ``model``; a failure becomes one readable line."""
    try:
        return model(**values)
    except ValidationError as exc:
        lines = [_describe(e, model) for e in exc.errors(include_url=False)]
        raise SpiderArgumentError(f"{spider}: " + "; ".join(lines)) from None
