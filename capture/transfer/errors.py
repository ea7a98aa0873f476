"""Transfer failures, typed so retry logic can tell transient from fatal (cf. Globus events)."""

from __future__ import annotations

from scrapy.exceptions import DownloadCancelledError, DownloadFailedError, IgnoreRequest


class TransferError(Exception):
    """Base class for streamed-transfer failures."""


class TransferInterrupted(DownloadFailedError, TransferError):
    """The body stopped before it was complete; the partial file is kept for a resume.

    ``progress`` is how many new bytes this attempt added: retries that make progress are not
    counted against ``RETRY_TIMES`` (see :mod:`middlewares.retry`).
    """

    def __init__(self, message: str, *, offset: int = 0, progress: int = 0):
        super().__init__(message)
        self.offset = offset
        self.progress = progress


class TransferStalled(TransferInterrupted):
    """No byte arrived for ``CAPTURE_STALL_TIMEOUT`` seconds."""


class TransferTooSlow(TransferStalled):
    """Slower than ``CAPTURE_MIN_SPEED`` over ``CAPTURE_MIN_SPEED_WINDOW`` (a drip feed keeps
    resetting the stall timer). The partial file is kept, but such retries always count
    against ``RETRY_TIMES``: a drip must not earn the unbounded retries of real progress."""


class BodyTooLong(TransferError):
    """The body outgrew what we know of the file (listed size, announced length, or
    ``CAPTURE_MAX_FILE_BYTES``). Its bytes are discarded and it is not retried in this run:
    the same server would send the same oversized body again."""


class TransferTooLong(TransferError):
    """The file took longer than ``CAPTURE_MAX_TRANSFER_SECONDS``. Not retried in this run; a
    resumable partial file (known length) is kept for a later run."""


class TransferAborted(DownloadCancelledError, TransferError):
    """The crawl is shutting down; the partial file is kept and the file re-driven next run."""


class BudgetExceeded(TransferAborted):
    """The run's download/storage budget left no room for more of this file."""


class LocalStorageError(TransferError):
    """Writing to the data root failed (disk full, permissions): not retried over HTTP."""


class UnsafeLocalPath(LocalStorageError):
    """The file's place in the data root has a symlink in it (see capture/safefs.py): this file
    fails, nothing is written, the crawl goes on."""


class ArchiveUnreachable(IgnoreRequest):
    """The archive's circuit is open (never reached: DNS, refused, TLS): the request was not
    sent and its file stays ``discovered`` for a later run (see middlewares/circuit.py)."""
