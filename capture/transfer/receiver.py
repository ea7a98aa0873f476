"""The reactor side of a streamed body: buffer, hand off to a writer thread, apply back-pressure.

``dataReceived`` only appends to a list. Once ``CAPTURE_WRITE_BUFFER`` bytes are gathered they
go to the IO pool (hash + ``writev``) while the next buffer fills; if the disk falls behind,
the socket is paused (``pauseProducing``), so memory per transfer stays around two buffers
whatever the file size. A periodic check aborts a transfer that stalls (no byte for the stall
timeout while not paused by us) or whose crawl is shutting down.

Hostile or broken servers are bounded by :class:`TransferLimits`: the body may not grow past
what is known of the file (cut the moment it does, :class:`BodyTooLong`), a file may not take
longer than its time budget (:class:`TransferTooLong`), and a drip feed that keeps the stall
timer alive is cut once it stays below a minimum speed for a whole window
(:class:`TransferTooSlow`, curl's ``--speed-limit``/``--speed-time``). Every window a
long-running transfer logs one progress line, so a slow file is never silent for minutes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from time import monotonic
from typing import TYPE_CHECKING, Any, cast

from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.web.client import ResponseDone

from capture.transfer.errors import (
    BodyTooLong,
    BudgetExceeded,
    TransferAborted,
    TransferStalled,
    TransferTooLong,
    TransferTooSlow,
)

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from capture.liveness import Liveness
    from capture.storage import Sink
    from capture.transfer.io import IOPool

logger = logging.getLogger(__name__)


def _producer(protocol: Protocol) -> IPushProducer:
    """The transport of a ``deliverBody`` protocol: Twisted's HTTP client hands it a
    ``TransportProxyProducer``, a push producer (``Protocol`` types it as ``ITransport``)."""
    return cast(IPushProducer, protocol.transport)


@dataclass(frozen=True)
class TransferLimits:
    """What one attempt may receive; zero or None switches a bound off."""

    #: The part file may not grow past this many bytes (offset included).
    max_size: int | None = None
    #: What ``max_size`` stands for, for the error ("the listed 1000 bytes").
    max_size_means: str = ""
    #: Seconds this file may still spend receiving (its budget minus earlier attempts).
    seconds_left: float | None = None
    #: Minimum bytes/s, judged over each ``speed_window`` seconds.
    min_speed: float = 0.0
    speed_window: float = 0.0
    #: Names the file in progress lines.
    label: str = ""


class BodyReceiver(Protocol):
    def __init__(
        self,
        *,
        sink: Sink,
        pool: IOPool,
        flush_bytes: int,
        stall_timeout: float,
        crawler: Crawler,
        meter: Any = None,
        limits: TransferLimits | None = None,
        offset: int = 0,
        complete_at: int | None = None,
        on_complete: Callable[[], None] | None = None,
        liveness: Liveness | None = None,
    ):
        self.sink = sink
        # Called the moment a body ends cleanly at exactly ``complete_at`` bytes (the part's
        # whole announced length): the transfer slot's release, so the next file's request is
        # on its way one event-loop turn sooner than when the handler resumes (a latency-bound
        # crawl loses a loop turn per hop). The handler calls it again; it must be idempotent.
        self.complete_at = complete_at
        self.on_complete = on_complete
        self.liveness = liveness  # the crawl's "archive alive" clock, told on each check
        self.limits = limits or TransferLimits()
        self.offset = offset  # bytes already in the part file before this body
        self.pool = pool
        self.flush_bytes = max(64 * 1024, flush_bytes)
        self.stall_timeout = stall_timeout
        self.crawler = crawler
        self.meter = meter  # callable(n) -> bool: the run budget, for unknown-size files
        self.finished: Deferred[BodyReceiver] = Deferred()
        self.received = 0
        self.abort_reason: Exception | None = None
        self.lost_reason: Failure | None = None
        self.write_error: Failure | None = None
        self._chunks: list[bytes] = []
        self._flushes = 0
        # The first bytes of the body, kept for content sniffing (error pages saved as data).
        self.head = b""
        self._buffered = 0
        self._inflight = False
        self._paused = False
        self._ended = False
        self._last_data = self._started = self._window_start = monotonic()
        self._window_bytes = 0
        self._checker: task.LoopingCall | None = None

    # -- Protocol --------------------------------------------------------------------------
    def connectionMade(self) -> None:
        self._checker = task.LoopingCall(self._check)
        interval = max(0.05, min(1.0, self.stall_timeout / 4))
        self._checker.start(interval, now=False)

    def dataReceived(self, data: bytes) -> None:
        if self.abort_reason is not None or self.write_error is not None:
            return
        if self._too_long(len(data)):
            return
        if len(self.head) < 1024:
            self.head += data[: 1024 - len(self.head)]
        self._chunks.append(data)
        self._buffered += len(data)
        self.received += len(data)
        self._last_data = monotonic()
        if self.meter is not None and not self.meter(len(data)):
            self.abort(BudgetExceeded("the run's download budget is used up"))
            return
        if self._buffered >= self.flush_bytes:
            if not self._inflight:
                self._flush()
            elif not self._paused:
                self._paused = True
                _producer(self).pauseProducing()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self._stop_checker()
        self.lost_reason = reason
        if not self._inflight:
            self._drain_or_end()

    # -- writer hand-off -------------------------------------------------------------------
    def _flush(self) -> None:
        chunks, self._chunks, self._buffered = self._chunks, [], 0
        self._inflight = True
        self._flushes += 1
        d = self.pool.defer(self.sink.write, chunks)
        d.addCallbacks(self._written, self._write_failed)

    def _written(self, _: Any) -> None:
        self._inflight = False
        if self.lost_reason is not None:
            self._drain_or_end()
            return
        if self._buffered >= self.flush_bytes:
            self._flush()
        if self._paused and not (self._inflight and self._buffered >= self.flush_bytes):
            self._paused = False
            self._last_data = monotonic()
            _producer(self).resumeProducing()

    def _write_failed(self, failure: Failure) -> None:
        self._inflight = False
        self.write_error = failure
        self._chunks, self._buffered = [], 0
        if self.lost_reason is not None:
            self._end()
        else:
            self._abort_transport()

    def _drain_or_end(self) -> None:
        # A body that never filled a buffer is left for the handler to write together with
        # the final fsync (one IO job instead of two).
        if self._chunks and self.write_error is None and self._flushes:
            self._flush()
        else:
            self._end()

    def take_pending(self) -> list[bytes]:
        chunks, self._chunks, self._buffered = self._chunks, [], 0
        return chunks

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            if self.on_complete is not None and self._complete():
                self.on_complete()
            self.finished.callback(self)

    def _complete(self) -> bool:
        """The whole announced body arrived, ended cleanly, nothing was cut or failed."""
        if self.abort_reason is not None or self.write_error is not None:
            return False
        if self.complete_at is None or self.offset + self.received != self.complete_at:
            return False
        lost = self.lost_reason
        return lost is None or lost.check(ResponseDone) is not None

    # -- aborts ----------------------------------------------------------------------------
    def abort(self, reason: Exception) -> None:
        if self.abort_reason is None:
            self.abort_reason = reason
            self._abort_transport()

    def _abort_transport(self) -> None:
        if self.transport is not None and self.lost_reason is None:
            _producer(self).stopProducing()

    def _too_long(self, incoming: int) -> bool:
        """Abort (and drop ``incoming``) once the body outgrows what is known of the file."""
        cap = self.limits.max_size
        if cap is None or self.offset + self.received + incoming <= cap:
            return False
        self.received += incoming
        self.abort(
            BodyTooLong(
                f"body longer than {self.limits.max_size_means}: cut after "
                f"{self.offset + self.received} bytes, discarded"
            )
        )
        return True

    def _check(self) -> None:
        if self.lost_reason is not None:
            return
        now = monotonic()
        if self.liveness is not None:
            self.liveness.touch(self._last_data)
        if not self.crawler.crawling:
            self.abort(TransferAborted("crawl is shutting down; partial file kept for resume"))
        elif not self._paused and now - self._last_data > self.stall_timeout:
            self.abort(
                TransferStalled(
                    f"no data for {self.stall_timeout:g}s after {self.received} bytes",
                    progress=self.received,
                )
            )
        elif (left := self.limits.seconds_left) is not None and now - self._started > left:
            self.abort(
                TransferTooLong(
                    f"transfer took longer than CAPTURE_MAX_TRANSFER_SECONDS allows ({left:.0f}s "
                    f"left for this file); {self.offset + self.received} bytes received"
                )
            )
        else:
            self._judge_window(now)

    def _judge_window(self, now: float) -> None:
        """Once per window: log progress, and cut a transfer slower than the minimum speed."""
        window = self.limits.speed_window
        if window <= 0:
            return
        if self._paused:  # our own back-pressure: the disk, not the server, sets the pace
            self._window_start, self._window_bytes = now, self.received
            return
        elapsed = now - self._window_start
        if elapsed < window:
            return
        got = self.received - self._window_bytes
        rate = got / elapsed
        self._window_start, self._window_bytes = now, self.received
        logger.info(
            "Transfer of %s: %d bytes in the last %.0fs (%.0f B/s), %d bytes so far",
            self.limits.label,
            got,
            elapsed,
            rate,
            self.offset + self.received,
        )
        if rate < self.limits.min_speed:
            self.abort(
                TransferTooSlow(
                    f"slower than {self.limits.min_speed:g} B/s over {elapsed:.0f}s "
                    f"({got} bytes, {rate:.1f} B/s) after {self.offset + self.received} bytes",
                    progress=self.received,
                )
            )

    def _stop_checker(self) -> None:
        if self._checker is not None and self._checker.running:
            self._checker.stop()


class BoundedBodyReader(Protocol):
    """Reads a small body (an error page) into memory, up to ``limit`` bytes, then hangs up."""

    def __init__(self, limit: int):
        self.limit = limit
        self.buf: list[bytes] = []
        self.size = 0
        self.finished: Deferred[bytes] = Deferred()
        self._done = False

    def dataReceived(self, data: bytes) -> None:
        if self._done:
            return
        room = self.limit - self.size
        if room > 0:
            self.buf.append(data[:room])
            self.size += min(room, len(data))
        if self.size >= self.limit:
            self._finish()
            _producer(self).stopProducing()

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self._finish()

    def _finish(self) -> None:
        if not self._done:
            self._done = True
            self.finished.callback(b"".join(self.buf))


class Discard(Protocol):
    """Hang up on a body we do not want (e.g. a 206 that starts at the wrong offset)."""

    def connectionMade(self) -> None:
        _producer(self).stopProducing()
