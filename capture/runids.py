"""Run ids: how a crawl, a round, a diff or a rescore names itself in the catalog."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


def new_run_id(prefix: str) -> str:
    """``<prefix>_<UTC time>_<6 hex digits>``: sorted by start time, and unique even for runs
    started in the same second (a re-crawl right after a quick one took the same id, and the
    catalog, which settles a file once per run, took its files for re-listed duplicates)."""
    return f"{prefix}_{datetime.now(UTC).strftime('%Y%m%d_%H%M%S')}_{secrets.token_hex(3)}"
