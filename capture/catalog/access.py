"""When a reader last used a file: the access half of the tiering rules' "age and access".

Readers that hand a file's bytes or its record to a person (exports, ``capture catalog cite``,
``capture storage restore``, a future ``capture cat``) call :func:`record_access`, so a file
people still use is not recommended for a colder tier. One bulk UPDATE per chunk of ids: an
export of a million files costs a few statements, not a million.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, update

from capture.catalog.schema import files
from capture.catalog.store import CHUNK, Catalog, utcnow


def record_access_in(conn: Connection, ids: Iterable[int], at: str | None = None) -> int:
    """Set ``last_accessed_at`` of the files ``ids`` inside the caller's transaction; returns
    how many rows were touched."""
    when = at or utcnow()
    wanted = sorted(set(ids))
    done = 0
    for i in range(0, len(wanted), CHUNK):
        res = conn.execute(
            update(files).where(files.c.id.in_(wanted[i : i + CHUNK])).values(last_accessed_at=when)
        )
        done += res.rowcount or 0
    return done


def record_access(catalog: Catalog, ids: Iterable[int], at: str | None = None) -> int:
    """:func:`record_access_in` in its own transaction (what the CLI readers call)."""
    with catalog.engine.begin() as conn:
        return record_access_in(conn, ids, at)
