"""Attack 1 of issue 13: symlinks planted inside the data root never lead a write outside it.

A directory of victim files lives next to the data root. Before a real crawl, links to the
victims are planted where the crawl will write: a ``.part`` file, a directory of ``.partial``,
a sidecar journal, a quarantine note, a directory of the published tree, a published file
itself. The victims must come out byte for byte the same (hashes and names), nothing may be
created outside the root, each attacked file must end ``failed`` with a one-line "unsafe path"
error (never ``stored``, never left ``discovered``), and the other files must be stored.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

import pytest

from capture import safefs
from capture.outcomes import EXIT_PARTIAL
from capture.paths import DataRoot, UnsafePathError
from capture.transfer.errors import LocalStorageError
from capture.transfer.sidecar import PartialState
from capture.transfer.sink import FileSink
from tests.archives import Blob
from tests.archives.thousand_genomes import WHOLE_TREE, ThousandGenomesArchive
from tests.crawl import catalog_rows, run_crawl

TREE = "genomics/thousand_genomes/vol1"  # <domain>/<archive>/ prefix of every stored path


def snapshot(root: Path) -> dict[str, str]:
    """Every entry below ``root`` (links not followed) with the hash of its content."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                out[rel] = "dir"
    return out


def plant(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, link)


@pytest.fixture
def victims(tmp_path: Path) -> Path:
    d = tmp_path / "victims"
    d.mkdir()
    for name in ("va", "vb", "vd", "ve", "vf"):
        (d / name).write_bytes(f"victim {name}\n".encode() * 100)
    (d / "sub").mkdir()
    (d / "sub" / "keep.txt").write_text("untouched\n")
    return d


#: archive path (below vol1/ftp/) -> how it is attacked
ATTACKS = {
    "a/part.bin": "the .part file is a link to a victim",
    "b/bad.bin": "quarantined file whose .reason.json is a link to a victim",
    "c/sub/x.bin": "a directory of the published tree is a link to the victims' directory",
    "d/final.bin": "the published file itself is a link to a victim",
    "e/journal.bin": "the part's sidecar journal is a link to a victim",
    "f/dir.bin": "a directory of .partial is a link to the victims' directory",
}
GOOD = ("ok/one.bin", "ok/two.bin", "ok/three.bin")


def test_planted_symlinks_never_lead_writes_outside_the_data_root(
    tg: ThousandGenomesArchive, data_dir: Path, victims: Path, tmp_path: Path
) -> None:
    for i, path in enumerate([*GOOD, *ATTACKS]):
        wrong_md5 = {"md5": "0" * 32} if path.startswith("b/") else {}
        tg.add_file(f"ftp/{path}", Blob(f"hostile-fs-{i}", 3000 + 17 * i), **wrong_md5)
    base = tg.publish()
    partial = data_dir / ".partial" / TREE / "ftp"
    published = data_dir / TREE / "ftp"
    plant(partial / "a" / "part.bin.part", victims / "va")
    plant(data_dir / "quarantine" / TREE / "ftp" / "b" / "bad.bin.reason.json", victims / "vb")
    plant(published / "c", victims)
    plant(published / "d" / "final.bin", victims / "vd")
    plant(partial / "e" / "journal.bin.part.json", victims / "ve")
    plant(partial / "f", victims)
    before = snapshot(victims)
    outside_before = {p.name for p in tmp_path.iterdir()}

    result = run_crawl(
        "thousand_genomes",
        data_dir,
        args={"base_url": base, **WHOLE_TREE},
        settings={"RETRY_TIMES": "1"},
        timeout=120,
    )

    assert snapshot(victims) == before  # no byte written, no file created, nothing renamed
    created = {p.name for p in tmp_path.iterdir()} - outside_before
    assert all(n.endswith((".jsonl", ".log")) for n in created), created  # the crawl's own
    assert "Traceback" not in result.log, result.log[-4000:]
    assert result.returncode == EXIT_PARTIAL, result.log[-3000:]

    items = result.by_path()
    for path in GOOD:
        item = items[f"vol1/ftp/{path}"]
        assert item["status"] == "stored" and item["checksum"]["verified"] is True
        stored = data_dir / item["path"]
        assert not stored.is_symlink()
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == item["sha256"]
    rows = {r["archive_path"]: r for r in catalog_rows(result.data_dir)}
    for path, attack in ATTACKS.items():
        item, row = items[f"vol1/ftp/{path}"], rows[f"vol1/ftp/{path}"]
        assert item["status"] == row["state"] == "failed", (attack, item)
        assert "unsafe path" in row["error"] and "symlink component" in row["error"], row
        assert "\n" not in row["error"]
    assert result.stats["capture/store/unsafe_path"] == 3  # b, c, d: refused when publishing
    assert result.stats["capture/status/stored"] == len(GOOD)
    # The planted links are left for the operator to look at, still pointing where they did.
    assert os.readlink(published / "d" / "final.bin") == str(victims / "vd")


