"""Byte codecs for compression at rest: names, where encoded bytes live, streaming decode.

The catalog's ``codec`` column names how the bytes at a file's location are encoded (NULL:
stored as fetched). The row's ``path`` stays the archive file's own name; encoded bytes sit
next to where the original would, at ``<path>.zst``, so anyone listing the published tree sees
which files are compressed and ``zstd -d`` restores them (one standard zstd frame, content
size and checksum in the frame header). Nothing here reads the catalog or a store: callers
hand in the row or the chunks.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

import zstandard

ZSTD = "zstd"
#: codec name -> suffix of the stored object (the published tree shows the encoding).
SUFFIXES: dict[str, str] = {ZSTD: ".zst"}
#: Bytes handed to the decompressor's output per chunk (bounded memory for any file size).
OUT_CHUNK = 1 << 20


class UnknownCodec(ValueError):
    """A catalog row names a codec this version cannot decode (never guessed around)."""


def check(codec: str | None) -> None:
    if codec and codec not in SUFFIXES:
        raise UnknownCodec(f"unknown codec {codec!r} (known: {', '.join(SUFFIXES)})")


def location(path: str, codec: str | None) -> str:
    """Where the bytes of a file recorded at ``path`` with ``codec`` are stored."""
    check(codec)
    return path + SUFFIXES[codec] if codec else path


def located(row: Mapping[str, Any]) -> tuple[str, int | None]:
    """A catalog row's stored location and stored size (what is on disk or on S3)."""
    codec = row.get("codec")
    size = row.get("stored_size") if codec else row.get("size")
    return location(row["path"], codec), size


def open_original(
    path: str | os.PathLike[str], codec: str | None, mode: str = "rb", **text: Any
) -> IO[Any]:
    """Open the file stored at ``path`` (its stored location) for reading its original bytes
    (``mode`` "rb" or "rt" with open()'s text arguments): decoded as read when encoded."""
    check(codec)
    if not codec:
        return open(path, mode, **text)
    opened: IO[Any] = zstandard.open(path, mode, **text)
    return opened


def compressor(codec: str, level: int) -> zstandard.ZstdCompressor:
    """Deterministic for a given level: identical originals give identical stored bytes (dedup
    by content works on encoded files too). The frame carries the content size and a checksum,
    so ``zstd -t`` and ``zstd -d`` check it outside capture as well."""
    check(codec)
    return zstandard.ZstdCompressor(level=level, write_content_size=True, write_checksum=True)


def decode(chunks: Iterable[bytes], codec: str | None) -> Iterator[bytes]:
    """The original bytes of a stored object read as ``chunks`` (identity when ``codec`` is
    None), at most :data:`OUT_CHUNK` at a time whatever the ratio (a frame of zeros may
    expand a thousandfold). A damaged frame raises :class:`zstandard.ZstdError` (the frame
    checksum is verified), a truncated one :class:`TruncatedFrame`."""
    check(codec)
    if not codec:
        yield from chunks
        return
    reader = ChunkReader(chunks)
    head = reader.peek(18)  # the longest frame header
    declared = zstandard.get_frame_parameters(head).content_size if head else 0
    dctx = zstandard.ZstdDecompressor()
    total = 0
    source: Any = reader  # zstandard reads any object with read(n)
    for out in dctx.read_to_iter(source, read_size=OUT_CHUNK, write_size=OUT_CHUNK):
        total += len(out)
        yield out
    if declared != zstandard.CONTENTSIZE_UNKNOWN and total != declared:
        raise TruncatedFrame(f"frame declares {declared} bytes, decoded {total}")


class TruncatedFrame(ValueError):
    """The stored object ends before its frame does."""


class ChunkReader:
    """A ``read(n)`` view of an iterator of chunks (what zstandard's streaming APIs take)."""

    def __init__(self, chunks: Iterable[bytes]):
        self._it = iter(chunks)
        self._buf = memoryview(b"")

    def _fill(self, n: int) -> None:
        while n < 0 or len(self._buf) < n:
            nxt = next(self._it, None)
            if nxt is None:
                return
            self._buf = memoryview(bytes(self._buf) + nxt) if self._buf else memoryview(nxt)

    def peek(self, n: int) -> bytes:
        self._fill(n)
        return bytes(self._buf[:n])

    def read(self, n: int = -1) -> bytes:
        self._fill(n)
        if n < 0:
            n = len(self._buf)
        out, self._buf = bytes(self._buf[:n]), self._buf[n:]
        return out
