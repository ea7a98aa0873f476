"""The lean file-GET client (capture/transfer/lean.py) against real sockets that send exact
bytes: keep-alive reuse, a kept-alive connection the server closed, every body framing, back-
pressure, hang-ups, connect errors with Twisted's types, 1xx answers, TLS, header injection."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from scrapy.settings import Settings
from twisted.internet import error as txerror
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.web.client import ResponseDone, ResponseFailed
from twisted.web.http import PotentialDataLoss
from twisted.web.iweb import UNKNOWN_LENGTH

from capture.transfer.lean import LeanClient, LeanResponse, lean_client
from tests.archives import Blob
from tests.archives.thousand_genomes import WHOLE_TREE, ThousandGenomesArchive
from tests.crawl import DeadPort, last_run_stats, run_crawl

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Body(Protocol):
    """Collects a body like the engine's receiver does; can pause or hang up."""

    def __init__(self, stop_after: int | None = None, pause_after: int | None = None) -> None:
        self.chunks: list[bytes] = []
        self.lost: Failure | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.stop_after = stop_after
        self.pause_after = pause_after

    def dataReceived(self, data: bytes) -> None:
        self.chunks.append(data)
        got = sum(map(len, self.chunks))
        if self.stop_after is not None and got >= self.stop_after:
            self.transport.stopProducing()  # type: ignore[union-attr]
        if self.pause_after is not None and got >= self.pause_after:
            self.pause_after = None
            self.transport.pauseProducing()  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.lost = reason
        if not self.done.done():
            self.done.set_result(None)

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def _ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def _serve(handler: Handler, **kwargs: Any) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0, **kwargs)
    return server, server.sockets[0].getsockname()[1]


async def _get(client: LeanClient, url: str, **kw: Any) -> tuple[LeanResponse, Body]:
    response = await asyncio.wait_for(client.get(url, kw.pop("headers", [])), 5)
    body = Body(**kw)
    response.deliverBody(body)
    await asyncio.wait_for(body.done, 5)
    return response, body


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_keep_alive_reuses_one_connection_and_sends_a_well_formed_request() -> None:
    heads: list[bytes] = []
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            while True:
                heads.append(await _read_head(reader))
                writer.write(_ok(b"x" * 70_000, b'ETag: "e1"\r\nX-Twice: a\r\nx-twice: b\r\n'))
                await writer.drain()
        except asyncio.IncompleteReadError:
            writer.close()

    async def main() -> None:
        server, port = await _serve(handler)
        client = LeanClient(per_origin=4, tls=None)
        for i in range(3):
            response, body = await _get(
                client,
                f"http://127.0.0.1:{port}/dir/f{i}.dat?a=1",
                headers=[(b"User-Agent", b"capture-test"), (b"Range", b"bytes=5-")],
            )
            assert response.code == 200 and response.length == 70_000
            assert body.body == b"x" * 70_000 and body.lost is not None
            assert body.lost.check(ResponseDone)
            assert response.headers.getRawHeaders(b"etag") == [b'"e1"']
            assert response.headers.getRawHeaders(b"X-TWICE") == [b"a", b"b"]
            assert response.headers.getRawHeaders(b"missing", []) == []
        assert client.opened == 1
        client.close()
        server.close()

    run(main())
    assert connections == 1
    assert heads[0].startswith(b"GET /dir/f0.dat?a=1 HTTP/1.1\r\n")
    assert b"Host: 127.0.0.1:" in heads[0]
    assert b"User-Agent: capture-test\r\n" in heads[0] and b"Range: bytes=5-\r\n" in heads[0]


def test_a_kept_alive_connection_the_server_closed_is_retried_on_a_new_one() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await _read_head(reader)
        writer.write(_ok(b"one"))  # keep-alive announced, then closed once the body is out
        await writer.drain()
        await _read_head(reader)  # the next request arrives on the dead-to-be connection
        writer.transport.abort()

    async def main() -> None:
        server, port = await _serve(handler)
        client = LeanClient(per_origin=4, tls=None)
        _, first = await _get(client, f"http://127.0.0.1:{port}/a")
        _, second = await _get(client, f"http://127.0.0.1:{port}/b")
        assert first.body == second.body == b"one"
        client.close()
        server.close()

    run(main())
    assert connections == 2


def test_a_fresh_connection_that_closes_before_answering_is_not_retried() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        writer.transport.abort()

    async def main() -> None:
        server, port = await _serve(handler)
        client = LeanClient(per_origin=4, tls=None)
        with pytest.raises(ResponseFailed):  # ResponseNeverReceived, as Twisted's pool says
            await client.get(f"http://127.0.0.1:{port}/a", [])
        server.close()

    run(main())


