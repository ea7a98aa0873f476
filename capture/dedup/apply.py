"""The retroactive pass: identical stored files that are not yet stored once are linked.

Files published before de-duplication existed, two identical files settled in the same group
commit of a crawl (neither was in the catalog when the other looked), or a copy whose link
failed: for each group of identical locations (:mod:`capture.dedup.groups`) the first one is
kept and every other separately stored location is replaced with a link to it by
:meth:`~capture.storage.base.Store.dedupe`, which re-hashes both first (each must still be
the catalog's bytes; a mismatch is left alone and reported: ``capture verify`` says more) and
swaps the link in atomically, so every path reads the same bytes throughout.

The catalog records each link: the file's ``copy_of``/``copy_method`` (a published file) and
a ``dedup`` event with ``retroactive: true``; locations found already linked (by a crawl of an
older version) are recorded the same way. S3 has nothing to free this way (every object is
billed; :meth:`~capture.storage.s3.S3Store.link_copy` says why it keeps plain objects), so
there the pass only reports.

Run it while no crawl writes the same archive: a link replaces the file only if it is still
the one that was hashed, but a publication racing the rename could still be undone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, insert, update

from capture.catalog.schema import events, files
from capture.catalog.store import utcnow
from capture.dedup.groups import Group, Location, groups
from capture.status import FileStatus
from capture.storage import SAVES, Store

EVENT = "dedup"


@dataclass
class Applied:
    groups: int = 0
    #: Locations replaced with a link now, and the bytes that freed.
    linked: int = 0
    freed: int = 0
    #: Links found already in place and recorded in the catalog now.
    recorded: int = 0
    #: Locations left alone: not the catalog's bytes, or no link possible.
    declined: list[dict[str, Any]] = field(default_factory=list)
    #: (keeper, location, method) of the group in hand, for the catalog.
    done: list[tuple[Location, Location, str]] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "groups": self.groups,
            "linked": self.linked,
            "bytes_freed": self.freed,
            "recorded": self.recorded,
            "declined": self.declined,
        }


def apply(
    engine: Engine,
    store: Store,
    archive: str | None = None,
    run_id: str | None = None,
    progress: Callable[[Location, Location, str | None], None] | None = None,
) -> Applied:
    """Link every separately stored duplicate to the first stored copy of its group."""
    out = Applied()
    for group in groups(engine, archive):
        out.groups += 1
        if store.remote:
            continue  # nothing to free: reported by capture.dedup.report
        _apply_group(store, group, out, progress)
        _record(engine, group, out.done, run_id)
        out.done = []
    return out


def _apply_group(
    store: Store,
    group: Group,
    out: Applied,
    progress: Callable[[Location, Location, str | None], None] | None,
) -> None:
    idents = [store.identity(loc.path) for loc in group.locations]
    first = next((i for i, ident in enumerate(idents) if ident is not None), None)
    if first is None:
        return  # nothing readable is stored: capture verify reports the missing bytes
    keeper, kid = group.locations[first], idents[first]
    apart: dict[str | None, list[Location]] = {}
    for loc, ident in zip(group.locations, idents, strict=True):
        if loc is keeper:
            continue
        if ident == kid:
            if loc.version is None and loc.copy_of is None:
                out.done.append((keeper, loc, "already"))
                out.recorded += 1
            continue
        apart.setdefault(ident, []).append(loc)
    for ident, locs in apart.items():
        freed = ident is not None
        for loc in locs:
            method = store.dedupe(keeper.path, loc.path, group.size, group.sha256)
            if progress is not None:
                progress(keeper, loc, method)
            if method in SAVES:
                out.linked += 1
                out.done.append((keeper, loc, str(method)))
            else:
                freed = False  # that inode stays (or nothing was there)
                out.declined.append(
                    {"path": loc.path, "file_id": loc.file_id, "linked_to": keeper.path}
                )
        if freed:  # every name of that separate copy now links to the keeper
            out.freed += group.size


def _record(
    engine: Engine, group: Group, done: list[tuple[Location, Location, str]], run_id: str | None
) -> None:
    if not done:
        return
    at = utcnow()
    with engine.begin() as conn:
        for keeper, loc, method in done:
            how = "hardlink" if method == "already" else method
            if loc.version is None:
                conn.execute(
                    update(files)
                    .where(
                        files.c.id == loc.file_id,
                        files.c.state == FileStatus.STORED.value,
                        files.c.sha256 == group.sha256,  # a crawl may have stored new bytes
                    )
                    .values(copy_of=keeper.file_id, copy_method=how)
                )
            detail: dict[str, Any] = {
                "linked_to": keeper.path,
                "file_id": keeper.file_id,
                "method": how,
                "size": group.size,
                "retroactive": True,
            }
            if keeper.version is not None:
                detail["version"] = keeper.version
            if loc.version is not None:
                detail["copy_version"] = loc.version
            if method == "already":
                detail["already_linked"] = True
            conn.execute(
                insert(events).values(
                    file_id=loc.file_id, run_id=run_id, at=at, kind=EVENT, detail=detail
                )
            )
