"""A static file server that answers every request after a fixed latency and caps the
connections each client host may hold: a distant, polite archive on loopback.

Latency-bound crawls (many small files from a far-away archive) are limited by round trips,
not bandwidth: with latency L and N connections allowed, F files take at least F x L / N. This
server makes that floor measurable: each response's status line leaves ``--latency-ms`` after
the request was read, and no client host gets more than ``--max-conns-per-host`` connections
served at once.

Over the cap, a new connection *waits* (accepted by the kernel, not read) until one of the
host's connections closes; if the host holds idle keep-alive connections, the oldest idle one
is closed to make room (as a server reclaiming keep-alive slots would). Waiting rather than
refusing keeps every run error-free, so wall times compare how clients schedule requests, not
their retry back-off; a client that opens too many connections gains nothing, and the counters
(``stats()``: peak connections, waits, wait time) show it. ``--over-cap refuse`` answers 503
with ``Retry-After: 1`` and closes instead, like nginx's ``limit_conn``.

Stock Debian nginx cannot do this: it has no fixed per-response delay (``limit_req`` delays
only requests over a rate, ``limit_rate`` throttles bandwidth), ``limit_conn`` refuses excess
connections instead of queueing them, and the echo/njs modules that could sleep are not part
of it; nor does it count what a client did.

GET and HEAD only; 200 with Content-Length, Last-Modified and ETag, 404 otherwise. No Range, no
conditional requests, no directory listings. HTTP/1.1 keep-alive, one request at a time per
connection. The event loop runs in a thread (:class:`LatencyServer`) or in the foreground::

    python -m bench.latency_server ROOT [--latency-ms 50] [--max-conns-per-host 4] [--port P]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import socket
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from email.utils import formatdate
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote

MAX_HEAD = 16384
#: Bodies up to this size are read and written in one go; larger ones go through sendfile.
INLINE_BODY = 1 << 20
#: Small bodies kept in memory across requests, at most this many bytes in all.
CACHE_BYTES = 256 << 20
TYPES = {".tree": b"text/plain", ".txt": b"text/plain", ".html": b"text/html"}
REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 405: b"Method Not Allowed"}


@dataclass
class HostStats:
    """What one client host did; ``peak_conns`` is the most connections served at once."""

    connections: int = 0
    requests: int = 0
    peak_conns: int = 0
    waited: int = 0
    wait_s: float = 0.0
    refused: int = 0
    idle_closed: int = 0
    body_bytes: int = 0
    #: Time between a response written and the next request read on the same connection,
    #: summed (``client_gap_s``) and counted: what the client spends per round trip beyond
    #: the latency, i.e. its own overhead on a latency-bound crawl.
    client_gap_s: float = 0.0
    client_gaps: int = 0


@dataclass
class _Host:
    active: set[_Conn] = field(default_factory=set)
    waiting: collections.deque[_Conn] = field(default_factory=collections.deque)
    stats: HostStats = field(default_factory=HostStats)


class _Conn(asyncio.Protocol):
    """One client connection: admitted (served) or waiting for a slot of its host."""

    def __init__(self, server: _Core):
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.host = ""
        self.buf = b""
        self.busy = False  # a request is being answered (delay or body in progress)
        self.served = 0  # responses sent; only a connection that was served is "idle"
        self.admitted = False
        self.closing = False
        self.queued_at = 0.0
        self.last_active = 0.0
        self.timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.host = peer[0] if peer else "?"
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.arrive(self)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) > MAX_HEAD and b"\r\n\r\n" not in self.buf:
            self.fail(400)
            return
        if self.admitted and not self.busy:
            self.next_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self.timer is not None:
            self.timer.cancel()
        self.server.leave(self)

    # -- requests ------------------------------------------------------------------------------
    def admit(self) -> None:
        assert self.transport is not None
        self.admitted = True
        self.last_active = time.monotonic()
        self.transport.resume_reading()
        self.next_request()

    @property
    def idle(self) -> bool:
        return self.served > 0 and not self.busy and not self.buf and not self.closing

    def next_request(self) -> None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 or self.closing:
            return
        head, self.buf = self.buf[:end].decode("latin-1"), self.buf[end + 4 :]
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self.fail(400)
            return
        method, target, version = parts
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        if headers.get("content-length", "0") != "0" or "transfer-encoding" in headers:
            self.fail(400)  # GET/HEAD only: no request bodies
            return
        conn = headers.get("connection", "")
        keep = "keep-alive" in conn if version == "HTTP/1.0" else "close" not in conn
        self.busy = True
        stats = self.server.host_of(self).stats
        stats.requests += 1
        if self.served:
            stats.client_gap_s += time.monotonic() - self.last_active
            stats.client_gaps += 1
        delay = self.server.latency
        if delay > 0:
            self.timer = self.server.loop.call_later(delay, self.respond, method, target, keep)
        else:
            self.respond(method, target, keep)

    def respond(self, method: str, target: str, keep: bool) -> None:
        self.timer = None
        if self.closing or self.transport is None:
            return
        if method not in ("GET", "HEAD"):
            self.fail(405)
            return
        path = self.server.resolve(target)
        try:
            st = os.stat(path) if path is not None else None
        except OSError:
            st = None
        if path is None or st is None or not stat.S_ISREG(st.st_mode):
            self.fail(404, keep)
            return
        head, body = self.server.entity(path, st)
        head += b"Connection: keep-alive\r\n\r\n" if keep else b"Connection: close\r\n\r\n"
        if method == "HEAD" or st.st_size == 0:
            self.transport.write(head)
            self.done(keep)
            return
        if body is not None:
            self.transport.write(head + body)
            self.server.host_of(self).stats.body_bytes += len(body)
            self.done(keep)
            return
        self.transport.write(head)
        self.server.loop.create_task(self.send_file(path, keep))

    async def send_file(self, path: str, keep: bool) -> None:
        """Large bodies: zero-copy ``sendfile`` with the transport's flow control."""
        assert self.transport is not None
        try:
            with open(path, "rb") as fh:
                sent = await self.server.loop.sendfile(self.transport, fh)
        except (OSError, RuntimeError):
            self.transport.abort()
            return
        self.server.host_of(self).stats.body_bytes += sent
        self.done(keep)

    def done(self, keep: bool) -> None:
        assert self.transport is not None
        self.busy = False
        self.served += 1
        self.last_active = time.monotonic()
        if not keep:
            self.closing = True
            self.transport.close()
            return
        if self.buf:
            self.next_request()
        else:
            self.server.idle_now(self)

    def fail(self, status: int, keep: bool = False) -> None:
        """Answer ``status`` with no body; anything but a keep-alive 404 closes."""
        assert self.transport is not None
        reason = REASONS[status]
        conn = b"keep-alive" if keep else b"close"
        self.transport.write(
            b"HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: %s\r\n\r\n"
            % (status, reason, conn)
        )
        if keep:
            self.done(True)
        else:
            self.busy = False
            self.closing = True
            self.transport.close()


