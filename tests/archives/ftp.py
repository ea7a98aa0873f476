"""An FTP archive emulator: pyftpdlib on 127.0.0.1 (a free port, its own thread) serving a
directory tree, with the faults FTP transfers meet.

* ``drop_after``: the data connection is closed after N bytes of a RETR (``426`` on the control
  connection), ``times`` times;
* ``stall_after``: after N bytes the data connection goes silent for ``stall_seconds`` (then the
  server carries on, or finds the client gone and answers ``426``);
* a file changed between attempts: :meth:`FtpArchive.replace` rewrites its bytes and mtime, so
  ``SIZE``/``MDTM`` change as on a real server (``then_replace`` does it right after a drop);
* ``mlsd=False``: a server without ``MLSD`` (``500``), so clients must fall back to ``LIST``;
* ``login=(user, password)``: no anonymous access.

It has the ``add(path, blob)`` / ``base_url`` interface of :class:`tests.archives.ArchiveServer`,
so :class:`~tests.archives.thousand_genomes.ThousandGenomesArchive` builds its tree on either.
Every RETR is recorded (:class:`Retr`: path, REST offset, bytes sent, completed) so tests can
tell what a resume really cost.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, ThrottledDTPHandler
from pyftpdlib.servers import FTPServer

from tests.archives.content import Blob

# pyftpdlib configures its own stderr logging at INFO unless its logger has a handler.
_LOG = logging.getLogger("pyftpdlib")
if not _LOG.handlers:
    _LOG.addHandler(logging.NullHandler())
_LOG.setLevel(logging.WARNING)


@dataclass
class FtpFault:
    drop_after: int | None = None
    stall_after: int | None = None
    stall_seconds: float = 0.0
    times: int = 1  # how many RETRs of the file it hits
    #: After the drop, the server's file changes to this (blob, mtime): a new version published
    #: between two attempts of the same transfer.
    then_replace: tuple[Blob, float] | None = None


@dataclass
class Retr:
    path: str  # relative to the root, e.g. "vol1/ftp/x.bin"
    rest: int
    bytes_sent: int = 0
    completed: bool = False


@dataclass
class FtpArchive:
    root: Path
    login: tuple[str, str] | None = None
    mlsd: bool = True
    faults: dict[str, FtpFault] = field(default_factory=dict)
    retrs: list[Retr] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    #: Bytes per second per data connection (None: as fast as it goes).
    bandwidth: int | None = None

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._server = self._build()
        self.port = self._server.socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="ftp-emulator", daemon=True)
        self._thread.start()

    # -- content ---------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"ftp://127.0.0.1:{self.port}"

    def local(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def add(self, path: str, blob: Blob, content_type: str | None = None, mtime: float = 0) -> None:
        """Write ``blob`` at ``path`` (an archive path, leading ``/`` optional)."""
        target = self.local(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as fh:
            for chunk in blob.iter_chunks(chunk=8 * 1024 * 1024):
                fh.write(chunk)
        when = mtime or 1_700_000_000.0
        os.utime(target, (when, when))

    def replace(self, path: str, blob: Blob, mtime: float) -> None:
        """The file changes on the server: new bytes and a new modification time."""
        self.add(path, blob, mtime=mtime)

    def retrs_of(self, path: str) -> list[Retr]:
        with self._lock:
            return [r for r in self.retrs if r.path == path.lstrip("/")]

    # -- server ----------------------------------------------------------------------------
    def _build(self) -> FTPServer:
        authorizer = DummyAuthorizer()
        if self.login is None:
            authorizer.add_anonymous(str(self.root))
        else:
            authorizer.add_user(self.login[0], self.login[1], str(self.root), perm="elr")
        archive = self

        class DTP(ThrottledDTPHandler):
            ac_out_buffer_size = 256 * 1024

            @property  # type: ignore[override]
            def write_limit(self) -> int:  # read per send: tests change it between runs
                return archive.bandwidth or 0

            def __init__(self, sock: Any, cmd_channel: Any):
                super().__init__(sock, cmd_channel)
                self._fault: FtpFault | None = None
                self._fault_checked = False
                self._stalled = False
                self._dropping = False
                self._rel = ""

            def send(self, data: bytes) -> int:
                fault = self._current_fault()
                if self._dropping:
                    return 0
                if fault is not None and not self._stalled:
                    sent = self.tot_bytes_sent
                    if fault.drop_after is not None and sent + len(data) >= fault.drop_after:
                        n = int(super().send(data[: max(0, fault.drop_after - sent)]))
                        self._dropping = True
                        self.ioloop.call_later(0, self._drop)
                        return n
                    if fault.stall_after is not None and sent + len(data) >= fault.stall_after:
                        n = super().send(data[: max(0, fault.stall_after - sent)])
                        self._stalled = True
                        self.del_channel()
                        self.ioloop.call_later(fault.stall_seconds, self._wake)
                        return n
                return int(super().send(data))

            def _drop(self) -> None:
                if not self._closed:
                    self._resp = ("426 Connection closed; transfer aborted.", logging.debug)
                    self.close()
                fault = self._fault
                if fault is not None and fault.then_replace is not None:
                    blob, mtime = fault.then_replace
                    archive.replace(self._rel, blob, mtime)

            def _wake(self) -> None:
                if not self._closed:
                    self.add_channel(events=self.ioloop.WRITE)

            def _current_fault(self) -> FtpFault | None:
                if not self._fault_checked and self.file_obj is not None:
                    self._fault_checked = True
                    rel = self._rel = archive._rel(self.file_obj.name)
                    with archive._lock:
                        fault = archive.faults.get(rel)
                        if fault is not None and fault.times > 0:
                            fault.times -= 1
                            self._fault = fault
                return self._fault

        class Handler(FTPHandler):
            dtp_handler = DTP
            authorizer_ = authorizer
            banner = "capture test FTP archive"
            passive_ports = None
            proto_cmds = (
                FTPHandler.proto_cmds
                if archive.mlsd
                else {k: v for k, v in FTPHandler.proto_cmds.items() if k != "MLSD"}
            )

            def pre_process_command(self, line: str, cmd: str, arg: str) -> Any:
                with archive._lock:
                    archive.commands.append("PASS ***" if cmd == "PASS" else line)
                return super().pre_process_command(line, cmd, arg)

            def ftp_RETR(self, file: str) -> Any:
                rest = self._restart_position
                with archive._lock:
                    archive.retrs.append(Retr(archive._rel(file), rest))
                return super().ftp_RETR(file)

            def log_transfer(self, cmd: str, filename: str, receive: bool, completed: bool,
                             elapsed: float, bytes: int) -> None:  # fmt: skip
                if cmd == "RETR" and not receive:
                    rel = archive._rel(filename)
                    with archive._lock:
                        for r in reversed(archive.retrs):
                            if r.path == rel:
                                r.bytes_sent, r.completed = int(bytes), bool(completed)
                                break
                super().log_transfer(cmd, filename, receive, completed, elapsed, bytes)

        Handler.authorizer = authorizer
        return FTPServer(("127.0.0.1", 0), Handler)

    def _rel(self, filename: str) -> str:
        return os.path.relpath(filename, self.root).replace(os.sep, "/")

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._server.ioloop.loop(timeout=0.05, blocking=False)
        self._server.close_all()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Let in-flight replies and transfer records settle (the server runs in a thread)."""
        time.sleep(min(timeout, 0.2))
