"""Compression at rest: decide from a trial, encode in a stream, prove the round trip.

For one verified part (the archive's bytes, sha256 known from the transfer):

1. **Trial.** Compress a sample (the first :data:`SAMPLE` bytes and, for a bigger file, as
   many from its middle, where a tile-compressed FITS or a chunked HDF5 keeps its data) at the
   configured level. When it saves less than ``min_gain`` of the sample, the file is stored as
   fetched: gzip, BGZF, CRAM, zip, compressed FITS tiles and HDF5 chunks all end here,
   whatever their name says.
2. **Encode.** Stream the part through one zstd frame into the encoded part, hashing what is
   written (the stored sha256 the fixity audit checks).
3. **Prove.** Read the encoded part back from the store, decode it and hash it: the original
   sha256 and size must come out, else the encoded part is dropped and the file is stored as
   fetched. Only then may the caller drop the original.

Memory is bounded by the chunk size for any file size. Stores supply the bytes through
:class:`EncodeIO` (a local file or an S3 object); nothing here knows which.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from capture.config import SettingsError
from capture.storage.codec import ZSTD, compressor, decode

if TYPE_CHECKING:
    from capture.config import CaptureSettings

SAMPLE = 1 << 20
CHUNK = 4 << 20


@dataclass(frozen=True, slots=True)
class Plan:
    """What the store stage asks for (from ``CAPTURE_COMPRESS*``)."""

    codec: str = ZSTD
    level: int = 3
    #: Store as fetched when the trial saves less than this fraction of the sample.
    min_gain: float = 0.1


MODES = ("off", "auto")


def plan_from(config: CaptureSettings) -> Plan | None:
    """The plan ``CAPTURE_COMPRESS*`` ask for (None: off); a value that cannot work is a
    one-line :class:`SettingsError` before the crawl starts."""
    mode = config.compress.strip().lower()
    if mode not in MODES:
        raise SettingsError(f"CAPTURE_COMPRESS={config.compress!r}: expected off or auto")
    if not 1 <= config.compress_level <= 22:
        raise SettingsError(f"CAPTURE_COMPRESS_LEVEL={config.compress_level}: zstd takes 1-22")
    if not 0 <= config.compress_min_gain < 1:
        raise SettingsError(
            f"CAPTURE_COMPRESS_MIN_GAIN={config.compress_min_gain}: a fraction in [0, 1)"
        )
    if mode == "off":
        return None
    return Plan(level=config.compress_level, min_gain=config.compress_min_gain)


@dataclass(frozen=True, slots=True)
class Encoded:
    """An encoded part that decodes to the original, byte for byte."""

    part: str  # where the encoded bytes are staged (published by the caller)
    codec: str
    sha256: str  # of the stored (encoded) bytes
    size: int  # stored bytes


@dataclass(frozen=True, slots=True)
class Trial:
    sample: int
    compressed: int

    @property
    def gain(self) -> float:
        return 1 - self.compressed / self.sample if self.sample else 0.0


class ReconstructionError(ValueError):
    """The encoded bytes do not decode to the original (never published)."""


class EncodeIO(Protocol):
    """A store's access to one part and its encoded sibling (methods block: IO thread)."""

    def read_range(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes of the part from ``offset``."""
        ...

    def read_part(self, chunk_size: int) -> Iterator[bytes]: ...

    def write_encoded(self, chunks: Iterator[bytes]) -> str:
        """Write the encoded part from ``chunks``; returns its location."""
        ...

    def read_encoded(self, chunk_size: int) -> Iterator[bytes]: ...

    def drop_encoded(self) -> None: ...


def trial(io: EncodeIO, size: int, plan: Plan) -> Trial:
    """Compress a sample of the part (see the module docstring)."""
    sample = io.read_range(0, SAMPLE)
    if size > 2 * SAMPLE:
        sample += io.read_range(size // 2, SAMPLE)
    out = compressor(plan.codec, plan.level).compress(sample)
    return Trial(len(sample), len(out))


def encode(
    io: EncodeIO,
    size: int,
    sha256: str,
    plan: Plan,
    on_trial: Callable[[Trial], None] | None = None,
) -> Encoded | None:
    """Encode the part if the trial pays, proven to decode to ``sha256``/``size``; None: keep
    it as fetched. Raises :class:`ReconstructionError` (after dropping the encoded part) when
    the round trip fails, which no correct codec does: the caller stores the original."""
    t = trial(io, size, plan)
    if on_trial is not None:
        on_trial(t)
    if t.gain < plan.min_gain:
        return None
    stored = hashlib.sha256()
    written = 0

    def frames() -> Iterator[bytes]:
        nonlocal written
        cctx = compressor(plan.codec, plan.level)
        chunker = cctx.chunker(size=size, chunk_size=CHUNK)
        for chunk in io.read_part(CHUNK):
            for out in chunker.compress(chunk):
                stored.update(out)
                written += len(out)
                yield out
        for out in chunker.finish():  # type: ignore[no-untyped-call]
            stored.update(out)
            written += len(out)
            yield out

    part = io.write_encoded(frames())
    try:
        prove(io.read_encoded(CHUNK), plan.codec, sha256, size, stored.hexdigest(), written)
    except Exception:
        io.drop_encoded()
        raise
    return Encoded(part, plan.codec, stored.hexdigest(), written)


def prove(
    chunks: Iterator[bytes],
    codec: str,
    sha256: str,
    size: int,
    stored_sha256: str,
    stored_size: int,
) -> None:
    """Read back what was written: it must hash to what was encoded, and decode to the
    original's sha256 and size."""
    enc, orig = hashlib.sha256(), hashlib.sha256()
    enc_size = orig_size = 0

    def tee() -> Iterator[bytes]:
        nonlocal enc_size
        for chunk in chunks:
            enc.update(chunk)
            enc_size += len(chunk)
            yield chunk

    try:
        for out in decode(tee(), codec):
            orig.update(out)
            orig_size += len(out)
    except Exception as exc:
        raise ReconstructionError(f"encoded bytes do not decode: {exc}") from exc
    if (enc.hexdigest(), enc_size) != (stored_sha256, stored_size):
        raise ReconstructionError("encoded bytes read back differ from those written")
    if (orig.hexdigest(), orig_size) != (sha256, size):
        raise ReconstructionError(
            f"decoded {orig_size} bytes sha256 {orig.hexdigest()[:12]}, "
            f"expected {size} bytes sha256 {sha256[:12]}"
        )