class _Core:
    """The per-host connection cap and counters, inside the event loop."""

    def __init__(self, root: Path, latency: float, cap: int, over_cap: str):
        self.root = str(root.resolve())
        self.latency = latency
        self.cap = cap
        self.over_cap = over_cap
        self.hosts: dict[str, _Host] = {}
        self.cache: dict[str, tuple[tuple[int, int], bytes, bytes | None]] = {}
        self.cached_bytes = 0
        self.loop = asyncio.get_running_loop()

    def entity(self, path: str, st: os.stat_result) -> tuple[bytes, bytes | None]:
        """Header lines (up to ``Connection``) and, for small files, the body; cached while
        the file's mtime and size stay the same, so a warm run costs no file reads."""
        key = (st.st_mtime_ns, st.st_size)
        hit = self.cache.get(path)
        if hit is not None and hit[0] == key:
            return hit[1], hit[2]
        ctype = TYPES.get(os.path.splitext(path)[1], b"application/octet-stream")
        head = b"".join(
            (
                b"HTTP/1.1 200 OK\r\nServer: bench-latency\r\nContent-Type: ",
                ctype,
                f"\r\nContent-Length: {st.st_size}\r\nLast-Modified: ".encode(),
                formatdate(st.st_mtime, usegmt=True).encode(),
                f'\r\nETag: "{st.st_mtime_ns:x}-{st.st_size:x}"\r\n'.encode(),
            )
        )
        body = None
        if 0 < st.st_size <= INLINE_BODY:
            with open(path, "rb") as fh:
                body = fh.read()
            if len(body) != st.st_size:  # changed while read: serve what was read, uncached
                return head, body
        if self.cached_bytes + len(body or b"") <= CACHE_BYTES:
            old = self.cache.pop(path, None)
            self.cached_bytes -= len(old[2] or b"") if old else 0
            self.cache[path] = (key, head, body)
            self.cached_bytes += len(body or b"")
        return head, body

    def host_of(self, conn: _Conn) -> _Host:
        return self.hosts.setdefault(conn.host, _Host())

    def resolve(self, target: str) -> str | None:
        """The file under the root a request target names, or None (outside, bad)."""
        path = unquote(target.split("?", 1)[0].split("#", 1)[0])
        if not path.startswith("/") or "\0" in path or ".." in path.split("/"):
            return None
        full = os.path.normpath(os.path.join(self.root, path.lstrip("/")))
        return full if full.startswith(self.root + os.sep) else None

    def arrive(self, conn: _Conn) -> None:
        host = self.host_of(conn)
        host.stats.connections += 1
        assert conn.transport is not None
        conn.transport.pause_reading()
        if not self.cap or len(host.active) < self.cap:
            self._activate(host, conn)
            return
        if self.over_cap == "refuse":
            host.stats.refused += 1
            conn.closing = True
            conn.transport.write(
                b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                b"Content-Length: 0\r\nConnection: close\r\n\r\n"
            )
            conn.transport.close()
            return
        host.stats.waited += 1
        conn.queued_at = time.monotonic()
        host.waiting.append(conn)
        self._reclaim_idle(host)

    def _activate(self, host: _Host, conn: _Conn) -> None:
        host.active.add(conn)
        host.stats.peak_conns = max(host.stats.peak_conns, len(host.active))
        conn.admit()

    def _reclaim_idle(self, host: _Host) -> None:
        """Someone waits: close the host's oldest idle keep-alive connection, if any."""
        idle = [c for c in host.active if c.idle]
        if idle and host.waiting:
            oldest = min(idle, key=lambda c: c.last_active)
            oldest.closing = True
            host.stats.idle_closed += 1
            assert oldest.transport is not None
            oldest.transport.close()

    def idle_now(self, conn: _Conn) -> None:
        host = self.host_of(conn)
        if host.waiting:
            self._reclaim_idle(host)

    def leave(self, conn: _Conn) -> None:
        host = self.host_of(conn)
        if conn in host.active:
            host.active.discard(conn)
            while host.waiting and len(host.active) < self.cap:
                nxt = host.waiting.popleft()
                if nxt.closing:
                    continue
                host.stats.wait_s += time.monotonic() - nxt.queued_at
                self._activate(host, nxt)
        else:
            try:
                host.waiting.remove(conn)
            except ValueError:
                pass


