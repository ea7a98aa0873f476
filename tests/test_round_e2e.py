"""The first round as a user runs it: ``capture run`` with no flags but ``--data-dir`` and a
mirror map, every archive on its own emulator (real HTTP servers), every domain; an archive
that is down; a round where every download fails; a dry run against an unreachable archive.
Exit codes and reports must tell the truth (capture.outcomes)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from capture.domains import ORDER
from capture.outcomes import EXIT_FAILED, EXIT_PARTIAL
from tests.archives import ArchiveServer, Blob
from tests.archives.server import Fault, Reply, Request
from tests.archives.thousand_genomes import ThousandGenomesArchive
from tests.crawl import DeadPort, catalog_rows
from tests.crawl import run_capture as capture
from tests.test_spiders import EMULATORS

pytestmark = pytest.mark.slow


def start_archive(stack: ExitStack, name: str, work: Path, port: int = 0) -> ArchiveServer:
    server = stack.enter_context(ArchiveServer(port=port))
    importlib.import_module(EMULATORS[name]).default_archive(server, work / name)
    return server


@pytest.fixture
def archives(tmp_path: Path) -> Iterator[dict[str, ArchiveServer]]:
    with ExitStack() as stack:
        yield {name: start_archive(stack, name, tmp_path / "work") for name in EMULATORS}


def mirrors(servers: dict[str, str]) -> dict[str, Any]:
    return {"mirrors": servers}


def file_gets(server: ArchiveServer) -> list[str]:
    return [e.path for e in server.log if e.method == "GET" and e.status in (200, 206)]


def test_default_round_over_all_emulators_completes_every_domain(
    archives: dict[str, ArchiveServer], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    urls = {name: s.base_url for name, s in archives.items()}
    proc = capture(["--data-dir", str(data)], tmp_path, mirrors(urls))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    brief = json.loads(proc.stdout)
    assert brief["status"] == "finished" and brief["exit_code"] == 0
    assert list(brief["domains"]) == list(ORDER)  # all nine, in the mission's order
    for domain, info in brief["domains"].items():
        assert info["outcome"] == "completed", (domain, info)
    assert brief["domains"]["climate_science"]["archives"]["exocubed"]["outcome"] == "skipped"
    summary = json.loads(Path(brief["report"]["json"]).read_text())
    assert summary["options"]["max_download_gb"] == 1024.0  # the mission's 1 TB default
    assert summary["alerts"] == [] and summary["failures"]["total"] == 0
    stored = catalog_rows(
        data, "select archive, count(*) n from files where state='stored' group by archive"
    )
    by_archive = {r["archive"]: r["n"] for r in stored}
    for name in EMULATORS:
        if name != "exocubed":
            assert by_archive.get(name, 0) > 0, (name, by_archive)
    assert by_archive.get("capture_ops", 0) > 0  # the software_ops bundle
    html = Path(brief["report"]["html"]).read_text()
    assert "id='archive-outcomes'" in html and ">null<" not in html


def test_an_archive_down_is_unreachable_fast_and_resume_captures_it(
    tmp_path: Path,
) -> None:
    down = "kegg"
    data = tmp_path / "data"
    with ExitStack() as stack:
        dead = stack.enter_context(DeadPort())
        port = dead.port
        servers = {n: start_archive(stack, n, tmp_path / "work") for n in EMULATORS if n != down}
        urls = {n: s.base_url for n, s in servers.items()}
        urls[down] = f"http://127.0.0.1:{port}"  # nothing listens there
        proc = capture(["--data-dir", str(data), "--run-id", "r1"], tmp_path, mirrors(urls))
        assert proc.returncode == EXIT_PARTIAL, proc.stdout[-3000:] + proc.stderr[-3000:]
        brief = json.loads(proc.stdout)
        assert brief["status"] == "partial"
        kegg = brief["domains"]["astrobiology"]["archives"][down]
        assert kegg["outcome"] == "unreachable" and f"127.0.0.1:{port}" in kegg["why"]
        assert any("unreachable" in a and down in a for a in brief["alerts"])
        assert "ALERT [unreachable]" in proc.stderr
        state = json.loads((data / "checkpoints" / "r1" / "run.json").read_text())
        entry = state["spiders"][down]
        took = datetime.fromisoformat(entry["finished_at"]) - datetime.fromisoformat(
            entry["started_at"]
        )
        assert took.total_seconds() < 60
        for domain, info in brief["domains"].items():
            if domain != "astrobiology":
                assert info["outcome"] == "completed", (domain, info)
        first = {n: len(file_gets(s)) for n, s in servers.items()}
        # The archive comes back; the resume captures it and fetches nothing else again.
        dead.release()
        start_archive(stack, down, tmp_path / "work", port=port)
        resumed = capture(["--data-dir", str(data), "--resume", "r1"], tmp_path)
        assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
        after = json.loads(resumed.stdout)
        assert after["status"] == "finished"
        assert after["domains"]["astrobiology"]["archives"][down]["outcome"] == "completed"
        assert {n: len(file_gets(s)) for n, s in servers.items()} == first
    sql = "select count(*) n from files where archive=? and state='stored'"
    stored = catalog_rows(data, sql, down)
    assert stored[0]["n"] > 0


def test_every_download_failing_exits_non_zero_with_an_alert(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with ArchiveServer() as server:
        tg = ThousandGenomesArchive(server)
        for i in range(4):
            path = f"ftp/r/f{i}.txt"
            tg.add_file(path, Blob(f"f{i}", 2048))
            server.fault(f"/vol1/{path}", Fault("status", status=404, times=100))
        tg.publish()
        hooks: list[dict[str, Any]] = []

        def hook(request: Request) -> Reply:
            hooks.append(json.loads(request.body))
            return Reply(b"ok")

        server.add_prefix("/hook", hook)
        proc = capture(
            ["--data-dir", str(data), "--domains", "genomics"],
            tmp_path,
            {
                "mirrors": {"thousand_genomes": server.base_url},
                "spider_args": {"thousand_genomes": {"prefix": "ftp/r/"}},
                "enable_quality_validation": False,
                "notify_webhook": f"{server.base_url}/hook",
            },
        )
    assert proc.returncode == EXIT_FAILED, proc.stdout[-3000:] + proc.stderr[-3000:]
    brief = json.loads(proc.stdout)
    assert brief["status"] == "failed"
    assert brief["domains"]["genomics"]["archives"]["thousand_genomes"]["outcome"] == "failed"
    assert any("success rate 0.0%" in a for a in brief["alerts"]), brief["alerts"]
    assert "ALERT [success_rate]" in proc.stderr  # the terminal
    run_hooks = [h for h in hooks if "alerts" in h]  # the run's own webhook call
    assert len(run_hooks) == 1 and run_hooks[0]["status"] == "failed"
    assert {a["kind"] for a in run_hooks[0]["alerts"]} >= {"success_rate", "failed"}
    assert brief["failures"] == {"thousand_genomes/not_found": 4}
    summary = json.loads(Path(brief["report"]["json"]).read_text())
    group = summary["failures"]["groups"][0]
    assert group["count"] == 4 and "report to the archive" in group["advice"]
    assert all("HTTP 404" in f["message"] for f in group["files"])
    html = Path(brief["report"]["html"]).read_text()
    assert "id='failures'" in html and "not_found" in html
    # No file was scored: no plot pretends otherwise (no fake bar at score 0).
    assert "quality-distribution" not in html and "bytes-per-domain" not in html
    status = subprocess.run(
        [sys.executable, "-m", "capture", "status", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0, status.stderr
    head = status.stdout.splitlines()[0]
    assert "[failed]" in head and "failed 4" in head and "stored" not in head, status.stdout
    assert "ops bundle" in status.stdout  # counted apart


def test_dry_run_against_an_unreachable_archive_says_so(tmp_path: Path) -> None:
    data = tmp_path / "data"
    started = time.monotonic()
    with DeadPort() as dead:
        proc = capture(
            ["--data-dir", str(data), "--domains", "genomics", "--dry-run"],
            tmp_path,
            {"mirrors": {"thousand_genomes": f"http://127.0.0.1:{dead.port}"}},
        )
    assert time.monotonic() - started < 60
    assert proc.returncode == EXIT_FAILED, proc.stdout[-3000:] + proc.stderr[-3000:]
    brief = json.loads(proc.stdout)
    tg = brief["domains"]["genomics"]["archives"]["thousand_genomes"]
    assert tg["outcome"] == "unreachable"
    assert brief["planned"]["files"] == 0
    assert any("[unreachable]" in a for a in brief["alerts"])
