"""Hostile file bodies (issue 13, attacks 4-6 and the short-body retry loop).

Each scenario is a :class:`~tests.archives.server.Stream` route that writes its response on the
raw socket, so the server's log (``bytes_sent``) says exactly how much crossed the wire before
the crawler hung up:

* :func:`oversize`    a file listed small served huge, with or without Content-Length
* :func:`endless`     a chunked (or close-delimited) body that never ends
* :func:`drip`        one byte every ``interval`` seconds: never silent long enough to stall
* :func:`short_body`  Content-Length 1,000, 600 bytes, close; Range ignored, every time

Every scenario stops by itself after ``give_up`` seconds (a safety net for the test process,
never reached when the crawler behaves).
"""

from __future__ import annotations

import os
import time
from typing import Any

from tests.archives.server import Request, Stream

BLOCK = os.urandom(64 * 1024)
ETAG = '"hostile-1"'
LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"


def _head(handler: Any, status: int, headers: dict[str, str]) -> None:
    handler._entry.status = status
    handler.send_response(status)
    handler.send_header("Content-Type", "application/octet-stream")
    handler.send_header("ETag", ETAG)
    handler.send_header("Last-Modified", LAST_MODIFIED)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def oversize(size: int, *, with_length: bool = True, give_up: float = 60.0) -> Stream:
    """``size`` bytes (far more than listed), announced by Content-Length or chunked."""

    def serve(handler: Any, req: Request) -> None:
        headers = {"Content-Length": str(size)} if with_length else {"Transfer-Encoding": "chunked"}
        _head(handler, 200, headers)
        sent, deadline = 0, time.monotonic() + give_up
        while sent < size and time.monotonic() < deadline:
            piece = BLOCK[: min(len(BLOCK), size - sent)]
            if not handler.send_raw(piece if with_length else _chunk(piece)):
                return
            sent += len(piece)
        if not with_length:
            handler.send_raw(b"0\r\n\r\n")

    return Stream(serve)


def endless(*, chunked: bool = True, rate: float | None = None, give_up: float = 60.0) -> Stream:
    """A body with no end: chunked, or close-delimited (``chunked=False``); ``rate`` in bytes/s
    (None: as fast as the socket takes it)."""

    def serve(handler: Any, req: Request) -> None:
        if chunked:
            _head(handler, 200, {"Transfer-Encoding": "chunked"})
        else:
            handler.close_connection = True
            _head(handler, 200, {"Connection": "close"})
        piece = BLOCK[: 16 * 1024] if rate else BLOCK
        deadline = time.monotonic() + give_up
        while time.monotonic() < deadline:
            if not handler.send_raw(_chunk(piece) if chunked else piece):
                return
            if rate:
                time.sleep(len(piece) / rate)
        handler.close_connection = True

    return Stream(serve)


def drip(length: int = 100_000, *, interval: float = 0.5, give_up: float = 60.0) -> Stream:
    """Announce ``length`` bytes, then send one byte every ``interval`` seconds."""

    def serve(handler: Any, req: Request) -> None:
        _head(handler, 200, {"Content-Length": str(length)})
        deadline = time.monotonic() + give_up
        for i in range(length):
            if time.monotonic() > deadline or not handler.send_raw(
                BLOCK[i % len(BLOCK) : i % len(BLOCK) + 1]
            ):
                handler.close_connection = True
                return
            time.sleep(interval)

    return Stream(serve)


def short_body(length: int = 1000, delivered: int = 600) -> Stream:
    """Content-Length ``length``, ``delivered`` bytes, then a clean close; any Range is ignored
    (a full 200 every time), so no attempt can get further than the one before."""

    def serve(handler: Any, req: Request) -> None:
        handler.close_connection = True
        _head(handler, 200, {"Content-Length": str(length), "Accept-Ranges": "bytes"})
        handler.send_raw(BLOCK[:delivered])

    return Stream(serve)
