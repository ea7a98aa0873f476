"""Tiering a real capture (``capture run`` against the 1000 Genomes emulator, real sockets, then
the ``capture storage`` commands as a user runs them): idle files move to the cold root with
their bytes intact, the catalog says where they are, a later ``capture diff`` still counts them
as held (nothing is fetched again), a BagIt export reads them there, and a restore is explicit
and counts as an access."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.archives import ArchiveServer, Blob
from tests.archives.thousand_genomes import ThousandGenomesArchive
from tests.crawl import capture_cli, catalog_rows, run_capture, sha256_of

REL = "ftp/release/20130502"


def test_storage_plan_apply_restore_on_a_real_capture(
    server: ArchiveServer, tmp_path: Path
) -> None:
    tg = ThousandGenomesArchive(server)
    blobs = {f"{REL}/chr{i}.vcf.gz": Blob(f"chr{i}", 150_000 * i) for i in range(1, 5)}
    for p, b in blobs.items():
        tg.add_file(p, b)
    tg.publish()
    cfg = tmp_path / "round.json"
    cfg.write_text(
        json.dumps(
            {"mirrors": {"thousand_genomes": server.base_url}, "enable_quality_validation": False}
        )
    )
    data = tmp_path / "data"
    cold = tmp_path / "cold"
    common = ["--config", str(cfg), "--data-dir", str(data), "--domains", "genomics"]
    first = run_capture(common, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]

    # Age the capture: chr1-chr3 retrieved 200 days ago (chr1 read 10 days ago), chr4 today.
    old = (datetime.now(UTC) - timedelta(days=200)).isoformat(timespec="seconds")
    read = (datetime.now(UTC) - timedelta(days=10)).isoformat(timespec="seconds")
    with sqlite3.connect(data / "catalog.sqlite") as db:
        db.execute("update files set retrieved_at=? where archive_path not like '%chr4%'", (old,))
        db.execute("update files set last_accessed_at=? where archive_path like '%chr1%'", (read,))
    args = ["--data-dir", str(data), "-s", f"CAPTURE_COLD_DIR={cold}"]

    plan = capture_cli("storage", "plan", "--json", *args, cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr[-3000:]
    doc = json.loads(plan.stdout)
    assert doc["rules"]["recent"]["files"] == 2  # chr1 (read lately), chr4 (new)
    assert doc["rules"]["idle_reproducible"]["files"] == 2  # md5 from current.tree, listed
    assert doc["apply_moves"] == {"files": 2, "bytes": 300_000 + 450_000, "usd_month": 0.0}
    table = capture_cli("storage", "plan", *args, cwd=tmp_path)
    assert table.returncode == 0 and "apply would move 2 files" in table.stdout

    no_cold = capture_cli("storage", "apply", "--data-dir", str(data), cwd=tmp_path)
    assert no_cold.returncode == 2 and "CAPTURE_COLD_DIR" in no_cold.stderr
    applied = capture_cli("storage", "apply", *args, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr[-3000:]
    assert "moved: 2 files" in applied.stdout
    every = catalog_rows(data, "select * from files")
    rows = {r["archive_path"].rsplit("/", 1)[-1]: r for r in every}
    for name in ("chr2.vcf.gz", "chr3.vcf.gz"):
        r = rows[name]
        assert r["tier"] == "cold" and Path(r["location"]) == cold / r["path"]
        assert sha256_of(Path(r["location"])) == blobs[f"{REL}/{name}"].sha256 == r["sha256"]
        assert not (data / r["path"]).exists()
    assert rows["chr1.vcf.gz"]["tier"] is None and (data / rows["chr1.vcf.gz"]["path"]).exists()
    tiered = catalog_rows(data, "select * from events where kind='tiered'")
    assert len(tiered) == 2 and json.loads(tiered[0]["detail"])["to"] == "cold"

    # The archive did not change: the diff holds the cold files as unchanged, not pending.
    diff = capture_cli("diff", "--json", *common, cwd=tmp_path)
    assert diff.returncode == 0, diff.stderr[-3000:]
    totals = json.loads(diff.stdout)["totals"]
    assert totals["unchanged"]["files"] == 4 and totals["pending"]["files"] == 0

    # Exports read cold files where they are, and count as an access.
    bag = capture_cli("catalog", "export", "--format", "bagit", "-o", str(tmp_path / "bag"),
                      "--data-dir", str(data), cwd=tmp_path)  # fmt: skip
    assert bag.returncode == 0, bag.stderr[-3000:]
    chr2 = rows["chr2.vcf.gz"]
    assert sha256_of(tmp_path / "bag" / "data" / chr2["path"]) == chr2["sha256"]
    accessed = catalog_rows(data, "select last_accessed_at from files")
    assert all(r["last_accessed_at"] for r in accessed)

    # Restore by sha256: explicit, verified, hot again.
    back = capture_cli("storage", "restore", chr2["sha256"], *args, cwd=tmp_path)
    assert back.returncode == 0, back.stderr[-3000:]
    assert back.stdout.startswith("restored: ")
    assert sha256_of(data / chr2["path"]) == chr2["sha256"]
    assert not Path(chr2["location"]).exists()
    (row,) = catalog_rows(data, "select * from files where id=?", chr2["id"])
    assert row["tier"] is None and row["location"] is None
    missing = capture_cli("storage", "restore", "0" * 64, *args, cwd=tmp_path)
    assert missing.returncode == 2 and "no file" in missing.stderr

    # chr3 (still cold) changes upstream: the update stores version 2 hot; version 1 stays in
    # the cold root, where file_versions says it is.
    chr3 = rows["chr3.vcf.gz"]
    blobs[f"{REL}/chr3.vcf.gz"].version = 2
    tg.publish()
    update = run_capture(["--update", *common], tmp_path)
    assert update.returncode == 0, update.stderr[-3000:]
    (row,) = catalog_rows(data, "select * from files where id=?", chr3["id"])
    assert row["version"] == 2 and row["tier"] is None and row["location"] is None
    assert sha256_of(data / row["path"]) == blobs[f"{REL}/chr3.vcf.gz"].sha256 == row["sha256"]
    versions = catalog_rows(
        data, "select * from file_versions where file_id=? order by version", chr3["id"]
    )
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["stored_at"] == chr3["location"]
    assert sha256_of(Path(chr3["location"])) == chr3["sha256"]
