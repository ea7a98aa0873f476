"""Compression at rest in process: the trial's verdict on real files of each kind, byte-exact
round trips, determinism (dedup), a round trip that fails is never published, bounded decode,
the settings' one-line errors, and the fixity check of encoded bytes (stored and deep)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import astropy
import numpy as np
import pytest
import zstandard
from astropy.io import fits

from capture.config import CaptureSettings, SettingsError
from capture.fixity.check import Throttle, check
from capture.fixity.expect import expected
from capture.fixity.results import Result
from capture.fixity.targets import FILE, Target
from capture.paths import DataRoot
from capture.storage import LocalStore
from capture.storage import codec as codecs
from capture.storage.compress import Plan, ReconstructionError, encode, plan_from
from capture.storage.local import LocalEncodeIO

FITS_DATA = Path(astropy.__file__).parent / "io/fits/tests/data"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def part_with(tmp_path: Path, body: bytes, name: str = "f") -> str:
    part = tmp_path / ".partial" / f"{name}.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(body)
    return str(part)


def noisy_fits(compression: str | None) -> bytes:
    """A 1024x1024 int16 detector-like image written by astropy, tile-compressed or not."""
    img = np.random.default_rng(1).normal(1000, 30, (1024, 1024)).astype(np.int16)
    hdu = fits.CompImageHDU(img, compression_type=compression) if compression else None
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(None if hdu else img), *([hdu] if hdu else [])]).writeto(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("body", "compressed"),
    [
        pytest.param((FITS_DATA / "tb.fits").read_bytes(), True, id="binary-table"),
        pytest.param(noisy_fits(None), True, id="plain-image"),
        pytest.param(noisy_fits("RICE_1"), False, id="rice-tiles"),
        pytest.param(noisy_fits("GZIP_1"), False, id="gzip-tiles"),
    ],
)
def test_trial_decides_on_fits(tmp_path: Path, body: bytes, compressed: bool) -> None:
    part = part_with(tmp_path, body)
    got = encode(LocalEncodeIO(part), len(body), sha(body), Plan())
    assert (got is not None) is compressed
    if got is not None:
        stored = Path(got.part).read_bytes()
        assert zstandard.ZstdDecompressor().decompress(stored) == body
        assert (sha(stored), len(stored)) == (got.sha256, got.size)


def test_gzip_is_left_alone_and_nothing_is_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    pos, freq = rng.integers(1, 50_000_000, 50_000), rng.random(50_000)
    lines = (f"chr22\t{p}\t{q:.6f}\n" for p, q in zip(pos, freq, strict=True))
    body = gzip.compress("".join(lines).encode())
    part = part_with(tmp_path, body)
    assert encode(LocalEncodeIO(part), len(body), sha(body), Plan()) is None
    assert not Path(part + ".zst").exists()


def test_big_file_streams_with_identical_output_for_identical_input(tmp_path: Path) -> None:
    row = b"HG%05d\tGBR\tEUR\tfemale\n"
    body = b"".join(row % i for i in range(600_000))  # ~14 MB, several chunks
    a = encode(LocalEncodeIO(part_with(tmp_path, body, "a")), len(body), sha(body), Plan())
    b = encode(LocalEncodeIO(part_with(tmp_path, body, "b")), len(body), sha(body), Plan())
    assert a is not None and b is not None
    assert a.sha256 == b.sha256 and a.size == b.size  # dedup finds the encoded twin
    assert sha(b"".join(codecs.decode([Path(a.part).read_bytes()], "zstd"))) == sha(body)


class Lying(LocalEncodeIO):
    """A store that hands back other bytes than it was given (a failing disk)."""

    def read_encoded(self, chunk_size: int) -> Iterator[bytes]:
        for chunk in super().read_encoded(chunk_size):
            yield chunk[:-1] + bytes([chunk[-1] ^ 1])


def test_failed_round_trip_drops_the_encoded_copy(tmp_path: Path) -> None:
    body = b"ENTRY       C00001                      Compound\n" * 2000
    part = part_with(tmp_path, body)
    with pytest.raises(ReconstructionError):
        encode(Lying(part), len(body), sha(body), Plan())
    assert not Path(part + ".zst").exists() and Path(part).read_bytes() == body
    with pytest.raises(ReconstructionError, match="expected"):
        encode(LocalEncodeIO(part), len(body), sha(b"other"), Plan())


def test_decode_is_bounded_and_catches_truncation() -> None:
    frame = codecs.compressor("zstd", 3).compress(b"\0" * (64 << 20))
    sizes = [len(c) for c in codecs.decode([frame], "zstd")]
    assert sum(sizes) == 64 << 20 and max(sizes) <= codecs.OUT_CHUNK
    with pytest.raises(codecs.TruncatedFrame):
        for _ in codecs.decode([frame[: len(frame) // 2]], "zstd"):
            pass
    with pytest.raises(codecs.UnknownCodec):
        codecs.location("a", "brotli")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("CAPTURE_COMPRESS", "yes", "expected off or auto"),
        ("CAPTURE_COMPRESS_LEVEL", "23", "1-22"),
        ("CAPTURE_COMPRESS_MIN_GAIN", "1.5", "fraction"),
    ],
)
def test_settings_fail_in_one_line(key: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        plan_from(CaptureSettings.from_settings({"CAPTURE_COMPRESS": "auto", key: value}))


def test_plan_defaults() -> None:
    assert plan_from(CaptureSettings.from_settings({})) is None  # off by default
    plan = plan_from(CaptureSettings.from_settings({"CAPTURE_COMPRESS": "auto"}))
    assert plan == Plan(level=3, min_gain=0.1)


def target(body: bytes, stored: bytes, location: str) -> Target:
    return Target(
        kind=FILE,
        id=1,
        file_id=1,
        location=location,
        archive="kegg",
        domain="astrobiology",
        archive_path="get/C00001",
        sha256=sha(body),
        size=len(body),
        digest_algorithm="md5",
        digest_actual=hashlib.md5(body).hexdigest(),
        verified_at=None,
        codec="zstd",
        stored_size=len(stored),
        stored_sha256=sha(stored),
    )


def test_fixity_checks_stored_bytes_and_deep_decodes(tmp_path: Path) -> None:
    data = DataRoot.at(tmp_path / "data")
    store = LocalStore(data)
    body = b"ENTRY       C00001                      Compound\nNAME        H2O\n///\n" * 300
    stored = codecs.compressor("zstd", 3).compress(body)
    rel = "astrobiology/kegg/get/C00001.zst"
    path = data.root / rel
    path.parent.mkdir(parents=True)
    path.write_bytes(stored)
    t = target(body, stored, rel)
    shallow = expected(t)
    assert shallow.digests == {"sha256": sha(stored)} and shallow.size == len(stored)
    deep = expected(t, deep=True)
    assert deep.decoded is not None and set(deep.decoded.digests) == {"sha256", "md5"}
    for e in (shallow, deep):
        assert check(store, rel, e, Throttle(0)).result is Result.OK
    # Bytes that are a valid frame of *other* content: only --deep can tell.
    other = codecs.compressor("zstd", 3).compress(body.replace(b"H2O", b"H2S"))
    path.write_bytes(other)
    lying = target(body, other, rel)  # as if the catalog had recorded these stored bytes
    assert check(store, rel, expected(lying), Throttle(0)).result is Result.OK
    found = check(store, rel, expected(lying, deep=True), Throttle(0))
    assert found.result is Result.CORRUPT and "decoded sha256, md5 mismatch" in found.message
    # A flipped byte: the stored sha256 says so without decoding.
    flipped = bytearray(stored)
    flipped[len(flipped) // 2] ^= 1
    path.write_bytes(bytes(flipped))
    found = check(store, rel, deep, Throttle(0))
    assert found.result is Result.CORRUPT and found.message == "sha256 mismatch"
    os.unlink(path)
    assert check(store, rel, shallow, Throttle(0)).result is Result.MISSING
