"""Read big local text files (listings of hundreds of MB) line by line without blocking the
reactor: blocks are read in the IO pool, lines are handed out on the reactor thread."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import BinaryIO

from capture.transfer.io import IOPool

BLOCK = 4 * 1024 * 1024


def _read(fh: BinaryIO, size: int) -> bytes:
    return fh.read(size)


async def iter_lines(
    path: str, io: IOPool, block: int = BLOCK, encoding: str = "utf-8"
) -> AsyncIterator[str]:
    """Yield decoded lines (without line terminators) of a local file, in order."""
    fh = await io.run(open, path, "rb")
    try:
        rest = b""
        while True:
            data = await io.run(_read, fh, block)
            if not data:
                break
            data = rest + data
            lines = data.split(b"\n")
            rest = lines.pop()
            for raw in lines:
                yield raw.rstrip(b"\r").decode(encoding, errors="replace")
        if rest:
            yield rest.rstrip(b"\r").decode(encoding, errors="replace")
    finally:
        await io.run(fh.close)