# -- DataRoot.resolve ----------------------------------------------------------------------
@pytest.fixture
def root(tmp_path: Path) -> DataRoot:
    return DataRoot.at(tmp_path / "data")


@pytest.mark.parametrize(
    "link,call",
    [
        ("g", lambda r: r.final("g/a/x.txt")),  # top directory
        ("g/a", lambda r: r.final("g/a/x.txt")),  # inner directory
        ("g/a/x.txt", lambda r: r.final("g/a/x.txt")),  # the final name
        ("quarantine", lambda r: r.quarantine("g/a/x.txt")),  # the area itself
        (
            "quarantine/g/a/x.txt.reason.json",
            lambda r: r.resolve("g/a/x.txt", area="quarantine", suffix=".reason.json"),
        ),
        ("versions/g", lambda r: r.resolve("g/a/x.txt", area="versions", suffix=".v1")),
    ],
)
def test_resolve_refuses_any_symlink_component(
    root: DataRoot, tmp_path: Path, link: str, call: object
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    plant(root.root / link, outside)
    with pytest.raises(UnsafePathError, match=re.escape(f"symlink component {link}") + "$"):
        call(root)  # type: ignore[operator]


def test_resolve_accepts_missing_components_and_a_symlinked_root(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "chosen")
    root = DataRoot.at(tmp_path / "chosen")  # the user's own link: resolved once, trusted
    assert root.root == real
    assert root.final("g/a/x.txt") == real / "g" / "a" / "x.txt"
    (real / "g").mkdir()
    assert root.final("g/a/x.txt") == real / "g" / "a" / "x.txt"


def test_partial_is_not_checked_until_the_sink_opens_it(root: DataRoot, tmp_path: Path) -> None:
    """partial() runs when the request is built; the open itself is the check (no TOCTOU)."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    part = root.partial("g/a/x.txt")
    plant(part, victim)
    sink = FileSink(str(part), [], 1024)
    with pytest.raises(LocalStorageError, match=r"^unsafe path: \.partial/g/a/x\.txt\.part has"):
        sink.prepare(fresh=True)
    sink = FileSink(str(part), [], 1024)
    sink.start_clean()
    with pytest.raises(LocalStorageError, match="symlink component"):
        sink.write([b"attack"])
    assert victim.read_bytes() == b"precious"


# -- the no-follow primitives ----------------------------------------------------------------
def test_safefs_never_follows_and_never_creates_outside(tmp_path: Path) -> None:
    base, outside = tmp_path / "base", tmp_path / "outside"
    base.mkdir()
    outside.mkdir()
    (outside / "v").write_bytes(b"v")
    os.symlink(outside, base / "d")
    os.symlink(outside / "v", base / "f")
    with pytest.raises(UnsafePathError, match=r"symlink component d$"):
        safefs.open_file(base / "d" / "new" / "x", os.O_WRONLY | os.O_CREAT, base)
    with pytest.raises(UnsafePathError, match=r"symlink component f$"):
        safefs.open_file(base / "f", os.O_WRONLY | os.O_TRUNC, base)
    with pytest.raises(UnsafePathError):
        safefs.write_atomic(base / "f", b"x", base)
    assert not safefs.is_file(base / "f", base)
    safefs.unlink(base / "f", base)  # removes the link, not its target
    assert not (base / "f").is_symlink()
    # A link planted at the temp name of an atomic write is removed, never written through.
    os.symlink(outside / "v", base / "note.tmp")
    safefs.write_atomic(base / "note", b"ours", base)
    assert (base / "note").read_bytes() == b"ours"
    assert sorted(p.name for p in outside.iterdir()) == ["v"]
    assert (outside / "v").read_bytes() == b"v"


def test_sidecar_journal_is_never_read_or_written_through_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim.json"
    victim.write_text(
        '{"version": 1, "url": "u", "etag": "\\"e\\"", "last_modified": null, '
        '"length": 10, "durable_offset": 5}'
    )
    original = victim.read_bytes()
    part = tmp_path / ".partial" / "x.part"
    part.parent.mkdir()
    os.symlink(victim, str(part) + ".json")
    assert PartialState.load(part) is None  # a forged resume offset is never believed
    with pytest.raises(UnsafePathError):
        PartialState(url="u", etag=None, last_modified="d", length=3).save(part)
    assert victim.read_bytes() == original


def test_group_sync_skips_vanished_files_and_refuses_links(tmp_path: Path) -> None:
    """The batch fsync before a group commit (pipelines/metadata.py) walks like every write:
    a file gone meanwhile is skipped, a link planted at a file or a directory is refused."""
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d" / "a").write_bytes(b"a")
    (root / "d" / "b").write_bytes(b"b")
    safefs.sync_files([root / "d" / "a", root / "d" / "gone", root / "d" / "b"], root)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "c").write_bytes(b"c")
    os.symlink(outside / "c", root / "d" / "c")
    with pytest.raises(UnsafePathError):
        safefs.sync_files([root / "d" / "c"], root)
    os.symlink(outside, root / "e")
    with pytest.raises(UnsafePathError):
        safefs.sync_files([root / "e" / "c"], root)


def test_a_deferred_sink_fsyncs_its_data_and_leaves_the_directory(tmp_path: Path) -> None:
    """Every local sink fsyncs its data at finish, on the descriptor it wrote with (no second
    open walk, no second IO job). A clean sink with ``sync=False`` (a file new to the catalog)
    says that its published name's directory entry is left to the group commit."""
    part = tmp_path / ".partial" / "x.part"
    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    for sync in (False, True):
        calls.clear()
        sink = FileSink(str(part), [], 1 << 20, sync=sync)
        sink.start_clean()
        os.fsync = counting  # type: ignore[assignment]
        try:
            digests = sink.complete([b"hello"])
        finally:
            os.fsync = real  # type: ignore[assignment]
        assert len(calls) == 1 and sink.sync is True
        assert sink.defer_dir is (not sync)
        assert digests["sha256"] == hashlib.sha256(b"hello").hexdigest()
        assert part.read_bytes() == b"hello" and sink.journaled is False


def test_group_sync_syncs_named_directories_without_reopening_files(tmp_path: Path) -> None:
    """``names``: files whose data is durable already; only their directories are fsynced."""
    root = tmp_path / "root"
    for d in ("a", "b"):
        (root / d).mkdir(parents=True)
        (root / d / "f").write_bytes(b"x")
    files: list[int] = []
    dirs: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        (dirs if stat.S_ISDIR(os.fstat(fd).st_mode) else files).append(fd)
        real(fd)

    os.fsync = counting  # type: ignore[assignment]
    try:
        safefs.sync_files([root / "a" / "f"], root, names=[root / "a" / "f", root / "b" / "f"])
    finally:
        os.fsync = real  # type: ignore[assignment]
    assert len(files) == 1 and len(dirs) == 2


def test_cached_directory_walks_stay_inside_when_the_tree_changes(tmp_path: Path) -> None:
    """Walks reuse directories already walked (safefs._DirCache). A directory swapped for a
    link afterwards still never leads a write outside: removed, it is walked again and the
    link refused; renamed away, the write lands in the renamed directory, inside the base."""
    base, outside = tmp_path / "base", tmp_path / "outside"
    base.mkdir()
    outside.mkdir()
    flags = os.O_WRONLY | os.O_CREAT
    os.close(safefs.open_file(base / "d" / "sub" / "one", flags, base))
    os.close(safefs.open_file(base / "d" / "sub" / "two", flags, base))  # from the cache
    assert sorted(p.name for p in (base / "d" / "sub").iterdir()) == ["one", "two"]

    for p in (base / "d" / "sub").iterdir():
        p.unlink()
    (base / "d" / "sub").rmdir()
    os.symlink(outside, base / "d" / "sub")
    with pytest.raises(UnsafePathError, match=r"symlink component d/sub$"):
        safefs.open_file(base / "d" / "sub" / "three", flags, base)

    os.unlink(base / "d" / "sub")
    os.close(safefs.open_file(base / "d" / "sub" / "four", flags, base))  # walked, cached
    os.rename(base / "d" / "sub", base / "d" / "moved")
    os.symlink(outside, base / "d" / "sub")
    os.close(safefs.open_file(base / "d" / "sub" / "five", flags, base))
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in (base / "d" / "moved").iterdir()) == ["five", "four"]


def test_directory_cache_is_bounded(tmp_path: Path) -> None:
    cache = safefs._DirCache(size=3)
    for i in range(10):
        d = tmp_path / f"d{i}"
        d.mkdir()
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        cache.keep((str(tmp_path), (f"d{i}",)), fd)
        os.close(fd)
    assert len(cache._fds) == 3
    assert cache.take((str(tmp_path), ("d0",))) is None
    fd = cache.take((str(tmp_path), ("d9",)))
    assert fd is not None and os.path.samestat(os.fstat(fd), os.stat(tmp_path / "d9"))
    os.close(fd)
    cache.clear()
    assert cache.take((str(tmp_path), ("d9",))) is None
