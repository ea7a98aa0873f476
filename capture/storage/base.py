"""What the pipelines and the transfer handler may ask of a store and of its sinks.

Modelled on Scrapy's ``FilesStoreProtocol`` (``scrapy/pipelines/files.py``): callers hold a
:class:`Store` and never ask which one it is. A store names where a file's bytes go while
they download (:meth:`Store.part_location`), builds the :class:`Sink` that writes them there
(:meth:`Store.sink`), and then publishes, quarantines, retires or discards them. Whether a
location is one of its own is the store's answer (:meth:`Store.owns`), never a caller's test
of a URI scheme or of a path type.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from capture.config import CaptureSettings
    from capture.paths import DataRoot
    from capture.storage.compress import Encoded, Plan
    from capture.transfer.sidecar import PartialState


@runtime_checkable
class Sink(Protocol):
    """Where one transfer's bytes go as they arrive; methods block (IO thread). Calls for one
    file are strictly sequential."""

    #: The server object's validators (from the first full response, or a resume journal).
    state: PartialState | None
    #: Bytes written so far (the resume offset included).
    size: int
    #: Whether :meth:`finish` made the bytes durable (False: whoever records the file syncs).
    sync: bool
    #: Whether the fsync of the published name's directory entry is left to whoever records
    #: the file (group durability: one directory fsync per batch, before its catalog commit).
    defer_dir: bool
    #: Whether a resume journal may exist next to the part (publication removes it).
    journaled: bool
    #: Whether a small complete body may be hashed and written (:meth:`complete`, one IO job)
    #: after its response returns.
    write_after: bool

    def prepare(self, fresh: bool) -> tuple[int, PartialState | None]:
        """Open the part and return ``(offset, state)`` to resume from (0: from the start)."""
        ...

    def start_clean(self) -> tuple[int, None]:
        """Begin at byte 0 of a file known to have no partial data, without IO yet."""
        ...

    def bind(self, state: PartialState) -> None: ...

    def restart(self) -> None:
        """Throw away what was written (Range ignored, or the object changed)."""
        ...

    def write(self, chunks: list[bytes], *, hashed: bool = False) -> None: ...

    def checkpoint(self) -> None: ...

    def suspend(self, pending: list[bytes] | None = None) -> None:
        """Interrupted: keep what can be resumed, release the part."""
        ...

    def complete(self, pending: list[bytes]) -> dict[str, str]:
        """Write the last bytes and :meth:`finish`; returns the digests."""
        ...

    def finish(self) -> dict[str, str]: ...

    def discard(self) -> None:
        """Drop the partial bytes and their resume journal."""
        ...

    def close(self) -> None: ...


#: What a store hands back for a published or quarantined file: a local path or a URI.
Location = str | Path


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One thing a store holds under a directory (:meth:`Store.walk`)."""

    #: Relative to the data root (or the store's prefix), as the catalog records paths.
    rel: str
    size: int
    #: "file", or what else sits there ("symlink", "other"): never followed, always reported.
    kind: str = "file"


@runtime_checkable
class Store(Protocol):
    """Publication, quarantine and versions of verified files (local data root or S3)."""

    #: True when the bytes do not live on the local data root (no disk-room checks, scorers
    #: read a scratch copy).
    remote: bool

    def owns(self, location: str) -> bool:
        """Whether ``location`` is one of this store's own staging or stored locations."""
        ...

    def part_location(self, rel: str) -> str:
        """Where a file's bytes go while they download."""
        ...

    def sink(self, part: str, algorithms: list[str], *, checkpoint_bytes: int, sync: bool) -> Sink:
        """The sink that writes ``part`` (a location this store does not own, such as a
        listing file in the private area, is written to local disk)."""
        ...

    def publish(
        self,
        part: str,
        rel: str,
        metadata: dict[str, str] | None = None,
        *,
        durable: bool = True,
        sync_data: bool = False,
        journal: bool = True,
    ) -> Location: ...

    def quarantine(
        self, part: str, rel: str, reason: dict[str, Any], *, sync_data: bool = False
    ) -> Location: ...

    def recorded(self, location: Location) -> str:
        """How the catalog names a location :meth:`publish` or :meth:`quarantine` returned."""
        ...

    def retire(self, rel: str, version: int) -> str | None: ...

    def unpublish(self, rel: str, previous: str | None) -> bool | None:
        """Take back a publication the catalog could not record: True if ``previous`` was
        restored, False if the file was removed, None if this store leaves it for the resume
        to overwrite."""
        ...

    def link_copy(self, source_rel: str, rel: str, part: str, size: int, sha256: str) -> str | None:
        """Publish ``rel`` with the identical bytes stored at ``source_rel`` (whose size and
        sha256 must be ``size`` and ``sha256`` now) instead of the part, which is then dropped;
        returns how (``hardlink``, ``reflink``, ``s3-copy``), or None: publish the part."""
        ...

    def dedupe(self, source_rel: str, rel: str, size: int, sha256: str) -> str | None:
        """Retroactively store ``rel``'s bytes once with ``source_rel``'s identical ones (both
        verified first); returns how, ``"linked"`` if they already are, None if not done."""
        ...

    def identity(self, rel: str) -> str | None:
        """What the bytes stored at ``rel`` are stored as: locations with one identity share
        one stored copy (links); None when ``rel`` holds its own (or nothing)."""
        ...

    def compress(self, part: str, size: int, sha256: str, plan: Plan) -> Encoded | None:
        """Stage an encoded copy of ``part`` when a trial says it pays, proven to decode to
        ``sha256`` and ``size`` (:mod:`capture.storage.compress`); None: store as fetched.
        The part is kept: the caller publishes the encoded copy, then drops the part."""
        ...

    def discard(self, part: str) -> None: ...

    def exists(self, rel: str) -> bool: ...

    def scratch_copy(self, part: str, size: int | None) -> str | None:
        """A local file with the bytes of ``part`` for scorers and inspectors (blocking),
        or None when it is too big to fetch."""
        ...

    def drop_scratch(self, path: str | None, part: str) -> None: ...

    def read(self, rel: str, chunk_size: int) -> Iterator[bytes]:
        """The bytes stored at ``rel`` (a published path or a kept version's ``versions/...``),
        streamed in chunks of at most ``chunk_size``: an audit of terabytes holds one chunk.
        Raises FileNotFoundError when nothing is stored there."""
        ...

    def walk(self, top: str) -> Iterator[StoredObject]:
        """Everything stored below the directory ``top`` (relative, e.g. ``genomics``),
        links included as such and never followed; nothing when ``top`` does not exist."""
        ...

    def quarantine_stored(self, rel: str, reason: dict[str, Any]) -> Location:
        """Move published bytes that failed a fixity audit out of the published tree into
        ``quarantine/`` with the reason next to them (kept as evidence, never repaired)."""
        ...


class StoreClass(Protocol):
    """A store class as ``STORE_SCHEMES`` holds it: opened from its ``CAPTURE_STORE`` URI."""

    def from_settings(self, uri: str, config: CaptureSettings, data: DataRoot) -> Store: ...
