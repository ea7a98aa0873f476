"""A threaded HTTP/1.1 server on 127.0.0.1 with archive routes and fault injection.

Routes map a path to a resource: a :class:`~tests.archives.content.Blob` (served with
Content-Length, ETag, Last-Modified, single-range ``Range``/``If-Range``, ``HEAD``,
``If-None-Match``/``If-Modified-Since``) or a callable for API endpoints. Every request is
logged (method, path, Range, status, bytes actually sent) so tests can assert on what crossed
the wire, e.g. how many bytes a resume re-downloaded.

Faults (``server.fault(path, Fault(kind, ...))``), each applied ``times`` times, then normal.
A fault keyed ``path?query`` applies only to requests with exactly that query string (for
API archives whose files share one path, e.g. ``/Download/file?uri=...``); it is looked up
before faults keyed by the bare path:

* ``drop``        send ``after`` body bytes, then reset the connection (RST)
* ``truncate``    send ``after`` body bytes of a longer Content-Length, then close cleanly
* ``status``      answer ``status`` (e.g. 429/503) with ``Retry-After: retry_after``
* ``ignore_range``answer a Range request with 200 and the whole body
* ``early_206``   answer ``bytes=N-`` with a 206 whose Content-Range starts at N - ``delta``
* ``change``      bump the blob's version (new bytes, new ETag) before answering
* ``html_200``    answer with an HTML error page and status 200
* ``stall``       send ``after`` bytes, then go silent for ``seconds``
* ``no_length``   omit Content-Length (close-delimited body)
* ``corrupt``     serve different bytes (each one inverted) at file offsets
  ``[after, after + delta)``, with the blob's own ETag and length: a mirror with bad bytes
"""

from __future__ import annotations

import email.utils
import functools
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.archives.content import Blob

HTML_ERROR_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head>"
    b"<body><h1>Temporarily unavailable</h1><p>Please try again later.</p>"
    b"</body></html>\n"
)


@dataclass
class Fault:
    kind: str
    times: int = 1
    after: int = 0
    status: int = 503
    retry_after: str | None = None
    delta: int = 1000
    seconds: float = 5.0


@dataclass
class LogEntry:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    status: int = 0
    bytes_sent: int = 0
    range: str | None = None
    fault: str | None = None
    at: float = field(default_factory=time.time)


@dataclass
class Reply:
    """What an API route returns."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/octet-stream"


@dataclass
class Stream:
    """A route that writes its whole response itself on the raw socket (hostile bodies that
    a Blob cannot describe: endless chunked, drip feeds, lying lengths). ``serve(handler,
    request)`` uses ``handler.send_response``/``send_header``/``end_headers`` and
    ``handler.send_raw(data)``, which counts the bytes in the request's log entry."""

    serve: Callable[[Any, Request], None]


