"""A setting that cannot work stops a crawl before it starts: one line, exit 2, nothing
written (the process boundary is the point: what a user sees)."""

from __future__ import annotations

from pathlib import Path

import pytest

from capture.outcomes import EXIT_USAGE
from tests.crawl import capture_cli


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("CAPTURE_STORE=gs://bucket/prefix", "CAPTURE_STORE='gs://bucket/prefix': unknown scheme"),
        ('CAPTURE_MONITORS={"stal": false}', "CAPTURE_MONITORS: unknown monitor(s) ['stal']"),
    ],
)
def test_bad_setting_is_one_line_and_exit_2(tmp_path: Path, setting: str, message: str) -> None:
    data = tmp_path / "data"
    proc = capture_cli(
        "crawl",
        "thousand_genomes",
        "-a",
        "base_url=http://127.0.0.1:9",
        "-s",
        setting,
        "-s",
        f"CAPTURE_DATA_DIR={data}",
        cwd=tmp_path,
    )
    assert proc.returncode == EXIT_USAGE, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"error: {lines[0].removeprefix('error: ')}"] and message in lines[0]
    assert not data.exists()  # no catalog, no data root: nothing started
