"""The project deploys to a real scrapyd (egg from setup.py) and runs scheduled jobs with
``setting=`` overrides and spider arguments against an emulator."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.archives import Blob
from tests.archives.thousand_genomes import ThousandGenomesArchive
from tests.crawl import REPO, catalog_rows, free_port, read_jsonl, wait_for

USER, PASSWORD = "capture", "scrapyd-test-secret"

pytestmark = pytest.mark.skipif(shutil.which("scrapyd") is None, reason="scrapyd not installed")


def call(url: str, data: dict | list | None = None, auth: bool = True) -> dict:
    body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
    req = urllib.request.Request(url, data=body)
    if auth:
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


@pytest.fixture
def scrapyd(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    home = tmp_path / "scrapyd"
    home.mkdir()
    (home / "scrapyd.conf").write_text(f"""[scrapyd]
bind_address = 127.0.0.1
http_port = {port}
username = {USER}
password = {PASSWORD}
eggs_dir = {home / "eggs"}
logs_dir = {home / "logs"}
items_dir = {home / "items"}
dbs_dir = {home / "dbs"}
jobs_dir = {home / "jobs"}
max_proc = 2
poll_interval = 0.5
""")
    proc = subprocess.Popen(
        [shutil.which("scrapyd") or "scrapyd"],
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"

    def up() -> bool:
        try:
            return call(url + "daemonstatus.json")["status"] == "ok"
        except (OSError, ValueError):
            return False

    try:
        assert wait_for(up, 60, 0.2), "scrapyd did not start"
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_deploy_schedule_with_setting_override(
    scrapyd: str, tg: ThousandGenomesArchive, tmp_path: Path
) -> None:
    for i in range(3):
        tg.add_file(f"ftp/sd/f{i}.txt", Blob.of(f"scrapyd file {i}\n".encode() * 100))
    base = tg.publish()
    # Unauthenticated access is refused.
    with pytest.raises(urllib.error.HTTPError) as err:
        call(scrapyd + "daemonstatus.json", auth=False)
    assert err.value.code == 401
    env = {
        **os.environ,
        "SCRAPYD_URL": scrapyd,
        "SCRAPYD_USERNAME": USER,
        "SCRAPYD_PASSWORD": PASSWORD,
    }
    deploy = subprocess.run(
        [sys.executable, "-m", "scrapyd_client.deploy", "env", "-p", "capture", "--version", "t1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    assert "thousand_genomes" in call(scrapyd + "listspiders.json?project=capture")["spiders"]
    data_dir = tmp_path / "data"
    job = call(
        scrapyd + "schedule.json",
        [
            ("project", "capture"),
            ("spider", "thousand_genomes"),
            ("jobid", "job1"),
            ("setting", f"CAPTURE_DATA_DIR={data_dir}"),
            ("setting", "CONCURRENT_REQUESTS_PER_DOMAIN=1"),
            ("setting", "CAPTURE_BACKOFF_TIME_SCALE=0"),
            ("base_url", base),
            ("prefix", "ftp/sd/"),
        ],
    )
    assert job["status"] == "ok" and job["jobid"] == "job1"

    def finished() -> bool:
        jobs = call(scrapyd + "listjobs.json?project=capture")
        return any(j["id"] == "job1" for j in jobs["finished"])

    assert wait_for(finished, 240, 0.5), call(scrapyd + "listjobs.json?project=capture")
    items_file = next((tmp_path / "scrapyd" / "items").rglob("job1.jl"))
    items = read_jsonl(items_file)
    assert {i["archive_path"] for i in items} == {f"vol1/ftp/sd/f{i}.txt" for i in range(3)}
    assert {i["status"] for i in items} == {"stored"}
    for item in items:
        assert (data_dir / item["path"]).is_file()
    (run,) = catalog_rows(data_dir, "select settings from runs")
    recorded = json.loads(run["settings"])
    assert (
        recorded["CONCURRENT_REQUESTS_PER_DOMAIN"] == 1
        or recorded["CONCURRENT_REQUESTS_PER_DOMAIN"] == "1"
    )
    # scrapyd's jobs_dir gives the job its JOBDIR (resume = re-schedule with the same jobid).
    assert str(recorded["JOBDIR"]).endswith(os.path.join("capture", "thousand_genomes", "job1"))
