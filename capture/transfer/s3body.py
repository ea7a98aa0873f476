"""An S3 answer shaped like the Twisted response the streaming engine consumes.

:class:`S3Reply` carries what :class:`~capture.transfer.handler.StreamingDownloadHandler`
reads from ``twisted.web.client.Response`` (``code``, ``length``, ``headers``,
``deliverBody``), so an S3 GET goes through the very same resume, restart, limit and
completion rules as an HTTP body. Its body is a botocore ``StreamingBody`` read by
:class:`ThreadedBody` on a pool thread (boto3 reads block) and handed to the reactor chunk by
chunk; at most ``window`` chunks wait for the reactor, and the receiver's back-pressure
(``pauseProducing``) stops the reads, so memory stays bounded whatever the object's size.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any, cast

from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.web.client import ResponseDone, ResponseFailed
from twisted.web.http_headers import Headers as TxHeaders
from twisted.web.iweb import UNKNOWN_LENGTH

#: Bytes per read from the S3 body.
CHUNK = 1024 * 1024
#: Chunks read ahead of the reactor at most.
WINDOW = 4
#: Seconds a paused or full reader waits before it checks for a stop again.
POLL = 0.25


class ThreadedBody:
    """A push producer (``pauseProducing``/``resumeProducing``/``stopProducing``) over a
    blocking stream: ``deliver`` starts a pool thread that reads it and calls the protocol's
    ``dataReceived`` and finally ``connectionLost`` on the reactor thread, in order."""

    def __init__(self, stream: Any, pool: Executor, *, chunk: int = CHUNK, window: int = WINDOW):
        self._stream = stream
        self._pool = pool
        self._chunk = max(64 * 1024, chunk)
        self._running = threading.Event()
        self._running.set()
        self._stopped = threading.Event()
        self._slots = threading.Semaphore(window)
        self.read = 0

    # -- IPushProducer (reactor thread) -----------------------------------------------------
    def pauseProducing(self) -> None:
        self._running.clear()

    def resumeProducing(self) -> None:
        self._running.set()

    def stopProducing(self) -> None:
        if not self._stopped.is_set():
            self._stopped.set()
            self._running.set()
            self._slots.release()
            _close(self._stream)  # unblocks a read in progress

    # -- the reader (pool thread) -----------------------------------------------------------
    def deliver(self, protocol: Protocol) -> None:
        from twisted.internet import reactor

        protocol.makeConnection(self)
        call = cast(IReactorFromThreads, reactor).callFromThread
        self._pool.submit(self._pump, protocol, call)

    def _pump(self, protocol: Protocol, call: Any) -> None:
        reason: Failure = Failure(ResponseDone("S3 body complete"))
        try:
            while not self._stopped.is_set():
                if not self._running.wait(POLL) or not self._slots.acquire(timeout=POLL):
                    continue
                if self._stopped.is_set():
                    break
                if not self._running.is_set():  # paused while waiting for a slot
                    self._slots.release()
                    continue
                data = self._stream.read(self._chunk)
                if not data:
                    break
                self.read += len(data)
                call(self._hand, protocol, data)
            if self._stopped.is_set():
                reason = Failure(ResponseFailed([Failure(ConnectionAbortedError("stopped"))]))
        except Exception as exc:  # any read error: the body is not complete
            reason = Failure(ResponseFailed([Failure(exc)]))
        finally:
            _close(self._stream)
            call(protocol.connectionLost, reason)

    def _hand(self, protocol: Protocol, data: bytes) -> None:
        self._slots.release()
        if not self._stopped.is_set():
            protocol.dataReceived(data)


class _NoBody:
    """The producer of a body already in memory (error answers): nothing to pause."""

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class S3Reply:
    """One S3 answer: status, headers (as S3 sent them over HTTP) and its body."""

    def __init__(
        self,
        code: int,
        headers: Mapping[str, str],
        *,
        stream: Any = None,
        body: bytes = b"",
        pool: Executor | None = None,
        chunk: int = CHUNK,
    ):
        self.code = code
        self.headers = TxHeaders()
        for name, value in headers.items():
            self.headers.setRawHeaders(name.encode("latin-1"), [str(value).encode("latin-1")])
        self._stream, self._body, self._pool, self._chunk = stream, body, pool, chunk
        self.length: int | object = len(body) if stream is None else _length(headers)
        if stream is not None and self.length == 0:
            _close(stream)
            self._stream = None
            self._body = b""

    def deliverBody(self, protocol: Protocol) -> None:
        if self._stream is None or self._pool is None:
            protocol.makeConnection(_NoBody())
            if self._body:
                protocol.dataReceived(self._body)
            protocol.connectionLost(Failure(ResponseDone("S3 body complete")))
            return
        stream, self._stream = self._stream, None
        ThreadedBody(stream, self._pool, chunk=self._chunk).deliver(protocol)

    def close(self) -> None:
        """Release a body nobody will read (the connection goes back to boto3's pool)."""
        if self._stream is not None:
            _close(self._stream)
            self._stream = None


def _length(headers: Mapping[str, str]) -> int | object:
    value = {k.lower(): v for k, v in headers.items()}.get("content-length")
    try:
        return int(value) if value is not None else UNKNOWN_LENGTH
    except ValueError:
        return UNKNOWN_LENGTH


def _close(stream: Any) -> None:
    try:
        stream.close()
    except Exception:  # already closed, or its connection gone: nothing left to release
        pass
