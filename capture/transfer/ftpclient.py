"""One FTP control connection on the reactor: login, binary type, ``SIZE``/``MDTM``, ``REST`` +
``RETR`` into any protocol, ``MLSD`` with a ``LIST`` fallback.

Twisted's :class:`~twisted.protocols.ftp.FTPClient` speaks the protocol (passive mode, the data
connection fed straight to our protocol, no thread, no blocking ``ftplib``). This module adds
what it leaves to callers:

* the greeting and the login are awaited one reply at a time, so a refused login or a ``421``
  greeting is an error with its reply code, not a silently failed command queue;
* every reply has a timeout (``download_timeout``);
* the data connection goes to the control connection's peer whatever address ``PASV`` names
  (Twisted's default; a hostile reply cannot point us at another host);
* paths cannot smuggle commands (CR, LF and NUL are refused) and travel as UTF-8 bytes
  (RFC 2640), which Twisted's latin-1 line codec passes through unchanged;
* commands are never logged (Twisted logs them only with ``debug``), so ``PASS`` stays private.

``twisted.protocols.ftp`` is imported on first use, not with this module: Scrapy imports every
configured download handler when a crawl starts, and that import alone took 80 ms of every
crawl's start-up, FTP or not (``python -X importtime``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlsplit

from scrapy.exceptions import DownloadFailedError, DownloadTimeoutError
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import defer
from twisted.internet.protocol import ClientCreator, Protocol
from twisted.python.failure import Failure

try:  # private helper; maps Twisted's connect errors to Scrapy's download exceptions
    from scrapy.utils._download_handlers import wrap_twisted_exceptions
except ImportError:  # pragma: no cover
    from contextlib import nullcontext as wrap_twisted_exceptions  # type: ignore[assignment]

if TYPE_CHECKING:
    from twisted.internet.interfaces import IAddress
    from twisted.protocols.ftp import FTPClient

DEFAULT_PORT = 21
REPLY = re.compile(r"^(\d{3})[ -]?(.*)$")
#: ``MDTM`` answers ``YYYYMMDDHHMMSS`` with optional fractional seconds, in UTC (RFC 3659 2.3).
MDTM = re.compile(r"^(\d{14})(?:\.\d+)?$")
#: Replies that mean "this server does not know MLSD" (RFC 959 5.4): try LIST instead.
UNKNOWN_COMMAND = {500, 501, 502, 504}


class FtpReplyError(Exception):
    """The server answered a command with a 4xx/5xx reply."""

    def __init__(self, code: int, text: str, command: str):
        super().__init__(f"FTP {command}: {code} {text}".rstrip())
        self.code, self.text, self.command = code, text, command

    @property
    def transient(self) -> bool:
        return 400 <= self.code < 500


class FtpPathError(ValueError):
    """A URL path that cannot be sent as an FTP argument (it would inject a command)."""


@dataclass(frozen=True)
class FtpTarget:
    """Where an ``ftp://`` URL points: host, port and the decoded path (always absolute)."""

    host: str
    port: int
    path: str

    @classmethod
    def of(cls, url: str) -> FtpTarget:
        parts = urlsplit(url)
        path = unquote(parts.path) or "/"
        if any(c in path for c in "\r\n\0"):
            raise FtpPathError(f"refusing an FTP path with a control character: {url!r}")
        return cls(parts.hostname or "", parts.port or DEFAULT_PORT, path)

    @property
    def wire_path(self) -> str:
        """The path as Twisted sends it: UTF-8 bytes, seen through its latin-1 line codec."""
        return self.path.encode("utf-8").decode("latin-1")

    @property
    def is_directory(self) -> bool:
        return self.path.endswith("/")


