"""Every injected fault ends in a correct file or a clear quarantine/failure, never a wrong file
marked good. One crawl serves many files, each with its own fault; assertions are per file."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from capture.outcomes import EXIT_PARTIAL
from tests.archives import ArchiveServer, Blob, Fault
from tests.archives.thousand_genomes import WHOLE_TREE, ThousandGenomesArchive
from tests.crawl import CrawlResult, catalog_rows, run_crawl

MB = 1024 * 1024


@dataclass
class Case:
    name: str
    faults: list[Fault]
    size: int = 6 * MB
    listed_md5: bool = True


CASES = [
    Case("drop", [Fault("drop", after=2 * MB)]),
    Case("truncate", [Fault("truncate", after=3 * MB)]),
    Case("retry_after_503", [Fault("status", times=2, status=503, retry_after="7")]),
    Case(
        "retry_after_429_date",
        [Fault("status", status=429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")],
    ),
    Case("range_ignored", [Fault("drop", after=2 * MB), Fault("ignore_range")]),
    Case("early_206", [Fault("drop", after=2 * MB), Fault("early_206", delta=4096)]),
    Case("etag_changed", [Fault("drop", after=2 * MB), Fault("change")]),
    Case("etag_changed_no_md5", [Fault("drop", after=2 * MB), Fault("change")], listed_md5=False),
    Case("html_200_once", [Fault("html_200")]),
    Case("html_200_always", [Fault("html_200", times=5)]),
    Case("stall", [Fault("stall", after=1 * MB, seconds=4)]),
    Case("no_content_length", [Fault("no_length")]),
    Case("server_error_forever", [Fault("status", times=50, status=503)]),
]


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CrawlResult, dict]]:
    with ArchiveServer() as server:
        tg = ThousandGenomesArchive(server)
        blobs = {}
        for case in CASES:
            blob = Blob(case.name, case.size)
            blobs[case.name] = blob
            entry = tg.add_file(f"ftp/faults/{case.name}.bin", blob)
            if not case.listed_md5:
                entry.md5 = "-"
            for fault in case.faults:
                server.fault(f"/vol1/ftp/faults/{case.name}.bin", fault)
        tg.add_file("ftp/faults/missing.bin", Blob("missing", 100), served=False)
        # Compute digests of the original versions before any fault bumps a version.
        originals = {n: (b.sha256, b.md5) for n, b in blobs.items()}
        data_dir = tmp_path_factory.mktemp("faults") / "data"
        result = run_crawl(
            "thousand_genomes",
            data_dir,
            args={"base_url": tg.publish(), **WHOLE_TREE},
            settings={
                "CAPTURE_STALL_TIMEOUT": "1",
                "CAPTURE_WRITE_BUFFER": str(256 * 1024),
                "RETRY_TIMES": "3",
            },
            timeout=300,
        )
        # Some faults are permanent by design (a missing file, bytes that never match): the
        # crawl is partial and says so in its exit code.
        assert result.returncode == EXIT_PARTIAL, result.log[-3000:]
        assert "thousand_genomes: partial: 2 file(s) failed" in result.log
        yield result, {"server": server, "blobs": blobs, "originals": originals}


def item_of(result: CrawlResult, name: str) -> dict:
    return result.by_path()[f"vol1/ftp/faults/{name}.bin"]


def events_of(result: CrawlResult, name: str) -> list[dict]:
    rows = catalog_rows(
        result.data_dir,
        "select e.kind, e.detail from events e join files f "
        "on f.id = e.file_id where f.archive_path = ? order by e.id",
        f"vol1/ftp/faults/{name}.bin",
    )
    return [{"kind": r["kind"], **json.loads(r["detail"] or "{}")} for r in rows]


def stored_sha(result: CrawlResult, item: dict) -> str:
    return hashlib.sha256((result.data_dir / item["path"]).read_bytes()).hexdigest()


def requests(env: dict, name: str) -> list:
    return env["server"].requests_for(f"/vol1/ftp/faults/{name}.bin", "GET")


@pytest.mark.parametrize("name", ["drop", "truncate", "stall"])
def test_interrupted_body_resumes_with_range(crawl: tuple, name: str) -> None:
    result, env = crawl
    item = item_of(result, name)
    assert item["status"] == "stored"
    assert item["sha256"] == env["originals"][name][0] == stored_sha(result, item)
    reqs = requests(env, name)
    assert len(reqs) == 2
    assert reqs[1].range == f"bytes={item['resumed_from']}-" and item["resumed_from"] > 0
    assert reqs[1].status == 206 and reqs[1].headers.get("if-range")
    # The resume asks for exactly the bytes that are not on disk yet...
    assert reqs[1].bytes_sent == item["size"] - item["resumed_from"]
    assert reqs[0].bytes_sent >= item["resumed_from"]
    if name != "drop":  # ...and, when the connection closed cleanly, every byte received was kept
        assert sum(r.bytes_sent for r in reqs) == item["size"]
    kinds = [e["kind"] for e in events_of(result, name)]
    assert "resume" in kinds and kinds.count("attempt") == 2


@pytest.mark.parametrize("name,wait", [("retry_after_503", 7.0), ("retry_after_429_date", 0.0)])
def test_retry_after_is_honoured(crawl: tuple, name: str, wait: float) -> None:
    result, env = crawl
    item = item_of(result, name)
    assert item["status"] == "stored" and item["sha256"] == env["originals"][name][0]
    retries = [e for e in events_of(result, name) if e["kind"] == "retry"]
    assert retries and all("retry_after" in e for e in retries)
    # Never sooner than the server asked (a past HTTP-date means "now": plain backoff applies).
    assert all(e["delay"] >= wait and e["retry_after"] == wait for e in retries)


def test_ignored_range_restarts_from_zero(crawl: tuple) -> None:
    result, env = crawl
    item = item_of(result, "range_ignored")
    assert (
        item["status"] == "stored"
        and stored_sha(result, item) == env["originals"]["range_ignored"][0]
    )
    assert any(e.get("reason") == "range_ignored" for e in events_of(result, "range_ignored"))
    assert requests(env, "range_ignored")[1].status == 200


def test_206_starting_early_is_never_spliced(crawl: tuple) -> None:
    result, env = crawl
    item = item_of(result, "early_206")
    assert (
        item["status"] == "stored" and stored_sha(result, item) == env["originals"]["early_206"][0]
    )
    reasons = [e.get("reason") for e in events_of(result, "early_206") if e["kind"] == "restart"]
    assert reasons == ["content_range_start_mismatch"]


def test_changed_object_restarts_then_md5_quarantines(crawl: tuple) -> None:
    result, env = crawl
    blob = env["blobs"]["etag_changed"]
    item = item_of(result, "etag_changed")
    # The file changed under us: the new object is fetched whole (never spliced onto the old
    # prefix); it no longer matches the listed md5, so it is quarantined, not stored.
    assert item["status"] == "quarantined" and item["checksum"]["verified"] is False
    assert any(e.get("reason") == "object_changed" for e in events_of(result, "etag_changed"))
    assert item["sha256"] == blob.sha256 != env["originals"]["etag_changed"][0]
    assert not (result.data_dir / item["path"]).exists()


def test_changed_object_without_md5_is_stored_whole(crawl: tuple) -> None:
    result, env = crawl
    blob = env["blobs"]["etag_changed_no_md5"]
    item = item_of(result, "etag_changed_no_md5")
    assert item["status"] == "stored" and item["checksum"]["verified"] is None
    assert stored_sha(result, item) == blob.sha256  # the new version, whole
    assert item["http"]["etag"] == blob.etag


def test_html_error_page_with_200(crawl: tuple) -> None:
    result, env = crawl
    once = item_of(result, "html_200_once")
    assert (
        once["status"] == "stored"
        and stored_sha(result, once) == env["originals"]["html_200_once"][0]
    )
    always = item_of(result, "html_200_always")
    assert always["status"] == "quarantined"
    assert "HTML page" in always["error"] and "size mismatch" in always["error"]
    assert not (result.data_dir / always["path"]).exists()


def test_close_delimited_body(crawl: tuple) -> None:
    result, env = crawl
    item = item_of(result, "no_content_length")
    assert item["status"] == "stored" and item["checksum"]["verified"] is True
    assert stored_sha(result, item) == env["originals"]["no_content_length"][0]


def test_persistent_server_error_fails_clearly(crawl: tuple) -> None:
    result, env = crawl
    item = item_of(result, "server_error_forever")
    assert item["status"] == "failed" and "HTTP 503" in item["error"]
    assert item["sha256"] is None and not (result.data_dir / item["path"]).exists()
    assert len(requests(env, "server_error_forever")) == 4  # 1 + RETRY_TIMES
    delays = [e["delay"] for e in events_of(result, "server_error_forever") if e["kind"] == "retry"]
    assert len(delays) == 3 and delays[-1] > delays[0]  # exponential backoff (with jitter)


def test_missing_file_fails_with_404(crawl: tuple) -> None:
    result, _ = crawl
    item = result.by_path()["vol1/ftp/faults/missing.bin"]
    assert item["status"] == "failed" and "HTTP 404" in item["error"]


def test_no_wrong_file_is_ever_marked_good(crawl: tuple) -> None:
    result, env = crawl
    for item in result.items:
        if item["status"] == "stored":
            name = Path(item["archive_path"]).stem
            expected = env["blobs"][name].sha256 if name in env["blobs"] else None
            assert stored_sha(result, item) == item["sha256"] == expected
            assert item["checksum"]["verified"] in (True, None)
    assert {r["state"] for r in catalog_rows(result.data_dir)} <= {
        "stored",
        "quarantined",
        "failed",
    }
