"""Digests computed in the same pass as the write (no second read of a finished file)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

SUPPORTED = ("md5", "sha1", "sha256", "sha512")
READ_BLOCK = 8 * 1024 * 1024


class MultiHasher:
    """sha256 always, plus any publisher algorithms; hashlib releases the GIL on big buffers."""

    def __init__(self, algorithms: Iterable[str] = ()):
        names = ["sha256", *(a.lower() for a in algorithms)]
        unknown = [a for a in names if a not in SUPPORTED]
        if unknown:
            raise ValueError(f"unsupported digest algorithm(s): {unknown}")
        self.names = list(dict.fromkeys(names))
        self._hashers = [hashlib.new(n) for n in self.names]

    def update(self, data: bytes | memoryview) -> None:
        for h in self._hashers:
            h.update(data)

    def hexdigests(self) -> dict[str, str]:
        return {n: h.hexdigest() for n, h in zip(self.names, self._hashers, strict=True)}

    def reset(self) -> None:
        self._hashers = [hashlib.new(n) for n in self.names]

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


def file_digests(path: str | os.PathLike[str], algorithms: Iterable[str] = ()) -> dict[str, str]:
    """Digests of a whole file on disk (used where no in-stream digest exists)."""
    hasher = MultiHasher(algorithms)
    fd = os.open(path, os.O_RDONLY)
    try:
        hasher.update_from_file(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)
    return hasher.hexdigests()
