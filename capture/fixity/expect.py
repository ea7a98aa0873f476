"""The one answer to "what must the bytes at this location hash to?".

Bytes stored as fetched must have the catalog's sha256 and size, plus the publisher's digest
(md5 for 1000 Genomes and MAST) when hashlib computes it: it costs CPU, not reads, and hashes in
a second thread. Bytes encoded at rest (the row's ``codec``, capture/storage/codec.py) must
have the stored object's sha256 and size; with ``deep`` they are also decoded and the result
must have the archive's sha256, size and publisher digest (decoding costs CPU, not reads).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from capture.fixity.targets import Target
from capture.transfer.hashing import SUPPORTED


@dataclass(frozen=True, slots=True)
class Expectation:
    size: int | None
    #: algorithm -> lowercase hex digest; "sha256" whenever the catalog has one.
    digests: dict[str, str] = field(default_factory=dict)
    #: The stored bytes are encoded with this codec (None: as fetched) ...
    codec: str | None = None
    #: ... and must decode to this (None: the decoded bytes are not checked).
    decoded: Expectation | None = None

    @property
    def algorithms(self) -> list[str]:
        return list(self.digests)


def expected(target: Target, *, publisher: bool = True, deep: bool = False) -> Expectation:
    """The size and digests the stored bytes of ``target`` must have (``publisher``: include
    the archive's own digest when hashlib supports its algorithm; ``deep``: also decode
    encoded bytes and check the original's)."""
    original = _original(target, publisher)
    if not target.codec:
        return original
    stored = {"sha256": target.stored_sha256.lower()} if target.stored_sha256 else {}
    return Expectation(
        target.stored_size, stored, codec=target.codec, decoded=original if deep else None
    )


def _original(target: Target, publisher: bool) -> Expectation:
    digests: dict[str, str] = {}
    if target.sha256:
        digests["sha256"] = target.sha256.lower()
    algorithm = (target.digest_algorithm or "").lower()
    if publisher and target.digest_actual and algorithm in SUPPORTED and algorithm not in digests:
        digests[algorithm] = target.digest_actual.lower()
    return Expectation(target.size, digests)
