"""Which stored locations an audit reads, in which order.

Targets are the published files (``files`` rows in state ``stored``) and the older versions
kept under ``versions/`` (``file_versions`` rows superseded with a ``stored_at``). They come
least recently verified first: never verified (oldest capture first), then by ``verified_at``,
so repeated budgeted audits walk the whole store like ``git annex fsck --incremental``.

Rows are read in keyset pages (never one long read transaction, which would pin SQLite's WAL
while the audit writes); a row verified by this audit moves past ``started`` and is not seen
again in the same audit.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.engine import Connection, Engine

from capture.catalog.schema import file_versions, files
from capture.status import FileStatus
from capture.storage import codec as codecs

PAGE = 500
FILE, VERSION = "file", "version"


@dataclass(frozen=True, slots=True)
class Target:
    """One stored location and what the catalog knows about its bytes."""

    kind: str  # FILE (files row) or VERSION (file_versions row)
    id: int  # files.id or file_versions.id
    file_id: int
    location: str  # relative to the data root / the store's prefix
    archive: str
    domain: str
    archive_path: str
    sha256: str | None
    size: int | None
    digest_algorithm: str | None
    digest_actual: str | None
    verified_at: str | None
    version: int | None = None
    #: How the bytes at ``location`` are encoded (None: as fetched) and what the stored
    #: object's size and sha256 are; ``size`` and ``sha256`` are the archive's bytes.
    codec: str | None = None
    stored_size: int | None = None
    stored_sha256: str | None = None

    @property
    def order(self) -> tuple[int, str, str, int]:
        """Never verified first, then least recently verified; files before versions."""
        return (self.verified_at is not None, self.verified_at or "", self.kind, self.id)


@dataclass(frozen=True)
class Selection:
    """What to audit. ``due_before``: only locations never verified or verified before this
    (ISO time; None: all). ``sample``: a reproducible fraction (``seed``)."""

    started: str
    archive: str | None = None
    domains: tuple[str, ...] = ()
    since: str | None = None
    due_before: str | None = None
    sample: float | None = None
    seed: int = 0
    versions: bool = True

    def sampled(self, target: Target) -> bool:
        """Whether ``target`` is in the sample: a hash of (seed, kind, id), so the same seed
        picks the same files whatever the order, the budget or the rows verified meanwhile."""
        if self.sample is None:
            return True
        digest = hashlib.sha256(f"{self.seed}:{target.kind}:{target.id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") < self.sample * 2**64


def targets(engine: Engine, selection: Selection) -> Iterator[Target]:
    """Every selected location, in audit order (see the module docstring)."""
    streams = [_stream(engine, selection, FILE)]
    if selection.versions:
        streams.append(_stream(engine, selection, VERSION))
    for target in heapq.merge(*streams, key=lambda t: t.order):
        if selection.sampled(target):
            yield target


def _stream(engine: Engine, sel: Selection, kind: str) -> Iterator[Target]:
    """Pages of one table: first the never-verified rows by id, then the verified ones by
    (verified_at, id), each page a short transaction of its own."""
    base, verified_at, key = _query(sel, kind)
    last_id = 0
    while True:
        q = base.where(verified_at.is_(None), key > last_id).order_by(key).limit(PAGE)
        rows = _fetch(engine, q, kind)
        yield from rows
        if len(rows) < PAGE:
            break
        last_id = rows[-1].id
    cutoff = min(sel.started, sel.due_before) if sel.due_before else sel.started
    last: tuple[str, int] = ("", 0)
    while True:
        after = or_(verified_at > last[0], and_(verified_at == last[0], key > last[1]))
        q = (
            base.where(verified_at.is_not(None), verified_at < cutoff, after)
            .order_by(verified_at, key)
            .limit(PAGE)
        )
        rows = _fetch(engine, q, kind)
        yield from rows
        if len(rows) < PAGE:
            return
        last = (rows[-1].verified_at or "", rows[-1].id)


def _query(sel: Selection, kind: str) -> tuple[Select[Any], Any, Any]:
    f = files.c
    where: list[Any] = []
    if sel.archive:
        where.append(f.archive == sel.archive)
    if sel.domains:
        where.append(f.domain.in_(sel.domains))
    if kind == FILE:
        if sel.since:
            where.append(f.retrieved_at >= sel.since)
        cols = [
            f.id,
            f.id.label("file_id"),
            f.path.label("location"),
            f.archive,
            f.domain,
            f.archive_path,
            f.sha256,
            f.size,
            f.digest_algorithm,
            f.digest_actual,
            f.verified_at,
            f.version,
            f.codec,
            f.stored_size,
            f.stored_sha256,
        ]
        q = select(*cols).where(f.state == FileStatus.STORED.value, *where)
        return q, f.verified_at, f.id
    v = file_versions.c
    if sel.since:
        where.append(v.retrieved_at >= sel.since)
    cols = [
        v.id,
        v.file_id,
        v.stored_at.label("location"),
        f.archive,
        f.domain,
        f.archive_path,
        v.sha256,
        v.size,
        v.verified_at,
        v.version,
        v.codec,
        v.stored_size,
        v.stored_sha256,
    ]
    q = (
        select(*cols)
        .join(files, files.c.id == v.file_id)
        .where(v.superseded_at.is_not(None), v.stored_at.is_not(None), *where)
    )
    return q, v.verified_at, v.id


def _fetch(engine: Engine, q: Select[Any], kind: str) -> list[Target]:
    conn: Connection
    with engine.connect() as conn:
        rows = conn.execute(q).mappings().all()
    return [
        Target(
            kind=kind,
            id=r["id"],
            file_id=r["file_id"],
            # A file row names the archive's path; encoded bytes sit at its codec's name. A
            # version's stored_at already names where its bytes are.
            location=codecs.location(r["location"], r["codec"]) if kind == FILE else r["location"],
            archive=r["archive"],
            domain=r["domain"],
            archive_path=r["archive_path"],
            sha256=r["sha256"],
            size=r["size"],
            digest_algorithm=r.get("digest_algorithm"),
            digest_actual=r.get("digest_actual"),
            verified_at=r["verified_at"],
            version=r["version"],
            codec=r["codec"],
            stored_size=r["stored_size"],
            stored_sha256=r["stored_sha256"],
        )
        for r in rows
    ]
