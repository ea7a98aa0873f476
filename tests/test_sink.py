"""The disk side of a transfer: checkpoints, durable offsets and prefix re-hashing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from capture.transfer.errors import LocalStorageError
from capture.transfer.sidecar import PartialState, sidecar_path
from capture.transfer.sink import FileSink


def state() -> PartialState:
    return PartialState(url="http://a/x", etag='"v1"', last_modified=None, length=100)


def test_checkpoint_records_durable_offset_and_resume_rehashes_prefix(tmp_path: Path) -> None:
    part = str(tmp_path / "x.part")
    data = os.urandom(100)
    sink = FileSink(part, ["md5"], checkpoint_bytes=30)
    assert sink.prepare(fresh=False) == (0, None)
    sink.bind(state())
    sink.write([data[:40]])  # crosses the 30-byte checkpoint
    assert PartialState.load(part).durable_offset == 40
    sink.write([data[40:50]])  # not durable yet
    sink.close()  # a hard kill: no suspend()

    again = FileSink(part, ["md5"], checkpoint_bytes=30)
    offset, st = again.prepare(fresh=False)
    assert offset == 40 and st is not None and st.etag == '"v1"'
    assert os.path.getsize(part) == 40  # bytes past the durable offset are not trusted
    again.write([data[40:]])
    digests = again.finish()
    assert digests["sha256"] == hashlib.sha256(data).hexdigest()
    assert digests["md5"] == hashlib.md5(data).hexdigest()


def test_suspend_makes_everything_received_durable(tmp_path: Path) -> None:
    part = str(tmp_path / "y.part")
    sink = FileSink(part, [], checkpoint_bytes=1 << 30)
    sink.prepare(fresh=False)
    sink.bind(state())
    sink.write([b"a" * 25])
    assert not sidecar_path(part).exists()  # small files get no sidecar unless interrupted
    sink.suspend()
    assert PartialState.load(part).durable_offset == 25


def test_no_validator_means_no_resume(tmp_path: Path) -> None:
    part = str(tmp_path / "z.part")
    sink = FileSink(part, [], checkpoint_bytes=10)
    sink.prepare(fresh=False)
    sink.bind(PartialState(url="u", etag=None, last_modified=None, length=50))
    sink.write([b"b" * 20])
    sink.suspend()
    offset, _ = FileSink(part, [], checkpoint_bytes=10).prepare(fresh=False)
    assert offset == 0 and os.path.getsize(part) == 0  # cannot prove it is the same object


def test_weak_etag_falls_back_to_last_modified() -> None:
    weak = PartialState(
        url="u", etag='W/"x"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT", length=1
    )
    assert weak.if_range() == "Mon, 01 Jan 2024 00:00:00 GMT"
    assert PartialState(url="u", etag='W/"x"', last_modified=None, length=1).if_range() is None


def test_fresh_discards_partial_data(tmp_path: Path) -> None:
    part = str(tmp_path / "f.part")
    sink = FileSink(part, [], checkpoint_bytes=1)
    sink.prepare(fresh=False)
    sink.bind(state())
    sink.write([b"c" * 10])
    sink.close()
    offset, _ = FileSink(part, [], checkpoint_bytes=1).prepare(fresh=True)
    assert offset == 0 and not sidecar_path(part).exists()


def test_corrupt_sidecar_is_ignored(tmp_path: Path) -> None:
    part = tmp_path / "c.part"
    part.write_bytes(b"d" * 10)
    sidecar_path(part).write_text("{not json")
    offset, _ = FileSink(str(part), [], checkpoint_bytes=1).prepare(fresh=False)
    assert offset == 0


def test_complete_hashes_writes_seals_and_closes_on_a_failed_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(5000)
    sink = FileSink(str(tmp_path / "ok.part"), ["md5"], checkpoint_bytes=1 << 20)
    sink.start_clean()
    digests = sink.complete([data[:100], data[100:]])  # the small-file job: one call
    assert digests == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
    }
    assert (tmp_path / "ok.part").read_bytes() == data and sink.fd is None

    bad = FileSink(str(tmp_path / "bad.part"), [], checkpoint_bytes=1 << 20)
    bad.start_clean()

    def enospc(fd: int, chunks: list[bytes]) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "writev", enospc)
    with pytest.raises(LocalStorageError, match="No space left"):
        bad.complete([data])
    assert bad.fd is None  # closed, not leaked
