"""``FtpDownloadHandler``: ``ftp://`` through the same streaming engine as HTTP.

Scrapy's stock FTP handler holds a body in memory (or writes a local file with no digest) and
cannot resume. Here a request with ``meta["capture_stream"]`` streams ``RETR`` into the same
:class:`~capture.transfer.receiver.BodyReceiver` and sink as an HTTP body: in-stream md5/sha256,
``.part`` file with a sidecar, stall timeout, speed/size/time limits, back-pressure (a paused
receiver stops reading the data socket). It runs inside Scrapy's downloader slots and after the
downloader middlewares (retry, guard, rate limit, circuit breaker), like the HTTP handler.

Validators and resume (the FTP analogue of ``If-Range``, RFC 3659): before each attempt the
handler asks ``SIZE`` and ``MDTM``; the first attempt records them in the sidecar
(``length``, ``last_modified``). A later attempt resumes with ``REST <durable offset>`` only
if both answers are unchanged; if either changed (or ``MDTM`` is unknown, or ``REST`` is
refused) it restarts from byte 0. A partial whose offset equals the size is complete without a
transfer. Completeness is never inferred from the data connection closing (that is also how a
dropped transfer looks): the server's final reply must be ``226``/``250`` and the byte count
must equal ``SIZE``.

``conditional`` (a stored copy's validators): an unchanged ``MDTM`` (and size, when the
catalog knows it) answers like a ``304``, without a transfer.

Requests without a stream spec: a path ending in ``/`` is listed (``MLSD``, else ``LIST`` when
the server does not know ``MLSD``) into a text response whose ``X-FTP-Listing`` header names
the dialect (:mod:`capture.formats.ftplisting` parses it); any other path is read into memory
up to ``download_maxsize``. FTP reply codes become HTTP statuses the rest of the crawl already
handles (:data:`STATUS`): 550 is 404, 530 is 401, other 4xx are 503 (retried), other 5xx 400.

Login: anonymous (Scrapy's ``FTP_USER``/``FTP_PASSWORD``) unless the spider or the settings
name credentials for the crawl's origin (:mod:`capture.credentials`); the password is only ever
sent as ``PASS`` and is masked in every log line.
"""

from __future__ import annotations

import logging
from time import monotonic
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.core.downloader.handlers.base import BaseDownloadHandler
from scrapy.exceptions import DownloadFailedError, DownloadTimeoutError
from scrapy.http import Headers, Response, TextResponse
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import defer
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

from capture.config import SERVICES_ATTR
from capture.credentials import WireCredentials
from capture.formats.ftplisting import HEADER, LIST, MLSD
from capture.transfer.engine import (
    PartialTransfers,
    Restart,
    StreamedResponse,
    now,
    spend,
)
from capture.transfer.ftpclient import (
    UNKNOWN_COMMAND,
    FtpPathError,
    FtpReplyError,
    FtpSession,
    FtpTarget,
    reply_error,
)
from capture.transfer.receiver import BodyReceiver
from capture.transfer.result import StreamSpec, TransferResult
from capture.transfer.sidecar import PartialState

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from capture.context import CrawlServices
    from capture.storage import Sink

logger = logging.getLogger(__name__)

#: FTP reply code (or its first digit) -> the HTTP status the crawl handles it as.
STATUS = {530: 401, 550: 404, 553: 404, 4: 503, 5: 400}
#: After the data connection closed, how long the final reply may take (seconds).
REPLY_GRACE = 10.0
#: Final replies of a complete transfer (RFC 959: 226 closing data connection, 250 done).
DONE = (226, 250)


