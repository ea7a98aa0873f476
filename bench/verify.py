"""``python -m bench verify``: the fixity audit's read throughput against ``sha256sum``.

One file of ``--size-mib`` MiB (random bytes, default 1 GiB) is captured into a fresh data
root as a crawl leaves it (published bytes, a ``stored`` catalog row with its sha256 and md5).
In the same run, interleaved and repeated, each contender reads it:

* ``capture verify --full`` (the CLI as a user runs it; sha256 only: no publisher digest),
* ``capture verify --full`` with the publisher's md5 recorded (sha256 + md5 in one pass),
* ``sha256sum FILE``,
* ``capture verify --full --rate R`` (only in the warm pass): the rate limit holds.

Both *cold* (the file's pages dropped with ``posix_fadvise(DONTNEED)`` before each run: read
from the disk; the page cache cannot be dropped globally without root) and *warm* (the file
read once before each run: hashing speed). MB/s are 10^6 bytes per second of the contender's
wall time, process start included; capture's own in-process MB/s (``mb_per_s`` of its report)
is given too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update

from bench.machine import machine_info
from capture.catalog import Catalog
from capture.catalog.schema import file_versions, files

REPO = Path(__file__).resolve().parents[1]
REL = "genomics/bench/vol1/big.bin"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("verify", help="capture verify throughput vs sha256sum")
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--rate-mb", type=float, default=200.0, help="the rate-limited contender")
    p.add_argument("--workdir", type=Path)
    p.add_argument("--out", type=Path)


def write_corpus(root: Path, size: int) -> tuple[str, str]:
    path = root / REL
    path.parent.mkdir(parents=True)
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(8 << 20, left))
            sha.update(chunk)
            md5.update(chunk)
            f.write(chunk)
            left -= len(chunk)
        f.flush()
        os.fsync(f.fileno())
    return sha.hexdigest(), md5.hexdigest()


def catalog_row(root: Path, size: int, sha: str, md5: str) -> Catalog:
    catalog = Catalog(f"sqlite:///{root / 'catalog.sqlite'}")
    with catalog.engine.begin() as conn:
        fid = conn.execute(
            insert(files).values(
                archive="bench",
                archive_path="vol1/big.bin",
                domain="genomics",
                url="http://bench.invalid/vol1/big.bin",
                path=REL,
                state="stored",
                size=size,
                sha256=sha,
                digest_algorithm="md5",
                digest_actual=md5,
                item={},
            )
        ).inserted_primary_key[0]
        conn.execute(
            insert(file_versions).values(
                file_id=fid, version=1, sha256=sha, size=size, stored_at=REL
            )
        )
    return catalog


def set_publisher(catalog: Catalog, md5: str | None) -> None:
    with catalog.engine.begin() as conn:
        conn.execute(
            update(files).values(digest_algorithm="md5" if md5 else None, digest_actual=md5)
        )


def drop_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def warm_cache(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(8 << 20):
            pass


def timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    clock = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    return time.perf_counter() - clock, proc


def main(args: argparse.Namespace) -> int:
    size = args.size_mib << 20
    base = Path(tempfile.mkdtemp(prefix="bench-verify-", dir=args.workdir))
    try:
        root = base / "data"
        sha, md5 = write_corpus(root, size)
        catalog = catalog_row(root, size, sha, md5)
        path = root / REL
        verify = [sys.executable, "-m", "capture", "verify", "--full", "--json", "--data-dir",
                  str(root), "--no-extras"]  # fmt: skip
        contenders: dict[str, tuple[list[str], str | None]] = {
            "capture verify (sha256)": (verify, None),
            "capture verify (sha256+md5)": (verify, md5),
            "sha256sum": (["sha256sum", str(path)], None),
        }
        samples: dict[str, list[dict[str, float]]] = {}
        for rep in range(args.repeat):
            for mode in ("cold", "warm"):
                names = list(contenders)
                if mode == "warm":
                    names.append("capture verify --rate")
                names = names[rep % len(names) :] + names[: rep % len(names)]
                for name in names:
                    cmd, publisher = contenders.get(name, (verify, None))
                    if name == "capture verify --rate":
                        cmd = [*verify, "--rate", str(args.rate_mb)]
                    set_publisher(catalog, publisher)
                    (drop_cache if mode == "cold" else warm_cache)(path)
                    wall, proc = timed(cmd)
                    sample = check(name, proc, sha, size)
                    sample["wall_s"] = wall
                    sample["mb_s"] = size / 1e6 / wall
                    samples.setdefault(f"{mode}: {name}", []).append(sample)
        catalog.close()
        results = summarise(samples, args, size)
        results["machine"] = machine_info(base, REPO)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    out = args.out or REPO / "bench" / "results" / f"verify-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    for line in results["table"]:
        print(line)
    print(f"results: {out}")
    return 0


def check(
    name: str, proc: subprocess.CompletedProcess[str], sha: str, size: int
) -> dict[str, float]:
    """Each run must have read the whole file and found it intact."""
    if name.startswith("sha256sum"):
        if proc.returncode != 0 or not proc.stdout.startswith(sha):
            raise SystemExit(f"sha256sum failed: {proc.stdout} {proc.stderr}")
        return {}
    report = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or report.get("counts") != {"ok": 1} or report.get("bytes") != size:
        raise SystemExit(f"{name} failed ({proc.returncode}): {proc.stdout} {proc.stderr}")
    return {"inner_mb_s": float(report["mb_per_s"])}


def summarise(
    samples: dict[str, list[dict[str, float]]], args: argparse.Namespace, size: int
) -> dict[str, Any]:
    rows = {}
    table = [f"{'contender':38} {'median wall s':>13} {'MB/s (wall)':>11} {'MB/s (inner)':>12}"]
    for name, runs in samples.items():
        wall = statistics.median(r["wall_s"] for r in runs)
        inner = [r["inner_mb_s"] for r in runs if "inner_mb_s" in r]
        rows[name] = {
            "wall_s": [round(r["wall_s"], 3) for r in runs],
            "median_wall_s": round(wall, 3),
            "mb_s": round(size / 1e6 / wall, 1),
            "inner_mb_s": round(statistics.median(inner), 1) if inner else None,
        }
        inner_text = f"{rows[name]['inner_mb_s']:.1f}" if inner else "-"
        table.append(f"{name:38} {wall:13.2f} {rows[name]['mb_s']:11.1f} {inner_text:>12}")
    return {
        "scenario": "verify",
        "size_bytes": size,
        "repeat": args.repeat,
        "rate_mb": args.rate_mb,
        "results": rows,
        "table": table,
    }
