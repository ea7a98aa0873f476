"""Searchable values derived from an item's metadata: a normalised target name and numeric
parameters (Teff, logg, [Fe/H], time ranges...)."""

from __future__ import annotations

import math
import re
from typing import Any

TARGET_KEYS = (
    "target_name",
    "target",
    "hostname",
    "host_name",
    "object",
    "star",
    "organism",
    "pl_name",
)
PLANET_SUFFIX = re.compile(r"^(.*\d)[\s_-]*([b-z])$", re.I)
MAX_PARAMS = 64


def normalize_target(name: str | None) -> str | None:
    """Host-level key for matching names across archives: "WASP-39 b", "WASP 39b" and
    "wasp39" all give "wasp39" (case, spaces and punctuation ignored, a trailing planet letter
    after the host's number dropped)."""
    if not name or not isinstance(name, str):
        return None
    text = name.strip()
    m = PLANET_SUFFIX.match(text)
    if (m and re.search(r"[\s_-]", text[len(m.group(1)) - 1 :])) or (m and text[-2:-1].isdigit()):
        text = m.group(1)
    key = re.sub(r"[^a-z0-9+]", "", text.lower())
    return key or None


def target_of(metadata: dict[str, Any] | None) -> str | None:
    for key in TARGET_KEYS:
        value = (metadata or {}).get(key)
        if isinstance(value, str) and value.strip():
            return normalize_target(value)
    return None


def params_of(metadata: dict[str, Any] | None) -> dict[str, float]:
    """Top-level numeric metadata values (booleans excluded), keyed by lower-case name."""
    out: dict[str, float] = {}
    for key, value in (metadata or {}).items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        out[str(key).lower()[:64]] = float(value)
        if len(out) >= MAX_PARAMS:
            break
    return out
