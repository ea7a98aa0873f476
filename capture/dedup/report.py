"""Bytes saved by de-duplication, per archive and across archives, and what is still stored
twice.

*Saved* comes from the catalog's record (``files.copy_of``/``copy_method``, written when a
file was published as a link or by the retroactive pass): a copy made by a hard link or a
reflink stores its bytes once; an S3 server-side copy is billed again, so it is reported as
*copied*, never as saved. *Still stored twice* is the store's own answer for every group of
identical locations (:mod:`capture.dedup.groups`): on local disk, locations that are separate
inodes (what ``--apply`` frees); on S3, every extra object (what a content-addressed layout
would save).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, and_, case, func, select
from sqlalchemy.orm import aliased

from capture.catalog.schema import files
from capture.dedup.groups import Group, Location, groups
from capture.status import FileStatus
from capture.storage import SAVES, Store


@dataclass
class ArchiveLine:
    archive: str
    files: int = 0
    bytes: int = 0
    copies: int = 0
    saved: int = 0
    #: Of the copies, those sharing another archive's bytes.
    cross_copies: int = 0
    cross_saved: int = 0
    #: S3 server-side copies (recorded, billed again).
    copied: int = 0
    #: Still stored more than once (files beyond the first of their group, and their bytes).
    twice: int = 0
    twice_bytes: int = 0


@dataclass
class Summary:
    store: str
    archives: list[ArchiveLine] = field(default_factory=list)
    groups: int = 0

    def total(self) -> ArchiveLine:
        out = ArchiveLine("all")
        for line in self.archives:
            for k, v in asdict(line).items():
                if k != "archive":
                    setattr(out, k, getattr(out, k) + v)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "duplicate_groups": self.groups,
            "archives": [asdict(a) for a in self.archives],
            "total": asdict(self.total()),
        }


def summarize(engine: Engine, store: Store, archive: str | None = None) -> Summary:
    """The catalog's record of copies and the store's answer for what is stored twice."""
    lines: dict[str, ArchiveLine] = {}
    with engine.connect() as conn:
        q = select(files.c.archive, func.count(), func.coalesce(func.sum(files.c.size), 0)).where(
            files.c.state == FileStatus.STORED.value
        )
        if archive:
            q = q.where(files.c.archive == archive)
        for name, n, size in conn.execute(q.group_by(files.c.archive)):
            lines[name] = ArchiveLine(name, files=int(n), bytes=int(size))
        for row in conn.execute(_copies(archive)):
            line = lines.setdefault(row.archive, ArchiveLine(row.archive))
            n, size = int(row.n), int(row.bytes or 0)
            if row.copy_method in SAVES:
                line.copies += n
                line.saved += size
                if row.cross:
                    line.cross_copies += n
                    line.cross_saved += size
            else:
                line.copied += n
    summary = Summary(store=type(store).__name__)
    for group in groups(engine, archive):
        summary.groups += 1
        for loc in separate(store, group)[1:]:
            line = lines.setdefault(loc.archive, ArchiveLine(loc.archive))
            line.twice += 1
            line.twice_bytes += group.size
    summary.archives = sorted(lines.values(), key=lambda a: a.archive)
    return summary


def _copies(archive: str | None) -> Any:
    source = aliased(files)
    cross = case((source.c.archive != files.c.archive, 1), else_=0).label("cross")
    q = (
        select(
            files.c.archive,
            files.c.copy_method,
            cross,
            func.count().label("n"),
            func.sum(files.c.size).label("bytes"),
        )
        .select_from(files.outerjoin(source, source.c.id == files.c.copy_of))
        .where(and_(files.c.state == FileStatus.STORED.value, files.c.copy_of.is_not(None)))
        .group_by(files.c.archive, files.c.copy_method, cross)
    )
    return q.where(files.c.archive == archive) if archive else q


def separate(store: Store, group: Group) -> list[Location]:
    """One location per separately stored copy of the group's bytes, in group order (the
    first is the copy every other location could share)."""
    out: list[Location] = []
    seen: set[str] = set()
    for loc in group.locations:
        ident = store.identity(loc.path)
        if ident is None or ident not in seen:
            out.append(loc)
        if ident is not None:
            seen.add(ident)
    return out
