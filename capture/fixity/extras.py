"""Files in the published tree that no catalog row points to.

The published tree is ``<domain>/<archive>/...`` for the known domains plus ``versions/``;
``.partial/``, ``quarantine/``, the private area, reports and the catalog database are not part
of it and are never walked. A location is accounted for when a stored row's ``path`` or a
version's ``stored_at`` names it. Known locations are loaded one archive at a time (both
stores list an archive's objects together), so memory follows the largest archive, not the
catalog. A candidate is looked up once more before it is reported, so a file a concurrent
crawl published while the walk ran is not reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import null as sa_null
from sqlalchemy import select, union
from sqlalchemy.engine import Engine

from capture.catalog.schema import file_versions, files
from capture.storage import codec as codecs
from capture.storage.base import Store, StoredObject

VERSIONS = "versions"


def tops(domains: Iterable[str], archives: dict[str, str] | None = None) -> list[str]:
    """The directories to walk: each domain (or ``<domain>/<archive>`` for the archives given
    as ``{archive: domain}``), in the published tree and under ``versions/``."""
    if archives:
        dirs = [f"{domain}/{archive}" for archive, domain in sorted(archives.items())]
    else:
        dirs = sorted(domains)
    return [*dirs, *(f"{VERSIONS}/{d}" for d in dirs)]


def extras(engine: Engine, store: Store, top_dirs: Iterable[str]) -> Iterator[StoredObject]:
    """Every object under ``top_dirs`` that the catalog does not account for."""
    known: dict[str, set[str]] = {}
    for top in top_dirs:
        for obj in store.walk(top):
            archive = _archive_of(obj.rel)
            if archive is None:
                yield obj  # directly under a domain: no archive's layout puts files there
                continue
            if archive not in known:
                known.clear()  # archives come one after another: keep one set
                known[archive] = _locations(engine, archive)
            if obj.rel not in known[archive] and not _accounted(engine, obj.rel):
                yield obj


def _archive_of(rel: str) -> str | None:
    parts = rel.split("/")
    if parts[0] == VERSIONS:
        parts = parts[1:]
    return parts[1] if len(parts) > 2 else None


def _locations(engine: Engine, archive: str) -> set[str]:
    stored = select(files.c.path, files.c.codec).where(
        files.c.archive == archive, files.c.state == "stored"
    )
    kept = (
        select(file_versions.c.stored_at, sa_null())
        .join(files, files.c.id == file_versions.c.file_id)
        .where(files.c.archive == archive, file_versions.c.stored_at.is_not(None))
    )
    with engine.connect() as conn:
        return {codecs.location(r[0], r[1]) for r in conn.execute(union(stored, kept))}


def _accounted(engine: Engine, rel: str) -> bool:
    """Whether the catalog names ``rel`` now (a crawl may have recorded it since the load)."""
    with engine.connect() as conn:
        for path, codec in _names(rel):
            q = select(files.c.id).where(
                files.c.path == path,
                files.c.state == "stored",
                files.c.codec.is_(codec) if codec is None else files.c.codec == codec,
            )
            if conn.execute(q.limit(1)).first():
                return True
        return (
            conn.execute(
                select(file_versions.c.id).where(file_versions.c.stored_at == rel).limit(1)
            ).first()
            is not None
        )


def _names(rel: str) -> list[tuple[str, str | None]]:
    """The (path, codec) rows that would store their bytes at ``rel``."""
    out: list[tuple[str, str | None]] = [(rel, None)]
    for codec, suffix in codecs.SUFFIXES.items():
        if rel.endswith(suffix):
            out.append((rel[: -len(suffix)], codec))
    return out
