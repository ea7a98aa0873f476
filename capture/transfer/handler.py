"""``StreamingDownloadHandler``: Scrapy's HTTP/1.1 handler plus streamed, resumable file transfers.

Ordinary requests (listings, API calls) go to Scrapy's own handler untouched. Requests with
``meta["capture_stream"]`` (see :class:`~capture.transfer.result.StreamSpec`) are streamed to a
``.part`` file. Because it is a download handler, transfers still run inside Scrapy's
downloader slots (concurrency, delays, AutoThrottle) and after the downloader middlewares
(retry, redirect, guard, credentials).

Resume rules (RFC 9110 section 14, and known failures of wget, aria2 and httrack, e.g. httrack
appending a 206 body at the on-disk size, xroche/httrack#198):

* resume only from the sidecar's durable offset, with ``Range: bytes=N-`` and ``If-Range``;
* ``206`` whose ``Content-Range`` does not start at N, or describes another length/ETag:
  discard and restart from 0 (never splice);
* ``200`` to a Range request (Range ignored, or If-Range said the object changed): truncate
  and take this body from byte 0;
* ``416`` with ``bytes */N`` equal to our complete length: nothing left to fetch;
* a body shorter or longer than announced: not complete; longer is treated as corruption.

Limits against hostile or broken servers (``capture/settings.py``, "transfer limits"): a body
may not outgrow what is known of the file, the exact listed size first (a body of another size
can never verify), else the announced length, else a listing's estimate (generously), else
``CAPTURE_MAX_FILE_BYTES``, plus ``CAPTURE_BODY_SLACK_BYTES``; past it the bytes are discarded
and the file fails without another fetch in this run. Each file has a time budget and a
minimum speed (see :class:`~capture.transfer.receiver.TransferLimits`). Ordinary in-memory
downloads (listing pages, API answers) are cancelled within a second of Ctrl-C, instead of
running on to ``DOWNLOAD_TIMEOUT``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from time import monotonic
from typing import TYPE_CHECKING, Any, cast

from scrapy import Request
from scrapy.exceptions import DownloadTimeoutError, ResponseDataLossError
from scrapy.http import Headers, Response
from scrapy.responsetypes import responsetypes
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet import defer, task
from twisted.web.client import ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers as TxHeaders
from twisted.web.iweb import UNKNOWN_LENGTH

from capture.config import SERVICES_ATTR
from capture.credentials import WireCredentials
from capture.importcost import lean_frames
from capture.transfer import META_KEY
from capture.transfer.engine import (
    PartialTransfers,
    Restart,
    StreamedResponse,
    now,
    spend,
)
from capture.transfer.errors import (
    BodyTooLong,
    TransferAborted,
)
from capture.transfer.lean import Stopping, lean_client
from capture.transfer.receiver import BoundedBodyReader, Discard
from capture.transfer.result import StreamSpec, TransferResult
from capture.transfer.sidecar import PartialState

with lean_frames():  # 0.16 s of inspect at every crawl's start otherwise (capture/importcost.py)
    from scrapy.core.downloader.handlers.http11 import (
        HTTP11DownloadHandler,
        _RequestBodyProducer,
        _ScrapyAgent,
    )

try:  # private helpers; keep Twisted errors mapped to Scrapy's download exceptions
    from scrapy.utils._download_handlers import get_dataloss_msg, wrap_twisted_exceptions
except ImportError:  # pragma: no cover
    from contextlib import nullcontext as wrap_twisted_exceptions  # type: ignore[assignment]

    def get_dataloss_msg(url: str) -> str:
        return f"Got data loss in {url}."


if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from twisted.web.client import Response as TxResponse

    from capture.context import CrawlServices
    from capture.storage import Sink, Store

logger = logging.getLogger(__name__)

CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.I)
UNSATISFIED_RANGE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.I)
#: How often in-flight ordinary downloads are checked for a stopping crawl (seconds).
SHUTDOWN_POLL = 0.5


def _header(tx: TxResponse, name: bytes) -> str | None:
    values = tx.headers.getRawHeaders(name)
    return values[-1].decode("latin-1") if values else None


class StreamingDownloadHandler(PartialTransfers, HTTP11DownloadHandler):
    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        # The crawl's services (capture/context.py); looked up, not imported: they own this
        # layer's fetcher, so importing them here would be a loop.
        services: CrawlServices | None = getattr(crawler, SERVICES_ATTR, None)
        if services is None:
            raise RuntimeError(
                "the streaming download handler needs capture's crawl services: enable "
                "capture.context.CrawlServices in EXTENSIONS (capture/settings.py does)"
            )
        self._config = services.config  # typed CAPTURE_* settings, read once
        self._io = services.io
        self._agents: dict[Any, Any] = {}
        self._stats = crawler.stats
        # In-flight ordinary downloads, cancelled when the crawl stops (see _ordinary).
        self._ordinary_inflight: set[defer.Deferred[Response]] = set()
        self._cancelled: set[defer.Deferred[Response]] = set()
        self._watchdog: task.LoopingCall | None = None
        self._store: Store = services.store
        self._liveness = services.liveness
        self._limiter = services.fetcher.limiter
        self._lean = lean_client(crawler.settings, enabled=self._config.lean_http)
        if self._lean is not None:
            self._lean.on_connect = self._count_connection
            self._lean.on_handover = self._count_handover
            self._lean.sending = lambda: crawler.crawling
            self._limiter.gate_on_wire()  # the lean client bounds the wire: staging is safe

    def _count_connection(self) -> None:
        self._stats.inc_value("capture/transfer/lean_connections")

    def _count_handover(self) -> None:
        self._stats.inc_value("capture/transfer/lean_handovers")

    async def download_request(self, request: Request) -> Response:
        wire = self._wire_request(request)
        release = await self._hold_wire(wire)
        try:
            if META_KEY in request.meta:
                response = await self._stream(wire)
            elif self._mixed_in:
                # A handler mixed in after this one (scrapy-playwright, capture/transfer/
                # playwright.py) renders its own requests and has its own fallback.
                response = await super().download_request(wire)
            else:
                response = await self._ordinary(wire)
        finally:
            if release is not None:
                release()
        return self._unwire(request, wire, response)

    async def _hold_wire(self, request: Request) -> Callable[[], None] | None:
        """In a staged slot (capture/concurrency.py), a place on the lean client's wire gate
        for any request it will not carry itself: a listing page, a HEAD, a file through a
        proxy. Scrapy's downloader slot is widened to let the staged requests in, so there
        the gate alone keeps the archive at the slot's concurrency."""
        if self._lean is None or not self._limiter.gated:
            return None
        key = self._limiter.slot_key(request)
        if not self._limiter.staged(key):
            return None
        n = self._limiter.concurrency(key)
        engine = self._crawler.engine
        slot = engine.downloader.slots.get(key) if engine is not None else None
        if slot is not None and slot.concurrency < 2 * n:
            slot.concurrency = 2 * n  # its transfers count until the handler returns
        if META_KEY in request.meta and self._is_lean(request):
            # Gated by the lean client, exchange by exchange (the URL parsed for the slot key).
            self._lean.bound(urlparse_cached(request), n)
            return None
        return await self._lean.hold(request.url, n)

    @property
    def _mixed_in(self) -> bool:
        """Whether the next handler in the MRO is not Scrapy's plain HTTP/1.1 one."""
        following = super().download_request.__func__  # type: ignore[attr-defined]
        return following is not HTTP11DownloadHandler.download_request

    # -- credentials: on the wire copy only (capture/credentials.py) -----------------------
    def _wire_request(self, request: Request) -> Request:
        spider = self._crawler.spider
        if spider is None:
            return request
        if getattr(self, "_wire_spider", None) is not spider:
            self._wire_spider, self._wire = spider, WireCredentials(spider)
        return self._wire.for_wire(request)

    @staticmethod
    def _unwire(request: Request, wire: Request, response: Response) -> Response:
        """Hand back a response that refers to the crawl's own request, never the keyed copy."""
        if wire is not request:
            for key in ("download_latency", "download_slot"):
                if key in wire.meta:
                    request.meta[key] = wire.meta[key]
            if response.request is None or response.request is wire:
                response.request = request
        return response

    async def close(self) -> None:
        if self._watchdog is not None and self._watchdog.running:
            self._watchdog.stop()
        if self._lean is not None:
            self._lean.close()
        await super().close()

    # -- the ordinary (in-memory) path -----------------------------------------------------
    async def _ordinary(self, request: Request) -> Response:
        """Scrapy's own in-memory download, through a Deferred we can cancel: a listing page
        that drips would otherwise hold a Ctrl-C for up to DOWNLOAD_TIMEOUT."""
        agent = _ScrapyAgent(
            contextFactory=self._contextFactory,
            bindAddress=self._bind_address,
            pool=self._pool,
            maxsize=self._default_maxsize,
            warnsize=self._default_warnsize,
            fail_on_dataloss=self._fail_on_dataloss,
            crawler=self._crawler,
            tls_verbose_logging=self._tls_verbose_logging,
        )
        d = agent.download_request(request)
        self._track(d)
        try:
            with wrap_twisted_exceptions():
                return await maybe_deferred_to_future(d)
        except ResponseDataLossError:
            if not self._fail_on_dataloss_warned:
                logger.warning(get_dataloss_msg(request.url))
                self._fail_on_dataloss_warned = True
            raise
        except Exception as exc:
            if d in self._cancelled:
                raise TransferAborted(
                    f"crawl is shutting down: download of {request.url} cancelled"
                ) from exc
            raise
        finally:
            self._ordinary_inflight.discard(d)
            self._cancelled.discard(d)

    def _track(self, d: defer.Deferred[Response]) -> None:
        self._ordinary_inflight.add(d)
        if self._watchdog is None:
            self._watchdog = task.LoopingCall(self._cancel_if_stopping)
            self._watchdog.start(SHUTDOWN_POLL, now=False)

    def _cancel_if_stopping(self) -> None:
        """After Ctrl-C (``crawler.crawling`` is False) cancel every ordinary download."""
        if self._crawler.crawling or not self._ordinary_inflight:
            return
        for d in list(self._ordinary_inflight - self._cancelled):
            self._cancelled.add(d)
            self._stats.inc_value("capture/transfer/cancelled_on_shutdown")
            d.cancel()

    async def _attempt(
        self,
        request: Request,
        spec: StreamSpec,
        sink: Sink,
        offset: int,
        state: PartialState | None,
        events: list[dict[str, Any]],
    ) -> Response:
        try:
            tx = await self._send(request, spec, offset, state)
        except BaseException:
            await self._io.run(sink.close)
            raise
        status = tx.code
        length = None if tx.length == UNKNOWN_LENGTH else int(tx.length)
        etag, last_modified = _header(tx, b"ETag"), _header(tx, b"Last-Modified")
        attempt: dict[str, Any] = {
            "at": now(),
            "kind": "attempt",
            "range_from": offset,
            "status": status,
        }
        events.append(attempt)

        if status == 304 and spec.conditional and not offset:
            await self._io.run(sink.discard)
            attempt["outcome"] = "not_modified"
            return self._streamed(
                request,
                tx,
                TransferResult(
                    part=spec.part,
                    size=0,
                    digests={},
                    status=304,
                    etag=etag,
                    last_modified=last_modified,
                    final_url=request.url,
                    not_modified=True,
                ),
            )

        if status == 416 and offset:
            m = UNSATISFIED_RANGE.match(_header(tx, b"Content-Range") or "")
            tx.deliverBody(Discard())
            if m and state and state.length == offset and int(m.group(1)) == offset:
                digests = await self._io.run(sink.finish)
                attempt["outcome"] = "complete"
                return self._streamed(
                    request,
                    tx,
                    TransferResult(
                        part=spec.part,
                        size=offset,
                        digests=digests,
                        status=200,
                        etag=state.etag,
                        last_modified=state.last_modified,
                        content_length=state.length,
                        final_url=request.url,
                        resumed_from=offset,
                    ),
                )
            attempt["outcome"] = "restart"
            raise Restart("range_not_satisfiable")

        if not 200 <= status < 300:
            await self._io.run(sink.close)
            attempt["outcome"] = "http_error"
            return await self._error_response(request, tx)

        total: int | None = length
        if status == 206:
            m = CONTENT_RANGE.match(_header(tx, b"Content-Range") or "")
            if not m:
                tx.deliverBody(Discard())
                attempt["outcome"] = "restart"
                raise Restart("bad_content_range")
            start, total = int(m.group(1)), None if m.group(3) == "*" else int(m.group(3))
            attempt["content_range"] = _header(tx, b"Content-Range")
            if start != offset:
                tx.deliverBody(Discard())
                attempt["outcome"] = "restart"
                raise Restart("content_range_start_mismatch")
            if offset and state and not state.matches(etag, last_modified, total):
                tx.deliverBody(Discard())
                attempt["outcome"] = "restart"
                raise Restart("object_changed")
        elif offset:
            # A 200 to a Range request: either Range is unsupported or If-Range failed because
            # the object changed. Either way this body is the whole file from byte 0.
            changed = state is not None and not state.matches(etag, last_modified, length)
            reason = "object_changed" if changed else "range_ignored"
            events.append({"at": now(), "kind": "restart", "reason": reason})
            self._stats.inc_value(f"capture/transfer/restarted/{reason}")
            await self._io.run(sink.restart)
            offset = 0
        self._bind(
            request, spec, sink, offset, etag=etag, last_modified=last_modified, length=total
        )
        return await self._receive(request, spec, sink, tx, offset, total, attempt)

    async def _receive(
        self,
        request: Request,
        spec: StreamSpec,
        sink: Sink,
        tx: TxResponse,
        offset: int,
        total: int | None,
        attempt: dict[str, Any],
    ) -> Response:
        started = monotonic()
        pending: list[bytes] = []
        head = b""
        try:
            receiver = await self._start_body(
                request, spec, sink, offset, total, attempt, "the server announced"
            )
        except BodyTooLong:
            tx.deliverBody(Discard())
            raise
        announced = None if tx.length == UNKNOWN_LENGTH else int(tx.length)
        if announced == 0 or request.method == "HEAD":
            received, lost, abort, write_error = 0, None, None, None
        else:
            tx.deliverBody(receiver)
            await maybe_deferred_to_future(receiver.finished)
            received, lost = receiver.received, receiver.lost_reason
            abort, write_error = receiver.abort_reason, receiver.write_error
            pending, head = receiver.take_pending(), receiver.head
        self._stats.inc_value("capture/transfer/bytes", received)
        attempt["bytes"] = received
        attempt["seconds"] = round(monotonic() - started, 3)
        spend(request, attempt["seconds"])

        clean = lost is None or lost.check(ResponseDone, PotentialDataLoss) is not None
        digests, written, size = await self._end_body(
            request,
            sink,
            pending,
            offset=offset,
            total=total,
            received=received,
            attempt=attempt,
            abort=abort,
            write_error=write_error,
            clean=clean,
            why=lost.getErrorMessage() if lost is not None else "short body",
        )
        state = sink.state
        result = TransferResult(
            part=spec.part,
            size=size,
            digests=digests,
            status=tx.code,
            etag=state.etag if state else _header(tx, b"ETag"),
            last_modified=state.last_modified if state else _header(tx, b"Last-Modified"),
            content_type=_header(tx, b"Content-Type"),
            content_encoding=_header(tx, b"Content-Encoding"),
            content_length=total,
            final_url=request.url,
            resumed_from=offset,
            bytes_transferred=received,
            head=head if offset == 0 else None,
            length_verified=total is not None,
            synced=sink.sync,
            defer_dir=sink.defer_dir,
            journaled=sink.journaled,
        )
        response = self._streamed(request, tx, result)
        response.written = written
        return response

    # -- plumbing --------------------------------------------------------------------------
    async def _send(
        self, request: Request, spec: StreamSpec, offset: int, state: PartialState | None
    ) -> TxResponse:
        from twisted.internet import reactor

        timeout = request.meta.get("download_timeout") or 180
        headers = self._wire_headers(request, spec, offset, state)
        started = monotonic()
        if self._lean is not None and self._is_lean(request):
            try:
                with wrap_twisted_exceptions():
                    lean = await self._lean.get(
                        request.url.split("#", 1)[0], headers, timeout=timeout
                    )
            except TimeoutError as exc:
                raise DownloadTimeoutError(
                    f"no response headers from {request.url} within {timeout}s"
                ) from exc
            except Stopping as exc:
                raise TransferAborted(f"crawl is shutting down: {request.url} not sent") from exc
            request.meta["download_latency"] = monotonic() - started
            self._liveness.touch()
            return cast("TxResponse", lean)  # the same shape (capture/transfer/lean.py)
        agent = self._agent(request, timeout)
        tx_headers = TxHeaders()
        for name, value in headers:
            tx_headers.addRawHeader(name, value)
        producer = _RequestBodyProducer(request.body) if request.body else None
        d = agent.request(
            request.method.encode(),
            request.url.split("#", 1)[0].encode("ascii"),
            tx_headers,
            producer,
        )
        timer = reactor.callLater(timeout, d.cancel)
        try:
            with wrap_twisted_exceptions():
                tx: TxResponse = await maybe_deferred_to_future(d)
        except defer.CancelledError as exc:
            raise DownloadTimeoutError(
                f"no response headers from {request.url} within {timeout}s"
            ) from exc
        finally:
            if timer.active():
                timer.cancel()
        request.meta["download_latency"] = monotonic() - started
        self._liveness.touch()
        return tx

    @staticmethod
    def _wire_headers(
        request: Request, spec: StreamSpec, offset: int, state: PartialState | None
    ) -> list[tuple[bytes, bytes]]:
        """The request's headers for the wire: identity encoding (the digests are of the
        stored bytes), and the range and conditional headers this attempt needs, only."""
        skip = {b"range", b"if-range", b"if-none-match", b"if-modified-since", b"accept-encoding"}
        headers = [
            (name, value)
            for name, values in request.headers.items()
            if name.lower() not in skip
            for value in values
        ]
        headers.append((b"Accept-Encoding", b"identity"))
        if offset and state is not None:
            headers.append((b"Range", f"bytes={offset}-".encode()))
            validator = state.if_range()
            if validator:
                headers.append((b"If-Range", validator.encode("latin-1")))
        elif spec.conditional:
            if spec.conditional.get("etag"):
                headers.append((b"If-None-Match", spec.conditional["etag"].encode("latin-1")))
            if spec.conditional.get("last_modified"):
                headers.append(
                    (b"If-Modified-Since", spec.conditional["last_modified"].encode("latin-1"))
                )
        return headers

    def _is_lean(self, request: Request) -> bool:
        """Plain GETs go over the lean client (capture/transfer/lean.py); a proxy, a bind
        address or a request body keeps Twisted's agent, which handles them."""
        assert self._lean is not None
        meta = request.meta
        return (
            request.method == "GET"
            and not request.body
            and not meta.get("proxy")
            and not meta.get("bindaddress")
            and self._lean.accepts(request.url)
        )

    def _agent(self, request: Request, timeout: float) -> Any:
        """Scrapy's agent for ``request`` (proxy, tunnel or direct, over the shared pool).
        Direct agents are kept per (bind address, timeout): building one per file was a
        measurable share of a small-file crawl, and they hold no per-request state."""
        key = None
        if not request.meta.get("proxy"):
            key = (repr(request.meta.get("bindaddress")), timeout)
            agent = self._agents.get(key)
            if agent is not None:
                return agent
        agent = _ScrapyAgent(
            contextFactory=self._contextFactory,
            bindAddress=self._bind_address,
            pool=self._pool,
            crawler=self._crawler,
        )._get_agent(request, timeout)
        if key is not None:
            factory = getattr(agent, "_endpointFactory", None)
            if factory is not None and hasattr(factory, "endpointForURI"):
                agent._endpointFactory = _EndpointCache(factory)
            self._agents[key] = agent
        return agent

    def _streamed(
        self, request: Request, tx: TxResponse, result: TransferResult
    ) -> StreamedResponse:
        headers = Headers(tx.headers.getAllRawHeaders())
        headers.pop(b"Content-Encoding", None)  # the placeholder body is not encoded
        headers.pop(b"Content-Length", None)
        response = StreamedResponse(
            url=request.url,
            status=result.status,
            body=b"",
            flags=["streamed"],
            request=request,
            transfer=result,
        )
        # Set, not passed: Response.__init__ would copy the new Headers once more (header by
        # header, normalising each again: 1.5% of a small-file crawl's reactor thread).
        response.headers = headers
        return response

    async def _error_response(self, request: Request, tx: TxResponse) -> Response:
        reader = BoundedBodyReader(self._config.error_body_max)
        tx.deliverBody(reader)
        body = await maybe_deferred_to_future(reader.finished)
        headers = Headers(tx.headers.getAllRawHeaders())
        headers.pop(b"Content-Encoding", None)
        respcls = responsetypes.from_args(headers=headers, url=request.url, body=body)
        return respcls(url=request.url, status=tx.code, headers=headers, body=body, request=request)


class _EndpointCache:
    """Twisted's ``Agent`` builds a new ``HostnameEndpoint`` (IDNA-encoding the host) and, for
    https, a new TLS creator for every request, even when the pool then reuses a kept-alive
    connection: 2% of a small-file crawl's reactor thread (py-spy). Endpoints hold only their
    configuration (``connect()`` may be called again), so one per origin is kept (at most
    ``MAX`` origins; redirects may lead anywhere)."""

    MAX = 256

    def __init__(self, factory: Any):
        self._factory = factory
        self._endpoints: dict[tuple[bytes, bytes, int], Any] = {}

    def __getattr__(self, name: str) -> Any:
        """Everything else is the wrapped factory's (Scrapy's agent reads its
        ``_bindAddress`` for the pool key)."""
        return getattr(self._factory, name)

    def endpointForURI(self, uri: Any) -> Any:
        key = (uri.scheme, uri.host, uri.port)
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            endpoint = self._factory.endpointForURI(uri)
            if len(self._endpoints) >= self.MAX:
                self._endpoints.pop(next(iter(self._endpoints)))
            self._endpoints[key] = endpoint
        return endpoint
