"""Identical stored bytes in the catalog: groups of locations with one sha256 and size.

A location is a published file (``stored``, its ``path``) or a kept older version (its
``versions/...`` ``stored_at``), never a quarantined or retracted file's bytes nor bytes a
fixity audit found wrong (the same rule as :meth:`capture.catalog.Catalog.find_copies`).
Grouping is done in SQL (``GROUP BY sha256, size HAVING count > 1`` on the sha256 index), so
only the duplicates are read, a page of groups at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, Engine, func, or_, select, union_all

from capture.catalog.schema import file_versions, files
from capture.catalog.store import unindexed
from capture.status import FileStatus

PAGE = 500
_BARRED = (FileStatus.QUARANTINED.value, FileStatus.RETRACTED.value)


@dataclass(frozen=True)
class Location:
    """One stored copy of the group's bytes."""

    file_id: int
    archive: str
    path: str
    #: None: the file's published bytes; else the kept version's number.
    version: int | None
    copy_of: int | None = None
    copy_method: str | None = None


@dataclass(frozen=True)
class Group:
    sha256: str
    size: int
    #: Published files first (lowest id first), then kept versions.
    locations: tuple[Location, ...]


def _published(archive: str | None, by_sha: bool = False) -> list[ColumnElement[bool]]:
    """Conditions on ``files`` for published bytes a copy may share (``by_sha``: for a lookup
    by sha256, whose index must be the one used)."""
    state = unindexed(files.c.state) if by_sha else files.c.state
    where = [
        state == FileStatus.STORED.value,
        files.c.size > 0,
        files.c.sha256.is_not(None),
        or_(files.c.fixity.is_(None), files.c.fixity == "ok"),
    ]
    return where + ([files.c.archive == archive] if archive else [])


def _kept(archive: str | None) -> list[ColumnElement[bool]]:
    """Conditions on ``file_versions`` joined to ``files`` for kept older versions."""
    where = [
        file_versions.c.superseded_at.is_not(None),
        file_versions.c.stored_at.is_not(None),
        file_versions.c.size > 0,
        file_versions.c.sha256.is_not(None),
        files.c.state.not_in(_BARRED),
        or_(file_versions.c.fixity.is_(None), file_versions.c.fixity == "ok"),
    ]
    return where + ([files.c.archive == archive] if archive else [])


def groups(engine: Engine, archive: str | None = None) -> Iterator[Group]:
    """Every group of at least two locations (``archive``: locations of that archive only),
    in sha256 order: one grouping query streamed, locations read a page of groups at a time."""
    both = union_all(
        select(files.c.sha256, files.c.size).where(*_published(archive)),
        select(file_versions.c.sha256, file_versions.c.size)
        .join(files, files.c.id == file_versions.c.file_id)
        .where(*_kept(archive)),
    ).subquery()
    q = (
        select(both.c.sha256, both.c.size)
        .group_by(both.c.sha256, both.c.size)
        .having(func.count() > 1)
        .order_by(both.c.sha256, both.c.size)
    )
    with engine.connect() as keys_conn, engine.connect() as conn:
        result = keys_conn.execution_options(stream_results=True, yield_per=PAGE).execute(q)
        for page in result.partitions(PAGE):
            keys = [(r.sha256, int(r.size)) for r in page]
            found = _locations(conn, sorted({sha for sha, _ in keys}), archive)
            for sha, size in keys:
                locs = found.get((sha, size), [])
                if len(locs) > 1:
                    yield Group(sha, size, tuple(locs))


def _locations(
    conn: Connection, shas: list[str], archive: str | None
) -> dict[tuple[str, int], list[Location]]:
    out: dict[tuple[str, int], list[Location]] = {}
    pub = (
        select(
            files.c.id,
            files.c.archive,
            files.c.path,
            files.c.size,
            files.c.sha256,
            files.c.copy_of,
            files.c.copy_method,
        )
        .where(files.c.sha256.in_(shas))
        .where(*_published(archive, by_sha=True))
        .order_by(files.c.id)
    )
    for r in conn.execute(pub):
        loc = Location(r.id, r.archive, r.path, None, r.copy_of, r.copy_method)
        out.setdefault((r.sha256, int(r.size)), []).append(loc)
    kept = (
        select(
            file_versions.c.file_id,
            files.c.archive,
            file_versions.c.stored_at,
            file_versions.c.size,
            file_versions.c.sha256,
            file_versions.c.version,
        )
        .join(files, files.c.id == file_versions.c.file_id)
        .where(file_versions.c.sha256.in_(shas))
        .where(*_kept(archive))
        .order_by(file_versions.c.file_id, file_versions.c.version)
    )
    for v in conn.execute(kept):
        loc = Location(v.file_id, v.archive, v.stored_at, v.version)
        out.setdefault((v.sha256, int(v.size)), []).append(loc)
    return out
