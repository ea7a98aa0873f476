"""Pause and resume that survives anything: SIGKILL mid-file, Ctrl-C with JOBDIR."""

from __future__ import annotations

import hashlib
import signal
from pathlib import Path

import pytest

from tests.archives import Blob
from tests.archives.thousand_genomes import WHOLE_TREE, ThousandGenomesArchive
from tests.crawl import catalog_rows, kill, read_jsonl, run_crawl, start_crawl, wait_for

MB = 1024 * 1024
CHECKPOINT = 8 * MB
WRITE_BUFFER = 1 * MB
# Bytes that can be in flight between the server's socket and our disk when a process dies:
# kernel socket buffers on loopback plus one write buffer in memory.
SOCKET_SLACK = 6 * MB
SETTINGS = {"CAPTURE_CHECKPOINT_BYTES": str(CHECKPOINT), "CAPTURE_WRITE_BUFFER": str(WRITE_BUFFER)}

pytestmark = pytest.mark.slow


def part_size(data_dir: Path, rel: str) -> int:
    part = data_dir / ".partial" / "genomics" / "thousand_genomes" / (rel + ".part")
    return part.stat().st_size if part.exists() else 0


def test_sigkill_mid_file_then_restart_completes_exactly_once(
    tg: ThousandGenomesArchive, data_dir: Path
) -> None:
    big = Blob("huge", 160 * MB)
    tg.add_file("ftp/big/huge.bin", big)
    smalls = {f"ftp/small/s{i}.txt": Blob(f"s{i}", 5000 + i) for i in range(10)}
    for path, blob in smalls.items():
        tg.add_file(path, blob)
    base = tg.publish()
    tg.server.bandwidth = 25 * MB  # slow enough to kill in the middle
    proc, _, _ = start_crawl(
        "thousand_genomes", data_dir, args={"base_url": base, **WHOLE_TREE}, settings=SETTINGS
    )
    assert wait_for(lambda: part_size(data_dir, "vol1/ftp/big/huge.bin") >= 60 * MB, 60)
    kill(proc, signal.SIGKILL)
    killed_at = part_size(data_dir, "vol1/ftp/big/huge.bin")
    assert 0 < killed_at < big.size

    tg.server.bandwidth = None
    result = run_crawl(
        "thousand_genomes", data_dir, args={"base_url": base, **WHOLE_TREE}, settings=SETTINGS
    )
    assert result.returncode == 0, result.log[-2000:]
    item = result.by_path()["vol1/ftp/big/huge.bin"]
    assert item["status"] == "stored" and item["checksum"]["verified"] is True
    stored = data_dir / item["path"]
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == big.sha256 == item["sha256"]

    first, second = tg.server.requests_for("/vol1/ftp/big/huge.bin", "GET")
    offset = item["resumed_from"]
    assert second.range == f"bytes={offset}-" and second.status == 206
    # Resumed from the last durable checkpoint, at most one checkpoint behind the kill.
    assert 0 < offset <= killed_at and killed_at - offset <= CHECKPOINT + WRITE_BUFFER
    redownloaded = first.bytes_sent - offset
    assert 0 <= redownloaded <= CHECKPOINT + WRITE_BUFFER + SOCKET_SLACK, redownloaded
    assert second.bytes_sent == big.size - offset

    # Every file discovered before the kill is stored exactly once, in one catalog row each.
    rows = catalog_rows(data_dir)
    assert len(rows) == 11 and {r["state"] for r in rows} == {"stored"}
    for path in smalls:
        assert len(tg.server.requests_for(f"/vol1/{path}", "GET")) == 1
    events = catalog_rows(
        data_dir,
        "select kind from events e join files f on f.id=e.file_id "
        "where f.archive_path='vol1/ftp/big/huge.bin'",
    )
    assert [e["kind"] for e in events].count("resume") == 1


def test_ctrl_c_pauses_and_same_command_resumes_with_jobdir(
    tg: ThousandGenomesArchive, tmp_path: Path, data_dir: Path
) -> None:
    big = Blob("pause", 96 * MB)
    tg.add_file("ftp/big/pause.bin", big)
    base = tg.publish()
    jobdir = tmp_path / "job"
    settings = {**SETTINGS, "JOBDIR": str(jobdir)}
    tg.server.bandwidth = 20 * MB
    proc, out, log = start_crawl(
        "thousand_genomes", data_dir, args={"base_url": base, **WHOLE_TREE}, settings=settings
    )
    assert wait_for(lambda: part_size(data_dir, "vol1/ftp/big/pause.bin") >= 16 * MB, 60)
    proc.send_signal(signal.SIGINT)  # one Ctrl-C: graceful pause
    assert proc.wait(timeout=30) == 130  # interrupted: the exit code says "resume me"
    text = log.read_text()
    # One line says what to do (capture/extensions.py); no item dumps (capture/logformat.py).
    assert "thousand_genomes: 1 file(s) interrupted by the shutdown (shutdown)" in text
    assert "CapturedFile(" not in text
    paused_at = part_size(data_dir, "vol1/ftp/big/pause.bin")
    assert 0 < paused_at < big.size
    assert read_jsonl(out) == []  # nothing reported as done
    (run,) = catalog_rows(data_dir, "select * from runs")
    assert run["status"] == "shutdown"

    tg.server.bandwidth = None
    result = run_crawl(
        "thousand_genomes", data_dir, args={"base_url": base, **WHOLE_TREE}, settings=settings
    )
    item = result.by_path()["vol1/ftp/big/pause.bin"]
    assert item["status"] == "stored" and item["sha256"] == big.sha256
    first, second = tg.server.requests_for("/vol1/ftp/big/pause.bin", "GET")
    assert second.range == f"bytes={paused_at}-" and second.status == 206
    # A graceful stop makes everything received durable: the resume loses (almost) nothing.
    assert item["resumed_from"] == paused_at
    assert first.bytes_sent - item["resumed_from"] <= WRITE_BUFFER + SOCKET_SLACK
    runs = catalog_rows(data_dir, "select run_id, status from runs")
    assert len(runs) == 1 and runs[0]["status"] == "finished"  # same run id across the pause
    assert len(catalog_rows(data_dir)) == 1
