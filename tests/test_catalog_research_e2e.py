"""The catalog as a research tool: versions, conditional re-capture, de-duplication, search,
provenance and standard exports (RO-Crate, DataCite, JSON lines, BagIt)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.archives import Blob
from tests.archives.thousand_genomes import WHOLE_TREE, ThousandGenomesArchive
from tests.crawl import capture_cli, catalog_rows, run_crawl


def file_gets(tg: ThousandGenomesArchive, prefix: str) -> list:
    return [e for e in tg.server.log if e.path.startswith(prefix) and e.method == "GET"]


def test_changed_file_becomes_a_second_version(
    tg: ThousandGenomesArchive, data_dir: Path, tmp_path: Path
) -> None:
    a, b = Blob("va", 3000), Blob("vb", 3000)
    tg.add_file("ftp/v/a.txt", a)
    tg.add_file("ftp/v/b.txt", b)
    base = tg.publish()
    run_crawl("thousand_genomes", data_dir, args={"base_url": base, **WHOLE_TREE})
    old_b = b.sha256
    b.version = 2
    tg.publish()
    before = len(file_gets(tg, "/vol1/ftp/v/"))
    second = run_crawl("thousand_genomes", data_dir, args={"base_url": base, **WHOLE_TREE})
    assert second.statuses() == {"vol1/ftp/v/a.txt": "unchanged", "vol1/ftp/v/b.txt": "stored"}
    fetched = file_gets(tg, "/vol1/ftp/v/")[before:]
    assert [e.path for e in fetched] == ["/vol1/ftp/v/b.txt"]  # only the changed file
    proc = capture_cli(
        "catalog",
        "history",
        "thousand_genomes:vol1/ftp/v/b.txt",
        "--data-dir",
        str(data_dir),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    history = json.loads(proc.stdout)["versions"]
    assert [(v["version"], v["sha256"]) for v in history] == [(1, old_b), (2, b.sha256)]
    assert history[0]["superseded_at"] and history[1]["superseded_at"] is None
    kept = data_dir / history[0]["stored_at"]
    assert kept.is_file() and kept.read_bytes() == Blob("vb", 3000).read(0, 3000)
    assert (data_dir / history[1]["stored_at"]).read_bytes() == b.read(0, 3000)
    (row,) = catalog_rows(data_dir, "select version from files where archive_path like '%b.txt'")
    assert row["version"] == 2


def test_recapture_without_digests_uses_conditional_requests(
    tg: ThousandGenomesArchive, data_dir: Path
) -> None:
    same, changed = Blob("c1", 2048), Blob("c2", 2048)
    tg.add_file("ftp/n/same.bin", same, md5="-")
    tg.add_file("ftp/n/changed.bin", changed, md5="-")
    base = tg.publish()
    run_crawl("thousand_genomes", data_dir, args={"base_url": base, **WHOLE_TREE})
    changed.version = 2  # same size, new bytes, new ETag: only the server can tell
    before = len(tg.server.log)
    second = run_crawl("thousand_genomes", data_dir, args={"base_url": base, **WHOLE_TREE})
    assert second.statuses() == {
        "vol1/ftp/n/same.bin": "unchanged",
        "vol1/ftp/n/changed.bin": "stored",
    }
    entries = {e.path: e for e in tg.server.log[before:] if e.path.startswith("/vol1/ftp/n/")}
    assert entries["/vol1/ftp/n/same.bin"].status == 304
    assert entries["/vol1/ftp/n/same.bin"].headers.get("if-none-match") == same.etag
    assert entries["/vol1/ftp/n/same.bin"].bytes_sent == 0
    assert entries["/vol1/ftp/n/changed.bin"].status == 200


def test_identical_content_is_stored_once(tg: ThousandGenomesArchive, data_dir: Path) -> None:
    body = b"the same bytes under two names\n" * 500
    tg.add_file("ftp/d/one.txt", Blob.of(body))
    tg.add_file("ftp/d/two.txt", Blob.of(body))
    result = run_crawl(
        "thousand_genomes",
        data_dir,
        args={"base_url": tg.publish(), **WHOLE_TREE},
        settings={"CONCURRENT_REQUESTS_PER_DOMAIN": "1"},
    )
    one, two = (data_dir / result.by_path()[f"vol1/ftp/d/{n}.txt"]["path"] for n in ("one", "two"))
    assert one.read_bytes() == two.read_bytes() == body
    assert os.stat(one).st_ino == os.stat(two).st_ino  # one copy on disk
    rows = catalog_rows(data_dir, "select state, sha256 from files")
    assert len(rows) == 2 and {r["state"] for r in rows} == {"stored"}
    assert len({r["sha256"] for r in rows}) == 1
    dedup = catalog_rows(data_dir, "select detail from events where kind='dedup'")
    assert len(dedup) == 1


@pytest.fixture
def exported(tg: ThousandGenomesArchive, data_dir: Path) -> Path:
    for i in range(4):
        tg.add_file(f"ftp/e/f{i}.txt", Blob.of(f"export me {i}\n".encode() * 50))
    tg.add_file("ftp/e/bad.txt", Blob.of(b"oops\n"), md5="0" * 32)
    run_crawl("thousand_genomes", data_dir, args={"base_url": tg.publish(), **WHOLE_TREE})
    return data_dir


def test_search_and_lookup(exported: Path, tmp_path: Path) -> None:
    proc = capture_cli(
        "catalog",
        "search",
        "--archive",
        "thousand_genomes",
        "--status",
        "stored",
        "--text",
        "f2",
        "--json",
        "--data-dir",
        str(exported),
        cwd=tmp_path,
    )
    rows = json.loads(proc.stdout)
    assert [r["archive_path"] for r in rows] == ["vol1/ftp/e/f2.txt"]
    sha = rows[0]["sha256"]
    proc = capture_cli(
        "catalog", "lookup", "--sha256", sha, "--data-dir", str(exported), cwd=tmp_path
    )
    assert json.loads(proc.stdout)[0]["archive_path"] == "vol1/ftp/e/f2.txt"
    proc = capture_cli(
        "catalog",
        "search",
        "--status",
        "quarantined",
        "--json",
        "--data-dir",
        str(exported),
        cwd=tmp_path,
    )
    assert [r["archive_path"] for r in json.loads(proc.stdout)] == ["vol1/ftp/e/bad.txt"]


def test_exports_validate(exported: Path, tmp_path: Path) -> None:
    import bagit
    from rocrate.rocrate import ROCrate

    out = tmp_path / "exports"
    for fmt, target in (
        ("ro-crate", out / "crate"),
        ("datacite", out / "datacite.json"),
        ("jsonl", out / "records.jsonl"),
        ("bagit", out / "bag"),
    ):
        proc = capture_cli(
            "catalog",
            "export",
            "--format",
            fmt,
            "-o",
            str(target),
            "--archive",
            "thousand_genomes",
            "--data-dir",
            str(exported),
            cwd=tmp_path,
        )
        assert proc.returncode == 0, proc.stderr
    # RO-Crate: JSON-LD with the 1.2 context, a root dataset listing every File, and digests.
    meta = json.loads((out / "crate" / "ro-crate-metadata.json").read_text())
    assert meta["@context"][0] == "https://w3id.org/ro/crate/1.2/context"
    graph = {e["@id"]: e for e in meta["@graph"]}
    files = [e for e in meta["@graph"] if e["@type"] == "File"]
    assert len(files) == 5
    assert {p["@id"] for p in graph["./"]["hasPart"]} == {f["@id"] for f in files}
    for f in files:
        assert f["sha256"] and f["contentSize"] and f["encodingFormat"] and f["sdDatePublished"]
        assert f["contentUrl"].startswith("http") and f["localPath"]
        assert f["digestAlgorithm"] == "md5" and f["publisherDigest"]
        assert f["wasGeneratedBy"]["@id"] in graph  # the run's CreateAction
        events = [json.loads(e) for e in f["transferEvent"]]
        assert any(e["kind"] == "attempt" for e in events)
    crate = ROCrate(out / "crate")
    assert len(list(crate.get_entities())) >= len(files)
    # DataCite: the six mandatory properties for every record.
    records = json.loads((out / "datacite.json").read_text())["data"]
    assert len(records) == 5
    for r in records:
        attrs = r["attributes"]
        for key in ("identifiers", "creators", "titles", "publisher", "publicationYear", "types"):
            assert attrs[key], key
        assert attrs["relatedIdentifiers"][0]["relationType"] == "IsDerivedFrom"
    # JSON lines: full provenance per file (run, software version, attempts, validators).
    lines = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    assert len(lines) == 5
    assert all(r["run"]["capture_version"] and r["events"] and r["etag"] for r in lines)
    # BagIt: a valid bag of the stored files (the quarantined one is not payload).
    bag = bagit.Bag(str(out / "bag"))
    bag.validate()
    assert len(bag.payload_entries()) == 4
