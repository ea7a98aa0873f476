"""The de-duplication report and retroactive pass in process (capture/dedup) on both catalog
backends: groups span archives and kept versions but never a retracted file's bytes; --apply
links each separate copy once, records it, and the report's numbers follow."""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from capture.catalog import Catalog
from capture.catalog.schema import events, file_versions, files
from capture.dedup.apply import apply
from capture.dedup.groups import groups
from capture.dedup.report import summarize
from capture.paths import DataRoot
from capture.storage import LocalStore, clone
from tests.services import postgres_database
from tests.test_storage import stage

X = b"identical spectrum bytes\n" * 400
Y = b"the file's newer content\n" * 300


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
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


def add(
    catalog: Catalog, store: LocalStore, archive: str, name: str, body: bytes, **cols: Any
) -> int:
    """A stored file as a crawl leaves it (bytes published, files row, version 1)."""
    rel = f"astronomy/{archive}/{name}"
    part, digests = stage(store, rel, body)
    store.publish(part, rel, digests)
    sha = hashlib.sha256(body).hexdigest()
    with catalog.engine.begin() as conn:
        fid = conn.execute(
            insert(files).values(
                {
                    "archive": archive,
                    "archive_path": name,
                    "domain": "astronomy",
                    "url": f"http://a/{name}",
                    "path": rel,
                    "state": "stored",
                    "size": len(body),
                    "sha256": sha,
                    "item": {},
                    **cols,
                }
            )
        ).inserted_primary_key[0]
        conn.execute(
            insert(file_versions).values(
                file_id=fid, version=1, sha256=sha, size=len(body), stored_at=rel
            )
        )
    return int(fid)


def new_version(catalog: Catalog, store: LocalStore, fid: int, rel: str, body: bytes) -> str:
    """The file changed upstream: v1 kept under versions/, ``body`` published as v2."""
    kept = store.retire(rel, 1)
    assert kept is not None
    part, digests = stage(store, rel, body)
    store.publish(part, rel, digests)
    sha = hashlib.sha256(body).hexdigest()
    with catalog.engine.begin() as conn:
        conn.execute(
            update(file_versions)
            .where(file_versions.c.file_id == fid)
            .values(superseded_at="2026-12-01T00:00:00+00:00", stored_at=kept)
        )
        conn.execute(
            insert(file_versions).values(
                file_id=fid, version=2, sha256=sha, size=len(body), stored_at=rel
            )
        )
        conn.execute(
            update(files).where(files.c.id == fid).values(sha256=sha, size=len(body), version=2)
        )
    return kept


def inode(store: LocalStore, rel: str) -> int:
    return os.stat(store.data.final(rel)).st_ino


