"""Streamed file GETs over a lean HTTP/1.1 keep-alive client: httptools on the reactor's loop.

Why not Twisted's ``Agent`` for these: in a crawl of many small files it was the largest single
cost on the reactor thread (py-spy, 2000 x 50 KB: ``Agent.request`` 11.3%, its HTTP parsing
9.9%, the web client 6.3%, TCP 4.0%), and the GIL, not the second core, bounds such a crawl.
This client does only what a streamed file GET needs: one exchange at a time per kept-alive
connection, the response head and framing parsed by llhttp (``httptools``, the parser under
uvicorn), the body pushed to the very ``deliverBody`` protocol Twisted's response feeds.
Everything else stays Scrapy's and capture's: downloader slots, middlewares (retry, redirect,
guard, credentials), the body receiver's limits.

It answers with the shape of ``twisted.web.client.Response`` (``code``, ``length``, ``headers``,
``deliverBody``) and fails with Twisted's error types (connect errors, ``DNSLookupError``,
``ResponseNeverReceived``, ``ResponseFailed``, ``PotentialDataLoss``), so the handler's
``wrap_twisted_exceptions``, the retry middleware and the circuit breaker see what they see
from Twisted's client. A kept-alive connection that the server closed before answering is
retried once on a new connection, as Twisted's pool does for idempotent requests.

:func:`lean_client` decides where it is Twisted's equal: the asyncio reactor, and http, or
https with Scrapy's default TLS context factory (which checks no certificate; the same
``ssl`` context here). The handler sends it only GETs without a body, proxy or bind address.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import ParseResult, SplitResult, urlsplit

import httptools
from scrapy.utils.ssl import _make_ssl_context
from twisted.internet import error as txerror
from twisted.python.failure import Failure
from twisted.web.client import ResponseDone, ResponseFailed
from twisted.web.http import PotentialDataLoss
from twisted.web.iweb import UNKNOWN_LENGTH

try:
    from twisted.web._newclient import ResponseNeverReceived
except ImportError:  # pragma: no cover - private module; the public base is enough
    ResponseNeverReceived = ResponseFailed  # type: ignore[assignment,misc]

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings
    from twisted.internet.protocol import Protocol

Origin = tuple[str, str, int]  # scheme, host, port

#: Scrapy's own context factory: the 2.19 default ("SENTINEL") or named.
SCRAPY_CONTEXT_FACTORY = (
    "SENTINEL",
    None,
    "scrapy.core.downloader.contextfactory.ScrapyClientContextFactory",
)


def lean_client(settings: BaseSettings, *, enabled: bool = True) -> LeanClient | None:
    """The client, or None where Twisted's stays in charge (``CAPTURE_LEAN_HTTP`` off, another
    reactor). https goes over it only with Scrapy's own TLS context factory and method; its
    ``ssl`` context is the one Scrapy's stdlib-ssl handlers build from the same settings
    (certificate checks per ``DOWNLOAD_VERIFY_CERTIFICATES``, TLS versions, ciphers)."""
    from scrapy.utils.reactor import is_asyncio_reactor_installed

    if not enabled or not is_asyncio_reactor_installed():
        return None
    tls = None
    if settings.get("DOWNLOADER_CLIENTCONTEXTFACTORY") in SCRAPY_CONTEXT_FACTORY and (
        settings.get("DOWNLOADER_CLIENT_TLS_METHOD") in ("TLS", None)
    ):
        tls = _make_ssl_context(settings)
    return LeanClient(
        per_origin=settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN") or 8,
        total=settings.getint("CONCURRENT_REQUESTS") or 16,
        tls=tls,
    )


class LeanHeaders:
    """Response headers with the two reads the engine makes of Twisted's ``Headers``."""

    __slots__ = ("_raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]):
        self._raw = raw

    def getRawHeaders(self, name: bytes, default: Any = None) -> Any:
        lname = name.lower()
        values = [v for k, v in self._raw if k.lower() == lname]
        return values or default

    def getAllRawHeaders(self) -> Iterable[tuple[bytes, list[bytes]]]:
        grouped: dict[bytes, tuple[bytes, list[bytes]]] = {}
        for k, v in self._raw:
            entry = grouped.get(k.lower())
            if entry is None:
                grouped[k.lower()] = (k, [v])
            else:
                entry[1].append(v)
        return list(grouped.values())


class _BodyProducer:
    """The ``transport`` a body protocol sees: a push producer over one exchange."""

    __slots__ = ("_response",)

    def __init__(self, response: LeanResponse):
        self._response = response

    def pauseProducing(self) -> None:
        self._response._pause(True)

    def resumeProducing(self) -> None:
        self._response._pause(False)

    def stopProducing(self) -> None:
        self._response._stop()


class LeanResponse:
    """One answer: head parsed, body buffered until ``deliverBody``, then pushed."""

    def __init__(self, conn: _Conn, code: int, headers: LeanHeaders, length: Any, chunked: bool):
        self.code = code
        self.headers = headers
        self.length = length
        self.chunked = chunked
        self._conn: _Conn | None = conn  # None once the whole message is read
        self._chunks: list[bytes] = []
        self._protocol: Protocol | None = None
        self._ending: Failure | None = None
        self._lost_sent = False
        self._stopped = False

    # -- Twisted's IResponse.deliverBody -----------------------------------------------------
    def deliverBody(self, protocol: Protocol) -> None:
        self._protocol = protocol
        protocol.makeConnection(_BodyProducer(self))
        chunks, self._chunks = self._chunks, []
        for chunk in chunks:
            if self._stopped:
                break
            protocol.dataReceived(chunk)
        if self._ending is not None:
            self._send_lost()
        elif self._conn is not None and not self._stopped:
            self._conn.reading(True)

    # -- from the connection -------------------------------------------------------------
    def _data(self, chunk: bytes) -> None:
        if self._stopped:
            return
        if self._protocol is None:
            self._chunks.append(chunk)
        else:
            self._protocol.dataReceived(chunk)

    def _end(self, reason: Failure) -> None:
        if self._ending is None:
            self._ending = reason
            self._conn = None
            if self._protocol is not None:
                self._send_lost()

    def _send_lost(self) -> None:
        if not self._lost_sent and self._protocol is not None and self._ending is not None:
            self._lost_sent = True
            self._protocol.connectionLost(self._ending)

    # -- from the body protocol ----------------------------------------------------------
    def _pause(self, paused: bool) -> None:
        if self._conn is not None:
            self._conn.reading(not paused)

    def _stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._chunks = []
        conn = self._conn
        if conn is not None:  # the rest of the body is not wanted: the connection can't be reused
            conn.abort()
            self._end(Failure(ResponseFailed([Failure(txerror.ConnectionAborted())])))
        else:
            self._send_lost()


class Stopping(Exception):
    """The client's owner stopped sending (``sending()`` is False): a waiting request was
    not sent."""


class _Stale(Exception):
    """A reused connection closed before any byte of the answer: send again on a new one."""


class _Conn(asyncio.Protocol):
    """One HTTP/1.1 connection; the parser's callbacks drive the current exchange."""

    def __init__(self, client: LeanClient, origin: Origin):
        self.client = client
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.uses = 0
        self._head: asyncio.Future[LeanResponse] | None = None
        self._response: LeanResponse | None = None
        self._raw: list[tuple[bytes, bytes]] = []
        self._informational = False
        self._got_bytes = False
        self._reading = True
        self.exchanging = False  # a request is out and its answer not yet wholly read

    # -- asyncio.Protocol ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._head is None and self._response is None:
            self.abort()  # bytes nobody asked for: this connection can't be trusted for reuse
            return
        self._got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ResponseFailed([Failure(exc)]))
            self.abort()
            return
        response = self._response
        if response is not None and response._protocol is None and self._reading:
            self.reading(False)  # like Twisted: no more reads until the body has a consumer

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.client._forget(self)
        head, response = self._head, self._response
        self._head = self._response = None
        if head is not None and not head.done():
            if self.uses > 1 and not self._got_bytes:
                head.set_exception(_Stale())
            else:
                lost = Failure(txerror.ConnectionLost(str(exc or "connection closed")))
                head.set_exception(ResponseNeverReceived([lost]))
        if response is not None:
            if response.length is UNKNOWN_LENGTH and not response.chunked:
                response._end(Failure(PotentialDataLoss()))  # close-delimited: Twisted's word
            else:
                reason = txerror.ConnectionLost(str(exc or "connection closed mid-body"))
                response._end(Failure(ResponseFailed([Failure(reason)])))
        if self.exchanging:
            self.exchanging = False
            self.client._pass_on(self.origin, None)

    # -- httptools callbacks -------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._raw = []
        self._informational = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw.append((name, value))

    def on_headers_complete(self) -> None:
        code = self.parser.get_status_code()
        if 100 <= code < 200:  # 100 Continue and the like: the real answer follows
            self._informational = True
            return
        headers = LeanHeaders(self._raw)
        chunked = any(
            b"chunked" in v.lower() for v in headers.getRawHeaders(b"transfer-encoding", [])
        )
        length: Any = UNKNOWN_LENGTH
        if code in (204, 304):
            length = 0
        elif not chunked:
            declared = headers.getRawHeaders(b"content-length")
            if declared:
                length = int(declared[-1])  # llhttp rejected a malformed or conflicting one
        response = LeanResponse(self, code, headers, length, chunked)
        self._response = response
        head, self._head = self._head, None
        if head is not None and not head.done():
            head.set_result(response)

    def on_body(self, body: bytes) -> None:
        if self._response is not None:
            self._response._data(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        response, self._response = self._response, None
        self.exchanging = False
        if self.parser.should_keep_alive() and not self.closed:
            self.reading(True)
            self.client._pass_on(self.origin, self)  # the next waiting request goes out now
        else:
            self.close()
            self.client._pass_on(self.origin, None)
        if response is not None:
            response._end(Failure(ResponseDone()))

    # -- exchange ------------------------------------------------------------------------
    def send(self, raw: bytes) -> asyncio.Future[LeanResponse]:
        assert self.transport is not None
        self.uses += 1
        self.exchanging = True
        self._got_bytes = False
        self._head = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return self._head

    def _fail(self, failure: Exception) -> None:
        head, self._head = self._head, None
        if head is not None and not head.done():
            head.set_exception(failure)
        response, self._response = self._response, None
        if response is not None:
            response._end(Failure(failure))

    def reading(self, on: bool) -> None:
        if self.transport is None or self.closed or on == self._reading:
            return
        self._reading = on
        if on:
            self.transport.resume_reading()
        else:
            self.transport.pause_reading()

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.closed = True
            self.transport.abort()


class LeanClient:
    """Kept-alive connections per origin (at most ``per_origin`` idle ones, like Scrapy's
    Twisted pool with ``CONCURRENT_REQUESTS_PER_DOMAIN``), and the wire gate.

    The gate counts exchanges on the wire (a request out, its answer not yet wholly read):
    at most the origin's bound (its transfer slot's concurrency, :meth:`bound`) and ``total``
    in all. A request
    over either bound waits here, already through Scrapy's downloader and middlewares, with
    its bytes ready; when an answer's last byte is parsed, its connection goes straight to the
    first waiter of that origin and the waiter's request is written in the same call, with no
    event-loop turn between one file's end and the next file's request (each turn waited
    behind the crawl's other work: ~5 ms of every round trip on a latency-bound crawl). The
    handler stages requests here only where no delay or rate limit applies (see
    :meth:`capture.concurrency.TransferLimiter.staged`); elsewhere the gate never binds.
    """

    def __init__(
        self,
        *,
        per_origin: int,
        tls: ssl.SSLContext | None,
        total: int = 0,
        on_connect: Callable[[], object] | None = None,
    ):
        self.per_origin = max(1, per_origin)
        self.total = total or 1 << 30
        self.tls = tls
        self.opened = 0  # connections made (files / opened = reuse)
        self.handed = 0  # requests sent on a connection the moment the previous answer ended
        self.on_connect = on_connect
        self.on_handover: Callable[[], object] | None = None
        #: False once the crawl stops: a freed connection is not given a waiting request.
        self.sending: Callable[[], bool] = lambda: True
        self._idle: dict[Origin, list[_Conn]] = {}
        self._all: set[_Conn] = set()
        self._active: dict[Origin, int] = {}
        self._active_total = 0
        self._limits: dict[Origin, int] = {}
        self._waiting: dict[Origin, deque[_Waiter]] = {}
        self._closed = False

    def accepts(self, url: str) -> bool:
        return url.startswith("http://") or (self.tls is not None and url.startswith("https://"))

    def bound(self, url: SplitResult | ParseResult, limit: int) -> None:
        """At most ``limit`` exchanges at once with the origin of the (parsed) ``url``: its
        transfer slot's concurrency. Without a bound only ``total`` applies."""
        self._limits[_origin(url)] = max(1, limit)

    async def get(
        self, url: str, headers: list[tuple[bytes, bytes]], *, timeout: float | None = None
    ) -> LeanResponse:
        """GET ``url`` within the gate's bounds (:meth:`bound`). ``timeout`` bounds connecting
        and the wait for the answer's head, not the wait at the gate (a staged request may
        wait out a long transfer)."""
        origin, raw = _prepare(url, headers)
        for _ in range(2):
            handed = None if self._admit(origin) else await self._wait(origin, raw)
            if handed is None and not self.sending():
                self._pass_on(origin, None)
                raise Stopping("the crawl is stopping: not sent")
            async with asyncio.timeout(timeout):
                if handed is None:
                    try:
                        conn = self._take(origin) or await self._connect(origin)
                    except BaseException:
                        self._pass_on(origin, None)
                        raise
                    handed = conn, conn.send(raw)
                conn, head = handed
                try:
                    return await head
                except _Stale:
                    continue
                except BaseException:
                    conn.abort()  # timed out or cancelled mid-exchange: never reuse it
                    raise
        raise ResponseNeverReceived([Failure(txerror.ConnectionLost("closed before answering"))])

    async def hold(self, url: str, limit: int) -> Callable[[], None]:
        """A place on the gate for an exchange made by another client (Twisted's: a listing
        page, a proxy), ahead of staged files: returns its release, which must be called
        once the answer is read."""
        origin = _origin(urlsplit(url))
        self._limits[origin] = max(1, limit)
        if not self._admit(origin):
            await self._wait(origin, None)
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._pass_on(origin, None)

        return release

    # -- the gate ------------------------------------------------------------------------
    def _admit(self, origin: Origin) -> bool:
        if self._closed:
            raise txerror.ConnectError(string="the lean client is closed")
        active = self._active.get(origin, 0)
        limit = self._limits.get(origin)
        if (limit is not None and active >= limit) or self._active_total >= self.total:
            return False
        self._active[origin] = active + 1
        self._active_total += 1
        return True

    async def _wait(self, origin: Origin, raw: bytes | None) -> _Handed | None:
        """Queue for ``origin``; resolves to (connection, head) if ``raw`` was sent on a
        handed-over connection, or None when a place is ours (we connect ourselves)."""
        fut: asyncio.Future[_Handed | None] = asyncio.get_running_loop().create_future()
        waiter = (fut, raw)
        queue = self._waiting.setdefault(origin, deque())
        if raw is None:  # a listing page (or a HEAD) goes before staged files, as it went
            at = next((i for i, (_, r) in enumerate(queue) if r is not None), len(queue))
            queue.insert(at, waiter)  # before the gate: discovery stays ahead of transfers
        else:
            queue.append(waiter)
        try:
            return await fut
        except BaseException:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                # given a place as we were cancelled
                handed = fut.result()
                if handed is None:
                    self._pass_on(origin, None)
                else:
                    handed[0].abort()  # its request is out: that exchange is ours to end
            else:
                if waiter in queue:
                    queue.remove(waiter)
            raise

    def _pass_on(self, origin: Origin, conn: _Conn | None) -> None:
        """An exchange with ``origin`` ended (``conn``: its connection, reusable). Its place
        goes to the first waiter of that origin, the connection with it; else it is freed."""
        queue = self._waiting.get(origin)
        while queue:
            fut, raw = queue.popleft()
            if fut.done():
                continue
            if conn is not None and raw is not None and self.sending():
                fut.set_result((conn, conn.send(raw)))
                self.handed += 1
                if self.on_handover is not None:
                    self.on_handover()
                return
            if conn is not None:
                self._park(conn)
            fut.set_result(None)
            return
        self._active[origin] = self._active.get(origin, 1) - 1
        self._active_total -= 1
        if conn is not None:
            self._park(conn)
        self._wake_others()

    def _wake_others(self) -> None:
        """A place freed in the total: give it to a waiter whose own origin has room."""
        for origin, queue in self._waiting.items():
            while queue and queue[0][0].done():
                queue.popleft()
            if queue and self._admit(origin):
                queue.popleft()[0].set_result(None)
                return

    # -- connections ---------------------------------------------------------------------
    def _take(self, origin: Origin) -> _Conn | None:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                return conn
        return None

    async def _connect(self, origin: Origin) -> _Conn:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        tls = self.tls if scheme == "https" else None
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise txerror.DNSLookupError(f"{host}: {exc}") from exc
        last: BaseException | None = None
        for family, _type, proto, _, address in infos:
            try:
                _, conn = await loop.create_connection(
                    lambda: _Conn(self, origin),
                    str(address[0]),
                    int(address[1]),
                    family=family,
                    proto=proto,
                    ssl=tls,
                    server_hostname=host if tls is not None else None,
                )
            except ssl.SSLError as exc:
                raise txerror.ConnectError(string=f"TLS handshake with {host}: {exc}") from exc
            except OSError as exc:
                last = exc
                continue
            self._all.add(conn)
            self.opened += 1
            if self.on_connect is not None:
                self.on_connect()
            return conn
        if isinstance(last, OSError) and last.errno is not None:
            raise txerror.getConnectError((last.errno, last.strerror)) from last
        raise txerror.ConnectError(string=f"{host}:{port}: {last}") from last

    def _park(self, conn: _Conn) -> None:
        """A connection between exchanges: kept idle (up to ``per_origin``) or closed."""
        idle = self._idle.setdefault(conn.origin, [])
        if len(idle) < self.per_origin:
            idle.append(conn)
        else:
            conn.close()

    def _forget(self, conn: _Conn) -> None:
        self._all.discard(conn)
        idle = self._idle.get(conn.origin)
        if idle and conn in idle:
            idle.remove(conn)

    def close(self) -> None:
        self._closed = True
        for queue in self._waiting.values():
            for fut, _ in queue:
                if not fut.done():
                    fut.set_exception(txerror.ConnectError(string="the lean client is closed"))
        self._waiting.clear()
        for conn in list(self._all):
            conn.close()
        self._idle.clear()


_Handed = tuple[_Conn, "asyncio.Future[LeanResponse]"]  # a connection and its request's head
_Waiter = tuple["asyncio.Future[_Handed | None]", "bytes | None"]


def _origin(parts: SplitResult | ParseResult) -> Origin:
    scheme = parts.scheme
    return scheme, parts.hostname or "", parts.port or (443 if scheme == "https" else 80)


def _prepare(url: str, headers: list[tuple[bytes, bytes]]) -> tuple[Origin, bytes]:
    """The origin ``url`` is on and the request's bytes."""
    parts = urlsplit(url)
    origin = _origin(parts)
    scheme, host, port = origin
    netloc = host if ":" not in host else f"[{host}]"
    if port != (443 if scheme == "https" else 80):
        netloc = f"{netloc}:{port}"
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return origin, _request_bytes(target, netloc, headers)


def _request_bytes(target: str, netloc: str, headers: list[tuple[bytes, bytes]]) -> bytes:
    lines = [f"GET {target} HTTP/1.1\r\nHost: {netloc}\r\n".encode("ascii")]
    for name, value in headers:
        if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name or b":" in name:
            raise ValueError(f"invalid header {name!r}: {value!r}")  # no request smuggling
        if name.lower() == b"host":
            continue
        lines.append(name + b": " + value + b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)
