"""What to do with a file a listing names, given what the catalog knows about it.

The one decision engine: the register stage of a crawl (:meth:`Catalog.register`) and the
read-only diff (:meth:`Catalog.plan`, ``capture diff``) both call :func:`decide`, so a diff
says exactly what the next update round will fetch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from capture.status import ATTEMPTED, RETRIED, UNFINISHED
from capture.storage.codec import located

#: Decisions that lead to a transfer (``conditional`` asks the server first).
FETCHED = frozenset({"new", "resume", "retry", "changed", "conditional", "refetch"})


@dataclass(frozen=True)
class Decision:
    #: new | resume | retry | unchanged | changed | conditional | refetch | duplicate
    kind: str
    #: For ``changed``: the listing validators that differ from what the catalog holds
    #: (``size``, ``digest``, ``listing_date``), in that order.
    changed: tuple[str, ...] = ()


def decide(
    prev: dict[str, Any],
    rec: dict[str, Any],
    exists: Callable[[str, int | None], bool] | None,
) -> Decision:
    """Compare a listing record (``rec``, a catalog record) with the catalog row ``prev``.

    A publisher digest decides when both sides have one of the same algorithm; otherwise the
    size, then the listing's date; with none of them, the HTTP validators the stored copy was
    fetched with make the fetch conditional.
    """
    state = prev["state"]
    if prev.get("last_run") and prev["last_run"] == rec.get("last_run") and state in ATTEMPTED:
        return Decision("duplicate")  # already settled in this very run (re-drive + re-listing)
    if state in UNFINISHED:
        return Decision("resume")
    if state in RETRIED:
        return Decision("retry")
    # stored / retracted: compare what the listing says now with what we hold.
    # A file moved to another tier (files.location: the cold root, an S3 storage class) is
    # held there; only a file at its usual place is looked for on disk.
    on_disk = exists is None or bool(prev.get("location")) or exists(*located(prev))
    if not on_disk:
        return Decision("refetch")
    differ = differences(prev, rec)
    new_digest, old_digest = rec.get("digest_expected"), prev.get("digest_expected")
    if new_digest and old_digest and rec.get("digest_algorithm") == prev.get("digest_algorithm"):
        decisive = [d for d in differ if d in ("size", "digest")]
        return Decision("changed", tuple(differ)) if decisive else Decision("unchanged")
    if "size" in differ:
        return Decision("changed", tuple(differ))
    new_date, old_date = _listing_date(rec), _listing_date(prev)
    if new_date and old_date:
        # A listing that dates its entries (Apache index, current.tree) tells us for free.
        return Decision("changed", tuple(differ)) if new_date != old_date else Decision("unchanged")
    if prev.get("etag") or prev.get("last_modified"):
        return Decision("conditional")
    return Decision("refetch")


def differences(prev: dict[str, Any], rec: dict[str, Any]) -> list[str]:
    """The listing validators known on both sides that differ (size, digest, listing_date)."""
    out = []
    new_size, old_size = rec.get("expected_size"), prev.get("size")
    if new_size is not None and old_size is not None and new_size != old_size:
        out.append("size")
    new_digest, old_digest = rec.get("digest_expected"), prev.get("digest_expected")
    if (
        new_digest
        and old_digest
        and rec.get("digest_algorithm") == prev.get("digest_algorithm")
        and new_digest != old_digest
    ):
        out.append("digest")
    new_date, old_date = _listing_date(rec), _listing_date(prev)
    if new_date and old_date and new_date != old_date:
        out.append("listing_date")
    return out


def _listing_date(row: dict[str, Any]) -> str | None:
    """The modification date a listing gave for an entry (``listing_modified`` in the
    ``file_metadata`` of a catalog row or record)."""
    source = row.get("file_metadata")
    if isinstance(source, str):
        try:
            source = json.loads(source)
        except ValueError:
            return None
    if not isinstance(source, dict):
        return None
    value = source.get("listing_modified")
    return str(value) if value else None
