"""``capture diff`` and ``capture run --update`` against the 1000 Genomes emulator (real
``capture`` processes, real sockets): the diff lists exactly what changed upstream, the same
way twice, writing no file row; the update fetches only those bytes, keeps the old version and
marks the removed file retracted; a corrupted transfer of an unchanged file is corruption."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from tests.archives import ArchiveServer, Blob
from tests.archives.server import Fault
from tests.archives.thousand_genomes import ThousandGenomesArchive
from tests.crawl import capture_cli, catalog_rows, run_capture, sha256_of

REL = "ftp/release/20130502"
ARCHIVE_ROOT = "genomics/thousand_genomes/vol1"


def setup_archive(server: ArchiveServer) -> tuple[ThousandGenomesArchive, dict[str, Blob], Any]:
    tg = ThousandGenomesArchive(server)
    blobs = {f"{REL}/chr{i}.vcf.gz": Blob(f"chr{i}", 20_000 * i) for i in range(1, 6)}
    entries = {p: tg.add_file(p, b) for p, b in blobs.items()}
    tg.publish()
    return tg, blobs, entries


def config(tmp_path: Path, server: ArchiveServer) -> list[str]:
    path = tmp_path / "round.json"
    # Synthetic bytes under genomics names: quality scoring is off (tests/crawl.py).
    cfg = {"mirrors": {"thousand_genomes": server.base_url}, "enable_quality_validation": False}
    path.write_text(json.dumps(cfg))
    return ["--config", str(path), "--data-dir", str(tmp_path / "data"), "--domains", "genomics"]


def diff(tmp_path: Path, common: list[str]) -> tuple[int, dict[str, Any]]:
    proc = capture_cli("diff", "--json", *common, cwd=tmp_path)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    schema = json.loads(resources.files("capture.schemas").joinpath("diff.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)  # the documented contract
    return proc.returncode, doc


def paths(doc: dict[str, Any], category: str) -> list[str]:
    return [f["path"] for a in doc["archives"] for f in a["files"][category]]


def file_rows(data: Path) -> list[dict[str, Any]]:
    return catalog_rows(data, "select * from files order by id")


def served(server: ArchiveServer, since: int) -> dict[str, int]:
    """Body bytes the emulator sent per file path (GET) after log entry ``since``."""
    out: dict[str, int] = {}
    for e in server.log[since:]:
        if e.method == "GET" and e.path.startswith("/vol1/ftp/release/"):
            out[e.path] = out.get(e.path, 0) + e.bytes_sent
    return out


def test_diff_then_update(server: ArchiveServer, tmp_path: Path) -> None:
    tg, blobs, entries = setup_archive(server)
    common = config(tmp_path, server)
    data = tmp_path / "data"
    first = run_capture(common, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    old_chr2 = blobs[f"{REL}/chr2.vcf.gz"].sha256

    # The archive moves: chr2 re-released (new md5), chr6 added, chr3 withdrawn.
    blobs[f"{REL}/chr2.vcf.gz"].version = 2
    tg.add_file(f"{REL}/chr6.vcf.gz", Blob("chr6", 7_777))
    tg.entries.remove(entries[f"{REL}/chr3.vcf.gz"])
    tg.publish()
    before = file_rows(data)
    mark = len(server.log)
    code, one = diff(tmp_path, common)
    code2, two = diff(tmp_path, common)
    assert code == code2 == 0
    assert paths(one, "new") == ["vol1/ftp/release/20130502/chr6.vcf.gz"]
    assert paths(one, "changed") == ["vol1/ftp/release/20130502/chr2.vcf.gz"]
    assert paths(one, "gone") == ["vol1/ftp/release/20130502/chr3.vcf.gz"]
    assert paths(one, "pending") == []
    (archive,) = one["archives"]
    (changed,) = archive["files"]["changed"]
    assert changed["changed"] == ["digest"] and changed["bytes"] == 40_000
    (gone,) = archive["files"]["gone"]
    assert gone["state"] == "stored" and gone["bytes"] == 60_000 and gone["last_seen_at"]
    assert one["totals"]["unchanged"] == {"files": 3, "bytes": 20_000 + 80_000 + 100_000}
    assert one["totals"]["new"] == {"files": 1, "bytes": 7_777}
    # Deterministic: the same archive gives the same document (only the run id differs).
    assert one["archives"] == two["archives"] and one["fingerprint"] == two["fingerprint"]
    assert one["run_id"] != two["run_id"]
    # Discovery only: no file body crossed the wire, no file row changed.
    assert served(server, mark) == {}
    assert file_rows(data) == before

    mark = len(server.log)
    update = run_capture(["--update", *common], tmp_path)
    assert update.returncode == 0, update.stderr[-3000:]
    brief = json.loads(update.stdout)
    assert brief["changes"]["retracted"] == 1
    assert brief["changes"]["totals"]["new"] == {"files": 1, "bytes": 7_777}
    # Only the changed and the new bytes were fetched, each once.
    assert served(server, mark) == {
        "/vol1/ftp/release/20130502/chr2.vcf.gz": 40_000,
        "/vol1/ftp/release/20130502/chr6.vcf.gz": 7_777,
    }
    rows = {r["archive_path"].rsplit("/", 1)[-1]: r for r in file_rows(data)}
    assert rows["chr2.vcf.gz"]["state"] == "stored" and rows["chr2.vcf.gz"]["version"] == 2
    assert rows["chr6.vcf.gz"]["state"] == "stored" and rows["chr6.vcf.gz"]["version"] == 1
    assert (
        sha256_of(data / ARCHIVE_ROOT / REL / "chr2.vcf.gz") == blobs[f"{REL}/chr2.vcf.gz"].sha256
    )
    versions = catalog_rows(
        data,
        "select * from file_versions where file_id=? order by version",
        rows["chr2.vcf.gz"]["id"],
    )
    assert [(v["version"], v["sha256"]) for v in versions] == [
        (1, old_chr2),
        (2, blobs[f"{REL}/chr2.vcf.gz"].sha256),
    ]
    assert versions[0]["superseded_at"] and sha256_of(data / versions[0]["stored_at"]) == old_chr2
    # The withdrawn file: retracted with when it was last seen, never deleted.
    chr3 = rows["chr3.vcf.gz"]
    assert chr3["state"] == "retracted" and chr3["last_seen_at"] == gone["last_seen_at"]
    assert sha256_of(data / chr3["path"]) == blobs[f"{REL}/chr3.vcf.gz"].sha256
    (event,) = catalog_rows(data, "select * from events where kind='retracted'")
    assert json.loads(event["detail"])["last_seen_at"] == gone["last_seen_at"]
    assert event["run_id"] == brief["run_id"]

    # Caught up: the next diff lists nothing (and retracted files are not gone again).
    code, after = diff(tmp_path, common)
    assert code == 0 and not any(after["totals"][c]["files"] for c in ("new", "changed", "gone"))
    assert after["totals"]["unchanged"]["files"] == 5
    # --since: only what changed after an earlier diff (here: nothing new since `one`).
    proc = capture_cli("diff", "--json", "--since", one["run_id"], *common, cwd=tmp_path)
    assert json.loads(proc.stdout)["since"] == one["run_id"]


def test_corrupt_transfer_of_an_unchanged_file_is_corruption(
    server: ArchiveServer, tmp_path: Path
) -> None:
    tg, blobs, _ = setup_archive(server)
    common = config(tmp_path, server)
    data = tmp_path / "data"
    assert run_capture(common, tmp_path).returncode == 0
    # chr4's listing is unchanged (same md5, same size), but its stored copy went missing, so
    # the update fetches it: the server now sends other bytes of the same length, twice.
    chr4 = data / ARCHIVE_ROOT / REL / "chr4.vcf.gz"
    chr4.unlink()
    server.fault(f"/vol1/{REL}/chr4.vcf.gz", Fault("change", times=2))
    # chr5 is re-released (the publisher's md5 changed): a new version.
    blobs[f"{REL}/chr5.vcf.gz"].version = 2
    tg.publish()
    code, plan = diff(tmp_path, common)
    assert code == 0
    (pending,) = plan["archives"][0]["files"]["pending"]
    assert pending["path"].endswith("chr4.vcf.gz") and pending["why"] == "stored copy missing"
    assert paths(plan, "changed") == ["vol1/ftp/release/20130502/chr5.vcf.gz"]
    update = run_capture(["--update", *common], tmp_path)
    assert update.returncode == 0, update.stderr[-3000:]
    rows = {r["archive_path"].rsplit("/", 1)[-1]: r for r in file_rows(data)}
    bad = rows["chr4.vcf.gz"]
    assert bad["state"] == "quarantined" and "md5 mismatch" in bad["error"]
    assert bad["version"] == 1 and not chr4.exists()
    assert catalog_rows(data, "select version from file_versions where file_id=?", bad["id"]) == [
        {"version": 1}
    ]
    assert not (data / "versions" / ARCHIVE_ROOT / REL / "chr4.vcf.gz.v1").exists()
    assert list((data / "quarantine").rglob("chr4.vcf.gz"))
    # The publisher's changed digest: a verified new version, the old one kept.
    assert rows["chr5.vcf.gz"]["state"] == "stored" and rows["chr5.vcf.gz"]["version"] == 2
    assert (data / "versions" / ARCHIVE_ROOT / REL / "chr5.vcf.gz.v1").exists()


def test_a_failed_listing_never_calls_files_gone(server: ArchiveServer, tmp_path: Path) -> None:
    tg, _, entries = setup_archive(server)
    common = config(tmp_path, server)
    data = tmp_path / "data"
    assert run_capture(common, tmp_path).returncode == 0
    tg.entries.remove(entries[f"{REL}/chr1.vcf.gz"])
    tg.publish()
    server.fault("/vol1/ftp/current.tree", Fault("status", times=100, status=503))
    code, doc = diff(tmp_path, common)
    (archive,) = doc["archives"]
    assert code in (3, 4) and archive["gone_checked"] is False and archive["gone_why"]
    assert paths(doc, "gone") == []
    update = run_capture(["--update", *common], tmp_path)
    assert update.returncode in (3, 4)
    assert {r["state"] for r in file_rows(data)} == {"stored"}


def test_diff_through_reshuffled_search_paging(server: ArchiveServer, tmp_path: Path) -> None:
    """NOAA's search pages with limit/skip and publishes no checksum or size: a round, then the
    search answers in another order across its pages, one file changes (new ETag), one study is
    added and one withdrawn. The diff lists exactly those, twice the same."""
    import random

    from tests.archives.noaa_paleo import PALEO, NoaaPaleoArchive, study

    noaa = NoaaPaleoArchive(server)
    url = {n: f"{PALEO}/contributions_by_author/co2s{n}/co2s{n}.txt" for n in range(1, 9)}
    for n in range(1, 8):
        noaa.add_study(study(f"30000{n}", f"CO2 series {n}", [url[n]]))
    cfg = tmp_path / "noaa.json"
    cfg.write_text(json.dumps({
        "mirrors": {"noaa_paleo": server.base_url},
        "spider_args": {"noaa_paleo": {"page_size": 3}},  # 3 pages of limit=3
        "enable_quality_validation": False,
    }))  # fmt: skip
    common = ["--config", str(cfg), "--data-dir", str(tmp_path / "data")]
    common += ["--domains", "geochemistry"]
    first = run_capture(common, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]

    random.Random(7).shuffle(noaa.studies)  # every page now holds other studies
    order = [s["NOAAStudyId"] for s in noaa.studies]
    assert order[:3] != ["300001", "300002", "300003"]
    changed = url[2].removeprefix("https://www.ncei.noaa.gov")
    revised = noaa.files[changed] + b"1999\t281.5\n"  # a revised series: new bytes and ETag
    server.add(changed, Blob.of(revised), "text/plain")
    noaa.add_study(study("300008", "CO2 series 8", [url[8]]))
    noaa.studies = [s for s in noaa.studies if s["NOAAStudyId"] != "300005"]
    code, one = diff(tmp_path, common)
    code2, two = diff(tmp_path, common)
    assert code == code2 == 0
    rel = "pub/data/paleo/contributions_by_author"
    assert paths(one, "new") == [f"{rel}/co2s8/co2s8.txt"]
    assert paths(one, "changed") == [f"{rel}/co2s2/co2s2.txt"]
    assert paths(one, "gone") == [f"{rel}/co2s5/co2s5.txt"]
    assert one["totals"]["unchanged"]["files"] == 5
    (archive,) = one["archives"]
    assert archive["repeats"] in (0, None)
    assert one["archives"] == two["archives"] and one["fingerprint"] == two["fingerprint"]
