"""``StreamingDownloadHandler``: Scrapy's HTTP/1.1 handler plus streamed, resumable file transfers.

Ordinary requests (listings, API calls) go to Scrapy's own handler untouched. Requests with
``meta["capture_stream"]`` (see :class:`~capture.transfer.result.StreamSpec`) are streamed to a
``.part`` file. Because it is a download handler, transfers still run inside Scrapy's
downloader slots (concurrency, delays, AutoThrottle) and after the downloader middlewares
(retry, redirect, guard, credentials).

Resume rules (RFC 9110 section 14, and the failures of wget/aria2/httrack listed in
``research/anchors.md`` A.9):

* resume only from the sidecar's durable offset, with ``Range: bytes=N-`` and ``If-Range``;
* ``206`` whose ``Content-Range`` does not start at N, or describes another length/ETag:
  discard and restart from 0 (never splice);
* ``200`` to a Range request (Range ignored, or If-Range said the object changed): truncate
  and take this body from byte 0;
* ``416`` with ``bytes */N`` equal to our complete length: nothing left to fetch;
* a body shorter or longer than announced: not complete; longer is treated as corruption.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import UTC, datetime
from time import monotonic
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.core.downloader.handlers.http11 import (
    HTTP11DownloadHandler,
    _RequestBodyProducer,
    _ScrapyAgent,
)
from scrapy.exceptions import DownloadTimeoutError
from scrapy.http import Headers, Response
from scrapy.responsetypes import responsetypes
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import defer
from twisted.web.client import ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers as TxHeaders
from twisted.web.iweb import UNKNOWN_LENGTH

from capture.transfer import EVENTS_KEY, META_KEY
from capture.transfer.errors import (
    LocalStorageError,
    TransferAborted,
    TransferInterrupted,
)
from capture.transfer.io import IOPool
from capture.transfer.receiver import BodyReceiver, BoundedBodyReader, Discard
from capture.transfer.result import StreamSpec, TransferResult
from capture.transfer.sidecar import PartialState
from capture.transfer.sink import FileSink

try:  # private helper; keeps Twisted errors mapped to Scrapy's download exceptions
    from scrapy.utils._download_handlers import wrap_twisted_exceptions
except ImportError:  # pragma: no cover
    from contextlib import nullcontext as wrap_twisted_exceptions  # type: ignore[assignment]

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from twisted.web.client import Response as TxResponse

logger = logging.getLogger(__name__)

CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.I)
UNSATISFIED_RANGE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.I)
MAX_RESTARTS = 3


class StreamedResponse(Response):
    """A response whose body is on disk; ``transfer`` describes the file."""

    attributes: tuple[str, ...] = (*Response.attributes, "transfer")

    def __init__(self, *args: Any, transfer: TransferResult | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.transfer = transfer


class _Restart(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _header(tx: TxResponse, name: bytes) -> str | None:
    values = tx.headers.getRawHeaders(name)
    return values[-1].decode("latin-1") if values else None


class StreamingDownloadHandler(HTTP11DownloadHandler):
    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        settings = crawler.settings
        self._io = IOPool.for_crawler(crawler)
        self._flush_bytes = settings.getint("CAPTURE_WRITE_BUFFER", 4 * 1024 * 1024)
        self._checkpoint_bytes = settings.getint("CAPTURE_CHECKPOINT_BYTES", 64 * 1024 * 1024)
        self._stall_timeout = settings.getfloat("CAPTURE_STALL_TIMEOUT", 120.0)
        self._error_body_max = settings.getint("CAPTURE_ERROR_BODY_MAX", 1024 * 1024)
        self._stats = crawler.stats

    def _sink(self, spec: StreamSpec) -> Any:
        """Local part file, or an S3 multipart upload for ``s3://`` staging locations."""
        if spec.part.startswith("s3://"):
            from capture.storage import s3_settings
            from capture.storage.s3 import S3Sink

            return S3Sink(spec.part, spec.algorithms, s3_settings(self._crawler.settings))
        return FileSink(spec.part, spec.algorithms, self._checkpoint_bytes)

    async def download_request(self, request: Request) -> Response:
        if META_KEY not in request.meta:
            return await super().download_request(request)
        return await self._stream(request)

    # -- the streamed path -----------------------------------------------------------------
    async def _stream(self, request: Request) -> Response:
        spec_dict: dict[str, Any] = request.meta[META_KEY]
        spec = StreamSpec.from_meta(spec_dict)
        events: list[dict[str, Any]] = request.meta.setdefault(EVENTS_KEY, [])
        fresh = spec.fresh
        for _ in range(MAX_RESTARTS):
            sink = self._sink(spec)
            if spec.clean and not fresh:
                offset, state = sink.start_clean()  # no partial data can exist: no IO yet
            else:
                offset, state = await self._io.run(sink.prepare, fresh)
            if isinstance(spec_dict, dict):
                # Later retries of this request probe for (and may resume) partial data.
                spec_dict["fresh"] = spec_dict["clean"] = False
            fresh = False
            if offset:
                events.append({"at": _now(), "kind": "resume", "offset": offset})
                self._stats.inc_value("capture/transfer/resumed")
            try:
                return await self._attempt(request, spec, sink, offset, state, events)
            except _Restart as restart:
                await self._io.run(sink.close)
                events.append({"at": _now(), "kind": "restart", "reason": restart.reason})
                self._stats.inc_value(f"capture/transfer/restarted/{restart.reason}")
                logger.info("Restarting %s from byte 0: %s", request.url, restart.reason)
                fresh = True
        raise TransferInterrupted(f"gave up after {MAX_RESTARTS} restarts of {request.url}")

    async def _attempt(
        self,
        request: Request,
        spec: StreamSpec,
        sink: FileSink,
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
            "at": _now(),
            "kind": "attempt",
            "range_from": offset,
            "status": status,
        }
        events.append(attempt)

        if status == 304 and spec.conditional and not offset:
            await self._io.run(_discard_part, sink)
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
            raise _Restart("range_not_satisfiable")

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
                raise _Restart("bad_content_range")
            start, total = int(m.group(1)), None if m.group(3) == "*" else int(m.group(3))
            attempt["content_range"] = _header(tx, b"Content-Range")
            if start != offset:
                tx.deliverBody(Discard())
                attempt["outcome"] = "restart"
                raise _Restart("content_range_start_mismatch")
            if offset and state and not state.matches(etag, last_modified, total):
                tx.deliverBody(Discard())
                attempt["outcome"] = "restart"
                raise _Restart("object_changed")
        elif offset:
            # A 200 to a Range request: either Range is unsupported or If-Range failed because
            # the object changed. Either way this body is the whole file from byte 0.
            changed = state is not None and not state.matches(etag, last_modified, length)
            reason = "object_changed" if changed else "range_ignored"
            events.append({"at": _now(), "kind": "restart", "reason": reason})
            self._stats.inc_value(f"capture/transfer/restarted/{reason}")
            await self._io.run(sink.restart)
            offset = 0
        if sink.state is None:
            sink.bind(
                PartialState(url=request.url, etag=etag, last_modified=last_modified, length=total)
            )
        return await self._receive(request, spec, sink, tx, offset, total, attempt)

    async def _receive(
        self,
        request: Request,
        spec: StreamSpec,
        sink: FileSink,
        tx: TxResponse,
        offset: int,
        total: int | None,
        attempt: dict[str, Any],
    ) -> Response:
        started = monotonic()
        pending: list[bytes] = []
        head = b""
        if tx.length == 0 or request.method == "HEAD":
            received, lost, abort, write_error = 0, None, None, None
        else:
            receiver = BodyReceiver(
                sink=sink,
                pool=self._io,
                flush_bytes=self._flush_bytes,
                stall_timeout=self._stall_timeout,
                crawler=self._crawler,
                meter=_meter(spec.budget_key),
            )
            tx.deliverBody(receiver)
            await maybe_deferred_to_future(receiver.finished)
            received, lost = receiver.received, receiver.lost_reason
            abort, write_error = receiver.abort_reason, receiver.write_error
            pending, head = receiver.take_pending(), receiver.head
        self._stats.inc_value("capture/transfer/bytes", received)
        attempt["bytes"] = received
        attempt["seconds"] = round(monotonic() - started, 3)

        if write_error is not None:
            await self._io.run(sink.close)
            attempt["outcome"] = "local_error"
            raise LocalStorageError(str(write_error.value)) from write_error.value
        size = sink.size + sum(len(c) for c in pending)  # pending: not yet on disk
        if abort is not None:
            await self._io.run(sink.suspend, pending)
            attempt["outcome"] = "aborted" if isinstance(abort, TransferAborted) else "stalled"
            if isinstance(abort, TransferInterrupted):
                abort.offset, abort.progress = size, received
            raise abort
        clean = lost is None or lost.check(ResponseDone, PotentialDataLoss) is not None
        if not clean or (total is not None and size < total):
            await self._io.run(sink.suspend, pending)
            attempt["outcome"] = "interrupted"
            why = lost.getErrorMessage() if lost is not None else "short body"
            raise TransferInterrupted(
                f"body of {request.url} ended at byte {size}"
                + (f" of {total}" if total is not None else "")
                + f": {why}",
                offset=size,
                progress=received,
            )
        if total is not None and size > total:
            await self._io.run(sink.close)
            attempt["outcome"] = "restart"
            raise _Restart("body_longer_than_announced")

        digests = await self._io.run(sink.complete, pending)
        attempt["outcome"] = "complete"
        state = sink.state
        result = TransferResult(
            part=spec.part,
            size=sink.size,
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
        )
        return self._streamed(request, tx, result)

    # -- plumbing --------------------------------------------------------------------------
    async def _send(
        self, request: Request, spec: StreamSpec, offset: int, state: PartialState | None
    ) -> TxResponse:
        from twisted.internet import reactor

        timeout = request.meta.get("download_timeout") or 180
        agent = _ScrapyAgent(
            contextFactory=self._contextFactory,
            bindAddress=self._bind_address,
            pool=self._pool,
            crawler=self._crawler,
        )._get_agent(request, timeout)
        headers = TxHeaders({k: list(v) for k, v in request.headers.items()})
        headers.setRawHeaders(b"Accept-Encoding", [b"identity"])
        for name in (b"Range", b"If-Range", b"If-None-Match", b"If-Modified-Since"):
            headers.removeHeader(name)
        if offset and state is not None:
            headers.setRawHeaders(b"Range", [f"bytes={offset}-".encode()])
            validator = state.if_range()
            if validator:
                headers.setRawHeaders(b"If-Range", [validator.encode("latin-1")])
        elif spec.conditional:
            if spec.conditional.get("etag"):
                headers.setRawHeaders(
                    b"If-None-Match", [spec.conditional["etag"].encode("latin-1")]
                )
            if spec.conditional.get("last_modified"):
                headers.setRawHeaders(
                    b"If-Modified-Since", [spec.conditional["last_modified"].encode("latin-1")]
                )
        started = monotonic()
        producer = _RequestBodyProducer(request.body) if request.body else None
        d = agent.request(
            request.method.encode(), request.url.split("#", 1)[0].encode("ascii"), headers, producer
        )
        timer = reactor.callLater(timeout, d.cancel)
        try:
            with wrap_twisted_exceptions():
                tx = await maybe_deferred_to_future(d)
        except defer.CancelledError as exc:
            raise DownloadTimeoutError(
                f"no response headers from {request.url} within {timeout}s"
            ) from exc
        finally:
            if timer.active():
                timer.cancel()
        request.meta["download_latency"] = monotonic() - started
        return tx

    def _streamed(self, request: Request, tx: TxResponse, result: TransferResult) -> Response:
        headers = Headers(tx.headers.getAllRawHeaders())
        headers.pop(b"Content-Encoding", None)  # the placeholder body is not encoded
        headers.pop(b"Content-Length", None)
        return StreamedResponse(
            url=request.url,
            status=result.status,
            headers=headers,
            body=b"",
            flags=["streamed"],
            request=request,
            transfer=result,
        )

    async def _error_response(self, request: Request, tx: TxResponse) -> Response:
        reader = BoundedBodyReader(self._error_body_max)
        tx.deliverBody(reader)
        body = await maybe_deferred_to_future(reader.finished)
        headers = Headers(tx.headers.getAllRawHeaders())
        headers.pop(b"Content-Encoding", None)
        respcls = responsetypes.from_args(headers=headers, url=request.url, body=body)
        return respcls(url=request.url, status=tx.code, headers=headers, body=body, request=request)


def _discard_part(sink: FileSink) -> None:
    sink.close()
    try:
        os.unlink(sink.part)
    except FileNotFoundError:
        pass


def _meter(budget_key: str | None) -> Any:
    """The run budget's per-byte meter for transfers of unknown size (None: unmetered)."""
    if not budget_key:
        return None
    from capture.run.budget import lookup

    budget = lookup(budget_key)
    return budget.charge if budget is not None else None