@pytest.mark.parametrize(
    ("reply", "body", "ending"),
    [
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            b"abcde",
            ResponseDone,
        ),
        # No length, no chunking: the body runs to the close (Twisted calls that
        # PotentialDataLoss; the engine checks the length it knows).
        (
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-close",
            b"until-close",
            PotentialDataLoss,
        ),
        # Shorter than announced, then a hang-up: a failed body.
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", b"short", ResponseFailed),
        # An informational answer first; the real one follows.
        (b"HTTP/1.1 100 Continue\r\n\r\n" + _ok(b"after-100"), b"after-100", ResponseDone),
    ],
    ids=["chunked", "close-delimited", "cut-short", "100-continue"],
)
def test_body_framings_end_the_way_twisted_reports_them(
    reply: bytes, body: bytes, ending: type
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        writer.write(reply)
        await writer.drain()
        writer.close()

    async def main() -> None:
        server, port = await _serve(handler)
        client = LeanClient(per_origin=4, tls=None)
        response, got = await _get(client, f"http://127.0.0.1:{port}/f")
        assert got.body == body
        assert got.lost is not None and got.lost.check(ending), got.lost
        if b"chunked" in reply or b"Content-Length" not in reply.split(b"\r\n\r\n")[-2]:
            assert response.length is UNKNOWN_LENGTH or response.length == len(body)
        server.close()

    run(main())


def test_not_modified_has_no_body_and_keeps_the_connection() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        for _ in range(2):
            await _read_head(reader)
            writer.write(b'HTTP/1.1 304 Not Modified\r\nETag: "e"\r\n\r\n')
            await writer.drain()

    async def main() -> None:
        server, port = await _serve(handler)
        client = LeanClient(per_origin=4, tls=None)
        for _ in range(2):
            response, got = await _get(client, f"http://127.0.0.1:{port}/f")
            assert response.code == 304 and response.length == 0 and got.body == b""
        server.close()

    run(main())
    assert connections == 1


def test_back_pressure_pauses_the_socket_and_a_hang_up_aborts_the_connection() -> None:
    size = 256 * 1024 * 1024
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            while True:
                await _read_head(reader)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
                for _ in range(size // 65536):
                    writer.write(b"z" * 65536)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server, port = await _serve(handler)
        client = LeanClient(per_origin=4, tls=None)
        response = await client.get(f"http://127.0.0.1:{port}/big", [])
        body = Body(pause_after=256 * 1024)
        response.deliverBody(body)
        await asyncio.sleep(0.1)
        held = len(body.body)
        await asyncio.sleep(0.2)
        assert 256 * 1024 <= len(body.body) == held < size  # paused: nothing more is read
        body.transport.resumeProducing()  # type: ignore[union-attr]
        await asyncio.sleep(0.02)
        assert len(body.body) > held
        body.transport.stopProducing()  # type: ignore[union-attr]
        await asyncio.wait_for(body.done, 5)
        assert body.lost is not None and body.lost.check(ResponseFailed)
        assert len(body.body) < size
        _, again = await _get(client, f"http://127.0.0.1:{port}/big", stop_after=1)
        assert again.lost is not None and again.lost.check(ResponseFailed)
        server.close()

    run(main())
    assert connections == 2  # a body hung up on never goes back to the pool


def test_connect_errors_have_twisteds_types() -> None:
    dead = DeadPort()

    async def main() -> None:
        client = LeanClient(per_origin=4, tls=None)
        with pytest.raises(txerror.ConnectionRefusedError):
            await client.get(f"http://127.0.0.1:{dead.port}/f", [])
        with pytest.raises(txerror.DNSLookupError):
            await client.get("http://no-such-host.invalid/f", [])

    try:
        run(main())
    finally:
        dead.release()


def test_garbage_answers_fail_the_request() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await writer.drain()

    async def main() -> None:
        server, port = await _serve(handler)
        client = LeanClient(per_origin=4, tls=None)
        with pytest.raises(ResponseFailed):
            await client.get(f"http://127.0.0.1:{port}/f", [])
        server.close()

    run(main())


def test_header_values_cannot_inject_a_request() -> None:
    async def main() -> None:
        client = LeanClient(per_origin=4, tls=None)
        with pytest.raises(ValueError, match="invalid header"):
            await client.get("http://127.0.0.1:9/f", [(b"If-None-Match", b'"a"\r\nX-Evil: 1')])

    run(main())


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "archive.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_https_with_scrapys_default_tls_context(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    sni: list[str | None] = []
    server_ctx.sni_callback = lambda sock, name, ctx: sni.append(name)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        writer.write(_ok(b"secret-free bytes"))
        await writer.drain()

    async def main() -> None:
        server, port = await _serve(handler, ssl=server_ctx)
        client = lean_client(Settings({"TWISTED_REACTOR": None}))
        assert client is not None and client.tls is not None
        assert client.accepts(f"https://localhost:{port}/f")
        response, got = await _get(client, f"https://localhost:{port}/f")
        assert response.code == 200 and got.body == b"secret-free bytes"
        client.close()
        strict = lean_client(Settings({"DOWNLOAD_VERIFY_CERTIFICATES": True}))
        assert strict is not None
        with pytest.raises(txerror.ConnectError, match="TLS handshake"):  # never reached
            await strict.get(f"https://localhost:{port}/f", [])
        server.close()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("scrapy.utils.reactor.is_asyncio_reactor_installed", lambda: True)
        run(main())
    assert sni[0] == "localhost"


def test_twisted_keeps_what_the_lean_client_does_not_do() -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("scrapy.utils.reactor.is_asyncio_reactor_installed", lambda: True)
        custom = lean_client(Settings({"DOWNLOADER_CLIENTCONTEXTFACTORY": "my.Factory"}))
        assert custom is not None and custom.tls is None  # https stays on Twisted
        assert custom.accepts("http://a/") and not custom.accepts("https://a/")
        assert lean_client(Settings(), enabled=False) is None
        mp.setattr("scrapy.utils.reactor.is_asyncio_reactor_installed", lambda: False)
        assert lean_client(Settings()) is None


# -- the wire gate: at most `limit` exchanges per origin, the next request sent at the handover --
class CountingServer:
    """Answers each request after ``hold`` seconds; counts connections and exchanges in flight
    (a request read, its answer not yet written), the most at once, and which connection each
    request came on."""

    def __init__(self, hold: float = 0.02, body: bytes = b"z" * 5000):
        self.hold, self.body = hold, body
        self.connections = 0
        self.inflight = self.peak = 0
        self.per_connection: list[int] = []

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        index = len(self.per_connection)
        self.per_connection.append(0)
        try:
            while True:
                await _read_head(reader)
                self.per_connection[index] += 1
                self.inflight += 1
                self.peak = max(self.peak, self.inflight)
                await asyncio.sleep(self.hold)
                self.inflight -= 1
                writer.write(_ok(self.body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


def test_the_gate_keeps_each_origin_at_its_limit_and_hands_connections_over() -> None:
    srv = CountingServer()

    async def main() -> None:
        server, port = await _serve(srv.handler)
        client = LeanClient(per_origin=8, tls=None)
        results = await asyncio.gather(
            *(_get_limited(client, f"http://127.0.0.1:{port}/f{i}", 2) for i in range(12))
        )
        assert all(body == srv.body for body in results)
        # Ten of the twelve were sent on the connection whose answer had just ended.
        assert client.opened == 2 and client.handed == 10
        assert client._active_total == 0 and not any(client._active.values())
        client.close()
        server.close()

    run(main())
    assert srv.peak == 2 and srv.connections == 2 and sorted(srv.per_connection) == [6, 6]


async def _get_limited(client: LeanClient, url: str, limit: int) -> bytes:
    client.bound(urlsplit(url), limit)
    response = await client.get(url, [], timeout=5)
    body = Body()
    response.deliverBody(body)
    await asyncio.wait_for(body.done, 5)
    return body.body


def test_the_gate_holds_the_total_across_origins() -> None:
    a, b = CountingServer(), CountingServer()

    async def main() -> None:
        (server_a, port_a), (server_b, port_b) = await _serve(a.handler), await _serve(b.handler)
        client = LeanClient(per_origin=8, total=3, tls=None)
        urls = [f"http://127.0.0.1:{p}/f{i}" for i in range(6) for p in (port_a, port_b)]
        peak = 0

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, a.inflight + b.inflight)
                await asyncio.sleep(0.002)

        watcher = asyncio.ensure_future(watch())
        await asyncio.gather(*(_get_limited(client, url, 8) for url in urls))
        watcher.cancel()
        assert peak <= 3 and client._active_total == 0
        client.close()
        server_a.close()
        server_b.close()

    run(main())
    assert a.per_connection and b.per_connection
    assert sum(a.per_connection) == sum(b.per_connection) == 6


class OneQueued:
    """A client whose origin has a limit of 1: one exchange on the wire (``first``), one
    request queued at the gate behind it (``waiter``)."""

    async def start(self, srv: CountingServer) -> OneQueued:
        self.server, port = await _serve(srv.handler)
        self.client = LeanClient(per_origin=4, tls=None)
        self.url = f"http://127.0.0.1:{port}/f"
        self.first = asyncio.ensure_future(_get_limited(self.client, self.url, 1))
        await asyncio.sleep(0.03)
        self.waiter = asyncio.ensure_future(self.client.get(self.url, []))
        await asyncio.sleep(0.01)
        return self

    def close(self) -> None:
        assert self.client._active_total == 0
        self.client.close()
        self.server.close()


def test_a_waiter_that_times_out_or_is_cancelled_gives_its_place_back() -> None:
    srv = CountingServer(hold=0.3)

    async def main() -> None:
        q = await OneQueued().start(srv)
        q.waiter.cancel()  # cancelled while queued at the gate: never sent
        with pytest.raises(asyncio.CancelledError):
            await q.waiter
        assert await q.first == srv.body
        assert await _get_limited(q.client, q.url, 1) == srv.body  # the place was given back
        assert q.client.handed == 0
        q.close()

    run(main())
    assert sum(srv.per_connection) == 2  # the cancelled request never reached the server


def test_a_stopping_owner_sends_no_waiting_request() -> None:
    from capture.transfer.lean import Stopping

    srv = CountingServer(hold=0.1)

    async def main() -> None:
        q = await OneQueued().start(srv)
        q.client.sending = lambda: False  # Ctrl-C: the crawl stops
        assert await q.first == srv.body
        with pytest.raises(Stopping):
            await q.waiter
        q.close()

    run(main())
    assert sum(srv.per_connection) == 1


def test_a_connection_lost_mid_exchange_passes_its_place_to_a_waiter() -> None:
    calls = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal calls
        await _read_head(reader)
        calls += 1
        if calls == 1:
            await asyncio.sleep(0.05)
            writer.transport.abort()  # the first exchange dies
            return
        writer.write(_ok(b"fine"))
        await writer.drain()
        writer.close()

    async def main() -> None:
        server, port = await _serve(handler)
        client = LeanClient(per_origin=4, tls=None)
        url = f"http://127.0.0.1:{port}/f"
        client.bound(urlsplit(url), 1)
        first = asyncio.ensure_future(client.get(url, []))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(_get_limited(client, url, 1))
        with pytest.raises(ResponseFailed):
            await first
        assert await asyncio.wait_for(second, 5) == b"fine"  # on a new connection
        assert client.opened == 2 and client._active_total == 0
        client.close()
        server.close()

    run(main())


# -- end to end: a real crawl's file GETs go over it, and over Twisted's client when it is off --
@pytest.mark.parametrize("lean", [True, False], ids=["lean", "twisted"])
def test_a_crawl_fetches_files_over_kept_alive_connections(
    tg: ThousandGenomesArchive, data_dir: Path, lean: bool
) -> None:
    blobs = {f"ftp/lean/f{i}.bin": Blob(f"lean{i}", 20_000 + i) for i in range(24)}
    for path, blob in blobs.items():
        tg.add_file(path, blob)
    result = run_crawl(
        "thousand_genomes",
        data_dir,
        args={"base_url": tg.publish(), **WHOLE_TREE},
        settings={"CAPTURE_LEAN_HTTP": str(lean)},
    )
    assert result.returncode == 0, result.log[-2000:]
    items = result.by_path()
    assert {items[f"vol1/{p}"]["sha256"] for p in blobs} == {b.sha256 for b in blobs.values()}
    assert {i["status"] for i in items.values()} == {"stored"}
    opened = last_run_stats(data_dir).get("capture/transfer/lean_connections")
    handed = last_run_stats(data_dir).get("capture/transfer/lean_handovers")
    if lean:
        # Reused: at most one connection per concurrent transfer, far fewer than files.
        assert opened is not None and 1 <= opened <= 8 < len(blobs), opened
        assert handed is not None and handed > 0  # staged requests went out at the handover
    else:
        assert opened is None and handed is None


def test_a_held_place_goes_before_staged_files() -> None:
    """A listing page (``hold``) waiting at the gate gets the next freed place before files
    that were staged earlier: discovery stays ahead of transfers, as without staging."""
    srv = CountingServer(hold=0.05)
    order: list[str] = []

    async def main() -> None:
        server, port = await _serve(srv.handler)
        client = LeanClient(per_origin=4, tls=None)
        url = f"http://127.0.0.1:{port}/f"
        first = asyncio.ensure_future(_get_limited(client, url, 1))
        await asyncio.sleep(0.01)

        async def staged(name: str) -> None:
            await _get_limited(client, url, 1)
            order.append(name)

        files = [asyncio.ensure_future(staged(f"file{i}")) for i in range(2)]
        await asyncio.sleep(0.01)
        release = await client.hold(url, 1)  # queued behind the files, served before them
        order.append("listing")
        await asyncio.sleep(0.01)
        assert order == ["listing"]
        release()
        await first
        await asyncio.gather(*files)
        client.close()
        server.close()

    run(main())
    assert order == ["listing", "file0", "file1"] and srv.peak == 1
