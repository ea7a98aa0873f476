"""Read one stored location back and compare it with its expectation: bounded memory (one
chunk at a time), rate-limited (a token bucket on bytes per second)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import zstandard

from capture.fixity.expect import Expectation
from capture.fixity.results import Result
from capture.paths import UnsafePathError
from capture.ratelimit import TokenBucket
from capture.storage import codec as codecs
from capture.storage.base import Store
from capture.transfer.hashing import MultiHasher

CHUNK = 8 * 1024 * 1024


@dataclass
class Finding:
    """What reading one location found."""

    result: Result
    bytes_read: int = 0
    #: algorithm -> hex digest of the bytes read (empty when nothing could be read).
    actual: dict[str, str] = field(default_factory=dict)
    message: str = ""

    def detail(self, expectation: Expectation) -> dict[str, Any]:
        out: dict[str, Any] = {"result": self.result.value, "bytes": self.bytes_read}
        if self.message:
            out["message"] = self.message
        if self.result in (Result.CORRUPT, Result.SIZE):
            out["expected"] = {"size": expectation.size, **expectation.digests}
            out["actual"] = {"size": self.bytes_read, **self.actual}
        return out


#: Seconds of reading the bucket may hold: short, so the rate holds over any second of the
#: audit, not only on average.
BURST_SECONDS = 0.1


class Throttle:
    """Bytes per second through a token bucket (0: no limit)."""

    def __init__(self, bytes_per_second: float, sleep: Callable[[float], None] = time.sleep):
        self.bucket = (
            TokenBucket(bytes_per_second, bytes_per_second * BURST_SECONDS)
            if bytes_per_second
            else None
        )
        self.sleep = sleep

    def take(self, n: int) -> None:
        if self.bucket is not None:
            wait = self.bucket.reserve(n)
            if wait > 0:
                self.sleep(wait)


def check(
    store: Store,
    location: str,
    expectation: Expectation,
    throttle: Throttle,
    chunk_size: int = CHUNK,
) -> Finding:
    """Hash the bytes stored at ``location`` with every expected algorithm (sha256 at least)
    and say whether they match; for encoded bytes with a ``decoded`` expectation, decode them
    in the same pass and check the original too. Read errors are findings, never exceptions."""
    hasher = MultiHasher(a for a in expectation.algorithms if a != "sha256")
    size = 0

    def stored() -> Iterator[bytes]:
        nonlocal size
        for chunk in store.read(location, chunk_size):
            throttle.take(len(chunk))
            pending = hasher.update_many([chunk])
            if pending is not None:
                pending.result()
            size += len(chunk)
            yield chunk

    source = stored()
    decoded: Decoded | None = None
    try:
        if expectation.decoded is not None:
            decoded = Decoded(expectation.decoded)
            decoded.run(source, expectation.codec)
        for _ in source:  # what decoding left unread (all of it when not decoding)
            pass
    except FileNotFoundError:
        return Finding(Result.MISSING, message=f"nothing stored at {location}")
    except (OSError, UnsafePathError, ValueError) as exc:
        return Finding(Result.UNREADABLE, size, message=f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a store's client error (S3 access denied, network)
        return Finding(Result.UNREADABLE, size, message=f"{type(exc).__name__}: {exc}")
    actual = hasher.hexdigests()
    if expectation.size is not None and size != expectation.size:
        return Finding(
            Result.SIZE, size, actual, f"{size} bytes stored, {expectation.size} recorded"
        )
    wrong = [a for a, d in expectation.digests.items() if actual.get(a) != d]
    if wrong:
        return Finding(Result.CORRUPT, size, actual, f"{', '.join(wrong)} mismatch")
    if decoded is not None and decoded.problem:
        return Finding(Result.CORRUPT, size, actual, decoded.problem)
    return Finding(Result.OK, size, actual)


class Decoded:
    """The original bytes behind encoded ones, decoded and hashed as they are read."""

    def __init__(self, expectation: Expectation):
        self.expectation = expectation
        self.hasher = MultiHasher(a for a in expectation.algorithms if a != "sha256")
        self.size = 0
        self.problem = ""

    def run(self, chunks: Iterator[bytes], codec: str | None) -> None:
        try:
            for out in codecs.decode(chunks, codec):
                self.hasher.update(out)
                self.size += len(out)
        except (zstandard.ZstdError, codecs.TruncatedFrame) as exc:
            self.problem = f"stored bytes do not decode ({codec}): {exc}"
            return
        want = self.expectation
        if want.size is not None and self.size != want.size:
            self.problem = f"decodes to {self.size} bytes, {want.size} recorded"
            return
        got = self.hasher.hexdigests()
        wrong = [a for a, d in want.digests.items() if got.get(a) != d]
        if wrong:
            self.problem = f"decoded {', '.join(wrong)} mismatch"
