"""An archive that answered and then went away mid-crawl (its process died: kept-alive
connections hang up, new ones are refused) closes the crawl as ``unreachable`` (exit 4) once
nothing has come from it for ``CAPTURE_CIRCUIT_LOST_WINDOW``, instead of burning every queued
file's retries; the resume against the archive, back again, stores every file exactly once."""

from __future__ import annotations

import time
from pathlib import Path
from time import monotonic

import pytest
from scrapy import Request, Spider
from scrapy.exceptions import DownloadConnectionRefusedError
from scrapy.http import Response
from scrapy.utils.test import get_crawler

from capture.liveness import Liveness
from capture.transfer.errors import ArchiveUnreachable
from middlewares.circuit import ArchiveCircuitBreakerMiddleware
from tests.archives import ArchiveServer, Blob
from tests.archives.thousand_genomes import WHOLE_TREE, ThousandGenomesArchive
from tests.crawl import catalog_rows, free_port, run_crawl, start_crawl, wait_for

FILES = 80


def test_an_archive_lost_mid_crawl_closes_it_as_unreachable_and_resume_finishes(
    data_dir: Path,
) -> None:
    port = free_port()
    server = ArchiveServer(port=port).start()
    server.latency = 0.05  # 4 connections: about 80 files/s, so the outage lands mid-crawl
    tg = ThousandGenomesArchive(server)
    blobs = {f"ftp/lost/f{i:03d}.bin": Blob(f"lost{i}", 5_000 + i) for i in range(FILES)}
    for path, blob in blobs.items():
        tg.add_file(path, blob)
    base = tg.publish()
    # Backoff at a tenth of real time (0.1-2.5 s per retry): without the lost window the 70
    # files left would take about a minute of retries, each ending "failed".
    settings = {"CAPTURE_CIRCUIT_LOST_WINDOW": "1", "CAPTURE_BACKOFF_TIME_SCALE": "0.1"}
    args = {"base_url": base, **WHOLE_TREE}
    proc, _, log_file = start_crawl("thousand_genomes", data_dir, args=args, settings=settings)
    try:
        assert wait_for(lambda: sum(e.path.startswith("/vol1/ftp/lost/") for e in server.log) >= 10)
        server.stop()
        started = time.monotonic()
        returncode = proc.wait(timeout=120)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    log = log_file.read_text()
    assert returncode == 4, log[-3000:]
    assert "nothing from it for" in log and "after it had answered" in log
    assert took < 20, took  # not every file's whole retry budget
    states = {r["state"] for r in catalog_rows(data_dir, "select state from files")}
    assert "discovered" in states  # the rest is left for the resume

    # The archive comes back on the same address: the resume stores every file, once.
    server = ArchiveServer(port=port).start()
    tg.server = server
    for path, blob in blobs.items():
        server.add(f"/vol1/{path}", blob)
    tg.publish()
    try:
        result = run_crawl("thousand_genomes", data_dir, args=args, settings=settings)
    finally:
        server.stop()
    assert result.returncode == 0, result.log[-3000:]
    rows = catalog_rows(data_dir, "select archive_path, state, sha256 from files")
    assert len(rows) == FILES
    assert {r["archive_path"]: r["sha256"] for r in rows} == {
        f"vol1/{p}": b.sha256 for p, b in blobs.items()
    }
    assert {r["state"] for r in rows} == {"stored"}


# -- the rule itself -------------------------------------------------------------------------
def _breaker(window: float, quiet: float) -> tuple[ArchiveCircuitBreakerMiddleware, Liveness]:
    """A breaker whose archive answered once, ``quiet`` seconds ago."""
    mw = ArchiveCircuitBreakerMiddleware(
        get_crawler(Spider, {"CAPTURE_CIRCUIT_LOST_WINDOW": window})
    )
    request = Request("http://archive.test/f")
    mw.process_response(request, Response(request.url, request=request))
    mw.liveness.last = mw._lost_since = monotonic() - quiet
    return mw, mw.liveness


def _refused(mw: ArchiveCircuitBreakerMiddleware, times: int) -> None:
    for _ in range(times):
        mw.process_exception(Request("http://archive.test/g"), DownloadConnectionRefusedError())


def test_a_transfer_still_receiving_keeps_the_archive_alive() -> None:
    mw, liveness = _breaker(window=5, quiet=60)
    liveness.touch()  # a long transfer's receiver saw bytes just now
    _refused(mw, 10)
    assert mw.open_reason is None


def test_silence_for_the_window_with_failures_trips_and_zero_never_does() -> None:
    mw, _ = _breaker(window=5, quiet=60)
    _refused(mw, 2)  # fewer failures than CAPTURE_CIRCUIT_FAILURES (3): not yet
    assert mw.open_reason is None
    with pytest.raises(ArchiveUnreachable, match="nothing from it for 60s after it had answered"):
        _refused(mw, 1)
    off, _ = _breaker(window=0, quiet=3600)
    _refused(off, 50)
    assert off.open_reason is None


def test_a_sign_of_life_resets_the_count() -> None:
    mw, liveness = _breaker(window=5, quiet=60)
    _refused(mw, 2)
    liveness.touch(liveness.last + 1)  # something came in between (still 59 s ago)
    _refused(mw, 2)  # 2 failures since then, not 4
    assert mw.open_reason is None
