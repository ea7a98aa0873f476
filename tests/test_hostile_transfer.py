"""The receiver's limits against hostile file servers (issue 13, attacks 4, 5, 6, the short body
retried forever, and Ctrl-C during dripping downloads). Real crawls over real sockets; what
crossed the wire comes from the server's log, what was kept from a walk of the data root."""

from __future__ import annotations

import hashlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.utils.test import get_crawler

from capture.outcomes import EXIT_INTERRUPTED
from capture.transfer.errors import TransferInterrupted, TransferTooSlow
from middlewares.retry import BackoffRetryMiddleware
from tests.archives import ArchiveServer, Blob
from tests.archives.autoindex import DirectoryTree
from tests.archives.hostile.transfer import drip, endless, oversize, short_body
from tests.archives.server import Reply
from tests.archives.thousand_genomes import WHOLE_TREE, ThousandGenomesArchive
from tests.crawl import CrawlResult, catalog_rows, read_jsonl, run_crawl, start_crawl, wait_for

MB = 1024 * 1024
SLACK = 64 * 1024
RETRY_TIMES = 2
# What a loopback socket can hold between the server's writes and our hang-up (kernel send
# and receive buffers), plus one write buffer.
SOCKET_SLACK = 8 * MB
GRIDS_PAGE = b"<html><body><h1>Grids</h1></body></html>\n"


def bytes_kept(data_dir: Path, name: str) -> int:
    """Bytes of every file under the data root (final, .partial, quarantine) named ``name*``."""
    return sum(p.stat().st_size for p in data_dir.rglob(f"{name}*") if p.is_file())


def requests(server: ArchiveServer, path: str) -> list:
    return server.requests_for(path, "GET")


# -- 1000 Genomes (exact listed sizes): oversize, short body, drip ---------------------------------
@pytest.fixture(scope="module")
def tg_crawl(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[CrawlResult, ArchiveServer]]:
    with ArchiveServer() as server:
        tg = ThousandGenomesArchive(server)
        hostile = {
            "oversize_length.bin": (1000, oversize(200 * MB, with_length=True)),
            "oversize_chunked.bin": (1000, oversize(200 * MB, with_length=False)),
            "short.bin": (1000, short_body(1000, 600)),
            "drip.bin": (100_000, drip(100_000, interval=0.5, give_up=40)),
        }
        for name, (listed, route) in hostile.items():
            tg.add_file(f"ftp/hostile/{name}", Blob(name, listed), served=False)
            server.add(f"/vol1/ftp/hostile/{name}", route)
        good = Blob("good", 300_000)
        tg.add_file("ftp/hostile/good.bin", good)
        data_dir = tmp_path_factory.mktemp("hostile_tg") / "data"
        started = time.monotonic()
        result = run_crawl(
            "thousand_genomes",
            data_dir,
            args={"base_url": tg.publish(), **WHOLE_TREE},
            settings={
                "RETRY_TIMES": str(RETRY_TIMES),
                "CAPTURE_MIN_SPEED": "100",
                "CAPTURE_MIN_SPEED_WINDOW": "2",
                "CAPTURE_WRITE_BUFFER": str(256 * 1024),
            },
            timeout=120,
        )
        result.seconds = time.monotonic() - started  # type: ignore[attr-defined]
        yield result, server


def tg_item(result: CrawlResult, name: str) -> dict:
    return result.by_path()[f"vol1/ftp/hostile/{name}"]


@pytest.mark.parametrize("name", ["oversize_length.bin", "oversize_chunked.bin"])
def test_body_longer_than_listed_is_cut_discarded_and_not_refetched(
    tg_crawl: tuple, name: str
) -> None:
    result, server = tg_crawl
    item = tg_item(result, name)
    assert item["status"] == "failed", item
    assert "body longer than the listed 1000 bytes" in item["error"]
    # Fetched once: not retried, not re-transferred for verification.
    assert len(requests(server, f"/vol1/ftp/hostile/{name}")) == 1
    sent = server.bytes_sent(f"/vol1/ftp/hostile/{name}")
    assert sent <= 1000 + SLACK + SOCKET_SLACK, sent  # of the 200 MB offered
    # Nothing kept anywhere: no part file, no quarantined copy, no published file.
    assert bytes_kept(result.data_dir, name) == 0
    (row,) = catalog_rows(
        result.data_dir, "select * from files where archive_path = ?", f"vol1/ftp/hostile/{name}"
    )
    assert row["state"] == "failed"