Route = Blob | Reply | Stream | Callable[["Request"], "Blob | Reply"]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    server: ArchiveServer

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    # -- dispatch --------------------------------------------------------------------------
    def _serve(self, method: str) -> None:
        emu = self.server.emulator
        if emu._httpd is not self.server:
            # This server was stopped: its kept-alive connections die with it, as a real
            # archive's do when its process or host goes away (no answer, just a hang-up).
            self.close_connection = True
            return
        emu._enter()
        try:
            self._dispatch(method)
        finally:
            emu._leave()

    def _dispatch(self, method: str) -> None:
        emu = self.server.emulator
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        body = b""
        if method == "POST":
            n = int(headers.get("content-length") or 0)
            body = self.rfile.read(n) if n else b""
        entry = LogEntry(method, parts.path, parts.query, headers, range=headers.get("range"))
        emu._log(entry)
        self._entry = entry
        if emu.latency:
            time.sleep(emu.latency)
        fault = emu._take_fault(f"{parts.path}?{parts.query}") if parts.query else None
        fault = fault or emu._take_fault(parts.path)
        entry.fault = fault.kind if fault else None
        route = emu.lookup(parts.path)
        if route is None:
            return self._reply(Reply(b"Not Found\n", 404, content_type="text/plain"), method)
        if fault and fault.kind == "status":
            extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return self._reply(
                Reply(f"Error {fault.status}\n".encode(), fault.status, extra, "text/plain"), method
            )
        if fault and fault.kind == "html_200":
            return self._reply(Reply(HTML_ERROR_PAGE, 200, content_type="text/html"), method)
        if isinstance(route, Stream):
            query = parse_qs(parts.query, keep_blank_values=True)
            return route.serve(self, Request(method, parts.path, query, headers, body, emu))
        if callable(route) and not isinstance(route, Blob | Reply):
            req = Request(
                method,
                parts.path,
                parse_qs(parts.query, keep_blank_values=True),
                headers,
                body,
                emu,
            )
            route = route(req)
        if isinstance(route, Reply):
            return self._reply(route, method)
        if fault and fault.kind == "change":
            route.version += 1
        return self._blob(route, method, headers, fault)

    # -- responses -------------------------------------------------------------------------
    def _reply(self, reply: Reply, method: str) -> None:
        self._entry.status = reply.status
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if method != "HEAD":
            self._write(reply.body)

    def _blob(self, blob: Blob, method: str, headers: dict[str, str], fault: Fault | None) -> None:
        emu = self.server.emulator
        size = blob.size
        start, end, status = 0, size, 200
        not_modified = (
            headers.get("if-none-match") == blob.etag
            or headers.get("if-modified-since") == blob.last_modified
        )
        if not_modified and "range" not in headers:
            self._entry.status = 304
            self.send_response(304)
            self.send_header("ETag", blob.etag)
            self.send_header("Last-Modified", blob.last_modified)
            self.end_headers()
            return
        rng = headers.get("range")
        if rng and emu.ranges and not (fault and fault.kind == "ignore_range"):
            if_range = headers.get("if-range")
            if if_range is None or if_range in (blob.etag, blob.last_modified):
                parsed = _parse_range(rng, size)
                if parsed == "unsatisfiable":
                    self._entry.status = 416
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if parsed is not None:
                    start, end = parsed
                    status = 206
        if fault and fault.kind == "early_206" and status == 206:
            start = max(0, start - fault.delta)
        self._entry.status = status
        self.send_response(status)
        self.send_header(
            "Content-Type", emu.content_types.get(self._entry.path, "application/octet-stream")
        )
        self.send_header("ETag", blob.etag)
        self.send_header("Last-Modified", blob.last_modified)
        if emu.ranges:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        close_delimited = bool(fault and fault.kind == "no_length") or emu.no_length
        if close_delimited:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if method == "HEAD":
            return
        limit = end
        if fault and fault.kind in ("drop", "truncate", "stall"):
            limit = min(end, start + fault.after)
        pos = start
        for chunk in blob.iter_chunks(start, limit, emu.chunk):
            if fault and fault.kind == "corrupt":
                chunk = _corrupt(chunk, pos, fault.after, fault.after + fault.delta)
            pos += len(chunk)
            if not self._write(chunk):
                return
        if fault and fault.kind == "stall" and limit < end:
            time.sleep(fault.seconds)
            self.close_connection = True
            return
        if fault and fault.kind in ("drop", "truncate") and limit < end:
            self.close_connection = True
            if fault.kind == "drop":
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            self.wfile.flush()
            return

    def send_raw(self, data: bytes) -> bool:
        """Write ``data`` as is (for :class:`Stream` routes); False once the client is gone."""
        try:
            self.wfile.write(data)
            self.wfile.flush()
            self._entry.bytes_sent += len(data)
            return True
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
            return False

    def _write(self, data: bytes) -> bool:
        emu = self.server.emulator
        try:
            view = memoryview(data)
            step = emu.chunk
            for i in range(0, len(view), step):
                piece = view[i : i + step]
                self.wfile.write(piece)
                self._entry.bytes_sent += len(piece)
                if emu.bandwidth:
                    time.sleep(len(piece) / emu.bandwidth)
            return True
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
            return False


