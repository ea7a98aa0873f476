"""Stage 2 (pipelines/register.py): what a listing entry becomes against what the catalog holds."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from scrapy.exceptions import DropItem

from capture.work import work_of
from pipelines.download import DownloadPipeline
from pipelines.metadata import MetadataPipeline
from pipelines.register import RegisterPipeline
from tests.archives import ArchiveServer, Blob, Fault
from tests.unit.conftest import UnitCrawl

PATH = "/vol1/ftp/data/sample.bin"
NAME = "ftp/data/sample.bin"


@pytest.fixture
def blob(server: ArchiveServer) -> Blob:
    blob = Blob("sample", 20_000)
    server.add(PATH, blob)
    return blob


def register(crawl: UnitCrawl, server: ArchiveServer, blob: Blob, **listing: object) -> object:
    """The listing entry of ``blob`` through stage 2 (still in flight afterwards)."""
    listing = {"size": blob.size, "md5": blob.md5, **listing}
    item = crawl.listed(NAME, server.url(PATH), **listing)  # type: ignore[arg-type]
    return crawl.through(item, RegisterPipeline, leave=False)


def captured(
    new_crawl: Callable[..., UnitCrawl], server: ArchiveServer, blob: Blob, **listing: object
) -> UnitCrawl:
    """A first run that stored ``blob``; returns the second run's crawl, open."""
    first = new_crawl()
    listing = {"size": blob.size, "md5": blob.md5, **listing}
    item = first.capture(first.listed(NAME, server.url(PATH), **listing))  # type: ignore[arg-type]
    assert item.status == "stored"
    first.close()
    return new_crawl()


def test_a_new_file_gets_a_discovered_row_before_any_byte(
    crawl: UnitCrawl, server: ArchiveServer, blob: Blob
) -> None:
    item = register(crawl, server, blob)
    assert work_of(item).decision == "new" and item.status == "discovered"
    row = crawl.row(NAME)
    assert (row["state"], row["expected_size"], row["digest_expected"]) == (
        "discovered",
        blob.size,
        blob.md5,
    )
    assert row["id"] == work_of(item).file_id and row["last_run"] == crawl.ctx.run_id
    assert server.log == []  # nothing fetched to decide
    assert crawl.stats["capture/register/new"] == 1
    assert crawl.stats["capture/register/expected_bytes"] == blob.size


def test_the_same_file_twice_in_flight_is_dropped_and_keeps_one_row(
    crawl: UnitCrawl, server: ArchiveServer, blob: Blob
) -> None:
    first = register(crawl, server, blob)
    with pytest.raises(DropItem, match="already being captured"):
        register(crawl, server, blob)
    assert len(crawl.rows()) == 1
    assert crawl.stats["capture/dropped/duplicate_in_flight"] == 1
    # Once the first has left the pipelines, the file may be registered again: same row.
    crawl.leave(first)
    again = register(crawl, server, blob)
    assert work_of(again).file_id == work_of(first).file_id
    assert len(crawl.rows()) == 1


def test_a_file_settled_in_this_run_is_dropped_when_listed_again(
    crawl: UnitCrawl, server: ArchiveServer, blob: Blob
) -> None:
    crawl.capture(crawl.listed(NAME, server.url(PATH), size=blob.size, md5=blob.md5))
    with pytest.raises(DropItem, match="already settled in this run"):
        register(crawl, server, blob)
    assert [r["state"] for r in crawl.rows()] == ["stored"]
    assert crawl.stats["capture/register/duplicate"] == 1


def test_stored_and_verified_file_is_unchanged_and_never_fetched(
    new_crawl: Callable[..., UnitCrawl], server: ArchiveServer, blob: Blob
) -> None:
    crawl = captured(new_crawl, server, blob)
    gets = len(server.requests_for(PATH, "GET"))
    item = register(crawl, server, blob)
    assert work_of(item).decision == "unchanged" and item.status == "unchanged"
    # Described by the stored copy, so the feed says what the catalog holds.
    assert (item.sha256, item.size) == (blob.sha256, blob.size)
    assert item.checksum["verified"] is True and item.http["etag"] == blob.etag
    item = crawl.through(item, DownloadPipeline, MetadataPipeline)
    assert item.status == "unchanged"
    assert len(server.requests_for(PATH, "GET")) == gets
    row = crawl.row(NAME)
    assert (row["state"], row["last_run"], row["sha256"]) == (
        "stored",
        crawl.ctx.run_id,
        blob.sha256,
    )
    assert crawl.outcomes(NAME) == ["stored", "unchanged"]


def test_an_unfinished_file_resumes_from_its_part_file(
    new_crawl: Callable[..., UnitCrawl], server: ArchiveServer, blob: Blob
) -> None:
    # Run 1 is cut after 8,000 bytes (no retry) and never settles the file: a hard kill.
    server.fault(PATH, Fault("drop", after=8_000))
    first = new_crawl(RETRY_TIMES=0, CAPTURE_RETRY_PROGRESS_TIMES=0)
    item = first.listed(NAME, server.url(PATH), size=blob.size, md5=blob.md5)
    item = first.through(item, RegisterPipeline, DownloadPipeline, leave=False)
    assert item.status == "failed"
    assert first.part(item).stat().st_size == 8_000
    first.close()
    crawl = new_crawl()
    item = register(crawl, server, blob)
    assert work_of(item).decision == "resume" and crawl.row(NAME)["state"] == "discovered"
    item = crawl.finish(item)
    assert (item.status, item.resumed_from, item.sha256) == ("stored", 8_000, blob.sha256)
    assert server.requests_for(PATH, "GET")[-1].range == "bytes=8000-"
    assert crawl.final(item).read_bytes() == blob.read(0, blob.size)
    assert len(crawl.rows()) == 1


