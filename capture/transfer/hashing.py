"""Digests computed in the same pass as the write (no second read of a finished file)."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

SUPPORTED = ("md5", "sha1", "sha256", "sha512")
READ_BLOCK = 8 * 1024 * 1024
PARALLEL_MIN = 256 * 1024
_POOL: ThreadPoolExecutor | None = None
#: hashlib's named constructors: ``hashlib.new(name)`` goes through a Python-level lookup,
#: paid twice per file (sha256 + the publisher's digest) on a crawl of many small files.
_NEW = {name: getattr(hashlib, name) for name in SUPPORTED}
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(
                max_workers=max(2, (os.cpu_count() or 2) * 2), thread_name_prefix="capture-hash"
            )
        return _POOL


def _feed(hasher: Any, chunks: list[bytes]) -> None:
    for c in chunks:
        hasher.update(c)


def _join(futures: list[Future[None]]) -> Future[None]:
    done: Future[None] = Future()
    remaining = [len(futures)]
    lock = threading.Lock()

    def one(f: Future[None]) -> None:
        exc = f.exception()
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if exc is not None and not done.done():
            done.set_exception(exc)
        elif last and not done.done():
            done.set_result(None)

    for f in futures:
        f.add_done_callback(one)
    return done


class MultiHasher:
    """sha256 always, plus any publisher algorithms; hashlib releases the GIL on big buffers."""

    def __init__(self, algorithms: Iterable[str] = ()):
        names = ["sha256", *(a.lower() for a in algorithms)]
        unknown = [a for a in names if a not in SUPPORTED]
        if unknown:
            raise ValueError(f"unsupported digest algorithm(s): {unknown}")
        self.names = list(dict.fromkeys(names))
        self._hashers = [_NEW[n]() for n in self.names]

    def update(self, data: bytes | memoryview) -> None:
        for h in self._hashers:
            h.update(data)

    def update_many(self, chunks: list[bytes]) -> Future[None] | None:
        """Hash ``chunks`` with every algorithm, each in its own thread when the data is big
        enough to be worth it (hashlib releases the GIL); returns a future to wait on, or
        None when it hashed inline. The caller overlaps its disk write with the hashing."""
        total = sum(len(c) for c in chunks)
        if total < PARALLEL_MIN:
            # One buffer per algorithm: each update of 2 KiB or more releases and retakes the
            # GIL, a hand-off to a busy reactor thread that the copy costs far less than.
            self.update(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            return None
        futures = [_pool().submit(_feed, h, chunks) for h in self._hashers]
        return _join(futures)

    def hexdigests(self) -> dict[str, str]:
        return {n: h.hexdigest() for n, h in zip(self.names, self._hashers, strict=True)}

    def reset(self) -> None:
        self._hashers = [_NEW[n]() for n in self.names]

    def update_from_file(self, fd: int, length: int) -> None:
        """Hash the first ``length`` bytes of an open file (the prefix of a resumed transfer)."""
        try:
            os.posix_fadvise(fd, 0, length, os.POSIX_FADV_SEQUENTIAL)
        except (AttributeError, OSError):
            pass
        offset = 0
        while offset < length:
            block = os.pread(fd, min(READ_BLOCK, length - offset), offset)
            if not block:
                raise OSError(f"partial file shorter than its recorded offset {length}")
            self.update(block)
            offset += len(block)
