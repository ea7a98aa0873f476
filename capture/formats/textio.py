"""Read big local text files (listings of hundreds of MB) line by line without blocking the
reactor: blocks are read in the IO pool, lines are handed out on the reactor thread."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, BinaryIO, Protocol, TypeVar

T = TypeVar("T")

BLOCK = 4 * 1024 * 1024


class Runner(Protocol):
    """Runs a blocking call off the reactor thread (``capture.transfer.io.IOPool``); a
    protocol, so the format readers depend on nothing else in capture."""

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...


def _read(fh: BinaryIO, size: int) -> bytes:
    return fh.read(size)


async def iter_lines(
    path: str, io: Runner, block: int = BLOCK, encoding: str = "utf-8"
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
