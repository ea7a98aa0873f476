"""De-duplication across archives, end to end: two emulators (Kurucz's Apache grid tree and the
1000 Genomes FTP tree) serve the same model-atmosphere bytes; real ``scrapy crawl`` runs store
them once (one inode locally; a server-side copy on moto's S3), the catalog says whose bytes
each copy shares, ``capture storage dedup`` reports the bytes saved, and ``--apply`` links
identical files stored before (or without) de-duplication."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.archives import ArchiveServer, Blob
from tests.archives.kurucz import KuruczArchive, model_atmospheres
from tests.archives.thousand_genomes import WHOLE_TREE, ThousandGenomesArchive
from tests.crawl import capture_cli, catalog_rows, last_run_stats, run_crawl, sha256, sha256_of
from tests.test_s3_e2e import BUCKET, PREFIX, s3, s3_endpoint, store_settings

__all__ = ["s3", "s3_endpoint"]  # fixtures shared with tests/test_s3_e2e.py

#: One ATLAS9 model atmosphere (Teff 5750 K, log g 4.5), mirrored by both archives.
BODY = model_atmospheres([5750, 6000, 6250, 6500], 4.5) * 8
KZ_PATH = "astrophysics/kurucz/grids/gridP00ODFNEW/ap00k2odfnew.dat"
TG_PATH = "genomics/thousand_genomes/vol1/ftp/mirror/ap00k2odfnew.dat"


@dataclass
class Archives:
    kurucz: str
    thousand_genomes: str


@pytest.fixture
def archives(server: ArchiveServer) -> Iterator[Archives]:
    kz = KuruczArchive(server)
    kz.add("gridP00ODFNEW/ap00k2odfnew.dat", BODY)
    kz.add("gridP00ODFNEW/ap00k4odfnew.dat", model_atmospheres([7000], 4.0))  # its own bytes
    with ArchiveServer() as other:
        tg = ThousandGenomesArchive(other)
        tg.add_file("ftp/mirror/ap00k2odfnew.dat", Blob.of(BODY))
        tg.add_file("ftp/mirror/README", Blob.of(b"a mirror of the ATLAS9 grids\n"))
        yield Archives(kz.publish(), tg.publish())


def crawl_both(archives: Archives, data_dir: Path, **settings: str) -> None:
    kz = run_crawl(
        "kurucz",
        data_dir,
        args={"base_url": archives.kurucz, "include": "*.dat"},
        settings=settings,
    )
    assert kz.returncode == 0, kz.log[-3000:]
    tg = run_crawl(
        "thousand_genomes",
        data_dir,
        args={"base_url": archives.thousand_genomes, **WHOLE_TREE},
        settings=settings,
    )
    assert tg.returncode == 0, tg.log[-3000:]
    assert set(tg.statuses().values()) == {"stored"}


def dedup_report(data_dir: Path, *extra: str) -> tuple[int, dict[str, object]]:
    proc = capture_cli(
        "storage", "dedup", "--json", "--data-dir", str(data_dir), *extra, cwd=data_dir
    )
    assert proc.returncode in (0, 3), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def usage(data_dir: Path) -> int:
    """Bytes the data root's published tree occupies on disk, each inode counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for top in ("astrophysics", "genomics"):
        for here, _, names in os.walk(data_dir / top):
            for name in names:
                st = os.lstat(os.path.join(here, name))
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
    return total


def rows_by_path(data_dir: Path) -> dict[str, dict[str, object]]:
    return {r["path"]: r for r in catalog_rows(data_dir, "select * from files")}


def test_two_archives_serving_identical_bytes_store_them_once(
    archives: Archives, data_dir: Path
) -> None:
    crawl_both(archives, data_dir)
    kz, tg = data_dir / KZ_PATH, data_dir / TG_PATH
    assert sha256_of(kz) == sha256_of(tg) == sha256(BODY)
    assert os.stat(kz).st_ino == os.stat(tg).st_ino and os.stat(kz).st_nlink == 2
    rows = rows_by_path(data_dir)
    assert rows[TG_PATH]["copy_of"] == rows[KZ_PATH]["id"]
    assert rows[TG_PATH]["copy_method"] == "hardlink" and rows[KZ_PATH]["copy_of"] is None
    stats = last_run_stats(data_dir)  # the thousand_genomes crawl
    assert stats["capture/dedup/linked"] == 1
    assert stats["capture/dedup/bytes_saved"] == len(BODY)
    code, report = dedup_report(data_dir)
    total = report["total"]
    assert code == 0 and report["duplicate_groups"] == 1
    assert isinstance(total, dict)
    assert (total["copies"], total["saved"], total["cross_copies"], total["twice"]) == (
        1,
        len(BODY),
        1,
        0,
    )
    lines = {a["archive"]: a for a in report["archives"]}  # type: ignore[union-attr]
    assert lines["thousand_genomes"]["saved"] == len(BODY) and lines["kurucz"]["saved"] == 0
    assert lines["kurucz"]["files"] == 2 and lines["thousand_genomes"]["files"] == 2


