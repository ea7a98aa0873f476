"""De-duplication in the store stage (pipelines/store.py): across rounds (a kept old version is
a copy too), and never onto bytes that are not the catalog's: a source that went missing,
changed size or rotted, a quarantined file, a retracted one."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from capture.work import work_of
from tests.archives import ArchiveServer, Blob
from tests.unit.conftest import UnitCrawl

NAME, PATH = "models/grid.dat", "/models/grid.dat"
COPY, COPY_PATH = "mirror/grid-copy.dat", "/mirror/grid-copy.dat"


@pytest.fixture
def blob(server: ArchiveServer) -> Blob:
    blob = Blob("grid", 40_000)
    server.add(PATH, blob)
    return blob


def dedup_events(item: object) -> list[dict[str, object]]:
    return [e for e in work_of(item).events if e["kind"] == "dedup"]  # type: ignore[arg-type]


def test_a_new_file_identical_to_a_kept_old_version_links_to_it(
    new_crawl: Callable[..., UnitCrawl], server: ArchiveServer, blob: Blob
) -> None:
    first = new_crawl()
    old = first.capture(first.listed(NAME, server.url(PATH)))
    old_bytes = first.final(old).read_bytes()
    first.close()
    blob.version = 2  # round 2: the archive changed the file; v1 moves under versions/
    server.add(COPY_PATH, Blob("grid", 40_000))  # ... and another name serves the old bytes
    crawl = new_crawl()
    changed = crawl.capture(crawl.listed(NAME, server.url(PATH)))
    assert changed.status == "stored" and work_of(changed).version == 2
    copy = crawl.capture(crawl.listed(COPY, server.url(COPY_PATH)))
    kept = crawl.ctx.data.resolve(old.path, area="versions", suffix=".v1")
    assert copy.status == "stored" and crawl.final(copy).read_bytes() == old_bytes
    assert os.stat(crawl.final(copy)).st_ino == os.stat(kept).st_ino  # stored once
    assert dedup_events(copy) == [
        {
            "kind": "dedup",
            "linked_to": str(Path(kept).relative_to(crawl.ctx.data.root)),
            "file_id": work_of(old).file_id,
            "version": 1,
            "method": "hardlink",
            "size": blob.size,
        }
    ]
    assert crawl.row(COPY)["copy_of"] == work_of(old).file_id
    assert crawl.stats["capture/dedup/bytes_saved"] == blob.size


def _spoil(path: Path, how: str) -> None:
    if how == "missing":
        path.unlink()
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:-1])
    else:  # rotted: same size, one byte flipped (only a re-hash can tell)
        data = bytearray(path.read_bytes())
        data[1000] ^= 0xFF
        path.unlink()  # a new inode, so the original in the test's hands is not touched
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["missing", "truncated", "rotted"])
def test_a_source_that_is_not_the_catalogs_bytes_is_not_linked(
    crawl: UnitCrawl, server: ArchiveServer, blob: Blob, how: str
) -> None:
    server.add(COPY_PATH, blob)
    first = crawl.capture(crawl.listed(NAME, server.url(PATH)))
    _spoil(crawl.final(first), how)
    copy = crawl.capture(crawl.listed(COPY, server.url(COPY_PATH)))
    assert copy.status == "stored" and dedup_events(copy) == []
    assert crawl.final(copy).read_bytes() == blob.read(0, blob.size)  # the fetched bytes
    assert os.stat(crawl.final(copy)).st_nlink == 1
    assert crawl.row(COPY)["copy_of"] is None
    assert crawl.stats["capture/dedup/declined"] == 1
    assert "capture/dedup/bytes_saved" not in crawl.stats


def test_quarantined_bytes_are_never_linked_to(
    crawl: UnitCrawl, server: ArchiveServer, blob: Blob
) -> None:
    server.add(COPY_PATH, blob)
    # The same bytes, quarantined under one name (its listing promised another digest).
    bad = crawl.capture(crawl.listed(NAME, server.url(PATH), md5="0" * 32))
    assert bad.status == "quarantined" and crawl.row(NAME)["sha256"] == blob.sha256
    copy = crawl.capture(crawl.listed(COPY, server.url(COPY_PATH)))
    assert copy.status == "stored" and dedup_events(copy) == []
    assert os.stat(crawl.final(copy)).st_nlink == 1
    assert "capture/dedup/declined" not in crawl.stats  # not even offered


def test_a_retracted_files_bytes_are_never_linked_to(
    crawl: UnitCrawl, server: ArchiveServer, blob: Blob
) -> None:
    server.add(COPY_PATH, blob)
    gone = crawl.capture(crawl.listed(NAME, server.url(PATH)))
    catalog = crawl.ctx.catalog
    with catalog.engine.begin() as conn:
        row = {"id": work_of(gone).file_id, "state": "stored"}
        assert catalog.retract(conn, [row], "round2") == 1
    copy = crawl.capture(crawl.listed(COPY, server.url(COPY_PATH)))
    assert copy.status == "stored" and dedup_events(copy) == []
    assert os.stat(crawl.final(copy)).st_nlink == 1


def test_empty_files_are_not_linked(crawl: UnitCrawl, server: ArchiveServer) -> None:
    """Nothing to save, and thousands of them would exhaust an inode's link count."""
    empty = Blob.of(b"", seed="empty")
    server.add("/a/empty", empty)
    server.add("/b/empty", empty)
    crawl.capture(crawl.listed("a/empty", server.url("/a/empty")))
    second = crawl.capture(crawl.listed("b/empty", server.url("/b/empty")))
    assert second.status == "stored" and dedup_events(second) == []
