"""``capture run``: a round across domains in one process (real crawls against emulators):
dry run, budgets with priorities, SIGKILL + --resume, config validation, reports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.archives import ArchiveServer, Blob
from tests.archives.iris_emc import EmcArchive
from tests.archives.kurucz import KuruczArchive, model_atmospheres
from tests.archives.thousand_genomes import ThousandGenomesArchive
from tests.crawl import catalog_rows, run_capture, wait_for

MB = 1024 * 1024
pytestmark = pytest.mark.slow


@dataclass
class Round:
    server: ArchiveServer
    genomics: dict[str, Blob]
    kurucz: dict[str, Blob]
    emc: dict[str, bytes]

    def spider_args(self) -> dict[str, dict[str, str]]:
        base = self.server.base_url
        return {
            "thousand_genomes": {"base_url": base, "prefix": "ftp/r/"},
            "kurucz": {"base_url": base},
            "iris_emc": {"base_url": base},
        }


@pytest.fixture
def round_(tmp_path: Path) -> Iterator[Round]:
    with ArchiveServer() as server:
        tg = ThousandGenomesArchive(server)
        genomics = {f"ftp/r/g{i}.bin": Blob(f"g{i}", 1 * MB) for i in range(6)}
        for path, blob in genomics.items():
            tg.add_file(path, blob)
        tg.publish()
        kz = KuruczArchive(server)
        kurucz = {
            f"gridP00/ap00k{i}.dat": kz.add(
                f"gridP00/ap00k{i}.dat", model_atmospheres([5000 + 250 * i], 4.5)
            )
            for i in range(3)
        }
        kz.publish()
        emc = EmcArchive(server, tmp_path)
        models = {}
        for name in ("M1.nc", "M2.nc"):
            data = emc.model(name)
            emc.earthscope.add(name, Blob.of(data))
            models[name] = data
        yield Round(server, genomics, kurucz, models)


def base_config(r: Round, data: Path, **extra: Any) -> dict[str, Any]:
    return {
        "base_path": str(data),
        "enable_real_data_sources": False,
        "enable_quality_validation": False,
        "spider_args": r.spider_args(),
        **extra,
    }


def file_requests(r: Round) -> list[Any]:
    paths = (
        {f"/vol1/{p}" for p in r.genomics}
        | {f"/grids/{p}" for p in r.kurucz}
        | {f"/archive/seismology/products/emc/netcdf/{n}" for n in r.emc}
    )
    return [e for e in r.server.log if e.path in paths and e.method == "GET"]


def test_dry_run_over_three_domains_downloads_nothing(round_: Round, tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = run_capture(
        ["--domains", "genomics", "astrophysics", "planetary_interior", "--dry-run"],
        tmp_path,
        base_config(round_, data),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    brief = json.loads(proc.stdout)
    domains = brief["domains"]
    assert {k: domains["genomics"][k] for k in ("files", "bytes")} == {"files": 6, "bytes": 6 * MB}
    assert domains["astrophysics"]["files"] == 3
    assert domains["planetary_interior"]["files"] == 2
    assert brief["planned"]["files"] == 11
    # Listing sizes where the listing gives exact ones (current.tree); the Kurucz and EMC
    # listings give none (or rounded ones), so a HEAD request's Content-Length sizes them.
    head_sized = sum(b.size for b in round_.kurucz.values()) + sum(map(len, round_.emc.values()))
    assert brief["planned"]["bytes"] == 6 * MB + head_sized
    assert brief["planned"]["unknown_size"] == 0
    assert file_requests(round_) == []  # no body downloaded
    heads = [e for e in round_.server.log if e.method == "HEAD"]
    assert len(heads) == 5
    states = {
        r["state"]
        for r in catalog_rows(data, "select state from files where domain != 'software_ops'")
    }
    assert states == {"planned"}
    summary = json.loads(Path(brief["report"]["json"]).read_text())
    assert summary["options"]["dry_run"] is True and summary["status"] == "finished"
    plan = summary["plan"]
    assert plan["domains"]["genomics"]["archives"]["thousand_genomes"]["bytes"] == 6 * MB
    assert plan["domains"]["astrophysics"]["archives"]["kurucz"]["unknown_size"] == 0
    assert "fits the budget of 1.0 TiB" in brief["planned"]["verdict"]  # the default budget
    # The same plan against a 3 MB budget: the round would stop in genomics.
    small = run_capture(
        ["--domains", "genomics", "astrophysics", "--dry-run", "--max-download-gb", "0.003"],
        tmp_path,
        base_config(round_, tmp_path / "data2"),
    )
    assert small.returncode == 0, small.stderr[-3000:]
    verdict = json.loads(small.stdout)["planned"]["verdict"]
    assert verdict.endswith("budget 3.1 MiB: the round would stop in genomics"), verdict


def test_budget_stops_the_run_with_high_priority_domains_first(
    round_: Round, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    kurucz_bytes = sum(b.size for b in round_.kurucz.values())
    budget_gb = (kurucz_bytes + 2.5 * MB) / 1024**3  # astrophysics fits, genomics only partly
    proc = run_capture(
        [
            "--domains",
            "genomics",
            "astrophysics",
            "--max-download-gb",
            f"{budget_gb:.9f}",
            "--max-concurrent-domains",
            "1",
        ],
        tmp_path,
        base_config(round_, data),
    )
    # A budget stop is a partial round (exit 3), never "finished".
    assert proc.returncode == 3, proc.stderr[-3000:]
    brief = json.loads(proc.stdout)
    assert brief["status"] == "partial" and "budget exhausted" in brief["reason"]
    genomics = brief["domains"]["genomics"]["archives"]["thousand_genomes"]
    assert genomics["outcome"] == "partial" and "budget exhausted" in genomics["why"]
    rows = catalog_rows(data, "select archive, state from files where domain != 'software_ops'")
    stored = [r["archive"] for r in rows if r["state"] == "stored"]
    assert stored.count("kurucz") == 3  # the higher-priority domain ran first, completely
    assert stored.count("thousand_genomes") == 2  # then the budget ran out
    remaining = [r for r in rows if r["archive"] == "thousand_genomes" and r["state"] != "stored"]
    assert len(remaining) == 4 and {r["state"] for r in remaining} == {"discovered"}
    got = sum(e.bytes_sent for e in file_requests(round_))
    assert got <= budget_gb * 1024**3  # never downloaded past the budget
    summary = json.loads(Path(brief["report"]["json"]).read_text())
    assert summary["budget"]["exhausted"] and summary["alerts"]


def test_sigkill_and_resume_completes_every_file_once(round_: Round, tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = base_config(round_, data, domains=["genomics"])
    round_.server.bandwidth = 1 * MB
    path = tmp_path / "config-resume.json"
    path.write_text(json.dumps(config))
    env = {**os.environ, "CAPTURE_BACKOFF_TIME_SCALE": "0"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "capture",
            "run",
            "--config",
            str(path),
            "--run-id",
            "round1_killed",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def stored() -> int:
        try:
            return len(
                catalog_rows(
                    data, "select id from files where state='stored' and archive='thousand_genomes'"
                )
            )
        except Exception:  # the run has not created its catalog yet
            return 0

    assert wait_for(lambda: stored() >= 2, 180)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    done_before = {
        r["archive_path"]
        for r in catalog_rows(data, "select archive_path from files where state='stored'")
    }
    assert 2 <= len(done_before) < 6
    round_.server.bandwidth = None
    resumed = run_capture(["--resume", "round1_killed", "--data-dir", str(data)], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout)["status"] == "finished"
    rows = catalog_rows(
        data, "select archive_path, state, sha256 from files where archive='thousand_genomes'"
    )
    assert len(rows) == 6 and {r["state"] for r in rows} == {"stored"}
    for row in rows:
        assert row["sha256"] == round_.genomics[row["archive_path"][5:]].sha256
    # Files stored before the kill were not downloaded again.
    for archive_path in done_before:
        gets = [e for e in file_requests(round_) if e.path == f"/{archive_path}"]
        assert len(gets) == 1, archive_path
    state = json.loads((data / "checkpoints" / "round1_killed" / "run.json").read_text())
    assert state["resumes"] == 1 and state["status"] == "finished"


@pytest.mark.parametrize(
    "config,key",
    [
        ({"max_storage_gb": 10}, "max_storage_gb"),
        ({"max_storage_tb": "ten"}, "max_storage_tb"),
        ({"priority_domains": ["astronomy", "astrology"]}, "priority_domains.1"),
        ({"quality_threshold": 1.5}, "quality_threshold"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, config: dict, key: str) -> None:
    proc = run_capture(["--dry-run"], tmp_path, config)
    assert proc.returncode == 2
    assert key in proc.stderr and "capture: error:" in proc.stderr


def test_bad_spider_argument_in_config_is_one_line_and_nothing_runs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = {"priority_domains": ["genomics"], "spider_args": {"kegg": {"max_entries": "abc"}}}
    proc = run_capture(["--data-dir", str(data)], tmp_path, config)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "capture: error: kegg: max_entries must be a positive integer, got 'abc'"
    )
    assert not (data / "checkpoints").exists()


def test_priority_domains_selects_and_orders_the_domains(round_: Round, tmp_path: Path) -> None:
    """The mission's config: priority_domains is the list of domains to run, in order."""
    config = base_config(round_, tmp_path / "data", priority_domains=["genomics", "astrophysics"])
    proc = run_capture(["--dry-run"], tmp_path, config)
    assert proc.returncode == 0, proc.stderr[-3000:]
    brief = json.loads(proc.stdout)
    assert list(brief["domains"]) == ["genomics", "astrophysics"]
    # --domains overrides it (and is run in the priority order it gives).
    proc = run_capture(["--dry-run", "--domains", "planetary_interior"], tmp_path, config)
    assert list(json.loads(proc.stdout)["domains"]) == ["planetary_interior"]