def test_short_body_retries_end(tg_crawl: tuple) -> None:
    result, server = tg_crawl
    item = tg_item(result, "short.bin")
    assert item["status"] == "failed" and "ended at byte 600 of 1000" in item["error"]
    # One attempt that made progress (0 -> 600) may resume for free; the ones that restart
    # from byte 0 and end at 600 again count against RETRY_TIMES (was: 106 attempts).
    assert len(requests(server, "/vol1/ftp/hostile/short.bin")) == RETRY_TIMES + 2


def test_drip_feed_is_cut_by_minimum_speed(tg_crawl: tuple) -> None:
    result, server = tg_crawl
    item = tg_item(result, "drip.bin")
    assert item["status"] == "failed" and "TransferTooSlow" in item["error"]
    assert "slower than 100 B/s" in item["error"]
    reqs = requests(server, "/vol1/ftp/hostile/drip.bin")
    # Too-slow retries always count: 1 + RETRY_TIMES attempts, each cut within ~1 window.
    assert len(reqs) == RETRY_TIMES + 1
    for r in reqs:
        assert r.bytes_sent <= 12  # ~2 bytes/s for a 2 s window (+ a check interval)
    # The slow transfer said so while it ran: one progress line per window.
    assert "Transfer of http://127.0.0.1" in result.log and "B/s), " in result.log
    # Its partial data is kept for a resume (a few bytes at most), with its sidecar.
    (part,) = result.data_dir.rglob("drip.bin.part")
    assert 0 < part.stat().st_size <= 40 and part.with_name("drip.bin.part.json").exists()


def test_hostile_files_do_not_hold_the_crawl(tg_crawl: tuple) -> None:
    result, _ = tg_crawl
    assert tg_item(result, "good.bin")["status"] == "stored"
    assert result.returncode == 3, result.log[-3000:]  # partial: 4 files failed
    assert result.seconds < 60  # type: ignore[attr-defined]


# -- an HTML listing (sizes unknown or estimated): endless bodies, the time budget ----------------
@pytest.fixture(scope="module")
def listing_crawl(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[CrawlResult, ArchiveServer]]:
    with ArchiveServer() as server:
        server.add("/grids.html", Reply(GRIDS_PAGE, content_type="text/html"))
        tree = DirectoryTree(server, mount="/grids/")
        tree.add("estimated.dat", Blob("estimated", 100_000))  # listed as "98K"
        tree.extra_links[""] = ["endless.dat", "endless_close.dat", "slow.dat"]  # no size
        server.add("/grids/estimated.dat", endless(chunked=True))
        server.add("/grids/endless.dat", endless(chunked=True))
        server.add("/grids/endless_close.dat", endless(chunked=False))
        server.add("/grids/slow.dat", endless(chunked=True, rate=200_000))
        data_dir = tmp_path_factory.mktemp("hostile_listing") / "data"
        result = run_crawl(
            "kurucz",
            data_dir,
            args={"base_url": server.base_url},
            settings={
                "RETRY_TIMES": str(RETRY_TIMES),
                "CAPTURE_MAX_FILE_BYTES": str(4 * MB),
                "CAPTURE_MAX_TRANSFER_SECONDS": "3",
                "CAPTURE_QUALITY_ENABLED": "False",
                "CAPTURE_WRITE_BUFFER": str(256 * 1024),
            },
            timeout=120,
        )
        yield result, server


def listing_item(result: CrawlResult, name: str) -> dict:
    (item,) = [i for i in result.items if i["archive_path"].endswith(f"/{name}")]
    return item


@pytest.mark.parametrize("name", ["endless.dat", "endless_close.dat"])
def test_endless_body_is_cut_at_max_file_bytes(listing_crawl: tuple, name: str) -> None:
    result, server = listing_crawl
    item = listing_item(result, name)
    assert item["status"] == "failed"
    assert f"body longer than CAPTURE_MAX_FILE_BYTES={4 * MB}" in item["error"]
    assert len(requests(server, f"/grids/{name}")) == 1  # not retried
    assert server.bytes_sent(f"/grids/{name}") <= 4 * MB + SOCKET_SLACK
    assert bytes_kept(result.data_dir, name) == 0  # the part is discarded, not kept to resume


def test_listing_estimate_bounds_the_body_generously(listing_crawl: tuple) -> None:
    result, server = listing_crawl
    item = listing_item(result, "estimated.dat")
    assert item["status"] == "failed" and "the listing's estimate of" in item["error"]
    # 2 x ~100 KB + 1 MiB, far below CAPTURE_MAX_FILE_BYTES.
    assert server.bytes_sent("/grids/estimated.dat") <= 2 * 100_000 + MB + SOCKET_SLACK
    assert bytes_kept(result.data_dir, "estimated.dat") == 0


