"""What the numbers were measured on: CPU, memory, disk, tool versions, code revision."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _first_line(cmd: list[str]) -> str | None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0] if text else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError):
        pass
    return None


def _git(repo: Path, *args: str) -> str | None:
    return _first_line(["git", "-C", str(repo), *args])


def load_snapshot() -> dict[str, Any]:
    """Load average and pressure stall (PSI, % of time some task waited, last 60 s): the machine
    may be shared, and a busy neighbour skews every number."""
    snap: dict[str, Any] = {"loadavg": list(os.getloadavg())}
    for kind in ("cpu", "io", "memory"):
        try:
            first = Path(f"/proc/pressure/{kind}").read_text().splitlines()[0]
            snap[f"psi_{kind}_some_avg60"] = float(first.split("avg60=")[1].split()[0])
        except (OSError, IndexError, ValueError):
            pass
    return snap


def hash_speeds(mib: int = 256) -> dict[str, float]:
    """hashlib throughput (MiB/s, one thread) of md5 and sha256: the floor of a verified copy."""
    block = os.urandom(4 << 20)
    speeds: dict[str, float] = {}
    for name in ("md5", "sha256"):
        h = hashlib.new(name)
        started = time.perf_counter()
        for _ in range(mib // 4):
            h.update(block)
        speeds[name] = round(mib / (time.perf_counter() - started))
    return speeds


def machine_info(workdir: Path, repo: Path) -> dict[str, Any]:
    import scrapy

    usage = shutil.disk_usage(workdir)
    dirty = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True
    ).stdout
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "hostname": platform.node(),
        "kernel": platform.release(),
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "mem_total_mb": _mem_total_mb(),
        "python": sys.version.split()[0],
        "scrapy": scrapy.__version__,
        "nginx": _first_line(["/usr/sbin/nginx", "-v"]) or _first_line(["nginx", "-v"]),
        "curl": _first_line(["curl", "--version"]),
        "aria2c": _first_line(["aria2c", "--version"]) if shutil.which("aria2c") else None,
        "workdir": str(workdir),
        "disk_free_gb": round(usage.free / 1e9, 1),
        "hashlib_mib_per_s": hash_speeds(),
        "load_at_start": load_snapshot(),
        "disk_total_gb": round(usage.total / 1e9, 1),
        "git_commit": _git(repo, "rev-parse", "HEAD"),
        "git_dirty_files": [line[3:] for line in dirty.splitlines()][:100],
    }