def http_status(code: int) -> int:
    return STATUS.get(code) or STATUS.get(code // 100) or 502


class _Collector(Protocol):
    """A listing or small file read into memory, at most ``limit`` bytes (then hung up)."""

    def __init__(self, limit: int):
        self.limit, self.size, self.too_large = limit, 0, False
        self.chunks: list[bytes] = []

    def dataReceived(self, data: bytes) -> None:
        if self.too_large:
            return
        self.size += len(data)
        if self.limit and self.size > self.limit:
            self.too_large, self.chunks = True, []
            if self.transport is not None:
                self.transport.loseConnection()
            return
        self.chunks.append(data)

    def body(self) -> bytes:
        return b"".join(self.chunks)


class FtpDownloadHandler(PartialTransfers, BaseDownloadHandler):
    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        services: CrawlServices | None = getattr(crawler, SERVICES_ATTR, None)
        if services is None:
            raise RuntimeError(
                "the FTP download handler needs capture's crawl services: enable "
                "capture.context.CrawlServices in EXTENSIONS (capture/settings.py does)"
            )
        self._crawler = crawler
        self._config = services.config
        self._io = services.io
        self._store = services.store
        assert crawler.stats is not None
        self._stats = crawler.stats
        self._anonymous = (
            crawler.settings.get("FTP_USER") or "anonymous",
            crawler.settings.get("FTP_PASSWORD") or "guest",
        )
        self._wire: WireCredentials | None = None

    async def download_request(self, request: Request) -> Response:
        from capture.transfer import META_KEY

        try:
            target = FtpTarget.of(request.url)
        except FtpPathError as exc:
            raise DownloadFailedError(str(exc)) from None
        if META_KEY in request.meta:
            return await self._stream(request)
        if target.is_directory:
            return await self._listing(request, target)
        return await self._small(request, target)

    # -- sessions --------------------------------------------------------------------------
    def _login(self, url: str) -> tuple[str, str]:
        spider = self._crawler.spider
        if spider is not None:
            if self._wire is None or self._wire.spider is not spider:
                self._wire = WireCredentials(spider)
            login = self._wire.ftp_login(url)
            if login is not None:
                return login
        return self._anonymous

    async def _open(self, request: Request, target: FtpTarget) -> FtpSession:
        timeout = float(request.meta.get("download_timeout") or 180)
        user, password = self._login(request.url)
        started = monotonic()
        session = await FtpSession.open(target, user, password, timeout)
        request.meta["download_latency"] = monotonic() - started
        return session

    # -- listings and small files (in memory) ----------------------------------------------
    async def _listing(self, request: Request, target: FtpTarget) -> Response:
        limit = int(request.meta.get("download_maxsize") or 0)
        session = await self._open(request, target)
        try:
            dialect, body = MLSD, None
            try:
                body = await self._collect(session, f"MLSD {target.wire_path}", limit)
            except FtpReplyError as exc:
                if exc.code not in UNKNOWN_COMMAND:
                    return self._reply_response(request, exc)
                dialect = LIST
                self._stats.inc_value("capture/ftp/list_fallback")
            if body is None:
                try:
                    body = await self._collect(session, f"LIST {target.wire_path}", limit)
                except FtpReplyError as exc:
                    return self._reply_response(request, exc)
        finally:
            session.close()
        self._stats.inc_value(f"capture/ftp/listing/{dialect}")
        headers = Headers({HEADER: dialect, "Content-Type": "text/plain; charset=utf-8"})
        return TextResponse(
            url=request.url, status=200, headers=headers, body=body, request=request
        )

    async def _small(self, request: Request, target: FtpTarget) -> Response:
        limit = int(request.meta.get("download_maxsize") or 0)
        session = await self._open(request, target)
        try:
            body = await self._collect(session, f"RETR {target.wire_path}", limit)
        except FtpReplyError as exc:
            return self._reply_response(request, exc)
        finally:
            session.close()
        return Response(url=request.url, status=200, body=body, request=request)

    async def _collect(self, session: FtpSession, line: str, limit: int) -> bytes:
        from twisted.internet import reactor

        collector = _Collector(limit)
        d = session.receive(line, collector)
        d.addTimeout(session.timeout, reactor)
        try:
            await maybe_deferred_to_future(d)
        except defer.TimeoutError:
            raise DownloadTimeoutError(
                f"FTP {line.split()[0]}: not complete within {session.timeout:g}s"
            ) from None
        except Exception:
            if collector.too_large:
                raise DownloadFailedError(
                    f"FTP {line.split()[0]}: body exceeded download_maxsize ({limit} bytes)"
                ) from None
            raise reply_error(Failure(), line.split()[0]) from None
        if collector.too_large:
            raise DownloadFailedError(
                f"FTP {line.split()[0]}: body exceeded download_maxsize ({limit} bytes)"
            )
        return collector.body()

    @staticmethod
    def _reply_response(request: Request, exc: FtpReplyError) -> Response:
        return Response(
            url=request.url,
            status=http_status(exc.code),
            body=str(exc).encode("utf-8", "replace"),
            headers={"X-FTP-Reply": str(exc.code)},
            request=request,
        )

    # -- the streamed path (the loop is PartialTransfers._stream) --------------------------
    async def _attempt(
        self,
        request: Request,
        spec: StreamSpec,
        sink: Sink,
        offset: int,
        state: PartialState | None,
        events: list[dict[str, Any]],
    ) -> Response:
        target = FtpTarget.of(request.url)
        attempt: dict[str, Any] = {"at": now(), "kind": "attempt", "range_from": offset}
        events.append(attempt)
        session: FtpSession | None = None
        try:
            session = await self._open(request, target)
            size = await session.size(target)
            modified = await session.mdtm(target)
            attempt.update(status=200, ftp_size=size, ftp_mdtm=modified)
            response = await self._validated(
                request, spec, sink, session, target, offset, state, size, modified, attempt
            )
        except FtpReplyError as exc:
            await self._io.run(sink.close)
            attempt.update(status=http_status(exc.code), outcome="ftp_error", reply=exc.code)
            return self._reply_response(request, exc)
        except BaseException:
            await self._io.run(sink.close)
            raise
        finally:
            if session is not None:
                session.close()
        return response

    async def _validated(
        self,
        request: Request,
        spec: StreamSpec,
        sink: Sink,
        session: FtpSession,
        target: FtpTarget,
        offset: int,
        state: PartialState | None,
        size: int | None,
        modified: str | None,
        attempt: dict[str, Any],
    ) -> Response:
        """Decide from ``SIZE``/``MDTM`` whether to skip, resume or restart, then receive."""
        stored = spec.conditional or {}
        unchanged_size = spec.expected_size is None or spec.expected_size == size
        if not offset and modified and stored.get("last_modified") == modified and unchanged_size:
            await self._io.run(sink.discard)
            attempt.update(status=304, outcome="not_modified")
            return self._response(
                request,
                TransferResult(
                    part=spec.part,
                    size=0,
                    digests={},
                    status=304,
                    last_modified=modified,
                    final_url=request.url,
                    not_modified=True,
                ),
            )
        if offset:
            if state is None or modified is None or not state.matches(None, modified, size):
                attempt["outcome"] = "restart"
                raise Restart("object_changed")
            if size is not None and offset == size:
                digests = await self._io.run(sink.finish)
                attempt["outcome"] = "complete"
                return self._response(
                    request,
                    TransferResult(
                        part=spec.part,
                        size=offset,
                        digests=digests,
                        status=200,
                        last_modified=modified,
                        content_length=size,
                        final_url=request.url,
                        resumed_from=offset,
                    ),
                )
            try:
                await session.command(f"REST {offset}", label="REST")
            except FtpReplyError:
                attempt["outcome"] = "restart"
                raise Restart("rest_refused") from None
        self._bind(request, spec, sink, offset, etag=None, last_modified=modified, length=size)
        return await self._receive(request, spec, sink, session, target, offset, size, attempt)

    async def _receive(
        self,
        request: Request,
        spec: StreamSpec,
        sink: Sink,
        session: FtpSession,
        target: FtpTarget,
        offset: int,
        total: int | None,
        attempt: dict[str, Any],
    ) -> Response:
        started = monotonic()
        receiver = await self._start_body(
            request, spec, sink, offset, total, attempt, "the server's SIZE is"
        )
        reply = await _final_reply(session.retrieve(target, receiver), receiver)
        if receiver.transport is not None:
            await maybe_deferred_to_future(receiver.finished)
        received, lost = receiver.received, receiver.lost_reason
        abort, write_error = receiver.abort_reason, receiver.write_error
        pending = receiver.take_pending()
        self._stats.inc_value("capture/transfer/bytes", received)
        self._stats.inc_value("capture/ftp/bytes", received)
        attempt["bytes"] = received
        attempt["seconds"] = round(monotonic() - started, 3)
        spend(request, attempt["seconds"])

        # Refused before any byte (550, 425, 421 ...): the server's answer is the error.
        refused = (
            reply
            if isinstance(reply, FtpReplyError) and receiver.transport is None and not received
            else None
        )
        clean = reply is None and (lost is None or lost.check(ConnectionDone) is not None)
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
            why=str(reply) if reply is not None else "data connection closed early",
            what="FTP body",
            refused=refused,
        )
        state = sink.state
        response = self._response(
            request,
            TransferResult(
                part=spec.part,
                size=size,
                digests=digests,
                status=200,
                last_modified=state.last_modified if state else None,
                content_length=total,
                final_url=request.url,
                resumed_from=offset,
                bytes_transferred=received,
                head=receiver.head if offset == 0 else None,
                length_verified=total is not None,
                synced=sink.sync,
                defer_dir=sink.defer_dir,
                journaled=sink.journaled,
            ),
        )
        response.written = written
        return response

    @staticmethod
    def _response(request: Request, result: TransferResult) -> StreamedResponse:
        headers = Headers()
        if result.last_modified:
            headers[b"Last-Modified"] = result.last_modified
        return StreamedResponse(
            url=request.url,
            status=result.status,
            headers=headers,
            body=b"",
            flags=["streamed", "ftp"],
            request=request,
            transfer=result,
        )


async def _final_reply(control: defer.Deferred[Any], receiver: BodyReceiver) -> Exception | None:
    """The RETR's outcome: None when the server confirmed the transfer, else the error. Once
    the body has ended (or was cut), the server gets :data:`REPLY_GRACE` seconds to answer;
    a server that stalls on both connections does not hold the attempt."""
    from twisted.internet import reactor

    waiter: defer.Deferred[Exception | None] = defer.Deferred()
    timers: list[Any] = []

    def settle(outcome: Exception | None) -> None:
        if not waiter.called:
            for timer in timers:
                if timer.active():
                    timer.cancel()
            waiter.callback(outcome)

    def replied(result: Any) -> None:
        settle(reply_error(result, "RETR") if isinstance(result, Failure) else None)

    def body_ended(value: Any) -> Any:
        if not waiter.called:
            no_reply = DownloadFailedError("FTP RETR: no final reply after the data connection")
            timers.append(reactor.callLater(REPLY_GRACE, settle, no_reply))
        return value

    control.addBoth(replied)
    receiver.finished.addCallback(body_ended)
    return await maybe_deferred_to_future(waiter)
