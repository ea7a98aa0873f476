"""The streaming transfer engine: bodies go to disk, never into memory.

Scrapy keeps every response body in RAM (``_ResponseReader`` writes each chunk into a
``BytesIO``), caps bodies at ``DOWNLOAD_MAXSIZE`` and cannot resume. Requests that carry
``meta["capture_stream"]`` are instead handled by
:class:`~capture.transfer.handler.StreamingDownloadHandler`, which writes the body to a
``.part`` file through a writer thread that also hashes it, resumes with ``Range``/``If-Range``
bound to the server's validators, and returns a small response describing the result.
"""

from capture.transfer.errors import (
    LocalStorageError,
    TransferAborted,
    TransferError,
    TransferInterrupted,
    TransferStalled,
)
from capture.transfer.result import StreamSpec, TransferResult

META_KEY = "capture_stream"
EVENTS_KEY = "capture_events"

__all__ = [
    "EVENTS_KEY",
    "META_KEY",
    "TRANSFER_DONE_KEY",
    "LocalStorageError",
    "StreamSpec",
    "TransferAborted",
    "TransferError",
    "TransferInterrupted",
    "TransferResult",
    "TransferStalled",
]

#: Request meta key: a callable (capture.concurrency) that hands the transfer slot back as soon
#: as the handler holds a complete body; idempotent.
TRANSFER_DONE_KEY = "capture_transfer_done"