def test_apply_links_identical_files_stored_twice_and_frees_the_space(
    archives: Archives, data_dir: Path
) -> None:
    crawl_both(archives, data_dir, CAPTURE_DEDUP="False")
    kz, tg = data_dir / KZ_PATH, data_dir / TG_PATH
    assert os.stat(kz).st_ino != os.stat(tg).st_ino  # stored twice
    _, before = dedup_report(data_dir)
    assert before["total"]["twice"] == 1 and before["total"]["saved"] == 0  # type: ignore[index]
    used = usage(data_dir)
    proc = capture_cli("storage", "dedup", "--apply", "--data-dir", str(data_dir), cwd=data_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"HARDLINK   {TG_PATH} -> {KZ_PATH}" in proc.stdout
    assert "linked 1 file(s) in 1 group(s)" in proc.stdout
    assert os.stat(kz).st_ino == os.stat(tg).st_ino and os.stat(tg).st_nlink == 2
    assert usage(data_dir) <= used - len(BODY)  # the second copy's blocks are free
    assert sha256_of(kz) == sha256_of(tg) == sha256(BODY)  # every path reads the same bytes
    rows = rows_by_path(data_dir)
    assert (rows[TG_PATH]["copy_of"], rows[TG_PATH]["copy_method"]) == (
        rows[KZ_PATH]["id"],
        "hardlink",
    )
    (event,) = catalog_rows(data_dir, "select detail from events where kind = 'dedup'")
    assert json.loads(event["detail"])["retroactive"] is True
    _, after = dedup_report(data_dir)
    assert after["total"]["saved"] == len(BODY) and after["total"]["twice"] == 0  # type: ignore[index]
    # Idempotent: nothing left to link.
    _, again = dedup_report(data_dir, "--apply")
    assert again["applied"]["linked"] == 0 and again["applied"]["recorded"] == 0  # type: ignore[index]


def test_apply_leaves_a_copy_alone_whose_bytes_are_not_the_catalogs(
    archives: Archives, data_dir: Path
) -> None:
    crawl_both(archives, data_dir, CAPTURE_DEDUP="False")
    tg = data_dir / TG_PATH
    rotted = bytearray(tg.read_bytes())
    rotted[100] ^= 0x01
    tg.write_bytes(bytes(rotted))
    code, report = dedup_report(data_dir, "--apply")
    assert code == 3  # partial: one duplicate was left alone
    assert report["applied"]["linked"] == 0  # type: ignore[index]
    assert [d["path"] for d in report["applied"]["declined"]] == [TG_PATH]  # type: ignore[index]
    assert tg.read_bytes() == bytes(rotted)  # evidence kept for capture verify
    assert os.stat(tg).st_nlink == 1


@pytest.mark.slow
def test_on_s3_the_copy_is_server_side_and_reported_as_duplicated(
    archives: Archives, data_dir: Path, s3: object
) -> None:
    crawl_both(archives, data_dir, **store_settings())
    kz_key, tg_key = f"{PREFIX}/{KZ_PATH}", f"{PREFIX}/{TG_PATH}"
    head = s3.head_object(Bucket=BUCKET, Key=tg_key)  # type: ignore[attr-defined]
    # Written by CopyObject from the stored object, not from the crawl's staging upload.
    assert head["Metadata"]["copy-of"] == kz_key and head["Metadata"]["sha256"] == sha256(BODY)
    body = s3.get_object(Bucket=BUCKET, Key=tg_key)["Body"].read()  # type: ignore[attr-defined]
    assert body == BODY
    rows = rows_by_path(data_dir)
    assert rows[TG_PATH]["copy_method"] == "s3-copy"
    assert rows[TG_PATH]["copy_of"] == rows[KZ_PATH]["id"]
    stats = last_run_stats(data_dir)
    assert stats["capture/dedup/bytes_copied"] == len(BODY)
    assert "capture/dedup/bytes_saved" not in stats  # S3 bills both objects
    uri = f"s3://{BUCKET}/{PREFIX}"
    code, report = dedup_report(data_dir, "--store", uri)
    total = report["total"]
    assert code == 0 and isinstance(total, dict)
    assert (total["copied"], total["saved"], total["twice"], total["twice_bytes"]) == (
        1,
        0,
        1,
        len(BODY),
    )
    proc = capture_cli(
        "storage", "dedup", "--apply", "--store", uri, "--data-dir", str(data_dir), cwd=data_dir
    )
    assert proc.returncode == 0 and "nothing to free on S3" in proc.stdout