def test_apply_links_copies_across_archives_and_rounds(catalog: Catalog, local: LocalStore) -> None:
    a = add(catalog, local, "kurucz", "a.dat", X)
    b = add(catalog, local, "phoenix", "b.dat", X)
    d = add(catalog, local, "kurucz", "d.dat", X)
    kept = new_version(catalog, local, d, "astronomy/kurucz/d.dat", Y)  # X is now a kept v1
    gone = add(catalog, local, "phoenix", "gone.dat", X, state="retracted")
    rot = add(catalog, local, "phoenix", "rot.dat", X, fixity="corrupt")  # audit found it bad
    add(catalog, local, "kurucz", "own.dat", Y + b"!")
    (group,) = groups(catalog.engine)
    assert group.size == len(X)
    assert [(loc.file_id, loc.version) for loc in group.locations] == [(a, None), (b, None), (d, 1)]
    before = summarize(catalog.engine, local)
    assert (before.groups, before.total().twice, before.total().twice_bytes) == (1, 2, 2 * len(X))
    assert before.total().saved == 0

    done = apply(catalog.engine, local, run_id="dedup_test")
    assert (done.linked, done.freed, done.recorded, done.declined) == (2, 2 * len(X), 0, [])
    ino = inode(local, "astronomy/kurucz/a.dat")
    assert inode(local, "astronomy/phoenix/b.dat") == ino == inode(local, kept)
    assert os.stat(local.data.final(kept)).st_nlink == 3
    for rel in ("astronomy/kurucz/a.dat", "astronomy/phoenix/b.dat", kept):
        assert local.data.final(rel).read_bytes() == X
    # Never a retracted file's or a rotted file's bytes, either way round.
    assert inode(local, "astronomy/phoenix/gone.dat") != ino
    assert inode(local, "astronomy/phoenix/rot.dat") != ino
    with catalog.engine.connect() as conn:
        copies = dict(conn.execute(select(files.c.id, files.c.copy_of)).all())
        kinds = [r.detail for r in conn.execute(select(events.c.detail).order_by(events.c.id))]
    assert copies[b] == a and copies[a] is None and copies[gone] is None and copies[rot] is None
    assert copies[d] is None  # its *published* bytes are its own (Y); its v1 is the link
    assert [k.get("copy_version") for k in kinds] == [None, 1]
    assert all(k["retroactive"] and k["linked_to"] == "astronomy/kurucz/a.dat" for k in kinds)

    after = summarize(catalog.engine, local)
    lines = {line.archive: line for line in after.archives}
    assert (after.total().saved, after.total().twice) == (len(X), 0)
    assert (lines["phoenix"].copies, lines["phoenix"].cross_copies) == (1, 1)
    assert lines["phoenix"].cross_saved == len(X)
    again = apply(catalog.engine, local)
    assert (again.linked, again.recorded) == (0, 0)


def test_links_made_earlier_are_recorded_not_redone(catalog: Catalog, local: LocalStore) -> None:
    a = add(catalog, local, "kurucz", "a.dat", X)
    b = add(catalog, local, "phoenix", "b.dat", X)
    os.unlink(local.data.final("astronomy/phoenix/b.dat"))
    os.link(local.data.final("astronomy/kurucz/a.dat"), local.data.final("astronomy/phoenix/b.dat"))
    done = apply(catalog.engine, local)
    assert (done.linked, done.recorded, done.freed) == (0, 1, 0)
    with catalog.engine.connect() as conn:
        row = conn.execute(
            select(files.c.copy_of, files.c.copy_method).where(files.c.id == b)
        ).one()
    assert tuple(row) == (a, "hardlink")


def _reflinks(directory: Path) -> bool:
    """Whether this filesystem clones files (FICLONE: btrfs, XFS...)."""
    import fcntl

    a, b = directory / "probe.a", directory / "probe.b"
    a.write_bytes(b"x" * 4096)
    with open(a, "rb") as src, open(b, "wb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), clone.FICLONE, src.fileno())
            return True
        except OSError:
            return False
        finally:
            a.unlink()
            b.unlink()


def test_an_inode_out_of_links_falls_back_to_a_reflink_or_declines(tmp_path: Path) -> None:
    """ext4 allows 65,000 links per inode: a very common file (an empty README, a shared
    header) reaches it. Then a reflink is tried, and where the filesystem has none the copy
    is declined (the caller publishes its own bytes) with nothing changed."""
    base = tmp_path / "root"
    (base / "many").mkdir(parents=True)
    source = base / "src.dat"
    source.write_bytes(X)
    sha = hashlib.sha256(X).hexdigest()
    made = 0
    try:
        while True:
            os.link(source, base / "many" / f"l{made}")
            made += 1
    except OSError as exc:
        if exc.errno != errno.EMLINK:
            raise
    assert made > 1000  # the filesystem's cap, reached for real
    dest = base / "copy.dat"
    method = clone.share(source, dest, base, len(X), sha)
    if _reflinks(base):
        assert method == "reflink" and dest.read_bytes() == X
        assert os.stat(dest).st_ino != os.stat(source).st_ino
    else:
        assert method is None and not dest.exists()
        assert not (base / "copy.dat.link").exists()  # no temp left behind
