"""The disk-full stop every stage shares (pipelines/base.py), driven in process: the crawl
closes as ``disk_full``, the file is dropped and its row stays ``discovered`` for the resume."""

from __future__ import annotations

import errno
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from scrapy.exceptions import DropItem

from capture.catalog.store import Catalog
from capture.items import CapturedFile
from capture.storage.local import LocalStore
from capture.work import work_of
from pipelines.base import CaptureStage
from pipelines.download import DownloadPipeline
from pipelines.register import RegisterPipeline
from tests.archives import ArchiveServer, Blob
from tests.unit.conftest import UnitCrawl

PATH = "/cubes/big.nc"
NAME = "cubes/big.nc"
ENOSPC = OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def blob(server: ArchiveServer) -> Blob:
    blob = Blob("cube", 40_000)
    server.add(PATH, blob)
    return blob


def stopped_for_disk_full(crawl: UnitCrawl) -> bool:
    crawl.settle()  # the close is scheduled, not awaited, by the stage that hit the full disk
    return crawl.closed == ["disk_full"] and not crawl.crawler.crawling


def no_space(*args: Any, **kwargs: Any) -> Any:
    raise ENOSPC


def test_no_room_for_the_listed_size_stops_before_any_byte(
    new_crawl: Callable[..., UnitCrawl], server: ArchiveServer, blob: Blob
) -> None:
    crawl = new_crawl(CAPTURE_MIN_FREE_BYTES=2**60)  # more than any disk has free
    first, second = (
        crawl.through(
            crawl.listed(n, server.url(PATH), size=blob.size), RegisterPipeline, leave=False
        )
        for n in (NAME, "cubes/other.nc")
    )
    with pytest.raises(DropItem, match="the disk is full; it stays discovered"):
        crawl.through(first, DownloadPipeline)
    with pytest.raises(DropItem):  # the crawl is stopping: nothing else starts
        crawl.through(second, DownloadPipeline)
    assert server.log == []
    assert work_of(first).frontier_keep and work_of(second).frontier_keep
    stats = crawl.stats
    assert stats["capture/disk_full/refused_before_fetch"] == 1
    assert stats["capture/disk_full/dropped"] == 2
    assert "not enough room before fetching" in stats["capture/disk_full/reason"]
    assert stopped_for_disk_full(crawl)
    assert {r["state"] for r in crawl.rows()} == {"discovered"}


def test_enospc_in_a_stage_stops_the_crawl_and_keeps_the_part(
    crawl: UnitCrawl, server: ArchiveServer, blob: Blob, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LocalStore, "publish", no_space)
    item = crawl.listed(NAME, server.url(PATH), size=blob.size, md5=blob.md5)
    with pytest.raises(DropItem, match="the disk is full"):
        crawl.capture(item)
    assert crawl.part(item).read_bytes() == blob.read(0, blob.size)  # resumable
    assert not crawl.final(item).exists()
    assert "OSError: [Errno 28]" in crawl.stats["capture/disk_full/reason"]
    assert stopped_for_disk_full(crawl)
    assert crawl.row(NAME)["state"] == "discovered"


class FlattenedDiskFull(CaptureStage):
    """A stage that reports the full disk the way a transfer does: a failed item."""

    async def process_item(self, item: Any, spider: Any = None) -> Any:
        item.status = "failed"
        item.error = "OSError: [Errno 28] No space left on device: '/data/.partial/x'"
        return item


def test_a_file_failed_by_a_full_disk_is_dropped_not_failed(crawl: UnitCrawl) -> None:
    item = CapturedFile(archive="unit", domain="astronomy", url="http://x/a", archive_path="a")
    with pytest.raises(DropItem, match="unit:a not captured: the disk is full"):
        crawl.through(item, FlattenedDiskFull)
    assert stopped_for_disk_full(crawl)
    assert crawl.stats["capture/disk_full/dropped"] == 1


@pytest.mark.parametrize("earlier_version", [False, True])
def test_a_catalog_too_full_to_record_takes_the_publication_back(
    new_crawl: Callable[..., UnitCrawl],
    server: ArchiveServer,
    blob: Blob,
    monkeypatch: pytest.MonkeyPatch,
    earlier_version: bool,
) -> None:
    v1 = blob.read(0, blob.size)
    if earlier_version:
        first = new_crawl()
        first.capture(first.listed(NAME, server.url(PATH), size=blob.size, md5=blob.md5))
        first.close()
        blob.version = 2
    crawl = new_crawl()
    monkeypatch.setattr(Catalog, "finish_many", no_space)
    item = crawl.listed(NAME, server.url(PATH), size=blob.size, md5=blob.md5)
    with pytest.raises(DropItem, match="the disk is full"):
        crawl.capture(item)
    final = crawl.final(item)
    if earlier_version:  # the version it replaced is put back
        assert final.read_bytes() == v1
        assert not crawl.ctx.data.resolve(item.path, area="versions", suffix=".v1").exists()
        assert crawl.row(NAME)["sha256"] == hashlib.sha256(v1).hexdigest()  # still version 1
    else:  # removed: no published file without a stored row
        assert not final.exists()
    assert crawl.row(NAME)["state"] == "discovered"
    assert crawl.stats["capture/disk_full/unpublished"] == 1
    assert stopped_for_disk_full(crawl)
