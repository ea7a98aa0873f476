"""Fail fast on an archive that cannot be reached.

A crawl against an archive whose host does not resolve, refuses connections, fails the TLS
handshake or never answers would otherwise retry every request with backoff for minutes and
then mark every file ``failed``. Until the archive has answered once (any HTTP response, even
an error status, proves it is reachable), connection-level failures are counted; after
``CAPTURE_CIRCUIT_FAILURES`` of them, or once the first one is ``CAPTURE_CIRCUIT_WINDOW``
seconds old, the circuit opens: the crawl closes with reason ``unreachable`` (one ERROR line
naming the host and the error), queued requests are dropped with :class:`ArchiveUnreachable`,
and files stay ``discovered`` in the catalog for ``--resume``. Once the archive has answered,
later connection errors are transient and go to the backoff retry middleware as usual, until
the archive is *lost*: nothing at all has come from it (no answer, no body byte of any
transfer, capture/liveness.py) for ``CAPTURE_CIRCUIT_LOST_WINDOW`` seconds while connection
failures keep coming. Then the crawl closes as ``unreachable`` too, instead of burning every
queued file's retries for hours and marking them ``failed``; ``--resume`` continues it.

Sits after the retry middleware on the way back (higher order), so it sees each failure
before a retry is scheduled.
"""

from __future__ import annotations

import logging
from time import monotonic
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
)
from scrapy.http import Response
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.error import ConnectError

from capture.config import config_of
from capture.liveness import Liveness, liveness_of
from capture.transfer.errors import ArchiveUnreachable

NEVER_REACHED = (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    ConnectError,
)
__all__ = ["ArchiveCircuitBreakerMiddleware", "ArchiveUnreachable", "connection_failure"]
logger = logging.getLogger(__name__)


def connection_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says the server was never reached (DNS, refused, connect timeout, no
    route, TLS handshake), as opposed to an answer that went wrong."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, NEVER_REACHED):
            return True
        if type(e).__module__.startswith("OpenSSL") or "SSL routines" in str(e):
            return True
        for reason in getattr(e, "reasons", None) or []:  # ResponseNeverReceived
            value = getattr(reason, "value", None)
            if isinstance(value, BaseException):
                stack.append(value)
        for nxt in (e.__cause__, e.__context__):
            if nxt is not None:
                stack.append(nxt)
    return False


class ArchiveCircuitBreakerMiddleware:
    def __init__(self, crawler: Crawler):
        c = config_of(crawler)
        self.crawler = crawler
        self.failures_to_open = max(1, c.circuit_failures)
        self.window = c.circuit_window
        self.reached = False
        self.failures = 0
        self.first_failure: float | None = None
        self.open_reason: str | None = None
        self.lost_window = c.circuit_lost_window
        self.liveness = liveness_of(crawler) or Liveness()
        self.lost_failures = 0  # connection failures since the archive's last sign of life
        self._lost_since = self.liveness.last

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchiveCircuitBreakerMiddleware:
        o = cls(crawler)
        crawler.signals.connect(o.spider_closed, signal=signals.spider_closed)
        return o

    def spider_closed(self, spider: Any, reason: str) -> None:
        if self.open_reason and reason != "unreachable":
            # Another close (e.g. Ctrl-C) won the race: the stats still say why.
            logger.info("Archive was unreachable: %s", self.open_reason)

    def process_request(self, request: Request, spider: Any = None) -> None:
        if self.open_reason is not None:
            raise ArchiveUnreachable(f"archive unreachable: {self.open_reason}")
        return None

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Any:
        if not self.reached:
            self.reached = True
            self.crawler.stats.set_value("capture/circuit/reached", True)
        self.liveness.touch()
        return response

    def process_exception(self, request: Request, exception: Exception, spider: Any = None) -> Any:
        if self.open_reason is not None:
            # No retry once the circuit is open: the crawl is closing, and a retry that
            # starts after the last in-flight request ended makes Scrapy 2.19 fire its
            # closing Deferred twice (AlreadyCalledError).
            raise ArchiveUnreachable(f"archive unreachable: {self.open_reason}")
        if isinstance(exception, ArchiveUnreachable) or not connection_failure(exception):
            return None
        now = monotonic()
        if self.reached:
            self._lost(request, exception, now)
            return None
        self.failures += 1
        self.first_failure = self.first_failure or now
        self.crawler.stats.inc_value("capture/circuit/connection_failures")
        if self.failures >= self.failures_to_open or now - self.first_failure >= self.window:
            host = urlsplit(request.url).netloc
            self.trip(f"{host}: {type(exception).__name__}: {exception}".rstrip(": "))
            raise ArchiveUnreachable(f"archive unreachable: {self.open_reason}")
        return None

    def _lost(self, request: Request, exception: Exception, now: float) -> None:
        """After the archive had answered: trip once it has been silent for the lost window
        and at least CAPTURE_CIRCUIT_FAILURES connections failed since its last sign."""
        if self.lost_window <= 0:
            return
        if self.liveness.last > self._lost_since:
            self._lost_since, self.lost_failures = self.liveness.last, 0
        self.lost_failures += 1
        self.crawler.stats.inc_value("capture/circuit/lost_connection_failures")
        quiet = self.liveness.quiet_for(now)
        if self.lost_failures >= self.failures_to_open and quiet >= self.lost_window:
            host = urlsplit(request.url).netloc
            self.failures = self.lost_failures
            self.trip(
                f"{host}: nothing from it for {quiet:.0f}s after it had answered: "
                f"{type(exception).__name__}: {exception}".rstrip(": "),
                since="since it last answered",
            )
            raise ArchiveUnreachable(f"archive unreachable: {self.open_reason}")

    def trip(self, reason: str, since: str = "and no answer") -> None:
        self.open_reason = reason
        stats = self.crawler.stats
        stats.set_value("capture/unreachable_reason", reason)
        spider = self.crawler.spider
        name = spider.name if spider is not None else "?"
        logger.error(
            "%s: archive unreachable after %d connection failure(s) %s: %s; "
            "its files stay discovered for --resume",
            name,
            self.failures,
            since,
            reason,
        )
        try:
            engine = self.crawler.engine
        except RuntimeError:  # Scrapy 2.19: a crawler that never started
            engine = None
        if engine is not None:
            deferred_from_coro(engine.close_spider_async(reason="unreachable"))