def _corrupt(chunk: bytes, pos: int, start: int, end: int) -> bytes:
    """``chunk`` (file offset ``pos``) with the bytes at file offsets ``[start, end)`` inverted."""
    lo, hi = max(start, pos) - pos, min(end, pos + len(chunk)) - pos
    if lo >= hi:
        return chunk
    return chunk[:lo] + bytes(b ^ 0xFF for b in chunk[lo:hi]) + chunk[hi:]


def _parse_range(value: str, size: int) -> tuple[int, int] | str | None:
    """Single byte range -> (start, end_exclusive); "unsatisfiable"; None to ignore."""
    value = value.strip()
    if not value.startswith("bytes=") or "," in value:
        return None
    spec = value[6:].strip()
    first, _, last = spec.partition("-")
    try:
        if first == "":
            n = int(last)
            return (max(0, size - n), size) if n > 0 else "unsatisfiable"
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, min(end, size)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: ArchiveServer


class ArchiveServer:
    def __init__(
        self,
        *,
        bandwidth: float | None = None,
        latency: float = 0.0,
        ranges: bool = True,
        chunk: int = 256 * 1024,
        port: int = 0,
    ):
        #: 0: any free port; a fixed port lets a test stop an archive and bring it back.
        self.bind_port = port
        self.routes: dict[str, Route] = {}
        self.prefixes: list[tuple[str, Callable[[Request], Blob | Reply]]] = []
        self.content_types: dict[str, str] = {}
        self.faults: dict[str, list[Fault]] = {}
        self.log: list[LogEntry] = []
        self.bandwidth = bandwidth
        self.latency = latency
        self.ranges = ranges
        self.no_length = False
        self.chunk = chunk
        self._lock = threading.Lock()
        self.active = 0
        self.peak_active = 0  # most requests in progress at once (politeness checks)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- configuration ---------------------------------------------------------------------
    def add(self, path: str, route: Route, content_type: str | None = None) -> str:
        self.routes[path] = route
        if content_type:
            self.content_types[path] = content_type
        return self.url(path)

    def add_prefix(self, prefix: str, handler: Callable[[Request], Blob | Reply]) -> None:
        self.prefixes.append((prefix, handler))

    def fault(self, path: str, fault: Fault) -> None:
        with self._lock:
            self.faults.setdefault(path, []).append(fault)

    def lookup(self, path: str) -> Route | None:
        if path in self.routes:
            return self.routes[path]
        for prefix, handler in self.prefixes:
            if path.startswith(prefix):
                return handler
        return None

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults.get(path, []):
                if fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def _enter(self) -> None:
        with self._lock:
            self.active += 1
            self.peak_active = max(self.peak_active, self.active)

    def _leave(self) -> None:
        with self._lock:
            self.active -= 1

    def _log(self, entry: LogEntry) -> None:
        with self._lock:
            self.log.append(entry)

    # -- queries for tests -----------------------------------------------------------------
    def requests_for(self, path: str, method: str | None = None) -> list[LogEntry]:
        with self._lock:
            return [
                e for e in self.log if e.path == path and (method is None or e.method == method)
            ]

    def bytes_sent(self, path: str) -> int:
        return sum(e.bytes_sent for e in self.requests_for(path))

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}" if self._httpd else path

    def start(self) -> ArchiveServer:
        self._httpd = _Server(("127.0.0.1", self.bind_port), _Handler)
        self._httpd.emulator = self
        self._thread = threading.Thread(
            # A short poll: stop() waits for the loop to notice, 0.5 s by default (per test).
            target=functools.partial(self._httpd.serve_forever, poll_interval=0.05),
            name="archive-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> ArchiveServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)
