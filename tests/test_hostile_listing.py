"""Hostile directory listings (issue 13, attack 7 and the listing gzip bomb): real Kurucz crawls
against :mod:`tests.archives.hostile.listing`. A listing crawl is bounded in directories,
requests and queued directories (and says so: one WARNING, a stat, a partial outcome), stops
at a loop recognised by content after a few requests, refuses a gzip-bomb page with a peak
RSS far below DOWNLOAD_MAXSIZE, and stops within 10 s of one Ctrl-C."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from capture.outcomes import EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, crawl_outcome
from tests.archives import ArchiveServer, Blob
from tests.archives.autoindex import DirectoryTree
from tests.archives.hostile.listing import (
    BranchingLoop,
    ListingBomb,
    serve_empty_index,
)
from tests.crawl import catalog_rows, last_run_stats, peak_rss_mb, start_crawl

MB = 1024 * 1024
#: Peak RSS allowed for a bounded hostile listing crawl. A bare crawl process is ~130 MB;
#: before the fix a 1 GiB gzip-bomb page took it to 4.2 GB.
RSS_LIMIT_MB = 400


@dataclass
class Crawl:
    returncode: int
    peak_rss_mb: float
    log: str
    data_dir: Path

    @property
    def stats(self) -> dict:
        return last_run_stats(self.data_dir)

    def warnings(self, text: str) -> list[str]:
        return [line for line in self.log.splitlines() if "WARNING" in line and text in line]


def crawl(
    server: ArchiveServer,
    tmp: Path,
    settings: dict[str, object] | None = None,
    *,
    interrupt_when: Callable[[], bool] | None = None,
    timeout: float = 120,
) -> Crawl:
    """A Kurucz crawl of ``server`` whose peak RSS is read from /proc (VmHWM) while it runs;
    ``interrupt_when``: send one SIGINT once
    it holds, after which the process must end within 10 s."""
    data = tmp / "data"
    proc, _, log_file = start_crawl(
        "kurucz",
        data,
        args={"base_url": server.base_url},
        settings={"CAPTURE_QUALITY_ENABLED": "False", **(settings or {})},
    )
    peak, deadline, signalled = 0.0, time.monotonic() + timeout, False
    while True:
        pid, status, _usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            # Not usage.ru_maxrss: it also counts the fork of this pytest process before exec
            # (a big test run makes it look like a 1 GB crawl); VmHWM is the crawl's own.
            proc.returncode = os.waitstatus_to_exitcode(status)
            break
        peak = max(peak, peak_rss_mb(proc.pid) or 0.0)
        if interrupt_when is not None and not signalled and interrupt_when():
            proc.send_signal(signal.SIGINT)
            signalled, deadline = True, time.monotonic() + 10
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError(f"crawl still running ({signalled=})")
        time.sleep(0.05)
    log = log_file.read_text() if log_file.exists() else ""
    return Crawl(proc.returncode, peak, log, data)


@pytest.fixture
def server() -> Iterator[ArchiveServer]:
    with ArchiveServer() as srv:
        serve_empty_index(srv)  # Kurucz also reads /grids.html
        yield srv


def stored_paths(data_dir: Path) -> set[str]:
    rows = catalog_rows(data_dir, "select archive_path, state from files")
    return {r["archive_path"] for r in rows if r["state"] == "stored"}


# -- attack 7: a listing whose every directory links a/ and b/ ---------------------------------
BOUNDS = [
    ("CAPTURE_LISTING_MAX_DIRECTORIES", 40),
    ("CAPTURE_LISTING_MAX_REQUESTS", 25),
    ("CAPTURE_LISTING_MAX_QUEUED", 8),
]


@pytest.mark.parametrize(("setting", "bound"), BOUNDS, ids=[b[0].lower() for b in BOUNDS])
def test_branching_loop_stops_at_each_bound(
    server: ArchiveServer, tmp_path: Path, setting: str, bound: int
) -> None:
    loop = BranchingLoop(server, distinct=True, with_file=True)
    result = crawl(server, tmp_path, {setting: bound})

    listed = loop.listing_requests()
    stats = result.stats
    assert stats["kurucz/listing/bound_reached"] == setting
    if setting != "CAPTURE_LISTING_MAX_QUEUED":
        assert len(listed) == bound  # nothing past the bound crossed the wire
    assert stats["kurucz/listing/requests"] == len(listed)
    assert stats["kurucz/listing/peak_queued"] <= (
        bound if setting == "CAPTURE_LISTING_MAX_QUEUED" else 2 * bound
    )
    assert stats["kurucz/listing/not_listed"] > 0
    # One WARNING line naming the bound; the crawl is partial, not "finished".
    assert len(result.warnings(setting)) == 1, result.log[-3000:]
    assert result.returncode == EXIT_PARTIAL, result.log[-3000:]
    outcome, why = crawl_outcome(stats.get("finish_reason"), stats)
    assert outcome == "partial", why
    # Files of the directories that were listed are still captured.
    assert len(stored_paths(result.data_dir)) == stats["kurucz/listing/directories"] > 0
    assert result.peak_rss_mb < RSS_LIMIT_MB


def test_identical_listing_loop_is_pruned_by_content(server: ArchiveServer, tmp_path: Path) -> None:
    """Every URL is new (a/, a/b/, b/a/...), but each listing shows what its parent's does."""
    loop = BranchingLoop(server, distinct=False, with_file=True)
    result = crawl(server, tmp_path)

    assert sorted(loop.listing_requests()) == ["/grids/", "/grids/a/", "/grids/b/"]
    assert result.stats["kurucz/listing/content_loops_pruned"] == 2
    assert "kurucz/listing/bound_reached" not in result.stats
    assert len(result.warnings("symlink loop")) == 2
    assert stored_paths(result.data_dir) == {"grids/file.txt"}
    assert result.returncode == EXIT_OK, result.log[-3000:]


