"""The one answer to "what must the bytes at this location hash to?".

Today a store holds the archive's bytes as they were fetched, so the expectation is the
catalog's sha256 and size, plus the publisher's digest (md5 for 1000 Genomes and MAST) when
hashlib computes it: it costs CPU, not reads, and hashes in a second thread. When stored bytes
may be encoded (compression at rest, issue 18), the codec column changes this function alone:
an encoded object is checked against its stored sha256/size, and the original digests are
checked on decode.
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

    @property
    def algorithms(self) -> list[str]:
        return list(self.digests)


def expected(target: Target, *, publisher: bool = True) -> Expectation:
    """The size and digests the stored bytes of ``target`` must have (``publisher``: include
    the archive's own digest when hashlib supports its algorithm)."""
    digests: dict[str, str] = {}
    if target.sha256:
        digests["sha256"] = target.sha256.lower()
    algorithm = (target.digest_algorithm or "").lower()
    if publisher and target.digest_actual and algorithm in SUPPORTED and algorithm not in digests:
        digests[algorithm] = target.digest_actual.lower()
    return Expectation(target.size, digests)
