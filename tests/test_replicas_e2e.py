"""Replicas as one file (issue 17 item 2): real ``scrapy crawl`` processes fetch 1000 Genomes
files from three mirrors of the same tree (``CAPTURE_REPLICAS``): the origin HTTP emulator,
a second HTTP emulator on another port and the pyftpdlib FTP emulator.

* The origin stalls, the second mirror serves a corrupted byte range: every file is stored
  once and verified, the catalog says which replica served which bytes, and the mirror with
  the bad bytes is found by comparing its range with a copy that verified, reported and
  demoted.
* SIGKILL in the middle of a file, then the origin fails: the next run continues the partial
  on the second mirror only when current.tree's md5 and size bind it to the file (bytes from
  the origin, then the mirror, verified); without an md5 it starts over from byte 0.
"""

from __future__ import annotations

import itertools
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.archives import ArchiveServer, Blob, Fault
from tests.archives.ftp import FtpArchive
from tests.archives.thousand_genomes import ThousandGenomesArchive
from tests.crawl import (
    catalog_rows,
    kill,
    run_capture,
    run_crawl,
    sha256_of,
    start_crawl,
    wait_for,
)

pytestmark = pytest.mark.slow

MB = 1024 * 1024
KB = 1024
REL = "ftp/release/20130502"


@pytest.fixture
def mirror() -> Iterator[ArchiveServer]:
    with ArchiveServer() as srv:
        yield srv


@pytest.fixture
def ftp(tmp_path: Path) -> Iterator[FtpArchive]:
    archive = FtpArchive(tmp_path / "ftproot")
    yield archive
    archive.stop()


def events_of(data_dir: Path, path: str) -> list[dict[str, Any]]:
    rows = catalog_rows(
        data_dir,
        "select e.kind, e.detail from events e join files f on f.id = e.file_id "
        "where f.archive_path = ? order by e.id",
        path,
    )
    return [{"kind": r["kind"], **json.loads(r["detail"])} for r in rows]