def http_date(mdtm: str) -> str | None:
    """``20240101120000`` (an ``MDTM`` answer, UTC) as an HTTP date, the form the catalog keeps
    for every protocol's Last-Modified; None if the answer is not a time."""
    m = MDTM.match(mdtm.strip())
    if not m:
        return None
    try:
        when = datetime.strptime(m.group(1), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return format_datetime(when, usegmt=True)


def _reply(lines: list[str]) -> tuple[int, str]:
    last = lines[-1] if lines else ""
    m = REPLY.match(last)
    return (int(m.group(1)), m.group(2).strip()) if m else (0, last)


@functools.cache
def _client_class() -> type[FTPClient]:
    """Twisted's client without its queued login (:meth:`FtpSession.login` does it reply by
    reply), with a Deferred for the greeting (a class made on first use: see the module
    docstring)."""
    from twisted.protocols.ftp import FTPClient, FTPClientBasic

    class _Client(FTPClient):
        def __init__(self) -> None:
            FTPClientBasic.__init__(self)
            self.passive = 1
            self._trustPasvAddr = False  # data connections go to the control connection's peer
            self.greeted: defer.Deferred[list[str]] = defer.Deferred()
            self.nextDeferred.addBoth(self._on_greeting)

        def _on_greeting(self, result: Any) -> None:
            if not self.greeted.called:
                if isinstance(result, Failure):
                    self.greeted.errback(result)
                else:
                    self.greeted.callback(self.greeting or [])

    return _Client


def _command_failed() -> type[Exception]:
    from twisted.protocols.ftp import CommandFailed

    return CommandFailed


class FtpSession:
    """A logged-in control connection (binary type). Use one per transfer or listing."""

    def __init__(self, client: FTPClient, timeout: float):
        self.client = client
        self.timeout = timeout

    @classmethod
    async def open(cls, target: FtpTarget, user: str, password: str, timeout: float) -> FtpSession:
        from twisted.internet import reactor

        creator = ClientCreator(reactor, _client_class())
        with wrap_twisted_exceptions():
            client = cast(
                Any,
                await maybe_deferred_to_future(
                    creator.connectTCP(target.host, target.port, timeout=timeout)
                ),
            )
        session = cls(client, timeout)
        try:
            await session._wait(client.greeted, "greeting")
            code, _ = await session.command(f"USER {user}", label="USER")
            if code == 331:
                await session.command(f"PASS {password}", label="PASS")
            await session.command("TYPE I")
        except BaseException:
            session.close()
            raise
        return session

    async def _wait(self, d: defer.Deferred[Any], what: str) -> Any:
        from twisted.internet import reactor

        d.addTimeout(self.timeout, reactor)
        try:
            return await maybe_deferred_to_future(d)
        except defer.TimeoutError as exc:
            raise DownloadTimeoutError(f"FTP {what}: no reply within {self.timeout:g}s") from exc
        except _command_failed() as exc:
            code, text = _reply(list(exc.args[0]) if exc.args else [])
            raise FtpReplyError(code, text, what) from None
        except Exception as exc:  # the control connection closed (ConnectionLost, FTPError)
            if isinstance(exc, DownloadTimeoutError | FtpReplyError):
                raise
            raise DownloadFailedError(f"FTP {what}: {exc}") from exc

    async def command(self, line: str, *, label: str | None = None) -> tuple[int, str]:
        """Send one command and return its reply; ``label`` names it in errors instead of the
        line (``PASS`` must never be repeated)."""
        d = self.client.queueStringCommand(line, public=0)
        return _reply(await self._wait(d, label or line))

    async def size(self, target: FtpTarget) -> int | None:
        """``SIZE`` in bytes (binary type), or None if the server will not say."""
        try:
            code, text = await self.command(f"SIZE {target.wire_path}", label="SIZE")
        except FtpReplyError as exc:
            if exc.transient:
                raise
            return None
        return int(text) if code == 213 and text.isdigit() else None

    async def mdtm(self, target: FtpTarget) -> str | None:
        """``MDTM`` as an HTTP date, or None if the server will not say."""
        try:
            code, text = await self.command(f"MDTM {target.wire_path}", label="MDTM")
        except FtpReplyError as exc:
            if exc.transient:
                raise
            return None
        return http_date(text) if code == 213 else None

    def retrieve(self, target: FtpTarget, protocol: Protocol) -> defer.Deferred[Any]:
        """``RETR`` into ``protocol`` over a passive data connection (send ``REST`` first to
        resume). Fires once the server's final reply is in and the data connection closed;
        fails with :class:`CommandFailed` on a 4xx/5xx reply."""
        return cast(
            defer.Deferred[Any],
            self.client.retrieveFile(target.wire_path, protocol),
        )

    def receive(self, line: str, protocol: Protocol) -> defer.Deferred[Any]:
        """Any data-connection command (``MLSD``, ``LIST``) into ``protocol``."""
        return cast(
            defer.Deferred[Any],
            self.client.receiveFromConnection([line], protocol),
        )

    def peer(self) -> IAddress | None:
        transport = self.client.transport
        return transport.getPeer() if transport is not None else None

    def close(self) -> None:
        """Hang up (after ``QUIT`` when the connection is idle: the polite way)."""
        transport = self.client.transport
        if transport is None:
            return
        if not self.client.actionQueue and self.client.nextDeferred is None:
            self.client.sendLine("QUIT")
        transport.loseConnection()


def reply_error(failure: Failure, command: str) -> Exception:
    """The exception a data-connection command's Deferred failed with, as ours."""
    exc = failure.value
    if isinstance(exc, _command_failed()):
        code, text = _reply(list(exc.args[0]) if exc.args else [])
        return FtpReplyError(code, text, command)
    if isinstance(exc, Exception):
        return DownloadFailedError(f"FTP {command}: {exc}")
    return DownloadFailedError(f"FTP {command}: {failure.getErrorMessage()}")