def test_a_failed_file_is_retried_in_the_next_run(
    new_crawl: Callable[..., UnitCrawl], server: ArchiveServer, blob: Blob
) -> None:
    server.fault(PATH, Fault("status", status=404, times=1))
    first = new_crawl()
    item = first.capture(first.listed(NAME, server.url(PATH), size=blob.size, md5=blob.md5))
    assert item.status == "failed" and first.row(NAME)["state"] == "failed"
    first.close()
    crawl = new_crawl()
    item = register(crawl, server, blob)
    assert work_of(item).decision == "retry" and crawl.row(NAME)["state"] == "discovered"
    assert crawl.finish(item).status == "stored"
    assert crawl.row(NAME)["state"] == "stored" and len(crawl.rows()) == 1


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ({"md5": None}, {"md5": None, "size": 20_001}),  # the listing's size changed
        ({"md5": None, "modified": "2024-01-01"}, {"md5": None, "modified": "2024-02-01"}),
    ],
    ids=["size", "date"],
)
def test_a_changed_listing_refetches_the_file(
    new_crawl: Callable[..., UnitCrawl],
    server: ArchiveServer,
    blob: Blob,
    first: dict[str, object],
    then: dict[str, object],
) -> None:
    crawl = captured(new_crawl, server, blob, **first)
    item = register(crawl, server, blob, **then)
    assert work_of(item).decision == "changed" and item.status == "discovered"
    assert crawl.row(NAME)["state"] == "discovered"
    assert work_of(item).previous["sha256"] == blob.sha256  # the store compares with it


def test_the_same_listing_date_means_unchanged(
    new_crawl: Callable[..., UnitCrawl], server: ArchiveServer, blob: Blob
) -> None:
    crawl = captured(new_crawl, server, blob, md5=None, modified="2024-01-01")
    item = register(crawl, server, blob, md5=None, modified="2024-01-01")
    assert work_of(item).decision == "unchanged" and item.status == "unchanged"


def test_a_stored_file_missing_from_disk_is_fetched_again(
    new_crawl: Callable[..., UnitCrawl], server: ArchiveServer, blob: Blob
) -> None:
    crawl = captured(new_crawl, server, blob)
    crawl.ctx.data.final(crawl.row(NAME)["path"]).unlink()
    item = register(crawl, server, blob)
    assert work_of(item).decision == "refetch"
    assert crawl.finish(item).status == "stored"
    assert crawl.final(item).read_bytes() == blob.read(0, blob.size)


def test_validators_only_mean_a_conditional_request(
    new_crawl: Callable[..., UnitCrawl], server: ArchiveServer, blob: Blob
) -> None:
    crawl = captured(new_crawl, server, blob, md5=None, size=None)
    item = register(crawl, server, blob, md5=None, size=None)
    assert work_of(item).decision == "conditional"
    assert work_of(item).conditional == {"etag": blob.etag, "last_modified": blob.last_modified}
    item = crawl.through(item, DownloadPipeline, MetadataPipeline)
    assert item.status == "unchanged"  # 304 Not Modified: no body crossed the wire
    last = server.requests_for(PATH, "GET")[-1]
    assert last.status == 304 and last.bytes_sent == 0


def test_a_requeued_quarantined_file_is_fetched_again_and_its_copy_kept(
    new_crawl: Callable[..., UnitCrawl], server: ArchiveServer, blob: Blob
) -> None:
    from capture.catalog.requeue import requeue

    # Run 1: the listing's size is wrong, so the body is quarantined at once.
    first = new_crawl(CAPTURE_RETRANSFER_ON_MISMATCH=0)
    item = first.capture(first.listed(NAME, server.url(PATH), size=blob.size + 10))
    assert item.status == "quarantined"
    held = first.ctx.data.quarantine(item.path)
    reason = held.with_name(held.name + ".reason.json")
    file_id = first.row(NAME)["id"]
    with first.ctx.catalog.engine.begin() as conn:
        assert requeue(conn, [(file_id, "checksum_mismatch")]) == 1
    first.close()
    assert held.exists() and reason.exists()  # the quarantined copy stays where it is
    # Run 2 re-drives the row (state discovered) and register decides to fetch it.
    crawl = new_crawl()
    with crawl.ctx.catalog.engine.connect() as conn:
        ((_, data),) = crawl.ctx.catalog.unfinished(conn, "unit")
    assert (data["status"], data["error"], data["size"]) == ("discovered", None, None)
    gets = len(server.requests_for(PATH, "GET"))
    item = register(crawl, server, blob)
    assert work_of(item).decision == "resume" and item.status == "discovered"
    assert crawl.finish(item).status == "stored"
    assert len(server.requests_for(PATH, "GET")) == gets + 1
    assert crawl.row(NAME)["state"] == "stored"
    assert crawl.outcomes(NAME) == ["quarantined", "stored"]
    assert held.exists() and reason.exists()
