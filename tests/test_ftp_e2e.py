"""FTP through the streaming engine: real ``scrapy crawl`` processes against the pyftpdlib
emulator (tests/archives/ftp.py) over real sockets, passive mode."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.archives import Blob
from tests.archives.ftp import FtpArchive, FtpFault
from tests.archives.thousand_genomes import WHOLE_TREE, ThousandGenomesArchive, default_archive
from tests.crawl import (
    catalog_rows,
    crawl_command,
    kill,
    read_jsonl,
    run_crawl,
    sha256_of,
    start_crawl,
    wait_for,
)
from tests.test_memory_e2e import peak_rss_mb

MB = 1024 * 1024
SETTINGS = {"CAPTURE_CHECKPOINT_BYTES": str(8 * MB), "CAPTURE_WRITE_BUFFER": str(1 * MB)}


@pytest.fixture
def ftp(tmp_path: Path) -> Iterator[FtpArchive]:
    archive = FtpArchive(tmp_path / "ftproot")
    yield archive
    archive.stop()


@pytest.fixture
def ftp_tg(ftp: FtpArchive) -> ThousandGenomesArchive:
    return ThousandGenomesArchive(ftp)  # type: ignore[arg-type]  # same add()/base_url


def part_size(data_dir: Path, rel: str) -> int:
    part = data_dir / ".partial" / "genomics" / "thousand_genomes" / (rel + ".part")
    return part.stat().st_size if part.exists() else 0


def events_of(data_dir: Path, archive_path: str) -> list[str]:
    rows = catalog_rows(
        data_dir,
        "select kind from events e join files f on f.id=e.file_id where f.archive_path=?",
        archive_path,
    )
    return [r["kind"] for r in rows]


def test_thousand_genomes_default_scope_over_ftp(
    ftp: FtpArchive, tmp_path: Path, data_dir: Path
) -> None:
    default_archive(ftp, tmp_path)  # type: ignore[arg-type]
    result = run_crawl("thousand_genomes", data_dir, args={"base_url": ftp.base_url})
    assert result.returncode == 0, result.log[-3000:]
    items = result.by_path()
    assert len(items) == 9, sorted(items)  # the 9 in-scope files of default_archive
    for path, item in items.items():
        assert item["status"] == "stored", (path, item.get("error"))
        assert item["checksum"]["algorithm"] == "md5" and item["checksum"]["verified"] is True
        assert item["url"].startswith(ftp.base_url + "/vol1/ftp/")
        assert item["http"]["last_modified"] == "Tue, 14 Nov 2023 22:13:20 GMT"
        served = ftp.local(path)
        assert sha256_of(data_dir / item["path"]) == sha256_of(served) == item["sha256"]
    assert not any(p.endswith((".bam", ".cram")) for p in items)
    assert {r["state"] for r in catalog_rows(data_dir)} == {"stored"}
    assert {r.path for r in ftp.retrs} == {"vol1/ftp/current.tree", *items}
    assert all(r.rest == 0 and r.completed for r in ftp.retrs)
    assert "PASV" in ftp.commands and "TYPE I" in ftp.commands


@pytest.mark.parametrize("fault", ["drop", "stall"])
def test_dropped_or_stalled_data_connection_resumes_with_rest(
    ftp: FtpArchive, ftp_tg: ThousandGenomesArchive, data_dir: Path, fault: str
) -> None:
    blob = Blob(f"cut-{fault}", 24 * MB)
    ftp_tg.add_file("ftp/cut/file.bin", blob)
    cut = 19 * MB
    ftp.faults["vol1/ftp/cut/file.bin"] = (
        FtpFault(drop_after=cut) if fault == "drop" else FtpFault(stall_after=cut, stall_seconds=6)
    )
    result = run_crawl(
        "thousand_genomes",
        data_dir,
        args={"base_url": ftp_tg.publish(), **WHOLE_TREE},
        settings={**SETTINGS, "CAPTURE_STALL_TIMEOUT": "2"},
    )
    assert result.returncode == 0, result.log[-3000:]
    (item,) = result.items
    assert item["status"] == "stored" and item["checksum"]["verified"] is True
    assert item["sha256"] == blob.sha256 == sha256_of(data_dir / item["path"])
    first, second = ftp.retrs_of("vol1/ftp/cut/file.bin")
    assert not first.completed and first.bytes_sent >= cut  # a stalled server may flush more
    # Resumed from a durable offset: what arrived before the cut (the part is suspended
    # with every byte received: all 19 MiB, or less when the drop loses bytes still in
    # flight on a loaded machine), never past the cut.
    assert 0 < second.rest <= cut and second.completed
    assert second.bytes_sent == blob.size - second.rest < blob.size
    assert item["resumed_from"] == second.rest
    kinds = events_of(data_dir, "vol1/ftp/cut/file.bin")
    assert kinds.count("resume") == 1 and "restart" not in kinds
    assert f"REST {second.rest}" in ftp.commands


@pytest.mark.parametrize("change", ["mdtm", "size"])
def test_changed_file_restarts_from_zero(
    ftp: FtpArchive, ftp_tg: ThousandGenomesArchive, data_dir: Path, change: str
) -> None:
    # current.tree lists the new version; the server still has the old one, drops the first
    # transfer at 20 MiB and only then switches to the new version: same size and a new MDTM,
    # or a new size and the same MDTM. Splicing the old 20 MiB onto the new file would fail
    # the md5 and cost a whole re-transfer; the validators must restart it from 0 instead.
    old = Blob("changing", 32 * MB)
    new = Blob("changed", old.size if change == "mdtm" else old.size + 4096)
    ftp_tg.add_file("ftp/chg/file.bin", new)
    ftp.add("vol1/ftp/chg/file.bin", old)
    mtime = 1_800_000_000.0 if change == "mdtm" else 0.0
    ftp.faults["vol1/ftp/chg/file.bin"] = FtpFault(drop_after=20 * MB, then_replace=(new, mtime))
    result = run_crawl(
        "thousand_genomes",
        data_dir,
        args={"base_url": ftp_tg.publish(), **WHOLE_TREE},
        settings=SETTINGS,
    )
    assert result.returncode == 0, result.log[-3000:]
    (item,) = result.items
    assert item["status"] == "stored" and item["checksum"]["verified"] is True
    assert item["checksum"]["actual"] == new.md5 and item["sha256"] == new.sha256
    assert sha256_of(data_dir / item["path"]) == new.sha256
    first, second = ftp.retrs_of("vol1/ftp/chg/file.bin")  # no third: no md5 re-transfer
    assert first.bytes_sent == 20 * MB and not first.completed
    assert second.rest == 0 and second.completed and second.bytes_sent == new.size
    assert not any(c.startswith("REST") for c in ftp.commands)
    kinds = events_of(data_dir, "vol1/ftp/chg/file.bin")
    assert "restart" in kinds and "resume" in kinds
    assert result.stats.get("capture/transfer/restarted/object_changed") == 1


@pytest.mark.slow
def test_400mb_over_ftp_sigkill_resume_bounded_memory(
    ftp: FtpArchive, ftp_tg: ThousandGenomesArchive, tmp_path: Path, data_dir: Path
) -> None:
    small = Blob("rss-small", 1 * MB)
    ftp_tg.add_file("ftp/small/one.bin", small)
    base = ftp_tg.publish()
    baseline = peak_rss_mb(
        crawl_command(
            "thousand_genomes",
            tmp_path / "data-small",
            tmp_path / "small.jsonl",
            args={"base_url": base, "prefix": "ftp/small/"},
        )
    )
    big = Blob("ftp-huge", 400 * MB)
    ftp_tg.add_file("ftp/big/huge.bin", big)
    base = ftp_tg.publish()
    args = {"base_url": base, "prefix": "ftp/big/"}
    ftp.bandwidth = 40 * MB  # slow enough to kill in the middle
    proc, _, _ = start_crawl("thousand_genomes", data_dir, args=args, settings=SETTINGS)
    assert wait_for(lambda: part_size(data_dir, "vol1/ftp/big/huge.bin") >= 120 * MB, 120)
    kill(proc, signal.SIGKILL)
    killed_at = part_size(data_dir, "vol1/ftp/big/huge.bin")
    assert 0 < killed_at < big.size

    ftp.bandwidth = None
    out = tmp_path / "big.jsonl"
    rss = peak_rss_mb(crawl_command("thousand_genomes", data_dir, out, args, SETTINGS))
    (item,) = read_jsonl(out)
    assert item["status"] == "stored" and item["checksum"]["verified"] is True
    assert item["checksum"]["actual"] == big.md5 and item["sha256"] == big.sha256
    assert sha256_of(data_dir / item["path"]) == big.sha256
    _, second = ftp.retrs_of("vol1/ftp/big/huge.bin")
    assert 0 < second.rest <= killed_at and second.completed
    assert second.bytes_sent == big.size - second.rest < big.size
    assert item["resumed_from"] == second.rest
    # Memory: flat against a 1 MB crawl, and within the 150 MB.
    assert rss <= 150, rss
    assert rss - baseline < 40, (baseline, rss)
    print(f"peak RSS: 1 MB crawl {baseline:.0f} MiB, resumed 400 MB crawl {rss:.0f} MiB")


@pytest.mark.parametrize("mlsd", [True, False], ids=["mlsd", "list"])
def test_listing_spider_walks_an_ftp_tree(tmp_path: Path, data_dir: Path, mlsd: bool) -> None:
    ftp = FtpArchive(tmp_path / "ftproot", mlsd=mlsd)
    try:
        files = {
            "grids/gridp00k2odfnew/fp00k2tnew.dat": Blob("k1", 30_000),
            "grids/gridm05k2odfnew/deep/am05k2.dat": Blob("k2", 12_345),
            "grids/README.txt": Blob.of(b"ATLAS9 grids\n"),
            "grids/name with space.dat": Blob("k3", 100),
        }
        for path, blob in files.items():
            ftp.add(path, blob)
        ftp.add("grids.html", Blob.of(b"<html><body>grids</body></html>\n"))
        ftp.add("elsewhere/not-under-root.dat", Blob("x", 10))
        result = run_crawl(
            "kurucz",
            data_dir,
            args={"base_url": ftp.base_url, "root": "/grids/"},
            settings={"CAPTURE_QUALITY_ENABLED": "False"},
        )
        assert result.returncode == 0, result.log[-3000:]
        items = result.by_path()
        assert set(items) == set(files)
        for path, blob in files.items():
            assert items[path]["status"] == "stored"
            assert items[path]["sha256"] == blob.sha256
            assert items[path]["size"] == blob.size
        dialect = "MLSD" if mlsd else "LIST"
        assert result.stats.get(f"capture/ftp/listing/{dialect}") == 4
        assert any(c.startswith(f"{dialect} ") for c in ftp.commands)
    finally:
        ftp.stop()


def test_ftp_login_from_settings_never_logged(tmp_path: Path, data_dir: Path) -> None:
    password = "s3cret-ftp-pass"
    ftp = FtpArchive(tmp_path / "ftproot", login=("capture", password))
    try:
        tg = ThousandGenomesArchive(ftp)  # type: ignore[arg-type]
        blob = Blob("private", 50_000)
        tg.add_file("ftp/private/data.bin", blob)
        base = tg.publish()
        anonymous = run_crawl(
            "thousand_genomes", tmp_path / "anon", args={"base_url": base, **WHOLE_TREE}
        )
        assert anonymous.returncode == 4, anonymous.log[-2000:]
        assert "530" in anonymous.log
        result = run_crawl(
            "thousand_genomes",
            data_dir,
            args={"base_url": base, **WHOLE_TREE},
            settings={
                "CAPTURE_FTP_USER": "capture",
                "CAPTURE_FTP_PASSWORD_ENV": "TEST_FTP_PASSWORD",
                "LOG_LEVEL": "DEBUG",
            },
            env={"TEST_FTP_PASSWORD": password},
        )
        assert result.returncode == 0, result.log[-3000:]
        (item,) = result.items
        assert item["status"] == "stored" and item["sha256"] == blob.sha256
        assert "USER capture" in ftp.commands
        assert password not in result.log
        for path in data_dir.rglob("*"):
            if path.is_file() and path.stat().st_size < 5 * MB:
                assert password.encode() not in path.read_bytes(), path
    finally:
        ftp.stop()
