"""Run real ``scrapy crawl`` processes against emulators and read back what they produced."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

# Tests never sleep for real in backoff; nominal delays are still computed and recorded.
TEST_SETTINGS = {
    "CAPTURE_BACKOFF_TIME_SCALE": "0",
    "LOG_LEVEL": "INFO",
    "CAPTURE_STALL_TIMEOUT": "5",
}
# Every archive emulator serves realistic content (valid FITS, netCDF, tables, flat files), so
# crawls score quality as in production. The 1000 Genomes emulator is the transfer workhorse:
# its tests serve synthetic random bytes under any name, so scoring is off there unless a test
# turns it on (test_quality_e2e does, with real and broken files).
SYNTHETIC_CONTENT_SPIDERS = {"thousand_genomes"}


def defaults_for(spider: str) -> dict[str, str]:
    quality = spider not in SYNTHETIC_CONTENT_SPIDERS
    return {**TEST_SETTINGS, "CAPTURE_QUALITY_ENABLED": str(quality)}


# The item fields later tooling reads from ``-O out.jsonl`` (issue 2): every spider emits them.
STABLE_FIELDS = frozenset(
    {"archive", "domain", "url", "path", "size", "sha256", "checksum", "format", "quality"}
    | {"status", "run_id", "retrieved_at", "http"}
)


@dataclass
class CrawlResult:
    returncode: int
    items: list[dict[str, Any]]
    log: str
    data_dir: Path

    def by_path(self) -> dict[str, dict[str, Any]]:
        return {i["archive_path"]: i for i in self.items}

    def statuses(self) -> dict[str, str]:
        return {i["archive_path"]: i["status"] for i in self.items}

    @property
    def stats(self) -> dict[str, Any]:
        return last_run_stats(self.data_dir)


def crawl_command(
    spider: str,
    data_dir: Path,
    out: Path,
    args: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    log_file: Path | None = None,
) -> list[str]:
    cmd = [sys.executable, "-m", "scrapy", "crawl", spider, "-O", f"{out}:jsonlines"]
    given = {"CAPTURE_DATA_DIR": str(data_dir), **(settings or {})}
    for k, v in {**defaults_for(spider), **given}.items():
        cmd += ["-s", f"{k}={v}"]
    if log_file is not None:
        cmd += ["-s", f"LOG_FILE={log_file}"]
    for k, v in (args or {}).items():
        cmd += ["-a", f"{k}={v}"]
    return cmd


def run_crawl(
    spider: str,
    data_dir: Path,
    *,
    args: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    timeout: float = 180,
    env: dict[str, str] | None = None,
    tag: str = "",
) -> CrawlResult:
    data_dir.mkdir(parents=True, exist_ok=True)
    stamp = f"{tag or 'crawl'}-{time.monotonic_ns()}"
    out = data_dir.parent / f"{stamp}.jsonl"
    log_file = data_dir.parent / f"{stamp}.log"
    cmd = crawl_command(spider, data_dir, out, args, settings, log_file)
    proc = subprocess.run(
        cmd,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        capture_output=True,
        text=True,
    )
    log = log_file.read_text() if log_file.exists() else ""
    log += proc.stdout + proc.stderr
    items = read_jsonl(out)
    return CrawlResult(proc.returncode, items, log, data_dir)


def start_crawl(
    spider: str,
    data_dir: Path,
    *,
    args: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    tag: str = "bg",
    env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], Path, Path]:
    data_dir.mkdir(parents=True, exist_ok=True)
    stamp = f"{tag}-{time.monotonic_ns()}"
    out = data_dir.parent / f"{stamp}.jsonl"
    log_file = data_dir.parent / f"{stamp}.log"
    cmd = crawl_command(spider, data_dir, out, args, settings, log_file)
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, out, log_file


def kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    proc.wait(timeout=60)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def catalog_rows(
    data_dir: Path, sql: str = "select * from files", *params: Any
) -> list[dict[str, Any]]:
    con = sqlite3.connect(data_dir / "catalog.sqlite")
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql, params)]
    finally:
        con.close()


def last_run_stats(data_dir: Path) -> dict[str, Any]:
    rows = catalog_rows(
        data_dir, "select stats from runs order by started_at desc, rowid desc limit 1"
    )
    return json.loads(rows[0]["stats"]) if rows and rows[0]["stats"] else {}


def wait_for(predicate: Any, timeout: float = 60, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_of(path: Path) -> str:
    """The sha256 of a file on disk (a stored file checked against what was served)."""
    return sha256(path.read_bytes())


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for servers that cannot bind port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DeadPort:
    """A port on 127.0.0.1 that refuses connections (bound, never listening) and stays
    reserved until :meth:`release`: a port from :func:`free_port` may be handed to a server
    started in the meantime, and an "archive down" test then talks to the wrong archive."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])

    def release(self) -> None:
        self._sock.close()

    def __enter__(self) -> DeadPort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def peak_rss_mb(pid: int) -> float | None:
    """A running process's peak resident set (VmHWM), or None once it is gone. Read while a
    crawl runs: a child's ``ru_maxrss`` also counts the fork of this pytest process."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    # A zombie (exited, not yet reaped) has no memory lines left.
    line = next((x for x in text.splitlines() if x.startswith("VmHWM:")), None)
    return int(line.split()[1]) / 1024 if line else None


def capture_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``capture ARGS`` (the CLI as a user runs it) in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "capture", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_capture(
    args: list[str],
    cwd: Path,
    config: dict[str, Any] | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """``capture run ARGS [--config <config written to cwd>]`` as a user runs it."""
    cmd = [sys.executable, "-m", "capture", "run", *args]
    if config is not None:
        path = cwd / f"config-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(config))
        cmd += ["--config", str(path)]
    env = {**os.environ, "CAPTURE_BACKOFF_TIME_SCALE": "0"}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
