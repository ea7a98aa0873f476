"""The Store and Sink protocols, in process: the local data root and S3 (moto's in-process
mock) keep one contract (publish, exists, dedup by link, versions, quarantine, discard,
scratch copies), and ``CAPTURE_STORE``'s scheme picks the store in one place."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from scrapy.settings import Settings

from capture.paths import DataRoot, UnsafePathError
from capture.storage import STORE_SCHEMES, LocalStore, S3Store, Sink, Store, store_for
from capture.storage import s3 as s3mod
from capture.transfer.sink import FileSink

BUCKET = "capture-unit"
REL = "genomics/tg/vol1/a.bin"


@dataclass
class Backend:
    store: Store
    #: Bytes stored at ``area/rel`` (area "" for the published tree), None if absent.
    read: Callable[[str, str], bytes | None]
    #: Whether a staging location still holds bytes.
    staged: Callable[[str], bool]


@pytest.fixture
def mock_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    moto = pytest.importorskip("moto")
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # capture's boto3 client is one per process: make one inside the mock, drop it after.
    monkeypatch.setattr(s3mod, "_CLIENTS", {})
    with moto.mock_aws():
        client = s3mod.client()
        client.create_bucket(Bucket=BUCKET)
        yield client


def local_backend(tmp_path: Path) -> Backend:
    data = DataRoot.at(tmp_path / "data")

    def read(area: str, rel: str) -> bytes | None:
        path = data.root / area / rel if area else data.root / rel
        return path.read_bytes() if path.is_file() else None

    def staged(part: str) -> bool:
        return Path(part).exists() or Path(part + ".json").exists()

    return Backend(LocalStore(data), read, staged)


def s3_backend(tmp_path: Path, client: object) -> Backend:
    store = S3Store(
        f"s3://{BUCKET}/round1",
        s3mod.S3Settings(),
        scratch=tmp_path / "scratch",
        scratch_max=1 << 20,
    )

    def get(key: str) -> bytes | None:
        try:
            return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()  # type: ignore[attr-defined]
        except client.exceptions.NoSuchKey:  # type: ignore[attr-defined]
            return None

    def read(area: str, rel: str) -> bytes | None:
        return get(store.key(rel, area or None))

    def staged(part: str) -> bool:
        _, key = s3mod.split_uri(part)
        return get(key) is not None or get(key + ".json") is not None

    return Backend(store, read, staged)


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        return local_backend(tmp_path)
    return s3_backend(tmp_path, request.getfixturevalue("mock_s3"))


def stage(store: Store, rel: str, body: bytes) -> tuple[str, dict[str, str]]:
    """Download ``body`` for ``rel`` the way the handler does: the store's sink at its part
    location, begun clean, written, finished."""
    part = store.part_location(rel)
    sink = store.sink(part, ["md5"], checkpoint_bytes=1 << 20, sync=True)
    assert isinstance(sink, Sink)
    assert sink.start_clean() == (0, None)
    sink.write([body[:3], body[3:]])
    digests = sink.finish()
    assert sink.size == len(body)
    return part, digests


def test_both_stores_and_their_sinks_satisfy_the_protocols(backend: Backend) -> None:
    store = backend.store
    assert isinstance(store, Store)
    part = store.part_location(REL)
    assert store.owns(part)
    assert isinstance(store.sink(part, [], checkpoint_bytes=1, sync=True), Sink)


def test_publish_then_exists_with_the_digests_of_the_stream(backend: Backend) -> None:
    store, body = backend.store, b"stellar spectrum\n" * 50
    assert not store.exists(REL)
    part, digests = stage(store, REL, body)
    assert digests == {
        "sha256": hashlib.sha256(body).hexdigest(),
        "md5": hashlib.md5(body).hexdigest(),
    }
    assert backend.staged(part)
    target = store.publish(part, REL, {"sha256": digests["sha256"]})
    assert store.exists(REL)
    assert backend.read("", REL) == body
    assert not backend.staged(part)  # the part and its journal went with the publication
    recorded = store.recorded(target)
    assert recorded == (REL if not store.remote else f"s3://{BUCKET}/round1/{REL}")


def test_link_copy_stores_identical_content_once_or_declines(backend: Backend) -> None:
    store, body = backend.store, b"same bytes" * 100
    sha = hashlib.sha256(body).hexdigest()
    part, digests = stage(store, REL, body)
    store.publish(part, REL, digests)
    copy_rel = "genomics/tg/vol2/a-copy.bin"
    part2, _ = stage(store, copy_rel, body)
    # A source that is not the catalog's bytes (size or sha256) is never linked to.
    assert store.link_copy(REL, copy_rel, part2, len(body) + 1, sha) is None
    assert store.link_copy(REL, copy_rel, part2, len(body), "0" * 64) is None
    assert store.link_copy("genomics/tg/missing.bin", copy_rel, part2, len(body), sha) is None
    assert backend.staged(part2) and not store.exists(copy_rel)
    method = store.link_copy(REL, copy_rel, part2, len(body), sha)
    assert method == ("s3-copy" if store.remote else "hardlink")
    assert not backend.staged(part2)  # the part is dropped: the copy is published
    assert store.exists(copy_rel) and backend.read("", copy_rel) == body
    if store.remote:  # a server-side copy of the stored object, marked as such
        client = store.s3  # type: ignore[attr-defined]
        head = client.head_object(Bucket=BUCKET, Key=store.key(copy_rel))  # type: ignore[attr-defined]
        assert head["Metadata"] == {**digests, "copy-of": store.key(REL)}  # type: ignore[attr-defined]
        assert store.dedupe(REL, copy_rel, len(body), sha) is None  # nothing to free on S3
    else:
        root = store.data.root  # type: ignore[attr-defined]
        assert (root / copy_rel).stat().st_ino == (root / REL).stat().st_ino
        assert store.dedupe(REL, copy_rel, len(body), sha) == "linked"


def test_retire_moves_the_published_bytes_aside_as_a_version(backend: Backend) -> None:
    store = backend.store
    assert store.retire(REL, 1) is None  # nothing published yet
    part, digests = stage(store, REL, b"version one")
    store.publish(part, REL, digests)
    assert store.retire(REL, 1) == f"versions/{REL}.v1"
    assert backend.read("versions", REL + ".v1") == b"version one"
    part, digests = stage(store, REL, b"version two")
    store.publish(part, REL, digests)
    assert backend.read("", REL) == b"version two"


def test_quarantine_keeps_the_bytes_and_the_reason_outside_the_tree(backend: Backend) -> None:
    store, body = backend.store, b"<html>not the file</html>"
    part, digests = stage(store, REL, body)
    reason = {"reasons": ["sha256 mismatch"], "sha256": digests["sha256"], "url": "http://a/x"}
    target = store.quarantine(part, REL, reason)
    assert not store.exists(REL)
    assert not backend.staged(part)
    assert backend.read("quarantine", REL) == body
    note = json.loads(backend.read("quarantine", REL + ".reason.json") or b"{}")
    assert note["reasons"] == ["sha256 mismatch"]
    assert store.recorded(target).endswith(f"quarantine/{REL}")


def test_read_streams_stored_bytes_in_bounded_chunks(backend: Backend) -> None:
    store, body = backend.store, bytes(range(256)) * 40_000  # 10 MB: several chunks
    part, digests = stage(store, REL, body)
    store.publish(part, REL, digests)
    chunks = list(store.read(REL, 1 << 20))
    assert b"".join(chunks) == body
    assert len(chunks) >= 10 and max(len(c) for c in chunks) <= 1 << 20
    store.retire(REL, 1)
    assert b"".join(store.read(f"versions/{REL}.v1", 4096)) == body
    with pytest.raises(FileNotFoundError):
        list(store.read("genomics/tg/never.bin", 4096))


def test_walk_lists_what_is_stored_below_a_directory(backend: Backend) -> None:
    store = backend.store
    for rel, body in ((REL, b"abc"), ("genomics/tg/vol2/deep/b.bin", b"defgh")):
        part, digests = stage(store, rel, body)
        store.publish(part, rel, digests)
    part, _ = stage(store, "genomics/tg/vol3/staged.bin", b"not published")
    found = {(o.rel, o.size, o.kind) for o in store.walk("genomics")}
    assert found == {(REL, 3, "file"), ("genomics/tg/vol2/deep/b.bin", 5, "file")}
    assert list(store.walk("astronomy")) == []
    assert {o.rel for o in store.walk("genomics/tg/vol2")} == {"genomics/tg/vol2/deep/b.bin"}


def test_quarantine_stored_moves_published_bytes_out_of_the_tree(backend: Backend) -> None:
    store, body = backend.store, b"rotten bytes"
    part, digests = stage(store, REL, body)
    store.publish(part, REL, digests)
    target = store.quarantine_stored(REL, {"reason": "fixity", "result": "corrupt"})
    assert not store.exists(REL)
    assert backend.read("quarantine", REL) == body
    note = json.loads(backend.read("quarantine", REL + ".reason.json") or b"{}")
    assert note == {"reason": "fixity", "result": "corrupt"}
    assert store.recorded(target).endswith(f"quarantine/{REL}")


def test_the_local_walk_reports_links_and_never_follows_them(tmp_path: Path) -> None:
    data = DataRoot.at(tmp_path / "data")
    store = LocalStore(data)
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "sub" / "secret.bin").write_bytes(b"x" * 9)
    tree = data.root / "genomics/tg"
    tree.mkdir(parents=True)
    (tree / "dir-link").symlink_to(outside / "sub")
    (tree / "file-link").symlink_to(outside / "sub" / "secret.bin")
    kinds = {o.rel: o.kind for o in store.walk("genomics")}
    assert kinds == {"genomics/tg/dir-link": "symlink", "genomics/tg/file-link": "symlink"}
    with pytest.raises(UnsafePathError):
        list(store.read("genomics/tg/file-link", 4096))


def test_discard_drops_the_part_and_its_journal(backend: Backend) -> None:
    store = backend.store
    part, _ = stage(store, REL, b"unwanted")
    assert backend.staged(part)
    store.discard(part)
    assert not backend.staged(part)
    assert not store.exists(REL)
    store.discard(part)  # already gone: fine


def test_scratch_copy_gives_scorers_a_local_file(backend: Backend) -> None:
    store, body = backend.store, b"fits header" * 10
    part, _ = stage(store, REL, body)
    local = store.scratch_copy(part, len(body))
    assert local is not None and Path(local).read_bytes() == body
    store.drop_scratch(local, part)
    assert Path(local).exists() is (local == part)  # only a fetched copy is removed
    if store.remote:
        assert store.scratch_copy(part, (1 << 20) + 1) is None  # too big to fetch back


def test_unpublish_takes_a_publication_back_where_the_store_can(backend: Backend) -> None:
    store = backend.store
    part, digests = stage(store, REL, b"v1")
    store.publish(part, REL, digests)
    restored = store.unpublish(REL, None)
    if store.remote:
        assert restored is None and store.exists(REL)  # left for the resume to overwrite
    else:
        assert restored is False and not store.exists(REL)


def test_the_local_store_refuses_a_remote_part(tmp_path: Path) -> None:
    from capture.transfer.errors import LocalStorageError

    store = local_backend(tmp_path).store
    assert not store.owns("s3://bucket/x.part")
    with pytest.raises(LocalStorageError, match="not a local path"):
        store.sink("s3://bucket/x.part", [], checkpoint_bytes=1, sync=True)


def test_the_s3_store_writes_listing_files_locally(tmp_path: Path, mock_s3: object) -> None:
    store = s3_backend(tmp_path, mock_s3).store
    listing = str(tmp_path / "data" / ".capture" / "listings" / "tg" / "index")
    assert not store.owns(listing)
    sink = store.sink(listing, [], checkpoint_bytes=1, sync=True)
    assert isinstance(sink, FileSink)
    assert store.scratch_copy(listing, None) == listing


# -- scheme selection --------------------------------------------------------------------------
def settings(uri: str) -> Settings:
    return Settings({"CAPTURE_STORE": uri})


@pytest.mark.parametrize("uri", ["", "file:", "file://{root}", "{root}"])
def test_the_data_root_is_the_local_store(tmp_path: Path, uri: str) -> None:
    data = DataRoot.at(tmp_path / "data")
    store = store_for(settings(uri.format(root=data.root)), data)
    assert isinstance(store, LocalStore) and store.data is data and not store.remote


def test_a_local_directory_other_than_the_data_root_is_refused(tmp_path: Path) -> None:
    data = DataRoot.at(tmp_path / "data")
    with pytest.raises(ValueError, match="set CAPTURE_DATA_DIR"):
        store_for(settings(str(tmp_path / "elsewhere")), data)


def test_s3_uris_select_the_s3_store(tmp_path: Path, mock_s3: object) -> None:
    data = DataRoot.at(tmp_path / "data")
    conf = Settings({"CAPTURE_STORE": f"s3://{BUCKET}/round1/", "CAPTURE_S3_SCRATCH_MAX": 123})
    store = store_for(conf, data)
    assert isinstance(store, S3Store) and store.remote
    assert (store.bucket, store.prefix, store.scratch_max) == (BUCKET, "round1", 123)
    assert store.scratch == data.internal / "scratch"
    assert store.part_location("a/b.bin") == f"s3://{BUCKET}/round1/.partial/a/b.bin.part"


def test_an_unknown_scheme_names_the_supported_ones(tmp_path: Path) -> None:
    data = DataRoot.at(tmp_path / "data")
    with pytest.raises(ValueError, match="unknown scheme 'gs'") as err:
        store_for(settings("gs://bucket/prefix"), data)
    assert "file://" in str(err.value) and "s3://" in str(err.value)
    assert set(STORE_SCHEMES) == {"", "file", "s3"}


def test_compress_stages_a_proven_encoded_copy_or_declines(backend: Backend) -> None:
    """Both stores encode a staged part beside it (the part is kept for the caller to drop),
    the read-back decodes to the original, the published ``.zst`` reads back byte for byte;
    bytes that do not compress (random) are declined without writing anything."""
    from capture.storage import codec
    from capture.storage.compress import Plan

    store = backend.store
    body = b"name\tteff\tlogg\nWASP-39\t5400\t4.45\n" * 4000
    part, digests = stage(store, REL, body)
    encoded = store.compress(part, len(body), digests["sha256"], Plan())
    assert encoded is not None and encoded.codec == "zstd"
    assert backend.staged(part)  # the original stays until the encoded copy is published
    rel = codec.location(REL, encoded.codec)
    store.publish(encoded.part, rel, {"sha256": digests["sha256"]})
    store.discard(part)
    stored = backend.read("", rel)
    assert stored is not None and len(stored) == encoded.size < len(body) // 20
    assert hashlib.sha256(stored).hexdigest() == encoded.sha256
    assert b"".join(codec.decode(store.read(rel, 1000), "zstd")) == body
    assert not backend.staged(part) and not store.exists(REL)

    noise = random.Random(0).randbytes(256_000)  # bytes zstd cannot shrink
    other = "genomics/tg/vol1/noise.bin"
    part2, digests2 = stage(store, other, noise)
    assert store.compress(part2, len(noise), digests2["sha256"], Plan()) is None
    assert not backend.staged(part2 + ".zst")
