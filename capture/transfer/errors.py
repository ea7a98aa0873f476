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


class TransferAborted(DownloadCancelledError, TransferError):
    """The crawl is shutting down; the partial file is kept and the file re-driven next run."""


class BudgetExceeded(TransferAborted):
    """The run's download/storage budget left no room for more of this file."""


class LocalStorageError(TransferError):
    """Writing to the data root failed (disk full, permissions): not retried over HTTP."""


class ArchiveUnreachable(IgnoreRequest):
    """The archive's circuit is open (never reached: DNS, refused, TLS): the request was not
    sent and its file stays ``discovered`` for a later run (see middlewares/circuit.py)."""
