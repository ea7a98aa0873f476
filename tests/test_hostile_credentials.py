"""Attacks 2 and 3 of issue 13: the MAST token goes only to its exact origin, and only on the
wire: never to another port or scheme of the same host, never into JOBDIR, feeds, catalog or
logs."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from capture.credentials import Origin, origins_for, same_origin
from tests.archives import ArchiveServer, Fault
from tests.archives.hostile.redirect import WEB_PORT, token_collector, web_port_free
from tests.archives.mast import DOWNLOAD, INVOKE, MastArchive
from tests.crawl import run_crawl, start_crawl, wait_for

TOKEN = f"mast-{uuid.uuid4().hex}"


@pytest.mark.parametrize(
    "base,url,sent",
    [
        ("https://mast.stsci.edu", "https://mast.stsci.edu/api/v0.1/Download/file", True),
        ("https://mast.stsci.edu", "https://MAST.stsci.edu.:443/x", True),
        ("https://mast.stsci.edu", "http://mast.stsci.edu/x", False),  # never in clear text
        ("https://mast.stsci.edu", "https://mast.stsci.edu:8443/x", False),
        ("https://mast.stsci.edu", "https://stsci.edu/x", False),
        ("https://mast.stsci.edu", "https://mast.stsci.edu@evil.example/x", False),
        ("http://host", "http://host:8080/x", False),
        ("http://host", "https://host/x", False),
        ("http://host:5000", "http://host:5000/x", True),
        ("http://host:5000", "http://host/x", False),
    ],
)
def test_credentials_go_to_the_exact_origin_only(base: str, url: str, sent: bool) -> None:
    assert same_origin(url, origins_for({"env": "X"}, base)) is sent


def test_declared_origins_replace_the_default() -> None:
    allowed = origins_for({"env": "X", "origins": ["https://a.example:8443"]}, "https://b.example")
    assert allowed == {Origin("https", "a.example", 8443)}


def _kept_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def assert_no_secret_kept(root: Path) -> None:
    """JOBDIR, data root (catalog), feeds and logs: the token is in none of them."""
    files = _kept_files(root)
    assert files
    leaks = [p for p in files if TOKEN.encode() in p.read_bytes()]
    assert not leaks, leaks


behind_web_port = pytest.mark.skipif(
    not web_port_free(), reason=f"cannot listen on 127.0.0.1:{WEB_PORT}"
)


def crawl_token_collector(tmp_path: Path, *, let_through: bool) -> tuple[Any, list, list]:
    """jwst_mast with a token against :func:`token_collector`; (result, origin's download
    requests, every request the collector got). ``let_through``: the host guard admits the
    collector's port, so the credential rule alone is tested."""
    with ArchiveServer(port=WEB_PORT) as origin, ArchiveServer() as collector:
        scene = token_collector(origin, collector)
        extra = {"CAPTURE_EXTRA_ALLOWED_HOSTS": scene.collector_entry()} if let_through else {}
        result = run_crawl(
            "jwst_mast",
            tmp_path / "data",
            args={"base_url": scene.base_url},
            settings=extra,
            env={"MAST_API_TOKEN": TOKEN},
        )
        return result, origin.requests_for(DOWNLOAD), list(collector.log)


@behind_web_port
def test_redirect_to_another_port_of_the_same_host_gets_no_token(tmp_path: Path) -> None:
    result, home, away = crawl_token_collector(tmp_path, let_through=True)
    assert result.returncode == 0, result.log[-3000:]
    assert sorted(result.statuses().values()) == ["stored", "stored"]
    assert [e.path.rsplit("/", 1)[-1] for e in away] == ["jw01366-o001_t001_nirspec_away_x1d.fits"]
    assert all("authorization" not in e.headers for e in away), away
    assert home and all(e.headers.get("authorization") == f"token {TOKEN}" for e in home)
    assert_no_secret_kept(tmp_path)


@behind_web_port
def test_host_guard_refuses_another_port_of_an_archive_host(tmp_path: Path) -> None:
    result, _home, away = crawl_token_collector(tmp_path, let_through=False)
    assert away == []
    statuses = result.statuses()
    assert sorted(statuses.values()) == ["failed", "stored"], result.log[-3000:]
    failed = next(i for i in result.items if i["status"] == "failed")
    assert "not allowed" in failed["error"]
    assert_no_secret_kept(tmp_path)


def test_token_never_reaches_jobdir_after_ctrl_c_during_retries(tmp_path: Path) -> None:
    with ArchiveServer() as server:
        mast = MastArchive(server)
        obs = mast.add_observation("96000002", "jw01366-o002_t001_nirspec_clear-prism")
        mast.add_product(obs, "jw01366-o002_t001_nirspec_x1d.fits", subgroup="X1D")
        mast.install()
        # Every portal call fails for a while: the retries wait in the scheduler (JOBDIR).
        server.fault(INVOKE, Fault("status", times=10**6, status=503, retry_after="2"))
        jobdir = tmp_path / "job"
        proc, _out, log = start_crawl(
            "jwst_mast",
            tmp_path / "data",
            args={"base_url": server.base_url},
            settings={"JOBDIR": str(jobdir), "CAPTURE_BACKOFF_TIME_SCALE": "1"},
            env={"MAST_API_TOKEN": TOKEN},
        )
        try:
            assert wait_for(lambda: len(server.requests_for(INVOKE)) >= 5, timeout=60)
            sent = server.requests_for(INVOKE)
            # The token did go on the wire, to the origin...
            assert all(e.headers.get("authorization") == f"token {TOKEN}" for e in sent)
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
            assert time.monotonic() - started < 10
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        # ... and is nowhere on disk: pickled request queues, run state, catalog, feed, log.
        assert any(p.name.startswith("p") or "queue" in str(p) for p in _kept_files(jobdir))
        assert log.exists()
        assert_no_secret_kept(tmp_path)
