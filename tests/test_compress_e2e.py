"""Compression at rest end to end: a real ``scrapy crawl`` of the 1000 Genomes emulator with
``CAPTURE_COMPRESS=auto``, then the CLI as a user runs it (``capture cat``, ``capture verify``,
the BagIt export) on what it stored.

The emulator serves the release's real shapes: a BGZF genotype VCF and a gzip ``.crai``
(already compressed: stored as fetched), the panel and the alignment/sequence indexes (text:
compressed), a ``.bai``, a real FITS file of astropy's test data, plus two identical text files
(stored once, the second a hard link to the first's ``.zst``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

import astropy
import pytest

from tests.archives import Blob
from tests.archives.thousand_genomes import (
    GRCH38,
    HIGH_COVERAGE,
    PHASE3,
    REL,
    WHOLE_TREE,
    ThousandGenomesArchive,
    alignment_index,
    bai,
    crai,
    genotypes_vcf,
    panel,
    sequence_index,
)
from tests.crawl import CrawlResult, capture_cli, run_crawl

FITS = Path(astropy.__file__).parent / "io/fits/tests/data/tb.fits"
COMPRESS = {"CAPTURE_COMPRESS": "auto", "CAPTURE_KEEP_VERSIONS": "False"}


INDEX = f"{GRCH38}/1000genomes.low_coverage.GRCh38DH.alignment.index"
TWIN = "ftp/extra/panel_twin.txt"


@pytest.fixture
def crawled(tg: ThousandGenomesArchive, data_dir: Path) -> CrawlResult:
    files = {
        f"{REL}/integrated_call_samples_v3.20130502.ALL.panel": panel(),
        f"{REL}/ALL.chr22.genotypes.vcf.gz": genotypes_vcf(),  # BGZF
        f"{REL}/README_phase3_callset_20150220": b"Phase 3 integrated call set.\n",
        f"{PHASE3}.bam.bai": bai(),
        f"{GRCH38}/HG00096.cram.crai": crai(),  # gzip
        INDEX: alignment_index([("a", "0" * 32, "b", "1" * 32, "c", "2" * 32)] * 40),
        f"{HIGH_COVERAGE}/1000G_2504_high_coverage.sequence.index": sequence_index(),
        "ftp/extra/table.fits": FITS.read_bytes(),  # a real uncompressed FITS binary table
    }
    for d in {p.rsplit("/", 1)[0] for p in files}:
        tg.add_directory(d)
    for path, body in files.items():
        tg.add_file(path, Blob.of(body))
    result = run_crawl(
        "thousand_genomes",
        data_dir,
        args={"base_url": tg.publish(), **WHOLE_TREE},
        settings=COMPRESS,
    )
    assert result.returncode == 0, result.log[-3000:]
    return result


def rows(data_dir: Path) -> dict[str, dict[str, object]]:
    with sqlite3.connect(data_dir / "catalog.sqlite") as conn:
        conn.row_factory = sqlite3.Row
        return {r["archive_path"]: dict(r) for r in conn.execute("select * from files")}


def cli(data_dir: Path, *args: str) -> tuple[int, bytes, str]:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "capture", *args, "--data-dir", str(data_dir)],
        cwd=data_dir.parent,
        capture_output=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout, proc.stderr.decode()


def test_crawl_stores_text_compressed_and_leaves_compressed_formats(crawled: CrawlResult) -> None:
    data_dir = crawled.data_dir
    items = crawled.by_path()
    catalog = rows(data_dir)
    encoded = {p for p, i in items.items() if i.get("stored")}
    as_fetched = {p for p, i in items.items() if i["status"] == "stored" and not i.get("stored")}
    name = {p.rsplit("/", 1)[-1] for p in encoded}
    # Text tables compress; BGZF and gzip bytes are left alone by the trial.
    assert "integrated_call_samples_v3.20130502.ALL.panel" in name
    assert "1000genomes.low_coverage.GRCh38DH.alignment.index" in name
    assert "table.fits" in name
    assert any(p.endswith(".vcf.gz") for p in as_fetched)
    assert any(p.endswith(".crai") for p in as_fetched)
    for path, item in items.items():
        if item["status"] != "stored":
            continue
        row = catalog[path]
        logical = data_dir / item["path"]
        if path in encoded:
            stored = item["stored"]
            assert stored["codec"] == row["codec"] == "zstd"
            assert stored["path"] == item["path"] + ".zst"
            blob = (data_dir / stored["path"]).read_bytes()
            assert not logical.exists(), "the fetched copy is dropped once the .zst is proven"
            # The catalog keeps both: the archive's sha256/size and the stored object's.
            assert hashlib.sha256(blob).hexdigest() == stored["sha256"] == row["stored_sha256"]
            assert len(blob) == stored["size"] == row["stored_size"] < item["size"]
            assert row["sha256"] == item["sha256"] and row["size"] == item["size"]
        else:
            assert row["codec"] is None and row["stored_sha256"] is None
            assert hashlib.sha256(logical.read_bytes()).hexdigest() == item["sha256"]
            assert not Path(str(logical) + ".zst").exists()
    assert not list((data_dir / ".partial").rglob("*.zst"))
    stats = crawled.stats
    assert stats.get("capture/compress/encoded") == len(encoded)
    assert stats.get("capture/compress/left_alone", 0) >= 2


def test_identical_file_is_stored_once_as_a_link(
    crawled: CrawlResult, tg: ThousandGenomesArchive
) -> None:
    tg.add_directory("ftp/extra")
    tg.add_file(TWIN, Blob.of(panel()))
    again = run_crawl(
        "thousand_genomes",
        crawled.data_dir,
        args={"base_url": tg.publish(), **WHOLE_TREE},
        settings=COMPRESS,
        tag="twin",
    )
    assert again.returncode == 0, again.log[-2000:]
    panel_item = crawled.by_path()[f"vol1/{REL}/integrated_call_samples_v3.20130502.ALL.panel"]
    twin = again.by_path()[f"vol1/{TWIN}"]
    assert twin["status"] == "stored" and twin["stored"]["path"].endswith("panel_twin.txt.zst")
    assert twin["stored"]["sha256"] == panel_item["stored"]["sha256"]
    a, b = (crawled.data_dir / i["stored"]["path"] for i in (panel_item, twin))
    assert os.stat(a).st_ino == os.stat(b).st_ino  # one inode: dedup linked the .zst
    code, out, _ = cli(crawled.data_dir, "cat", twin["path"])
    assert code == 0 and hashlib.sha256(out).hexdigest() == twin["sha256"]


def test_cat_round_trips_every_file_byte_for_byte(crawled: CrawlResult) -> None:
    data_dir = crawled.data_dir
    stored = [i for i in crawled.items if i["status"] == "stored"]
    assert len(stored) == 8
    for item in stored:
        code, out, err = cli(data_dir, "cat", item["path"])
        assert code == 0, err
        assert hashlib.sha256(out).hexdigest() == item["sha256"] and len(out) == item["size"]
    encoded = next(i for i in stored if i.get("stored"))
    # By sha256 and by the stored name too.
    for key in (encoded["sha256"], encoded["stored"]["path"]):
        code, out, _ = cli(data_dir, "cat", key)
        assert code == 0 and hashlib.sha256(out).hexdigest() == encoded["sha256"]
    code, _, err = cli(data_dir, "cat", "genomics/thousand_genomes/nothing")
    assert code == 2 and "no stored file" in err


def test_verify_finds_a_flipped_byte_in_a_compressed_file(crawled: CrawlResult) -> None:
    data_dir = crawled.data_dir
    code, out, err = cli(data_dir, "verify", "--full", "--deep", "--json")
    assert code == 0, out.decode() + err
    report = json.loads(out)
    assert report["counts"] == {"ok": report["files"]} and report["files"] == 8
    victim = crawled.by_path()[f"vol1/{INDEX}"]
    where = data_dir / victim["stored"]["path"]
    blob = bytearray(where.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    where.write_bytes(bytes(blob))
    code, out, _ = cli(data_dir, "cat", victim["path"])
    assert code == 4  # never hands out bytes that are not the archive's without saying so
    code, out, err = cli(data_dir, "verify", "--full", "--json")
    assert code == 3, err
    report = json.loads(out)
    assert report["counts"]["corrupt"] == 1
    (problem,) = report["problems"]
    assert problem["location"] == victim["stored"]["path"]
    assert problem["message"] == "sha256 mismatch"
    assert problem["quarantined_at"] == "quarantine/" + victim["stored"]["path"]
    assert not where.exists()
    assert rows(data_dir)[victim["archive_path"]]["state"] == "quarantined"


def test_recrawl_sees_compressed_files_as_unchanged(
    crawled: CrawlResult, tg: ThousandGenomesArchive
) -> None:
    again = run_crawl(
        "thousand_genomes",
        crawled.data_dir,
        args={"base_url": tg.server.base_url, **WHOLE_TREE},
        settings=COMPRESS,
        tag="again",
    )
    assert again.returncode == 0, again.log[-2000:]
    statuses = {i["status"] for i in again.items if i["archive_path"] in crawled.by_path()}
    assert statuses == {"unchanged"}
    for item in again.items:
        before = crawled.by_path()[item["archive_path"]]
        assert item.get("stored") == before.get("stored")


def test_bag_carries_the_original_bytes(crawled: CrawlResult, tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    code = capture_cli(
        "catalog",
        "export",
        "--format",
        "bagit",
        "-o",
        str(bag),
        "--data-dir",
        str(crawled.data_dir),
        cwd=tmp_path,
    )
    assert code.returncode == 0, code.stderr
    import bagit

    assert bagit.Bag(str(bag)).validate()
    for item in crawled.items:
        if item["status"] == "stored":
            payload = bag / "data" / item["path"]
            assert hashlib.sha256(payload.read_bytes()).hexdigest() == item["sha256"]
    assert not list(bag.rglob("*.zst"))
