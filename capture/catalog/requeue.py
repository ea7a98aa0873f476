"""Put failed or quarantined files back in the queue: their row becomes ``discovered``, the
one state a spider re-drives from the catalog when it starts (spiders/base.py ``redrive``)
and register resumes, so the next crawl of the archive fetches them again even if its
listing does not reach them.

The row's ``item`` (what the re-drive rebuilds the request from) is reset to what the listing
said, without the failed attempt's outcome (size, digests, error): the re-fetch starts clean.
A quarantined copy and its ``.reason.json`` stay where they are; the row's ``error`` keeps the
last error (with the quarantine path) until the next outcome replaces it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from capture.catalog.schema import events, files
from capture.catalog.store import utcnow
from capture.items import CapturedFile, item_dict
from capture.status import PROBLEMS, FileStatus

#: Item fields that come from the listing; every other field is a past attempt's outcome.
LISTING_FIELDS = (
    "archive",
    "domain",
    "url",
    "archive_path",
    "path",
    "expected_size",
    "format",
    "spider",
    "metadata",
    "priority",
    "fetch",
)


def listing_item(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a catalog ``item``) as its listing gave it: status discovered, no outcome."""
    item = CapturedFile(**{k: data[k] for k in LISTING_FIELDS if data.get(k) is not None})
    checksum = data.get("checksum") or {}
    item.checksum.update({k: checksum.get(k) for k in ("algorithm", "expected", "source")})
    return item_dict(item)


def requeue(conn: Connection, targets: list[tuple[int, str]]) -> int:
    """Re-queue ``(file_id, cause)`` pairs; each gets a ``requeued`` event. A row no longer
    failed or quarantined (a crawl settled it meanwhile) is left alone. Returns how many
    were re-queued."""
    done = 0
    now = utcnow()
    for file_id, cause in targets:
        row = (
            conn.execute(
                select(files.c.state, files.c.item, files.c.error).where(files.c.id == file_id)
            )
            .mappings()
            .first()
        )
        if row is None or row["state"] not in PROBLEMS:
            continue
        changed = conn.execute(
            update(files)
            .where(files.c.id == file_id, files.c.state == row["state"])
            .values(
                state=FileStatus.DISCOVERED.value,
                item=listing_item(row["item"] or {}),
                updated_at=now,
            )
        )
        if changed.rowcount == 0:
            continue
        conn.execute(
            insert(events).values(
                file_id=file_id,
                run_id=None,
                at=now,
                kind="requeued",
                detail={"cause": cause, "from": row["state"], "error": row["error"]},
            )
        )
        done += 1
    return done
