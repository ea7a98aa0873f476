"""Deterministic file content of any size, readable at any offset (for Range and resume checks)."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from functools import cached_property

POOL = 8 * 1024 * 1024
BLOCK = 1024 * 1024


@functools.lru_cache(maxsize=32)
def _pool(seed: str) -> bytes:
    """9 MiB of bytes for one seed. Bounded: kept for every seed ever used, the pools held
    3.6 GB of the test process by the end of the suite (80 small files in one test: 720 MB);
    a miss costs about 25 ms, and a read inside block 0 (every file up to 1 MiB) needs none."""
    return hashlib.shake_256(seed.encode()).digest(POOL + BLOCK)


@dataclass
class Blob:
    """``size`` bytes derived from ``seed``; ``version`` changes the bytes (a changed file)."""

    seed: str
    size: int
    version: int = 1
    data: bytes | None = field(default=None, repr=False)

    @classmethod
    def of(cls, data: bytes, seed: str = "") -> Blob:
        return cls(seed=seed or hashlib.sha1(data).hexdigest(), size=len(data), data=data)

    def _block(self, i: int) -> memoryview:
        pool = _pool(f"{self.seed}:v{self.version}")
        start = (i * 7919 * 4099) % POOL
        return memoryview(pool)[start : start + BLOCK]

    def read(self, offset: int, length: int) -> bytes:
        end = min(self.size, offset + length)
        if offset >= end:
            return b""
        if self.data is not None:
            return self.data[offset:end]
        if end <= BLOCK:
            # Block 0 is the pool's first BLOCK bytes, and a shorter SHAKE output is a prefix
            # of a longer one: the same bytes without building (or caching) the 9 MiB pool.
            key = f"{self.seed}:v{self.version}".encode()
            return hashlib.shake_256(key).digest(end)[offset:end]
        out = bytearray()
        pos = offset
        while pos < end:
            i, within = divmod(pos, BLOCK)
            take = min(BLOCK - within, end - pos)
            out += self._block(i)[within : within + take]
            pos += take
        return bytes(out)

    def iter_chunks(self, offset: int = 0, end: int | None = None, chunk: int = 256 * 1024):
        end = self.size if end is None else min(end, self.size)
        pos = offset
        while pos < end:
            n = min(chunk, end - pos)
            yield self.read(pos, n)
            pos += n

    def _digest(self, name: str) -> str:
        h = hashlib.new(name)
        for c in self.iter_chunks(chunk=BLOCK):
            h.update(c)
        return h.hexdigest()

    @cached_property
    def _digests(self) -> dict[str, str]:
        return {}

    def digest(self, name: str) -> str:
        key = f"{name}:v{self.version}"
        if key not in self._digests:
            self._digests[key] = self._digest(name)
        return self._digests[key]

    @property
    def md5(self) -> str:
        return self.digest("md5")

    @property
    def sha256(self) -> str:
        return self.digest("sha256")

    @property
    def etag(self) -> str:
        return (
            f'"{hashlib.sha1(self.seed.encode()).hexdigest()[:12]}-{self.size:x}-v{self.version}"'
        )

    @property
    def last_modified(self) -> str:
        # A fixed date per version: 2024-01-0<version> 12:00:00 GMT.
        day = 1 + (self.version - 1) % 28
        return f"Mon, {day:02d} Jan 2024 12:00:00 GMT"