def test_slow_endless_body_is_cut_by_the_time_budget(listing_crawl: tuple) -> None:
    result, server = listing_crawl
    item = listing_item(result, "slow.dat")
    assert item["status"] == "failed" and "CAPTURE_MAX_TRANSFER_SECONDS" in item["error"]
    (req,) = requests(server, "/grids/slow.dat")
    assert req.bytes_sent <= 200_000 * 5 + SOCKET_SLACK  # ~3 s at 200 KB/s (+ check slack)
    assert bytes_kept(result.data_dir, "slow.dat") == 0  # unknown length: nothing to resume


# -- Ctrl-C while a listing page and a file both drip --------------------------------------------
def test_ctrl_c_stops_dripping_downloads_within_seconds_and_resumes(tmp_path: Path) -> None:
    with ArchiveServer() as server:
        server.add("/grids.html", drip(100_000, interval=0.5, give_up=60))
        tree = DirectoryTree(server, mount="/grids/")
        blob = Blob("dripped", 50_000)
        tree.add("drip.dat", blob)
        server.add("/grids/drip.dat", drip(50_000, interval=0.5, give_up=60))
        data_dir, jobdir = tmp_path / "data", tmp_path / "job"
        settings = {"JOBDIR": str(jobdir), "CAPTURE_QUALITY_ENABLED": "False"}
        args = {"base_url": server.base_url}
        proc, out, _ = start_crawl("kurucz", data_dir, args=args, settings=settings)
        try:
            assert wait_for(
                lambda: requests(server, "/grids.html") and requests(server, "/grids/drip.dat"),
                60,
            )
            assert wait_for(lambda: server.bytes_sent("/grids/drip.dat") >= 3, 10)
            proc.send_signal(signal.SIGINT)  # one Ctrl-C: graceful
            stopped = time.monotonic()
            code = proc.wait(timeout=30)
            took = time.monotonic() - stopped
        finally:
            if proc.poll() is None:
                proc.kill()
        assert code == EXIT_INTERRUPTED and took < 10, (code, took)
        assert read_jsonl(out) == []
        (run,) = catalog_rows(data_dir, "select * from runs")
        assert run["status"] == "shutdown"

        # The same command, once the server behaves, resumes: the cancelled listing page comes
        # back from JOBDIR, the file from its catalog row.
        server.add("/grids.html", Reply(GRIDS_PAGE, content_type="text/html"))
        server.add("/grids/drip.dat", blob)
        result = run_crawl("kurucz", data_dir, args=args, settings=settings, timeout=120)
        assert result.returncode == 0, result.log[-3000:]
        item = listing_item(result, "drip.dat")
        assert item["status"] == "stored" and item["sha256"] == blob.sha256
        stored = hashlib.sha256((data_dir / item["path"]).read_bytes()).hexdigest()
        assert stored == blob.sha256
        assert len(requests(server, "/grids.html")) == 2  # fetched again on resume
        assert len(catalog_rows(data_dir)) == 1


# -- what counts as progress (middlewares/retry.py) ----------------------------------------------
def test_progress_is_a_new_high_water_mark_of_the_durable_offset() -> None:
    crawler = get_crawler(settings_dict={"RETRY_TIMES": 2})
    crawler.spider = crawler._create_spider("test")
    mw = BackoffRetryMiddleware.from_crawler(crawler)
    req = Request("http://a/x")
    # 0 -> 600: progress, free. 0 -> 600 again (server restarted us at 0): no progress.
    req = mw.process_exception(req, TransferInterrupted("cut", offset=600, progress=600))
    assert isinstance(req, Request) and "retry_times" not in req.meta
    req = mw.process_exception(req, TransferInterrupted("cut", offset=600, progress=600))
    assert isinstance(req, Request) and req.meta["retry_times"] == 1
    # A real resume that gets further is progress again.
    req = mw.process_exception(req, TransferInterrupted("cut", offset=900, progress=300))
    assert isinstance(req, Request) and req.meta["retry_times"] == 1
    # A drip cut for being too slow never is, however far it got.
    req = mw.process_exception(req, TransferTooSlow("slow", offset=950, progress=50))
    assert isinstance(req, Request) and req.meta["retry_times"] == 2
    assert mw.process_exception(req, TransferTooSlow("slow", offset=990, progress=40)) is None
