"""Attack 9 (issue 13): a full disk stops the crawl cleanly and the resume completes it.

The data root (and the SQLite catalog in it) lives on a small tmpfs that a real crawl fills
for real: ENOSPC on part files, SQLITE_FULL in the catalog. Asserted: exit code non-zero,
reason ``disk_full``, one clear ERROR line and no traceback, catalog and disk consistent (no
published file without its ``stored`` row, no ``stored`` row without its file), then, after
space is freed, a resume that stores every file exactly once without re-fetching any file
already stored.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from capture.outcomes import DISK_FULL, crawl_outcome, is_disk_full
from tests.archives import Blob
from tests.archives.thousand_genomes import WHOLE_TREE, ThousandGenomesArchive
from tests.crawl import CrawlResult, catalog_rows, run_crawl, sha256_of

KB = 1024
MB = 1024 * KB
PUBLISHED = Path("genomics") / "thousand_genomes"


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``path`` (skips the test where mounting is refused)."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def assert_consistent(data: Path) -> dict[str, dict[str, Any]]:
    """Every published file has a ``stored`` row with its sha256, and the reverse."""
    rows = {r["path"]: r for r in catalog_rows(data)}
    stored = {p: r for p, r in rows.items() if r["state"] == "stored"}
    on_disk = {str(f.relative_to(data)): f for f in (data / PUBLISHED).rglob("*") if f.is_file()}
    assert set(on_disk) == set(stored), (sorted(on_disk), sorted(stored))
    for rel, f in on_disk.items():
        assert sha256_of(f) == stored[rel]["sha256"], rel
    return rows


def assert_clean_disk_full_stop(result: CrawlResult, data: Path) -> None:
    assert result.returncode in (3, 4), result.log[-3000:]
    assert "Traceback" not in result.log, result.log[-5000:]
    assert "'finish_reason': 'disk_full'" in result.log
    assert "Spider closed (disk_full)" in result.log
    stops = [
        line
        for line in result.log.splitlines()
        if " ERROR: " in line and "Disk full: data root" in line
    ]
    assert len(stops) == 1, stops
    assert str(data) in stops[0] and re.search(r"has [\d.]+ [KMG]?i?B free", stops[0])
    stats = result.stats
    if stats:  # the run row is closed when the catalog had room to record it
        assert stats["finish_reason"] == DISK_FULL
        assert "capture/disk_full/reason" in stats


def test_disk_full_stops_cleanly_and_resume_completes_every_file_once(
    tg: ThousandGenomesArchive, tmp_path: Path
) -> None:
    blobs = {f"ftp/d/f{i:02d}.bin": Blob(f"disk{i}", 700 * KB + i) for i in range(10)}
    for path, blob in blobs.items():
        tg.add_file(path, blob)
    base = tg.publish()
    with tmpfs(tmp_path / "data", "10m") as data:
        ballast = data / "ballast.bin"  # outside the published tree; freed for the resume
        ballast.write_bytes(b"\0" * (5 * MB))
        settings = {
            "JOBDIR": str(tmp_path / "job"),
            "CAPTURE_MIN_FREE_BYTES": "0",  # no early stop: let the disk fill for real
            "CAPTURE_WRITE_BUFFER": str(256 * KB),
        }
        args = {"base_url": base, **WHOLE_TREE}

        first = run_crawl("thousand_genomes", data, args=args, settings=settings, timeout=120)
        assert_clean_disk_full_stop(first, data)
        assert "No space left on device" in first.log or "disk is full" in first.log
        rows = assert_consistent(data)
        assert len(rows) == len(blobs)
        stored_first = {r["archive_path"] for r in rows.values() if r["state"] == "stored"}
        assert len(stored_first) < len(blobs)  # the disk did fill up
        assert {r["state"] for r in rows.values()} <= {"stored", "discovered"}
        # The feed lists exactly the files that were stored, nothing else.
        assert {i["archive_path"] for i in first.items} == stored_first
        assert {i["status"] for i in first.items} <= {"stored"}

        ballast.unlink()
        second = run_crawl("thousand_genomes", data, args=args, settings=settings, timeout=120)
        assert second.returncode == 0, second.log[-3000:]
        assert "Traceback" not in second.log
        rows = assert_consistent(data)
        assert len(rows) == len(blobs)  # no duplicated rows
        assert {r["state"] for r in rows.values()} == {"stored"}
        for path, blob in blobs.items():
            row = rows[str(PUBLISHED / "vol1" / path)]
            assert row["sha256"] == blob.sha256
            gets = [
                r for r in tg.server.requests_for(f"/vol1/{path}", "GET") if r.status in (200, 206)
            ]
            if f"vol1/{path}" in stored_first:
                assert len(gets) == 1, path  # stored in the first run: never fetched again
            else:
                assert 1 <= len(gets) <= 2, path
        assert not list((data / ".partial").rglob("*.part"))
        runs = catalog_rows(data, "select status from runs")
        assert [r["status"] for r in runs] == ["finished"]  # same run id across the stop


def test_low_free_space_stops_before_any_fetch(tg: ThousandGenomesArchive, tmp_path: Path) -> None:
    """CAPTURE_MIN_FREE_BYTES turns a certain ENOSPC into a stop before the first byte."""
    for i in range(4):
        tg.add_file(f"ftp/d/g{i}.bin", Blob(f"g{i}", 300 * KB))
    base = tg.publish()
    with tmpfs(tmp_path / "data", "4m") as data:
        result = run_crawl(
            "thousand_genomes",
            data,
            args={"base_url": base, **WHOLE_TREE},
            settings={"CAPTURE_MIN_FREE_BYTES": str(8 * MB)},
            timeout=60,
        )
        assert_clean_disk_full_stop(result, data)
        assert result.returncode == 4  # nothing stored: failed, not partial
        assert "No space left on device" not in result.log
        assert "CAPTURE_MIN_FREE_BYTES" in result.log
        for i in range(4):
            assert tg.server.requests_for(f"/vol1/ftp/d/g{i}.bin", "GET") == []
        rows = assert_consistent(data)
        assert {r["state"] for r in rows.values()} == {"discovered"}
        assert result.stats["finish_reason"] == DISK_FULL


def test_disk_full_outcome_and_detection() -> None:
    import errno
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from capture.transfer.errors import LocalStorageError

    stats = {"capture/status/stored": 3, "capture/disk_full/reason": "data root /d is full"}
    assert crawl_outcome(DISK_FULL, stats) == ("partial", "data root /d is full")
    assert crawl_outcome(DISK_FULL, {})[0] == "failed"
    try:
        raise LocalStorageError("cannot write x.part") from OSError(errno.ENOSPC, "full")
    except LocalStorageError as exc:
        assert is_disk_full(exc)
    full = OperationalError("COMMIT", {}, sqlite3.OperationalError("database or disk is full"))
    assert is_disk_full(full)
    assert is_disk_full("LocalStorageError: cannot write a: [Errno 28] No space left on device")
    assert not is_disk_full(OSError(errno.EACCES, "denied"))
    assert not is_disk_full("HTTP 404 from http://x/")


def test_capture_run_on_a_full_disk_then_resume(tmp_path: Path) -> None:
    """``capture run`` as a user runs it, with the data root (catalog, run log, JOBDIR, reports)
    on a disk that fills up: no traceback, a non-zero exit, and ``--resume`` after space is
    freed completes the round, although Scrapy left the JOBDIR's queue state cut short."""
    from tests.archives import ArchiveServer
    from tests.crawl import run_capture

    mount = tmp_path / "disk"
    with ArchiveServer() as server, tmpfs(mount, "6m"):
        tg = ThousandGenomesArchive(server)
        for i in range(12):
            tg.add_file(f"ftp/release/20130502/f{i:02d}.bin", Blob(f"run{i}", 700 * KB))
        config = {
            "mirrors": {"thousand_genomes": tg.publish()},
            # Synthetic bytes: score nothing; keep no free-space margin so the disk truly fills.
            "spider_settings": {
                "thousand_genomes": {"CAPTURE_MIN_FREE_BYTES": 0, "CAPTURE_QUALITY_ENABLED": False}
            },
        }
        data = mount / "data"
        args = ["--domains", "genomics", "--data-dir", str(data), "--run-id", "fullrun"]
        first = run_capture(args, tmp_path, config, timeout=300)
        assert first.returncode in (3, 4), first.stdout[-2000:] + first.stderr[-3000:]
        assert "Traceback" not in first.stderr, first.stderr[-5000:]
        assert "disk" in first.stderr.lower()
        stored_before = {
            r["archive_path"]
            for r in catalog_rows(data)
            if r["state"] == "stored" and r["archive"] == "thousand_genomes"
        }
        assert len(stored_before) < 12

        subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], check=True)
        again = run_capture(
            ["--resume", "fullrun", "--data-dir", str(data)], tmp_path, config, timeout=300
        )
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
        assert "Traceback" not in again.stderr, again.stderr[-5000:]
        rows = [r for r in catalog_rows(data) if r["archive"] == "thousand_genomes"]
        assert len(rows) == 12 and {r["state"] for r in rows} == {"stored"}
        assert len({r["archive_path"] for r in rows}) == 12
        on_disk = {str(f.relative_to(data)) for f in (data / PUBLISHED).rglob("*") if f.is_file()}
        assert on_disk == {r["path"] for r in rows}
        assert all(sha256_of(data / r["path"]) == r["sha256"] for r in rows)
