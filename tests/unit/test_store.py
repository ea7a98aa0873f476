"""Stage 6 (pipelines/store.py): publish, store identical content once, keep old versions."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from capture.work import work_of
from pipelines.register import RegisterPipeline
from tests.archives import ArchiveServer, Blob
from tests.unit.conftest import UnitCrawl

PATH = "/models/grid.dat"
NAME = "models/grid.dat"


@pytest.fixture
def blob(server: ArchiveServer) -> Blob:
    blob = Blob("grid", 30_000)
    server.add(PATH, blob)
    return blob


def test_a_verified_file_is_published_as_version_1(
    crawl: UnitCrawl, server: ArchiveServer, blob: Blob
) -> None:
    item = crawl.capture(crawl.listed(NAME, server.url(PATH), size=blob.size, md5=blob.md5))
    assert item.status == "stored" and item.path == f"astronomy/unit/{NAME}"
    final = crawl.final(item)
    assert final.read_bytes() == blob.read(0, blob.size)
    assert not crawl.part(item).exists()
    (version,) = crawl.versions(NAME)
    assert (version["version"], version["sha256"], version["stored_at"]) == (
        1,
        blob.sha256,
        item.path,
    )
    assert version["superseded_at"] is None and crawl.row(NAME)["version"] == 1


@pytest.mark.parametrize("dedup", [True, False])
def test_identical_content_is_stored_once_by_hard_link(
    new_crawl: Callable[..., UnitCrawl], server: ArchiveServer, blob: Blob, dedup: bool
) -> None:
    crawl = new_crawl(CAPTURE_DEDUP=dedup)
    server.add("/mirror/grid-copy.dat", blob)
    first = crawl.capture(crawl.listed(NAME, server.url(PATH), md5=blob.md5))
    second = crawl.listed("mirror/grid-copy.dat", server.url("/mirror/grid-copy.dat"))
    second = crawl.capture(second)
    assert (first.status, second.status) == ("stored", "stored")
    a, b = os.stat(crawl.final(first)), os.stat(crawl.final(second))
    assert crawl.final(second).read_bytes() == blob.read(0, blob.size)
    assert (a.st_ino == b.st_ino) is dedup  # linked, not copied
    assert a.st_nlink == (2 if dedup else 1)
    links = [e for e in work_of(second).events if e["kind"] == "dedup"]
    first_id = work_of(first).file_id
    assert links == (
        [
            {
                "kind": "dedup",
                "linked_to": first.path,
                "file_id": first_id,
                "method": "hardlink",
                "size": blob.size,
            }
        ]
        if dedup
        else []
    )
    # Both records are kept, each with the content's digest; the copy says whose bytes it is.
    assert [(r["state"], r["sha256"]) for r in crawl.rows()] == [("stored", blob.sha256)] * 2
    assert [(r["copy_of"], r["copy_method"]) for r in crawl.rows()] == [(None, None)] + (
        [(first_id, "hardlink")] if dedup else [(None, None)]
    )
    assert crawl.stats.get("capture/dedup/linked") == (1 if dedup else None)
    assert crawl.stats.get("capture/dedup/bytes_saved") == (blob.size if dedup else None)
    assert not crawl.part(second).exists()


@pytest.mark.parametrize("keep", [True, False])
def test_a_changed_file_becomes_a_new_version(
    new_crawl: Callable[..., UnitCrawl], server: ArchiveServer, blob: Blob, keep: bool
) -> None:
    first = new_crawl(CAPTURE_KEEP_VERSIONS=keep)
    v1 = blob.read(0, blob.size)
    first.capture(first.listed(NAME, server.url(PATH), size=blob.size, md5=blob.md5))
    first.close()
    blob.version = 2  # the archive publishes new bytes under the same name
    crawl = new_crawl(CAPTURE_KEEP_VERSIONS=keep)
    item = crawl.listed(NAME, server.url(PATH), size=blob.size, md5=blob.md5)
    item = crawl.through(item, RegisterPipeline, leave=False)
    assert work_of(item).decision == "changed"
    item = crawl.finish(item)
    assert item.status == "stored" and item.sha256 == blob.sha256
    assert crawl.final(item).read_bytes() == blob.read(0, blob.size) != v1
    retired = crawl.ctx.data.resolve(item.path, area="versions", suffix=".v1")
    old, new = crawl.versions(NAME)
    assert (old["version"], new["version"], crawl.row(NAME)["version"]) == (1, 2, 2)
    assert old["superseded_at"] is not None and new["superseded_at"] is None
    assert new["sha256"] == blob.sha256 != old["sha256"]
    if keep:  # the old bytes moved aside, and the catalog says where
        assert retired.read_bytes() == v1
        assert old["stored_at"] == str(Path(retired).relative_to(crawl.ctx.data.root))
    else:  # overwritten
        assert not retired.exists() and old["stored_at"] is None
    assert crawl.stats["capture/versions/new"] == 1


def test_refetched_identical_bytes_stay_the_stored_version(
    new_crawl: Callable[..., UnitCrawl], server: ArchiveServer, blob: Blob
) -> None:
    first = new_crawl()
    first.capture(first.listed(NAME, server.url(PATH), modified="2024-01-01"))
    first.close()
    crawl = new_crawl()
    # The listing's date moved, the bytes did not: fetched, found identical, not re-published.
    item = crawl.listed(NAME, server.url(PATH), modified="2024-03-01")
    item = crawl.through(item, RegisterPipeline, leave=False)
    assert work_of(item).decision == "changed"
    item = crawl.finish(item)
    assert item.status == "unchanged" and len(server.requests_for(PATH, "GET")) == 2
    assert not crawl.part(item).exists()
    assert [v["version"] for v in crawl.versions(NAME)] == [1]
    assert crawl.row(NAME)["state"] == "stored"


def test_a_planted_symlink_fails_that_file_only(
    crawl: UnitCrawl, server: ArchiveServer, blob: Blob, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    models = crawl.ctx.data.root / "astronomy" / "unit" / "models"
    models.parent.mkdir(parents=True)
    models.symlink_to(outside, target_is_directory=True)
    item = crawl.capture(crawl.listed(NAME, server.url(PATH), size=blob.size, md5=blob.md5))
    assert item.status == "failed" and "symlink" in item.error
    assert list(outside.iterdir()) == []  # nothing written through the link
    assert crawl.part(item).exists()  # the bytes stay in .partial
    assert crawl.row(NAME)["state"] == "failed"
    assert crawl.stats["capture/store/unsafe_path"] == 1
