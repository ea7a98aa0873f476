"""End-to-end crawls of the 1000 Genomes spider against the emulator (real sockets, real
``scrapy crawl`` processes)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.archives import Blob
from tests.archives.samples import sample_path
from tests.archives.thousand_genomes import WHOLE_TREE, ThousandGenomesArchive
from tests.crawl import catalog_rows, last_run_stats, run_crawl, sha256_of


def test_multi_file_capture_verifies_md5(tg: ThousandGenomesArchive, data_dir: Path) -> None:
    blobs = {f"ftp/data/file{i}.bin": Blob(f"f{i}", 10_000 * (i + 1)) for i in range(5)}
    for path, blob in blobs.items():
        tg.add_file(path, blob)
    tg.add_directory("ftp/data")
    result = run_crawl("thousand_genomes", data_dir, args={"base_url": tg.publish(), **WHOLE_TREE})
    assert result.returncode == 0, result.log[-2000:]
    items = result.by_path()
    assert set(items) == {f"vol1/{p}" for p in blobs}
    for path, blob in blobs.items():
        item = items[f"vol1/{path}"]
        assert item["status"] == "stored"
        assert item["checksum"] == {
            "algorithm": "md5",
            "expected": blob.md5,
            "actual": blob.md5,
            "source": "vol1/ftp/current.tree",
            "verified": True,
        }
        assert item["sha256"] == blob.sha256 and item["size"] == blob.size
        assert item["path"] == f"genomics/thousand_genomes/vol1/{path}"
        assert item["domain"] == "genomics" and item["archive"] == "thousand_genomes"
        assert item["http"]["etag"] == blob.etag and item["run_id"]
        stored = data_dir / item["path"]
        assert sha256_of(stored) == blob.sha256
    rows = catalog_rows(data_dir)
    assert len(rows) == 5 and {r["state"] for r in rows} == {"stored"}
    assert not list((data_dir / ".partial").rglob("*.part"))


def test_wrong_md5_is_quarantined_after_one_retransfer(
    tg: ThousandGenomesArchive, data_dir: Path
) -> None:
    good, bad = Blob("good", 4096), Blob("bad", 8192)
    tg.add_file("ftp/good.txt", good)
    tg.add_file("ftp/bad.txt", bad, md5="0" * 32)
    result = run_crawl("thousand_genomes", data_dir, args={"base_url": tg.publish(), **WHOLE_TREE})
    items = result.by_path()
    assert items["vol1/ftp/good.txt"]["status"] == "stored"
    item = items["vol1/ftp/bad.txt"]
    assert item["status"] == "quarantined"
    assert item["checksum"]["verified"] is False and item["checksum"]["actual"] == bad.md5
    assert "md5 mismatch" in item["error"]
    # One whole re-transfer, then quarantine; never published under the data tree.
    assert len(tg.server.requests_for("/vol1/ftp/bad.txt", "GET")) == 2
    assert not (data_dir / item["path"]).exists()
    q = data_dir / "quarantine" / item["path"]
    assert q.exists() and sha256_of(q) == bad.sha256
    assert "md5 mismatch" in (q.parent / (q.name + ".reason.json")).read_text()
    (row,) = catalog_rows(data_dir, "select * from files where archive_path=?", "vol1/ftp/bad.txt")
    assert row["state"] == "quarantined" and row["verified"] == 0


def test_hostile_listing_entries_write_nothing_outside_data_root(
    tg: ThousandGenomesArchive, tmp_path: Path, data_dir: Path
) -> None:
    tg.add_file("ftp/ok.txt", Blob("ok", 100))
    evil = Blob("evil", 10)
    for hostile in (
        "ftp/../../../etc/x",
        "ftp/%2e%2e/%2e%2e/%2e%2e/x",
        "ftp/a/\uff0e\uff0e/b",
        "ftp/..\\..\\x",
    ):
        tg.raw_lines.append(f"{hostile}\tfile\t10\t2020-01-01 00:00:00\t{evil.md5}\t")
        tg.server.add("/vol1/" + hostile, evil)
    before = set(tmp_path.parent.iterdir())
    result = run_crawl("thousand_genomes", data_dir, args={"base_url": tg.publish(), **WHOLE_TREE})
    assert result.returncode == 0
    assert result.statuses() == {"vol1/ftp/ok.txt": "stored"}
    assert result.stats.get("capture/dropped/unsafe_path") == 4
    assert "refused listing entry" in result.log and "unsafe path" in result.log
    # Nothing was fetched for the hostile entries, and nothing appeared outside the data root.
    assert all(not e.path.startswith("/vol1/ftp/..") for e in tg.server.log)
    assert set(tmp_path.parent.iterdir()) == before
    outside = [p for p in tmp_path.rglob("*") if data_dir not in p.parents and p != data_dir]
    assert all(p.suffix in (".jsonl", ".log") for p in outside), outside


def test_recrawl_of_unchanged_tree_downloads_nothing(
    tg: ThousandGenomesArchive, data_dir: Path
) -> None:
    for i in range(4):
        tg.add_file(f"ftp/r/f{i}.dat", Blob(f"r{i}", 3000 + i))
    base = tg.publish()
    first = run_crawl("thousand_genomes", data_dir, args={"base_url": base, **WHOLE_TREE})
    assert set(first.statuses().values()) == {"stored"}
    gets_before = [e for e in tg.server.log if e.path.startswith("/vol1/ftp/r/")]
    second = run_crawl("thousand_genomes", data_dir, args={"base_url": base, **WHOLE_TREE})
    assert second.returncode == 0
    assert set(second.statuses().values()) == {"unchanged"}
    gets_after = [e for e in tg.server.log if e.path.startswith("/vol1/ftp/r/")]
    assert gets_after == gets_before  # not a single file request the second time
    rows = catalog_rows(data_dir)
    assert len(rows) == 4 and {r["state"] for r in rows} == {"stored"}
    outcomes = catalog_rows(data_dir, "select run_id, detail from events where kind='outcome'")
    assert len(outcomes) == 8 and len({o["run_id"] for o in outcomes}) == 2
    assert len({(r["archive"], r["archive_path"]) for r in rows}) == 4
    # Unchanged items still describe the stored copy.
    for item in second.items:
        assert item["sha256"] and item["size"] and item["checksum"]["verified"] is True


def test_changed_file_in_listing_is_downloaded_again(
    tg: ThousandGenomesArchive, data_dir: Path
) -> None:
    a, b = Blob("a", 2000), Blob("b", 2000)
    tg.add_file("ftp/a.txt", a)
    tg.add_file("ftp/b.txt", b)
    base = tg.publish()
    run_crawl("thousand_genomes", data_dir, args={"base_url": base, **WHOLE_TREE})
    b.version = 2  # the publisher replaced b.txt; current.tree carries its new md5
    tg.publish()
    second = run_crawl("thousand_genomes", data_dir, args={"base_url": base, **WHOLE_TREE})
    assert second.statuses() == {"vol1/ftp/a.txt": "unchanged", "vol1/ftp/b.txt": "stored"}
    assert sha256_of(data_dir / second.by_path()["vol1/ftp/b.txt"]["path"]) == b.sha256
    assert len(catalog_rows(data_dir)) == 2


def test_prefix_filter_and_real_current_tree_sample(
    tg: ThousandGenomesArchive, data_dir: Path
) -> None:
    """The real current.tree excerpt, with its two real files, served as recorded."""
    sample = sample_path("thousand_genomes", "current.tree.excerpt")
    root = sample.parent
    real = {}
    for line in sample.read_text().splitlines():
        fields = line.rstrip("\t").split("\t")
        local = root / "vol1" / fields[0]
        if fields[0].startswith("ftp/") and local.exists():
            real[fields[0]] = local.read_bytes()
            tg.server.add(f"/vol1/{fields[0]}", Blob.of(local.read_bytes()))
    assert len(real) == 2
    tg.server.add("/vol1/ftp/current.tree", Blob.of(sample.read_bytes()))
    result = run_crawl(
        "thousand_genomes",
        data_dir,
        args={"base_url": tg.server.base_url, "prefix": "ftp/historical_data/former_toplevel/"},
    )
    assert result.returncode == 0
    items = result.by_path()
    assert set(items) == {f"vol1/{p}" for p in real}
    for rel, body in real.items():
        item = items[f"vol1/{rel}"]
        assert item["status"] == "stored" and item["checksum"]["verified"] is True
        assert item["checksum"]["expected"] == hashlib.md5(body).hexdigest()
        assert item["size"] == len(body)
    # The tree's own line points at a server path (/nfs/...): skipped, not followed.
    assert result.stats.get("thousand_genomes/tree/skipped_not_ftp") == 1


@pytest.mark.parametrize("staged", [True, False], ids=["staged", "not-staged"])
def test_per_archive_concurrency_is_enforced(data_dir: Path, staged: bool) -> None:
    """Scrapy 2.19 bursts queued downloads past CONCURRENT_REQUESTS_PER_DOMAIN; capture's own
    transfer limiter keeps the promise made to the archive. Staged, twice as many requests
    pass the limiter and Scrapy's slot, and the lean client's wire gate alone keeps the
    archive at 3 (the listing included)."""
    from tests.archives import ArchiveServer

    with ArchiveServer(latency=0.1) as server:
        archive = ThousandGenomesArchive(server)
        for i in range(30):
            archive.add_file(f"ftp/c/f{i}.txt", Blob(f"c{i}", 2000))
        result = run_crawl(
            "thousand_genomes",
            data_dir,
            args={"base_url": archive.publish(), **WHOLE_TREE},
            settings={
                "CONCURRENT_REQUESTS_PER_DOMAIN": "3",
                "CAPTURE_STAGE_TRANSFERS": str(staged),
            },
        )
        assert set(result.statuses().values()) == {"stored"}
        assert server.peak_active <= 3, server.peak_active
    handed = last_run_stats(data_dir).get("capture/transfer/lean_handovers", 0)
    assert (handed > 0) if staged else (handed == 0), handed


def test_no_arguments_capture_the_mission_scope(tmp_path: Path) -> None:
    """The default scope (release 20130502, alignment/sequence indexes, .bai/.bas/.crai) with
    quality scoring on: every captured file passes; BAM/CRAM bodies and files outside the four
    default prefixes are never requested."""
    from tests.archives import ArchiveServer
    from tests.archives.thousand_genomes import CRAM, PHASE3, default_archive

    with ArchiveServer() as server:
        assert default_archive(server, tmp_path / "work") == {}
        result = run_crawl(
            "thousand_genomes",
            tmp_path / "data",
            args={"base_url": server.base_url},
            settings={"CAPTURE_QUALITY_ENABLED": "True"},
        )
        requested = {e.path for e in server.log}
    assert result.returncode == 0, result.log[-3000:]
    items = result.by_path()
    rel = "vol1/ftp/release/20130502"
    assert set(items) == {
        f"{rel}/integrated_call_samples_v3.20130502.ALL.panel",
        f"{rel}/ALL.chr22.phase3_shapeit2_mvncall_integrated_v5a.20130502.genotypes.vcf.gz",
        f"{rel}/README_phase3_callset_20150220",
        f"vol1/{PHASE3}.bam.bai",
        f"vol1/{PHASE3}.bam.bas",
        f"vol1/{CRAM}.cram.crai",
        f"vol1/{CRAM}.bas",
        "vol1/ftp/data_collections/1000_genomes_project/"
        "1000genomes.low_coverage.GRCh38DH.alignment.index",
        "vol1/ftp/data_collections/1000G_2504_high_coverage/"
        "1000G_2504_high_coverage.sequence.index",
    }
    for item in items.values():
        assert item["status"] == "stored", (item["archive_path"], item.get("error"))
        assert item["checksum"]["verified"] is True
        assert item["quality"]["grade"] in ("accepted", "nasa_grade"), item["quality"]
    assert (
        items[f"{rel}/ALL.chr22.phase3_shapeit2_mvncall_integrated_v5a.20130502.genotypes.vcf.gz"][
            "format"
        ]
        == "vcf.gz"
    )
    assert f"/vol1/{PHASE3}.bam" not in requested and f"/vol1/{CRAM}.cram" not in requested
    assert not any("/technical/" in p or "/historical_data/" in p for p in requested)
    assert result.stats.get("thousand_genomes/tree/skipped_alignments") == 2


def test_declared_parameters() -> None:
    import pytest

    from spiders.params import SpiderArgumentError
    from spiders.thousand_genomes import DEFAULT_PREFIXES, ThousandGenomesSpider

    spider = ThousandGenomesSpider()
    assert spider.prefixes == list(DEFAULT_PREFIXES) and spider.excludes == []
    assert spider.alignments is False
    assert spider.base_url == "https://ftp.1000genomes.ebi.ac.uk"
    spider = ThousandGenomesSpider(
        prefix="ftp/phase3/, ftp/release/", exclude="ftp/phase3/data/", alignments="yes"
    )
    assert spider.prefixes == ["ftp/phase3/", "ftp/release/"]
    assert spider.excludes == ["ftp/phase3/data/"] and spider.alignments is True
    ThousandGenomesSpider.check_args({"prefix": "ftp/"})
    for bad, name in (
        ({"prefix": "vol1/ftp/release/"}, "prefix"),
        ({"exclude": "ftp/../x"}, "exclude"),
        ({"alignments": "maybe"}, "alignments"),
        ({"prefixes": "ftp/"}, "prefixes"),
    ):
        with pytest.raises(SpiderArgumentError) as err:
            ThousandGenomesSpider.check_args(bad)
        message = str(err.value)
        assert message.startswith("thousand_genomes: ") and "\n" not in message
        assert name in message