def test_three_replicas_first_stalls_second_corrupts_every_file_stored_once_and_verified(
    server: ArchiveServer, mirror: ArchiveServer, ftp: FtpArchive, data_dir: Path
) -> None:
    files = {
        "stall_then_corrupt.vcf.gz": Blob("rep-a", 2 * MB),
        "stall_only.panel": Blob("rep-b", 1 * MB),
        "plain.txt": Blob("rep-c", 300 * KB),
    }
    origin, second = ThousandGenomesArchive(server), ThousandGenomesArchive(mirror)
    third = ThousandGenomesArchive(ftp)  # type: ignore[arg-type]  # same add()/base_url
    for archive in (origin, second, third):
        for name, blob in files.items():
            archive.add_file(f"{REL}/{name}", blob)
    base = origin.publish()
    bad, stalled = f"/vol1/{REL}/stall_then_corrupt.vcf.gz", f"/vol1/{REL}/stall_only.panel"
    for path in (bad, stalled):
        server.fault(path, Fault("stall", after=256 * KB, seconds=4))
    mirror.fault(bad, Fault("corrupt", times=9, after=1_000_000, delta=64))
    replicas = f"mirror2={mirror.base_url}/vol1/ftp/,ftp3={ftp.base_url}/vol1/ftp/"

    result = run_crawl(
        "thousand_genomes",
        data_dir,
        args={"base_url": base, "prefix": f"{REL}/"},
        settings={"CAPTURE_REPLICAS": replicas, "CAPTURE_STALL_TIMEOUT": "1"},
    )

    assert result.returncode == 0, result.log[-3000:]
    items = {i["archive_path"].rsplit("/", 1)[-1]: i for i in result.items}
    assert set(items) == set(files)
    for name, blob in files.items():
        item = items[name]
        assert item["status"] == "stored" and item["checksum"]["verified"] is True, item
        assert sha256_of(data_dir / item["path"]) == blob.sha256 == item["sha256"]
        assert [r["name"] for r in item["replicas"]] == ["origin", "mirror2", "ftp3"]
        served = item["metadata"]["replicas"]["served"]
        assert served[0]["from"] == 0 and served[-1]["to"] == blob.size
        assert all(a["to"] == b["from"] for a, b in itertools.pairwise(served))
    # Stalled on the origin, continued from the byte the stall left on the next replica,
    # verified by current.tree's md5. That is mirror2 unless the other file already showed
    # mirror2 bad (the two files run side by side): then mirror2 goes last and ftp3 (REST)
    # serves it. Over HTTP, no If-Range: the origin's validators mean nothing there.
    served_panel = [
        (r["replica"], r["from"], r["to"])
        for r in items["stall_only.panel"]["metadata"]["replicas"]["served"]
    ]
    assert served_panel in (
        [("origin", 0, 256 * KB), ("mirror2", 256 * KB, 1 * MB)],
        [("origin", 0, 256 * KB), ("ftp3", 256 * KB, 1 * MB)],
    )
    if served_panel[1][0] == "mirror2":
        resumed = [e for e in mirror.requests_for(stalled) if e.range]
        assert [e.range for e in resumed] == [f"bytes={256 * KB}-"]
        assert "if-range" not in resumed[0].headers
    else:
        assert [r.rest for r in ftp.retrs_of(f"vol1/{REL}/stall_only.panel")] == [256 * KB]
    # The copy from origin + mirror2 did not verify: fetched whole from ftp3, and mirror2's
    # range (not the origin's) differs from the verified copy: mirror2 is the bad replica.
    note = items["stall_then_corrupt.vcf.gz"]["metadata"]["replicas"]
    assert note["served"] == [
        {
            "replica": "ftp3",
            "url": f"{ftp.base_url}/vol1/{REL}/stall_then_corrupt.vcf.gz",
            "from": 0,
            "to": 2 * MB,
        }
    ]
    assert [(b["replica"], [(s["from"], s["to"]) for s in b["ranges"]]) for b in note["bad"]] == [
        ("mirror2", [(256 * KB, 2 * MB)])
    ]
    retrs = ftp.retrs_of(f"vol1/{REL}/stall_then_corrupt.vcf.gz")
    assert [(r.rest, r.completed) for r in retrs] == [(0, True)]
    # Reported: stats, log, and the catalog's events; nothing quarantined, one row per file.
    stats = result.stats
    assert stats.get("capture/replica_bad/mirror2") == 1
    assert not any(
        k.startswith("capture/replica_bad/") and k != "capture/replica_bad/mirror2" for k in stats
    )
    assert "Replica mirror2 served wrong bytes" in result.log
    rows = catalog_rows(data_dir)
    assert sorted(r["archive_path"].rsplit("/", 1)[-1] for r in rows) == sorted(files)
    assert all(r["state"] == "stored" and r["verified"] == 1 for r in rows)
    assert not (data_dir / "quarantine").exists() or not any((data_dir / "quarantine").rglob("*"))
    events = events_of(data_dir, f"vol1/{REL}/stall_then_corrupt.vcf.gz")
    copies = [e["ranges"] for e in events if e["kind"] == "replica"]
    assert [[r["replica"] for r in c] for c in copies] == [["origin", "mirror2"], ["ftp3"]]
    assert [e["replica"] for e in events if e["kind"] == "replica_bad"] == ["mirror2"]
    stored = [p for p in data_dir.rglob("*") if p.is_file() and p.name in files]
    assert sorted(p.name for p in stored) == sorted(files)  # each file once