def test_config_that_is_not_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{ nope")
    proc = subprocess.run(
        [sys.executable, "-m", "capture", "run", "--config", str(bad)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "not valid JSON (line 1" in proc.stderr


def test_run_report_renders_with_real_plots(round_: Round, tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = run_capture(
        ["--domains", "astrophysics", "planetary_interior"],
        tmp_path,
        base_config(round_, data, enable_quality_validation=True),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    brief = json.loads(proc.stdout)
    html_path = Path(brief["report"]["html"])
    assert html_path.parent == data / "reports"
    for sub in (
        "acquisition_logs",
        "performance_metrics",
        "quality_reports",
        "feeds",
        "software_ops",
    ):
        assert (data / sub).is_dir(), sub
    assert (data / "first_round_data_capture.log").stat().st_size > 0
    feeds = list((data / "feeds").rglob("*.jsonl"))
    assert {f.stem for f in feeds} == {"kurucz", "iris_emc", "phoenix"} - {"phoenix"}
    status = subprocess.run(
        [sys.executable, "-m", "capture", "status", "--json", "--data-dir", str(data)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    totals = json.loads(status.stdout)["totals"]
    assert totals.get("stored", 0) >= 5
    images = _rendered_images(html_path)
    assert {i["id"] for i in images} >= {"bytes-per-domain", "quality-distribution", "throughput"}
    assert all(i["width"] > 100 and i["height"] > 100 for i in images)


def _rendered_images(html_path: Path) -> list[dict[str, Any]]:
    """Load the page in headless Chromium and read every image's decoded size; without a
    browser, decode the embedded PNGs instead."""
    from capture.transfer.playwright import chromium_path

    path = chromium_path()
    if path:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(html_path.as_uri())
            images = page.evaluate(
                "Array.from(document.images).map(i => ({id: i.id, "
                "width: i.naturalWidth, height: i.naturalHeight}))"
            )
            browser.close()
            return images
    import base64
    import re
    import struct

    out = []
    for img_id, b64 in re.findall(
        r'<img id="([^"]+)"[^>]*src="data:image/png;base64,([^"]+)"', html_path.read_text()
    ):
        png = base64.b64decode(b64)
        width, height = struct.unpack(">II", png[16:24])
        out.append({"id": img_id, "width": width, "height": height})
    return out
