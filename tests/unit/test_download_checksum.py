"""Stages 3 and 4 (pipelines/download.py, pipelines/checksum.py) against a local HTTP server:
a good body is held with its digests; a body that does not verify is fetched once more from
byte 0, then quarantined, and never reported stored."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from capture.work import work_of
from pipelines.checksum import ChecksumPipeline
from pipelines.download import DownloadPipeline
from pipelines.metadata import MetadataPipeline
from pipelines.register import RegisterPipeline
from pipelines.store import StorePipeline
from tests.archives import ArchiveServer, Blob, Fault
from tests.unit.conftest import UnitCrawl

PATH = "/data/spectrum.fits"
NAME = "data/spectrum.fits"
WRONG_MD5 = "0" * 32


@pytest.fixture
def blob(server: ArchiveServer) -> Blob:
    blob = Blob("spectrum", 50_000)
    server.add(PATH, blob)
    return blob


def gets(server: ArchiveServer) -> list[str | None]:
    """The Range header of every GET of the file (None: from byte 0)."""
    return [e.range for e in server.requests_for(PATH, "GET")]


def test_a_good_body_is_held_with_its_digests_then_stored(
    crawl: UnitCrawl, server: ArchiveServer, blob: Blob
) -> None:
    item = crawl.listed(NAME, server.url(PATH), size=blob.size, md5=blob.md5)
    item = crawl.through(item, RegisterPipeline, DownloadPipeline, leave=False)
    # Downloaded, not yet verified: the bytes are in the part file, the digests in the item.
    assert item.status == "discovered"
    assert (item.size, item.sha256, item.checksum["actual"]) == (blob.size, blob.sha256, blob.md5)
    assert item.checksum["verified"] is None
    assert work_of(item).transfer.part == str(crawl.part(item))
    assert crawl.part(item).read_bytes() == blob.read(0, blob.size)
    assert item.http["etag"] == blob.etag and item.attempts == 1
    item = crawl.through(item, ChecksumPipeline, StorePipeline, MetadataPipeline)
    assert item.status == "stored" and item.checksum["verified"] is True
    assert crawl.final(item).read_bytes() == blob.read(0, blob.size)
    assert not crawl.part(item).exists()
    row = crawl.row(NAME)
    assert (row["state"], row["sha256"], row["digest_actual"], row["verified"]) == (
        "stored",
        blob.sha256,
        blob.md5,
        1,
    )
    assert gets(server) == [None]
    assert crawl.stats["capture/checksum/verified"] == 1
    assert "capture/checksum/retransfer" not in crawl.stats


def test_a_digest_mismatch_is_retransferred_once_then_quarantined(
    crawl: UnitCrawl, server: ArchiveServer, blob: Blob
) -> None:
    item = crawl.listed(NAME, server.url(PATH), size=blob.size, md5=WRONG_MD5)
    item = crawl.through(item, RegisterPipeline, DownloadPipeline, ChecksumPipeline, leave=False)
    assert item.status == "quarantined" and item.checksum["verified"] is False
    assert f"md5 mismatch: publisher (listing) says {WRONG_MD5}, received {blob.md5}" in item.error
    assert gets(server) == [None, None]  # the whole file again, from byte 0
    assert work_of(item).retransfers == 1
    item = crawl.through(item, StorePipeline, MetadataPipeline)
    assert item.status == "quarantined"
    assert not crawl.final(item).exists() and not crawl.part(item).exists()
    held = crawl.ctx.data.quarantine(item.path)
    assert held.read_bytes() == blob.read(0, blob.size)
    reason = json.loads(held.with_name(held.name + ".reason.json").read_text())
    assert reason["reasons"] == [item.error] and reason["sha256"] == blob.sha256
    row = crawl.row(NAME)
    assert row["state"] == "quarantined" and row["verified"] == 0
    assert "[quarantined at quarantine/" in row["error"]
    assert crawl.outcomes(NAME) == ["quarantined"]  # never stored, not even for a moment
    assert crawl.versions(NAME) == []
    assert crawl.stats["capture/checksum/retransfer"] == 1
    assert crawl.stats["capture/checksum/quarantined"] == 1


def test_a_bad_body_once_is_healed_by_the_retransfer(
    crawl: UnitCrawl, server: ArchiveServer, blob: Blob
) -> None:
    server.fault(PATH, Fault("html_200"))  # an error page with status 200, once
    item = crawl.capture(crawl.listed(NAME, server.url(PATH), size=blob.size, md5=blob.md5))
    assert item.status == "stored" and item.checksum["verified"] is True
    assert gets(server) == [None, None]
    assert crawl.final(item).read_bytes() == blob.read(0, blob.size)
    assert crawl.row(NAME)["state"] == "stored"


def test_without_retransfers_a_mismatch_is_quarantined_at_once(
    new_crawl: Callable[..., UnitCrawl], server: ArchiveServer, blob: Blob
) -> None:
    crawl = new_crawl(CAPTURE_RETRANSFER_ON_MISMATCH=0)
    item = crawl.capture(crawl.listed(NAME, server.url(PATH), size=blob.size + 10))
    assert item.status == "quarantined"
    assert item.error == f"size mismatch: listing says {blob.size + 10} bytes, received {blob.size}"
    assert gets(server) == [None]


def test_an_http_error_fails_the_file_with_the_status(
    crawl: UnitCrawl, server: ArchiveServer, blob: Blob
) -> None:
    server.fault(PATH, Fault("status", status=404))
    item = crawl.capture(crawl.listed(NAME, server.url(PATH), size=blob.size, md5=blob.md5))
    assert item.status == "failed" and item.error.startswith("HTTP 404 from ")
    assert crawl.row(NAME)["state"] == "failed"
    assert crawl.stats["capture/download/failed"] == 1


def test_a_dry_run_plans_without_fetching_a_body(
    new_crawl: Callable[..., UnitCrawl], server: ArchiveServer, blob: Blob
) -> None:
    crawl = new_crawl(CAPTURE_DRY_RUN=True)
    listed = crawl.capture(crawl.listed(NAME, server.url(PATH), size=blob.size))
    unsized = crawl.capture(crawl.listed("data/other.fits", server.url(PATH)))
    assert (listed.status, unsized.status) == ("planned", "planned")
    assert gets(server) == []
    assert [e.method for e in server.log] == ["HEAD"]  # only the file the listing did not size
    assert crawl.stats["capture/planned_bytes"] == 2 * blob.size
    assert crawl.stats["capture/planned_sized_by/head"] == 1
    assert {r["state"] for r in crawl.rows()} == {"planned"}
    assert not crawl.final(listed).exists()