@pytest.mark.parametrize("md5", [True, False], ids=["md5_and_size", "size_only"])
def test_sigkill_then_resume_on_another_replica_only_when_md5_and_size_bind_the_partial(
    server: ArchiveServer, mirror: ArchiveServer, data_dir: Path, md5: bool
) -> None:
    big = Blob("rep-big", 40 * MB)
    path = f"{REL}/big.vcf.gz"
    origin, second = ThousandGenomesArchive(server), ThousandGenomesArchive(mirror)
    origin.add_file(path, big, **({} if md5 else {"md5": "-"}))
    second.add_file(path, big)
    base = origin.publish()
    args = {"base_url": base, "prefix": f"{REL}/"}
    settings = {
        "CAPTURE_REPLICAS": f"mirror2={mirror.base_url}/vol1/ftp/",
        "CAPTURE_CHECKPOINT_BYTES": str(4 * MB),
        "CAPTURE_WRITE_BUFFER": str(MB),
    }
    part = data_dir / f".partial/genomics/thousand_genomes/vol1/{path}.part"
    server.bandwidth = 6 * MB
    proc, _, _ = start_crawl("thousand_genomes", data_dir, args=args, settings=settings)
    assert wait_for(lambda: part.exists() and part.stat().st_size >= 12 * MB, 60)
    kill(proc, signal.SIGKILL)
    assert 0 < part.stat().st_size < big.size

    server.bandwidth = None
    server.fault(f"/vol1/{path}", Fault("status", status=503))  # the origin fails next time
    result = run_crawl("thousand_genomes", data_dir, args=args, settings=settings)

    assert result.returncode == 0, result.log[-3000:]
    item = result.by_path()[f"vol1/{path}"]
    assert item["status"] == "stored" and sha256_of(data_dir / item["path"]) == big.sha256
    assert item["checksum"]["verified"] is (True if md5 else None)
    served = [(r["replica"], r["from"], r["to"]) for r in item["metadata"]["replicas"]["served"]]
    gets = [e for e in mirror.requests_for(f"/vol1/{path}") if e.method == "GET"]
    assert len(gets) == 1 and "if-range" not in gets[0].headers
    kinds = [e["kind"] for e in events_of(data_dir, f"vol1/{path}")]
    if md5:
        resumed = item["resumed_from"]
        assert resumed and resumed % (4 * MB) == 0  # the sidecar's durable offset
        assert served == [("origin", 0, resumed), ("mirror2", resumed, big.size)]
        assert gets[0].range == f"bytes={resumed}-"
        assert item["bytes_transferred"] == big.size - resumed
        assert "replica_switch" in kinds
    else:
        # No publisher digest: nothing could verify a splice, so mirror2 sends it all.
        assert served == [("mirror2", 0, big.size)]
        assert gets[0].range is None and not item.get("resumed_from")
        assert "restart" in kinds and "replica_switch" not in kinds


def test_capture_run_config_replicas_fail_over_and_a_bad_name_stops_before_any_crawl(
    server: ArchiveServer, mirror: ArchiveServer, tmp_path: Path
) -> None:
    blob = Blob("rep-run", 200 * KB)
    path = f"{REL}/only_on_mirror.txt"
    origin, second = ThousandGenomesArchive(server), ThousandGenomesArchive(mirror)
    origin.add_file(path, blob, served=False)  # listed by current.tree, 404 at the origin
    second.add_file(path, blob)
    data = tmp_path / "data"
    config = {
        "base_path": str(data),
        "enable_quality_validation": False,
        "mirrors": {"thousand_genomes": origin.publish()},
        "spider_args": {"thousand_genomes": {"prefix": f"{REL}/"}},
        "replicas": {"thousand_genomes": [f"mirror2={mirror.base_url}/vol1/ftp/"]},
    }
    bad = run_capture(
        ["--domains", "genomics"], tmp_path, {**config, "replicas": {"thousand_genomes": ["x"]}}
    )
    assert bad.returncode == 2 and "'x' is no replica this archive declares" in bad.stderr
    assert not server.requests_for("/vol1/ftp/current.tree")

    proc = run_capture(["--domains", "genomics"], tmp_path, config)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = catalog_rows(data, "select * from files where archive = ?", "thousand_genomes")
    assert row["state"] == "stored" and row["verified"] == 1
    assert row["final_url"] == f"{mirror.base_url}/vol1/{path}"
    served = json.loads(row["file_metadata"])["replicas"]["served"]
    assert [(r["replica"], r["from"], r["to"]) for r in served] == [("mirror2", 0, blob.size)]
    assert [e.status for e in server.requests_for(f"/vol1/{path}")] == [404]
