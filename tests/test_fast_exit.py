"""``scrapy crawl`` leaves without interpreter teardown (capture/procexit.py): what it wrote
must still be whole: a feed on standard output, the log file, the catalog, and the exit code
of a partial crawl."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.archives import Blob
from tests.archives.thousand_genomes import WHOLE_TREE, ThousandGenomesArchive
from tests.crawl import REPO


@pytest.mark.parametrize("fast", [True, False])
def test_stdout_feed_log_and_catalog_are_whole_at_exit(
    tg: ThousandGenomesArchive, tmp_path: Path, fast: bool
) -> None:
    for i in range(40):
        tg.add_file(f"ftp/x/f{i:02d}.bin", Blob(f"fx{i}", 3000 + i))
    tg.add_file("ftp/x/missing.bin", Blob("gone", 100), served=False)  # 404: a partial crawl
    data, log = tmp_path / "data", tmp_path / "crawl.log"
    cmd = [
        sys.executable, "-m", "scrapy", "crawl", "thousand_genomes",
        "-a", f"base_url={tg.publish()}", "-a", f"prefix={WHOLE_TREE['prefix']}",
        "-s", f"CAPTURE_DATA_DIR={data}", "-s", f"LOG_FILE={log}", "-s", "LOG_LEVEL=INFO",
        "-s", f"CAPTURE_FAST_EXIT={fast}", "-O", "-:jsonlines",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, timeout=180)
    assert proc.returncode == 3, proc.stderr[-2000:]  # partial: one file failed
    items = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(items) == 41
    assert sorted(i["status"] for i in items).count("stored") == 40
    assert "Spider closed (finished)" in log.read_text()  # the log's last lines were flushed
    with sqlite3.connect(data / "catalog.sqlite") as db:
        states = dict(db.execute("SELECT state, count(*) FROM files GROUP BY state").fetchall())
    assert states.get("stored") == 40 and sum(states.values()) == 41
