"""The quality stage inside a real crawl: worker processes, thresholds, quarantine, catalog."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests import quality_files as qf
from tests.archives import ArchiveServer, Blob
from tests.archives.thousand_genomes import WHOLE_TREE, ThousandGenomesArchive
from tests.crawl import CrawlResult, capture_cli, catalog_rows, run_crawl

FILES = {
    "good_x1d.fits": qf.fits_bytes(),
    "truncated.fits": qf.fits_truncated(),
    "bad_datasum.fits": qf.fits_bad_datasum(),
    "error_page.fits": qf.HTML,
    "gcm.nc": qf.netcdf_bytes("NETCDF4"),
    "cut.nc": qf.netcdf_bytes("NETCDF3_CLASSIC", cut=True),
    "calls.vcf.gz": qf.vcf_gz(),
    "broken.vcf": qf.vcf_text(broken_header=True),
    "segfault.crash": b"boom",
    "forever.hang": b"zzz",
    "notes.txt": b"plain notes\n",
}
SETTINGS = {
    "CAPTURE_QUALITY_ENABLED": "True",
    "CAPTURE_QUALITY_TIME_BUDGET": "4",
    "CAPTURE_QUALITY_HARD_TIMEOUT_FACTOR": "1",
    # Generous grace: worker start-up (imports) happens inside the first files' deadline.
    "CAPTURE_QUALITY_HARD_TIMEOUT_GRACE": "6",
    "CAPTURE_QUALITY_PLUGINS": json.dumps(
        {".crash": "tests.quality_plugins:crash", ".hang": "tests.quality_plugins:hang"}
    ),
}


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrawlResult]:
    with ArchiveServer() as server:
        tg = ThousandGenomesArchive(server)
        for name, data in FILES.items():
            tg.add_file(f"ftp/q/{name}", Blob.of(data))
        data_dir = tmp_path_factory.mktemp("quality") / "data"
        result = run_crawl(
            "thousand_genomes",
            data_dir,
            args={"base_url": tg.publish(), **WHOLE_TREE},
            settings=SETTINGS,
            timeout=300,
        )
        assert result.returncode == 0, result.log[-3000:]
        yield result


def test_quality_stage_grades_quarantines_and_records_every_check(crawl: CrawlResult) -> None:
    result, data_dir = crawl, crawl.data_dir
    items = {Path(k).name: v for k, v in result.by_path().items()}
    assert set(items) == set(FILES)
    for name in ("good_x1d.fits", "gcm.nc", "calls.vcf.gz", "notes.txt"):
        assert items[name]["status"] == "stored", (name, items[name]["quality"])
        assert items[name]["quality"]["grade"] in ("nasa_grade", "accepted")
        assert (data_dir / items[name]["path"]).exists()
    expected_reason = {
        "truncated.fits": "fits.structure",
        "bad_datasum.fits": "fits.checksum",
        "error_page.fits": "container.not_error_page",
        "cut.nc": "netcdf.classic_size",
        "broken.vcf": "vcf.fileformat",
        "segfault.crash": "scorer.process",
        "forever.hang": "scorer.process",
    }
    for name, reason in expected_reason.items():
        item = items[name]
        assert item["status"] == "quarantined", (name, item)
        assert item["quality"]["grade"] == "quarantined" and item["quality"]["score"] == 0.0
        assert any(r.startswith(reason) for r in item["quality"]["reasons"]), item["quality"]
        assert not (data_dir / item["path"]).exists()
        assert (data_dir / "quarantine" / item["path"]).exists()
    assert "crashed" in items["segfault.crash"]["quality"]["reasons"][0]
    assert "did not finish" in items["forever.hang"]["quality"]["reasons"][0]
    # Every check is in the catalog with its tier, weight, outcome, evidence and tool version.
    checks = catalog_rows(
        data_dir,
        "select f.archive_path, q.* from quality_checks q join files f on f.id = q.file_id",
    )
    by_file: dict[str, list[dict]] = {}
    for c in checks:
        by_file.setdefault(Path(c["archive_path"]).name, []).append(c)
    assert set(by_file) == set(FILES)
    datasum = [c for c in by_file["good_x1d.fits"] if c["check_id"] == "fits.datasum"]
    assert datasum and all(
        c["outcome"] == "pass"
        and c["tool"] == "astropy.io.fits"
        and c["tool_version"]
        and c["location"].startswith("HDU")
        for c in datasum
    )
    good = catalog_rows(data_dir, "select quality from files where archive_path like '%good_x1d%'")
    summary = json.loads(good[0]["quality"])
    assert summary["scorer"] == "fits" and summary["grade"] == "nasa_grade"
    contributions = sum(c["contribution"] or 0 for c in by_file["good_x1d.fits"])
    assert abs(contributions - summary["score"]) < 1e-3


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs))


def test_quality_report_json_and_html_with_a_real_plot(crawl: CrawlResult, tmp_path: Path) -> None:
    proc = capture_cli("quality", "report", "--data-dir", str(crawl.data_dir), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    paths = json.loads(proc.stdout)
    report = json.loads(Path(paths["json"]).read_text())
    assert Path(paths["json"]).parent == crawl.data_dir / "quality_reports"
    assert report["summary"]["files"] == len(FILES)
    assert report["summary"]["grades"]["quarantined"] == 7
    assert report["summary"]["failing_checks"]["scorer.process"] == 2
    task = next(t for t in report["tasks"] if t["archive_path"].endswith("good_x1d.fits"))
    assert abs(sum(c["contribution"] for c in task["checks"]) - task["quality"]["score"]) < 1e-3
    parser = _Images()
    parser.feed(Path(paths["html"]).read_text())
    (img,) = [i for i in parser.images if i.get("id") == "score-distribution"]
    png = base64.b64decode(img["src"].split(",", 1)[1])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 2000


def test_rescore_from_disk_quarantines_a_file_that_no_longer_passes(
    crawl: CrawlResult, tmp_path: Path
) -> None:
    good = crawl.data_dir / next(
        i["path"] for i in crawl.items if i["archive_path"].endswith("good_x1d.fits")
    )
    data = bytearray(good.read_bytes())
    data[-1500] ^= 0x55  # bit rot on disk after capture
    good.write_bytes(bytes(data))
    proc = capture_cli("quality", "rescore", "--data-dir", str(crawl.data_dir), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["changed"] == [
        {
            "archive_path": "vol1/ftp/q/good_x1d.fits",
            "from": "nasa_grade",
            "to": "quarantined",
            "score": 0.0,
        }
    ]
    assert not good.exists() and (crawl.data_dir / "quarantine").rglob("good_x1d.fits")
    (row,) = catalog_rows(
        crawl.data_dir, "select * from files where archive_path like '%good_x1d%'"
    )
    assert row["state"] == "quarantined" and "fits.checksum" in row["error"]
    runs = {r["run_id"] for r in catalog_rows(crawl.data_dir, "select run_id from quality_checks")}
    assert out["rescore_run"] in runs and len(runs) == 2
    # Nothing was downloaded to re-score.
    assert sum(1 for _ in (crawl.data_dir / ".partial").rglob("*.part")) == 0
