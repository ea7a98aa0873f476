"""What every sink shares: digests taken as the bytes stream, the server object's validators,
and the order in which a transfer ends (write the last bytes, seal, report the digests).

A sink (:class:`~capture.storage.base.Sink`) only says how bytes are kept: a local part file
(:class:`~capture.transfer.sink.FileSink`) or an S3 multipart upload
(:class:`~capture.storage.s3.S3Sink`). The small-file hot path is one IO job,
:meth:`BaseSink.complete` (hash, write, seal).
"""

from __future__ import annotations

from typing import ClassVar

from capture.transfer.hashing import MultiHasher
from capture.transfer.sidecar import PartialState


class BaseSink:
    #: See :class:`~capture.storage.base.Sink`; subclasses set what differs.
    write_after = False
    #: Errors :meth:`suspend` swallows while keeping what it can (the transfer already failed).
    suspend_tolerates: ClassVar[tuple[type[BaseException], ...]] = (Exception,)

    def __init__(self, algorithms: list[str]):
        self.hasher = MultiHasher(algorithms)
        self.state: PartialState | None = None
        self.size = 0
        #: Open (or create the upload) on first use: set by :meth:`start_clean`.
        self._lazy = False
        #: Whether :meth:`finish` makes the bytes durable.
        self.sync = True
        #: Whether the published name's directory fsync is left to the group commit (FileSink).
        self.defer_dir = False
        #: Whether a resume journal may exist next to the part (a clean local sink removed any
        #: stray one when it opened the part, and writes one only at a checkpoint).
        self.journaled = True

    # -- the subclass's side -----------------------------------------------------------------
    def write(self, chunks: list[bytes], *, hashed: bool = False) -> None:
        raise NotImplementedError

    def _keep(self) -> None:
        """Make everything written so far resumable (:meth:`suspend`)."""
        raise NotImplementedError

    def _seal(self) -> None:
        """Make the complete bytes whole and final (:meth:`finish`); the digests must then
        cover all of them."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------
    def start_clean(self) -> tuple[int, None]:
        """Begin at byte 0 without touching storage yet (opened on first use)."""
        self._lazy = True
        self.state = None
        self.size = 0
        return 0, None

    def bind(self, state: PartialState) -> None:
        """Attach the server object's validators (from the first full response)."""
        self.state = state

    def _forget(self) -> None:
        """Back to byte 0 (:meth:`restart`): no digest, no size, no server object."""
        self.hasher.reset()
        self.size = 0
        self.state = None

    def suspend(self, pending: list[bytes] | None = None) -> None:
        """The transfer was interrupted: keep every byte received for the retry's resume."""
        try:
            if pending:
                self.write(pending)
            self._keep()
        except self.suspend_tolerates:
            pass
        finally:
            self.close()

    def complete(self, pending: list[bytes]) -> dict[str, str]:
        """Write the last buffered bytes, then :meth:`finish` (one IO job for small files).
        A failed write closes the sink (its part is kept for the caller to discard or resume)."""
        try:
            if pending:
                self.write(pending)
        except BaseException:
            self.close()
            raise
        return self.finish()

    def finish(self) -> dict[str, str]:
        """Seal the complete bytes and return their digests."""
        self._seal()
        return self.hasher.hexdigests()
