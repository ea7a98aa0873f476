"""``capture verify`` after real crawls (1000 Genomes emulator, real ``scrapy crawl`` processes,
the CLI as a user runs it): bit rot, a deleted file and a stray file are found, recorded and
re-fetched; incremental audits walk the store least recently verified first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.archives import Blob
from tests.archives.thousand_genomes import WHOLE_TREE, ThousandGenomesArchive
from tests.crawl import capture_cli, catalog_rows, run_crawl, sha256_of
from tests.test_s3_e2e import BUCKET, PREFIX, key_of, s3, s3_endpoint, store_settings

__all__ = ["s3", "s3_endpoint"]  # fixtures shared with tests/test_s3_e2e.py

TREE = "genomics/thousand_genomes/vol1"


def crawl(tg: ThousandGenomesArchive, data_dir: Path, base_url: str) -> None:
    result = run_crawl("thousand_genomes", data_dir, args={"base_url": base_url, **WHOLE_TREE})
    assert result.returncode == 0, result.log[-2000:]


def verify(data_dir: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = capture_cli("verify", "--json", "--data-dir", str(data_dir), *args, cwd=data_dir.parent)
    assert proc.stdout.strip(), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def problems(report: dict[str, Any]) -> dict[str, str]:
    return {p["location"]: p["result"] for p in report["problems"]}


def fixity_events(data_dir: Path, audit_id: str) -> dict[int, dict[str, Any]]:
    rows = catalog_rows(
        data_dir, "select file_id, detail from events where kind='fixity' and run_id=?", audit_id
    )
    return {r["file_id"]: json.loads(r["detail"]) for r in rows}


def test_flipped_deleted_and_extra_files_are_found_recorded_and_refetched(
    tg: ThousandGenomesArchive, data_dir: Path
) -> None:
    blobs = {f"ftp/data/f{i}.bin": Blob(f"v{i}", 20_000 + 7_000 * i) for i in range(5)}
    for path, blob in blobs.items():
        tg.add_file(path, blob)
    base_url = tg.publish()
    crawl(tg, data_dir, base_url)

    code, clean = verify(data_dir, "--full")
    assert code == 0, clean
    assert clean["counts"] == {"ok": 5} and clean["problems"] == []
    assert clean["bytes"] == sum(b.size for b in blobs.values())
    assert len(fixity_events(data_dir, clean["audit_id"])) == 5

    rotten, gone = data_dir / TREE / "ftp/data/f1.bin", data_dir / TREE / "ftp/data/f3.bin"
    raw = bytearray(rotten.read_bytes())
    raw[12_345] ^= 0x01  # one bit
    rotten.write_bytes(bytes(raw))
    gone.unlink()
    stray = data_dir / TREE / "ftp/data/stray.bin"
    stray.write_bytes(b"nobody captured me")

    code, report = verify(data_dir, "--full", "--requeue")
    assert code == 3
    assert problems(report) == {
        f"{TREE}/ftp/data/f1.bin": "corrupt",
        f"{TREE}/ftp/data/f3.bin": "missing",
        f"{TREE}/ftp/data/stray.bin": "extra",
    }
    assert report["counts"] == {"ok": 3, "corrupt": 1, "missing": 1, "extra": 1}
    assert report["requeued"] == 2
    # The rotten bytes are evidence: moved to quarantine with the reason, never "repaired".
    quarantined = data_dir / "quarantine" / TREE / "ftp/data/f1.bin"
    assert not rotten.exists() and quarantined.read_bytes() == bytes(raw)
    note = json.loads((quarantined.parent / "f1.bin.reason.json").read_text())
    assert note["reason"] == "fixity" and note["result"] == "corrupt"
    assert note["expected"]["sha256"] == blobs["ftp/data/f1.bin"].sha256
    assert note["actual"]["sha256"] == sha256_of(quarantined)
    assert stray.exists()  # reported, not touched
    events = fixity_events(data_dir, report["audit_id"])
    by_path = {r["archive_path"]: r for r in catalog_rows(data_dir)}
    assert events[by_path["vol1/ftp/data/f1.bin"]["id"]]["result"] == "corrupt"
    assert events[by_path["vol1/ftp/data/f3.bin"]["id"]]["result"] == "missing"
    assert sorted(e["result"] for e in events.values()) == ["corrupt", "missing", "ok", "ok", "ok"]
    # Re-queued: the next crawl fetches both again.
    assert by_path["vol1/ftp/data/f1.bin"]["state"] == "discovered"
    assert by_path["vol1/ftp/data/f3.bin"]["state"] == "discovered"
    assert by_path["vol1/ftp/data/f1.bin"]["fixity"] == "corrupt"

    stray.unlink()
    crawl(tg, data_dir, base_url)
    for name in ("f1.bin", "f3.bin"):
        assert sha256_of(data_dir / TREE / "ftp/data" / name) == blobs[f"ftp/data/{name}"].sha256
    rows = {r["archive_path"]: r for r in catalog_rows(data_dir)}
    assert {r["state"] for r in rows.values()} == {"stored"}
    f1 = rows["vol1/ftp/data/f1.bin"]
    # The archive's bytes are unchanged: the re-fetch restores version 1 (no new version for
    # the same content), and its version row says where the bytes are again.
    assert f1["version"] == 1 and f1["fixity"] is None and f1["verified_at"] is None
    versions = catalog_rows(
        data_dir, "select * from file_versions where file_id=? order by version", f1["id"]
    )
    assert [(v["version"], v["stored_at"], v["superseded_at"]) for v in versions] == [
        (1, f"{TREE}/ftp/data/f1.bin", None),
    ]

    code, again = verify(data_dir, "--full")
    assert code == 0, again
    assert again["counts"] == {"ok": 5} and again["problems"] == []


def test_failures_lists_fixity_problems_and_exit_codes_tell_the_truth(
    tg: ThousandGenomesArchive, data_dir: Path
) -> None:
    tg.add_file("ftp/a.bin", Blob("a", 5_000))
    tg.add_file("ftp/b.bin", Blob("b", 6_000))
    crawl(tg, data_dir, tg.publish())
    (data_dir / TREE / "ftp/a.bin").write_bytes(b"short")
    code, report = verify(data_dir, "--full")
    assert code == 3 and problems(report) == {f"{TREE}/ftp/a.bin": "size"}
    proc = capture_cli("failures", "--json", "--data-dir", str(data_dir), cwd=data_dir.parent)
    groups = json.loads(proc.stdout)["groups"]
    assert [(g["cause"], g["count"]) for g in groups] == [("fixity", 1)]
    for bad in (["--sample", "1.5"], ["--since", "yesterday"], ["--full", "--max-gb", "1"]):
        proc = capture_cli("verify", "--data-dir", str(data_dir), *bad, cwd=data_dir.parent)
        assert proc.returncode == 2, (bad, proc.stderr)


def test_incremental_audits_walk_the_store_least_recently_verified_first(
    tg: ThousandGenomesArchive, data_dir: Path
) -> None:
    for i in range(6):
        tg.add_file(f"ftp/inc/g{i}.bin", Blob(f"g{i}", 100_000))
    crawl(tg, data_dir, tg.publish())
    seen: list[set[int]] = []
    for n in range(3):  # 250 kB per audit: two 100 kB files each time
        code, report = verify(data_dir, "--max-gb", "0.00025")
        assert code == 0 and report["files"] == 2
        assert report["stopped"] == ("budget" if n < 2 else None)  # the last pair ends the queue
        seen.append(set(fixity_events(data_dir, report["audit_id"])))
    assert all(len(s) == 2 for s in seen)
    assert len(seen[0] | seen[1] | seen[2]) == 6  # a new pair each time: the whole store
    # Nothing is due any more (all verified within CAPTURE_VERIFY_INTERVAL_DAYS)...
    code, report = verify(data_dir, "--max-gb", "0.00025")
    assert code == 0 and report["files"] == 0
    # ...but a budgeted --sample or --since still picks among them, least recently first.
    code, report = verify(data_dir, "--sample", "1", "--seed", "7", "--max-gb", "0.00025")
    assert code == 0 and set(fixity_events(data_dir, report["audit_id"])) == seen[0]
    code, a = verify(data_dir, "--sample", "0.5", "--seed", "11")
    code, b = verify(data_dir, "--sample", "0.5", "--seed", "11")
    picked_a = set(fixity_events(data_dir, a["audit_id"]))
    assert picked_a == set(fixity_events(data_dir, b["audit_id"])) and 0 < len(picked_a) < 6
    code, report = verify(data_dir, "--since", "2000-01-01")
    assert code == 0 and report["files"] == 6 and report["extras_checked"] is False


@pytest.mark.slow
def test_an_s3_store_is_audited_the_same_way(
    s3: Any, tg: ThousandGenomesArchive, data_dir: Path
) -> None:
    """A real crawl into S3 (moto's server), then ``capture verify --store s3://...``."""
    blobs = {f"ftp/s3v/h{i}.bin": Blob(f"h{i}", 30_000 + i) for i in range(3)}
    for path, blob in blobs.items():
        tg.add_file(path, blob)
    result = run_crawl(
        "thousand_genomes",
        data_dir,
        args={"base_url": tg.publish(), **WHOLE_TREE},
        settings=store_settings(),
    )
    assert result.returncode == 0, result.log[-2000:]
    uri = f"s3://{BUCKET}/{PREFIX}"
    code, clean = verify(data_dir, "--full", "--store", uri)
    assert code == 0 and clean["counts"] == {"ok": 3}, clean
    body = bytearray(s3.get_object(Bucket=BUCKET, Key=key_of("vol1/ftp/s3v/h0.bin"))["Body"].read())
    body[-1] ^= 0xFF
    s3.put_object(Bucket=BUCKET, Key=key_of("vol1/ftp/s3v/h0.bin"), Body=bytes(body))
    s3.delete_object(Bucket=BUCKET, Key=key_of("vol1/ftp/s3v/h1.bin"))
    s3.put_object(Bucket=BUCKET, Key=key_of("vol1/ftp/s3v/extra.bin"), Body=b"extra")
    code, report = verify(data_dir, "--full", "--store", uri)
    assert code == 3
    assert problems(report) == {
        f"{TREE}/ftp/s3v/h0.bin": "corrupt",
        f"{TREE}/ftp/s3v/h1.bin": "missing",
        f"{TREE}/ftp/s3v/extra.bin": "extra",
    }
    quarantined = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/quarantine/{TREE}/ftp/s3v/h0.bin")
    assert quarantined["Body"].read() == bytes(body)
    assert not (data_dir / TREE).exists()  # nothing of the store landed on local disk