class LatencyServer:
    """The server on ``127.0.0.1`` in a background thread (``with LatencyServer(...) as s:``)."""

    def __init__(
        self,
        root: Path,
        *,
        latency: float = 0.0,
        max_conns_per_host: int = 0,
        over_cap: str = "wait",
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        if over_cap not in ("wait", "refuse"):
            raise ValueError(f"over_cap must be 'wait' or 'refuse', got {over_cap!r}")
        self.root = Path(root)
        self.latency = latency
        self.max_conns_per_host = max_conns_per_host
        self.over_cap = over_cap
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._core: _Core | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve until :meth:`shutdown` / :meth:`stop`; ``on_ready`` runs once listening."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._core = core = _Core(self.root, self.latency, self.max_conns_per_host, self.over_cap)
        server = await self._loop.create_server(
            lambda: _Conn(core), self.host, self.port, backlog=1024, reuse_address=True
        )
        self.port = server.sockets[0].getsockname()[1]
        if on_ready is not None:
            on_ready()
        try:
            await self._stop.wait()
        finally:
            server.close()
            for host in core.hosts.values():
                for conn in [*host.active, *host.waiting]:
                    if conn.transport is not None:
                        conn.transport.abort()
            await server.wait_closed()

    def shutdown(self) -> None:
        """Stop serving (call from the server's own event loop)."""
        if self._stop is not None:
            self._stop.set()

    def start(self) -> LatencyServer:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self.serve(ready.set))
            except BaseException as exc:  # surfaced by start() below
                errors.append(exc)
                ready.set()

        self._thread = threading.Thread(target=run, name="latency-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self.shutdown)
            self._thread.join(10)
        self._thread = None

    def stats(self) -> dict[str, Any]:
        """Counters per client host (a snapshot; read while serving or after stop)."""
        core = self._core
        if core is None:
            return {}
        return {
            host: {**asdict(h.stats), "wait_s": round(h.stats.wait_s, 3)}
            for host, h in list(core.hosts.items())
        }

    def reset_stats(self) -> None:
        """Start the counters afresh (between measured runs; the cap itself is unaffected)."""
        core = self._core
        if core is None or self._loop is None:
            return
        done = threading.Event()

        def reset() -> None:
            for h in core.hosts.values():
                h.stats = HostStats(peak_conns=len(h.active))
            done.set()

        self._loop.call_soon_threadsafe(reset)
        done.wait(5)

    def __enter__(self) -> LatencyServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.latency_server", description=__doc__)
    p.add_argument("root", type=Path, help="directory to serve")
    p.add_argument("--latency-ms", type=float, default=50.0, help="delay before each response")
    p.add_argument("--max-conns-per-host", type=int, default=0, help="0 = no cap")
    p.add_argument("--over-cap", choices=("wait", "refuse"), default="wait")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    args = p.parse_args(argv)
    server = LatencyServer(
        args.root,
        latency=args.latency_ms / 1000,
        max_conns_per_host=args.max_conns_per_host,
        over_cap=args.over_cap,
        host=args.host,
        port=args.port,
    )

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.shutdown)
        await server.serve(lambda: print(f"serving {args.root} on {server.base_url}", flush=True))

    asyncio.run(run())
    print(json.dumps(server.stats(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