def test_identical_siblings_and_single_entry_chains_are_listed(
    server: ArchiveServer, tmp_path: Path
) -> None:
    """Only ancestors count: sibling directories with the same listing (empty-looking or
    mirrored runs) and a directory holding one subdirectory of its own name are real trees."""
    tree = DirectoryTree(server, mount="/grids/")
    same = Blob("same", 2048)
    paths = ["x/same.dat", "y/same.dat", "z/same.dat", "data/data/inner.dat"]
    for path in paths:
        tree.add(path, same)
    result = crawl(server, tmp_path)

    assert stored_paths(result.data_dir) == {f"grids/{p}" for p in paths}
    assert "kurucz/listing/content_loops_pruned" not in result.stats
    assert result.returncode == EXIT_OK, result.log[-3000:]


# -- listing gzip bomb -------------------------------------------------------------------------
def test_gzip_bomb_listing_refused_for_its_directory(server: ArchiveServer, tmp_path: Path) -> None:
    tree = DirectoryTree(server, mount="/grids/", extra_links={"": ["bomb/"]})
    tree.add("ok/model.dat", Blob("model", 4096))
    bomb = ListingBomb(server, path="/grids/bomb/", expanded=1024**3)
    result = crawl(server, tmp_path)  # CAPTURE_LISTING_MAX_BYTES: the default, 64 MiB

    assert bomb.compressed < 2 * MB
    assert result.stats["kurucz/listing/too_large"] == 1
    refused = [line for line in result.log.splitlines() if "ERROR" in line and "refused" in line]
    assert len(refused) == 1 and "/grids/bomb/" in refused[0], result.log[-3000:]
    assert "CAPTURE_LISTING_MAX_BYTES" in refused[0]
    assert stored_paths(result.data_dir) == {"grids/ok/model.dat"}
    assert result.returncode == EXIT_PARTIAL
    # 1 GiB of page never reaches memory: only the 64 MiB cap does, once.
    assert result.peak_rss_mb < RSS_LIMIT_MB, result.peak_rss_mb


# -- Ctrl-C ------------------------------------------------------------------------------------
def test_one_sigint_stops_an_endless_listing_within_10_s(
    server: ArchiveServer, tmp_path: Path
) -> None:
    loop = BranchingLoop(server, distinct=True, with_file=True)
    seen_at_signal: list[int] = []

    def busy() -> bool:
        if len(loop.listing_requests()) >= 30:
            seen_at_signal.append(len(loop.listing_requests()))
            return True
        return False

    started = time.monotonic()
    result = crawl(server, tmp_path, interrupt_when=busy, timeout=90)
    assert seen_at_signal, "the crawl never got going"
    assert time.monotonic() - started < 90
    assert result.returncode == EXIT_INTERRUPTED, result.log[-3000:]
    # Nothing new once stopping: at most the requests already handed to the downloader.
    assert len(loop.listing_requests()) - seen_at_signal[0] <= 16
