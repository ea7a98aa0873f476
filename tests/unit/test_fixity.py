"""The fixity audit in process (capture/fixity): audit order across files and kept versions,
reproducible samples, the byte rate limit, and the same audit over an S3 store (moto)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from capture.catalog import Catalog
from capture.catalog.schema import events, file_versions, files
from capture.fixity import Result, Selection, expected
from capture.fixity.audit import Options, audit, now
from capture.fixity.check import Throttle, check
from capture.fixity.targets import targets
from capture.paths import DataRoot
from capture.storage import LocalStore, S3Store, Store
from capture.storage import s3 as s3mod
from tests.services import postgres_database
from tests.test_storage import BUCKET, mock_s3, stage

__all__ = ["mock_s3"]  # the fixture, shared with tests/test_storage.py


def add_file(catalog: Catalog, store: Store, name: str, body: bytes, **cols: Any) -> int:
    """A stored file as a crawl leaves it: published bytes, a files row, its version row."""
    rel = f"genomics/tg/{name}"
    part, digests = stage(store, rel, body)
    store.publish(part, rel, digests)
    with catalog.engine.begin() as conn:
        fid = conn.execute(
            insert(files).values(
                {
                    "archive": "tg",
                    "archive_path": name,
                    "domain": "genomics",
                    "url": f"http://a/{name}",
                    "path": rel,
                    "state": "stored",
                    "size": len(body),
                    "sha256": digests["sha256"],
                    "digest_algorithm": "md5",
                    "digest_actual": digests["md5"],
                    "retrieved_at": "2026-11-01T00:00:00+00:00",
                    "item": {},
                    **cols,
                }
            )
        ).inserted_primary_key[0]
        conn.execute(
            insert(file_versions).values(
                file_id=fid, version=1, sha256=digests["sha256"], size=len(body), stored_at=rel
            )
        )
    return int(fid)


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    """Both backends (PostgreSQL skips where no server runs)."""
    if request.param == "sqlite":
        cat = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
        yield cat
        cat.close()
        return
    with postgres_database() as url:
        cat = Catalog(url)
        yield cat
        cat.close()


@pytest.fixture
def local(tmp_path: Path) -> LocalStore:
    return LocalStore(DataRoot.at(tmp_path / "data"))


def test_never_verified_first_then_least_recently_verified_files_and_versions(
    catalog: Catalog, local: LocalStore
) -> None:
    a = add_file(catalog, local, "a.bin", b"a", verified_at="2026-10-03T00:00:00+00:00")
    b = add_file(catalog, local, "b.bin", b"b")
    c = add_file(catalog, local, "c.bin", b"c", verified_at="2026-10-01T00:00:00+00:00")
    d = add_file(catalog, local, "d.bin", b"d", state="failed")  # not stored: not audited
    old = local.retire("genomics/tg/a.bin", 1)
    with catalog.engine.begin() as conn:
        conn.execute(
            update(file_versions)
            .where(file_versions.c.file_id == a)
            .values(superseded_at="2026-10-05", stored_at=old, verified_at="2026-10-02")
        )
    sel = Selection(started=now())
    order = [(t.kind, t.file_id) for t in targets(catalog.engine, sel)]
    assert order == [("file", b), ("file", c), ("version", a), ("file", a)]
    assert d not in {fid for _, fid in order}
    due = Selection(started=now(), due_before="2026-10-02T12:00:00+00:00")
    assert [t.file_id for t in targets(catalog.engine, due)] == [b, c, a]


def test_a_sample_is_the_same_for_the_same_seed_whatever_the_order(
    catalog: Catalog, local: LocalStore
) -> None:
    for i in range(200):
        add_file(catalog, local, f"s{i}.bin", b"%d" % i)
    pick = {t.id for t in targets(catalog.engine, Selection(started=now(), sample=0.1, seed=3))}
    assert 5 < len(pick) < 40
    with catalog.engine.begin() as conn:  # verify some: the order changes, the sample not
        conn.execute(update(files).where(files.c.id % 3 == 0).values(verified_at=now()))
    again = {t.id for t in targets(catalog.engine, Selection(started=now(), sample=0.1, seed=3))}
    assert again == pick
    other = {t.id for t in targets(catalog.engine, Selection(started=now(), sample=0.1, seed=4))}
    assert other != pick


def test_reads_are_held_to_the_byte_rate(catalog: Catalog, local: LocalStore) -> None:
    body = b"z" * 3_000_000
    fid = add_file(catalog, local, "big.bin", body)
    (target,) = [t for t in targets(catalog.engine, Selection(started=now())) if t.id == fid]
    clock = time.monotonic()
    finding = check(local, target.location, expected(target), Throttle(2e6), chunk_size=250_000)
    elapsed = time.monotonic() - clock
    assert finding.result is Result.OK and finding.bytes_read == len(body)
    # A 0.1 s burst (0.2 MB), then the other 2.8 MB at 2 MB/s.
    assert 1.3 <= elapsed < 2.5, elapsed
    assert finding.actual["md5"] == hashlib.md5(body).hexdigest()  # the publisher's digest too


def test_the_audit_over_s3_finds_bit_rot_missing_and_extra_objects(
    catalog: Catalog, tmp_path: Path, mock_s3: Any
) -> None:
    store = S3Store(
        f"s3://{BUCKET}/round1", s3mod.S3Settings(), scratch=tmp_path / "s", scratch_max=1 << 20
    )
    bodies = {f"o{i}.bin": bytes([i]) * (50_000 + i) for i in range(4)}
    for name, body in bodies.items():
        add_file(catalog, store, name, body)
    key = "round1/genomics/tg/"
    rotten = bytearray(bodies["o1.bin"])
    rotten[100] ^= 0x80
    mock_s3.put_object(Bucket=BUCKET, Key=key + "o1.bin", Body=bytes(rotten))
    mock_s3.delete_object(Bucket=BUCKET, Key=key + "o2.bin")
    mock_s3.put_object(Bucket=BUCKET, Key=key + "stray.bin", Body=b"stray")
    report = audit(catalog.engine, store, Options(Selection(started=now()), domains=("genomics",)))
    assert {p["location"]: p["result"] for p in report.problems} == {
        "genomics/tg/o1.bin": "corrupt",
        "genomics/tg/o2.bin": "missing",
        "genomics/tg/stray.bin": "extra",
    }
    assert report.counts == {"ok": 2, "corrupt": 1, "missing": 1, "extra": 1}
    moved = mock_s3.get_object(Bucket=BUCKET, Key="round1/quarantine/genomics/tg/o1.bin")
    assert moved["Body"].read() == bytes(rotten)
    assert not store.exists("genomics/tg/o1.bin")
    with catalog.engine.connect() as conn:
        states = dict(conn.execute(select(files.c.archive_path, files.c.state)).all())
        kinds = conn.execute(select(events.c.kind)).scalars().all()
    assert states == {"o0.bin": "stored", "o1.bin": "quarantined", "o2.bin": "failed"} | {
        "o3.bin": "stored"
    }
    assert kinds == ["fixity"] * 4
    clean = audit(catalog.engine, store, Options(Selection(started=now()), domains=("genomics",)))
    assert clean.counts == {"ok": 2, "extra": 1}  # lost rows are no longer stored
