"""What a streamed request asks for (:class:`StreamSpec`) and what it produced
(:class:`TransferResult`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class StreamSpec:
    """Carried in ``request.meta["capture_stream"]`` as a plain dict (so requests stay picklable).

    ``part`` is the absolute path of the ``.part`` file. ``algorithms`` lists the digests to
    compute in-stream besides sha256 (e.g. the publisher's md5). ``fresh`` discards any partial
    data first (used for the whole-file re-transfer after a digest mismatch). ``conditional``
    holds validators of a stored copy for If-None-Match / If-Modified-Since.
    """

    part: str
    algorithms: list[str] = field(default_factory=list)
    fresh: bool = False
    expected_size: int | None = None
    conditional: dict[str, str] | None = None
    # Key of the run budget that meters this transfer byte by byte (size unknown up front).
    budget_key: str | None = None
    # The catalog has never seen this file before: no partial data can exist, so the part
    # file is created lazily (truncating any stray leftover) instead of probed for a resume.
    clean: bool = False
    # A listing's human-rounded size ("4.2M"): not exact, so it never fails verification, but
    # it bounds the body generously (CAPTURE_ESTIMATE_SIZE_FACTOR) against endless bodies.
    size_estimate: int | None = None
    # Seconds spent receiving over earlier attempts (CAPTURE_MAX_TRANSFER_SECONDS is per file).
    elapsed: float = 0.0
    # The file's identity (publisher digest + size, capture/replicas.py): partial bytes bound
    # to it may continue on another replica; None: a replica switch restarts from byte 0.
    identity: str | None = None

    def to_meta(self) -> dict[str, Any]:
        # Field by field, not dataclasses.asdict (a deepcopy walk): once per file transfer.
        return {
            "part": self.part,
            "algorithms": list(self.algorithms),
            "fresh": self.fresh,
            "expected_size": self.expected_size,
            "conditional": dict(self.conditional) if self.conditional else self.conditional,
            "budget_key": self.budget_key,
            "clean": self.clean,
            "size_estimate": self.size_estimate,
            "elapsed": self.elapsed,
            "identity": self.identity,
        }

    @classmethod
    def from_meta(cls, value: dict[str, Any] | StreamSpec) -> StreamSpec:
        if isinstance(value, StreamSpec):
            return value
        return cls(**value)


@dataclass
class TransferResult:
    """The outcome of one streamed transfer (possibly after resumes and retries)."""

    part: str
    size: int
    digests: dict[str, str]
    status: int
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    content_length: int | None = None
    final_url: str | None = None
    resumed_from: int = 0
    bytes_transferred: int = 0
    not_modified: bool = False
    # False when the server gave no length (close-delimited body): completeness unproven.
    length_verified: bool = True
    # The first bytes of the body (when it was received from byte 0), for content sniffing.
    head: bytes | None = None
    # False when the part file was closed without fsync.
    synced: bool = True
    # True when the directory fsync of the published name is left to the catalog commit that
    # records the file (a file new to the catalog: batched, see pipelines/metadata.py).
    defer_dir: bool = False
    # Whether a resume journal (sidecar) may exist next to the part file.
    journaled: bool = True
    # Which replica served which bytes: [{"replica", "url", "from", "to"}] (replicas only).
    ranges: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
