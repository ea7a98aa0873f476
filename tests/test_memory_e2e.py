"""Peak RSS of a crawl must not grow with the size of the file it streams."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.archives import Blob
from tests.archives.thousand_genomes import ThousandGenomesArchive
from tests.crawl import REPO, crawl_command, read_jsonl

MB = 1024 * 1024
PEAK_RSS = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=False, "
    "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)

pytestmark = pytest.mark.slow


def peak_rss_mb(cmd: list[str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *cmd],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env=os.environ.copy(),
        timeout=300,
    )
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def capture_peak(tg: ThousandGenomesArchive, tmp: Path, name: str, size: int) -> float:
    blob = Blob(name, size)
    tg.add_file(f"ftp/mem/{name}.bin", blob)
    base = tg.publish()
    out = tmp / f"{name}.jsonl"
    cmd = crawl_command(
        "thousand_genomes",
        tmp / f"data-{name}",
        out,
        args={"base_url": base, "prefix": f"ftp/mem/{name}.bin"},
    )
    rss = peak_rss_mb(cmd)
    (item,) = read_jsonl(out)
    assert item["status"] == "stored" and item["sha256"] == blob.sha256
    return rss


def test_peak_rss_does_not_grow_with_file_size(tg: ThousandGenomesArchive, tmp_path: Path) -> None:
    small = capture_peak(tg, tmp_path, "small", 16 * MB)
    large = capture_peak(tg, tmp_path, "large", 400 * MB)
    # Stock Scrapy would hold the whole 400 MB body (~+400 MB RSS); we allow a few buffers.
    assert large - small < 40, (small, large)
    assert large < 200, large
