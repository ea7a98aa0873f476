"""Stage 7 (pipelines/metadata.py): the final catalog record, and no silent success."""

from __future__ import annotations

import json

import pytest

from pipelines.metadata import MetadataPipeline
from pipelines.register import RegisterPipeline
from tests.archives import ArchiveServer, Blob
from tests.unit.conftest import UnitCrawl

PATH = "/tables/planets.csv"
NAME = "tables/planets.csv"
UNSETTLED = "internal error: no stage settled this file"


@pytest.fixture
def blob(server: ArchiveServer) -> Blob:
    blob = Blob.of(b"name,mass\n" + b"".join(b"p%d,%d\n" % (i, i) for i in range(500)))
    server.add(PATH, blob, content_type="text/csv")
    return blob


@pytest.mark.parametrize(
    ("error", "recorded"), [(None, UNSETTLED), ("listing lied", "listing lied")]
)
def test_a_file_no_stage_settled_is_failed_never_a_silent_success(
    crawl: UnitCrawl, server: ArchiveServer, blob: Blob, error: str | None, recorded: str
) -> None:
    item = crawl.listed(NAME, server.url(PATH), size=blob.size)
    item = crawl.through(item, RegisterPipeline, leave=False)
    item.error = error
    # Straight to the last stage, as if the download stage had let it through undecided.
    item = crawl.through(item, MetadataPipeline)
    assert (item.status, item.error) == ("failed", recorded)
    row = crawl.row(NAME)
    assert (row["state"], row["error"]) == ("failed", recorded)
    assert json.loads(row["item"])["status"] == "failed"
    assert crawl.outcomes(NAME) == ["failed"]
    assert crawl.stats["capture/status/failed"] == 1
    assert server.log == []


def test_an_unregistered_item_is_failed_without_a_catalog_write(
    crawl: UnitCrawl, server: ArchiveServer, blob: Blob
) -> None:
    item = crawl.through(crawl.listed(NAME, server.url(PATH)), MetadataPipeline)
    assert (item.status, item.error) == ("failed", UNSETTLED)
    assert crawl.rows() == []


def test_other_items_pass_untouched(crawl: UnitCrawl) -> None:
    record = {"kind": "not a file"}
    assert crawl.through(record, MetadataPipeline) == {"kind": "not a file"}
    assert crawl.rows() == []


def test_a_settled_file_writes_its_catalog_row_once(
    crawl: UnitCrawl, server: ArchiveServer, blob: Blob
) -> None:
    item = crawl.capture(crawl.listed(NAME, server.url(PATH), size=blob.size, md5=blob.md5))
    assert item.status == "stored"
    (row,) = crawl.rows()
    assert (row["state"], row["size"], row["sha256"], row["content_type"]) == (
        "stored",
        blob.size,
        blob.sha256,
        "text/csv",
    )
    assert (row["etag"], row["last_modified"]) == (blob.etag, blob.last_modified)
    assert row["final_url"] == server.url(PATH) and row["retrieved_at"] == item.retrieved_at
    assert (row["attempts"], row["bytes_transferred"], row["version"]) == (1, blob.size, 1)
    assert json.loads(row["item"])["status"] == "stored"
    assert crawl.outcomes(NAME) == ["stored"]
    assert len(crawl.versions(NAME)) == 1
    assert crawl.stats["capture/status/stored"] == 1
