"""A fast local static HTTP server for the corpus: nginx, else ``python -m http.server``."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

NGINX_CANDIDATES = ("/usr/sbin/nginx", "nginx")
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")

NGINX_CONF = """\
{user}worker_processes 2;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    default_type application/octet-stream;
    types {{ text/plain tree; }}
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {www};
        location / {{ }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_nginx() -> str | None:
    for cand in NGINX_CANDIDATES:
        path = shutil.which(cand)
        if path:
            return path
    return None


def nginx_version(binary: str) -> str:
    proc = subprocess.run([binary, "-v"], capture_output=True, text=True)
    return (proc.stderr or proc.stdout).strip().removeprefix("nginx version: ")


class StaticServer:
    """Serves ``www`` on 127.0.0.1 until closed. ``kind`` is ``nginx`` or ``python``."""

    def __init__(self, www: Path, workdir: Path, *, prefer_nginx: bool = True):
        self.www = www
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.binary = find_nginx() if prefer_nginx else None
        self.kind = "nginx" if self.binary else "python"
        self.version = nginx_version(self.binary) if self.binary else f"python {sys.version}"
        self.note = "" if self.binary else "nginx not found: fell back to python -m http.server"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _nginx_command(self) -> list[str]:
        assert self.binary is not None
        prefix = self.workdir / "nginx"
        for name in TEMP_DIRS:
            (prefix / name).mkdir(parents=True, exist_ok=True)
        # As root the workers would switch to `nobody`, who cannot enter 0700 temp dirs.
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
        conf = prefix / "nginx.conf"
        conf.write_text(NGINX_CONF.format(user=user, prefix=prefix, port=self.port, www=self.www))
        err = prefix / "error.log"
        return [self.binary, "-p", str(prefix), "-c", str(conf), "-e", str(err)]

    def start(self) -> StaticServer:
        if self.kind == "nginx":
            cmd = self._nginx_command()
        else:
            port, www = str(self.port), str(self.www)
            cmd = [sys.executable, "-m", "http.server", "-b", "127.0.0.1", "-d", www, port]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited early (code {self.proc.returncode})")
            try:
                with urllib.request.urlopen(self.base_url + "/", timeout=1) as resp:
                    resp.read()
                return
            except urllib.error.HTTPError:
                return  # 403/404 on "/" still proves the server answers
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.kind} did not answer on {self.base_url} in {timeout}s")

    def stop(self) -> None:
        """Terminate the server (master and workers: they share its session/process group)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()  # nginx: SIGTERM = fast shutdown of master and workers
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._reap_group(self.proc.pid)
        self.proc = None

    @staticmethod
    def _reap_group(pgid: int, timeout: float = 5.0) -> None:
        """Make sure no worker of our own process group outlives the master."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            if time.monotonic() > deadline:
                os.killpg(pgid, signal.SIGKILL)
                return
            time.sleep(0.05)

    def __enter__(self) -> StaticServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class FtpServer(StaticServer):
    """Serves ``www`` over FTP (pyftpdlib's standalone anonymous read-only server, which sends
    files with ``sendfile``) on 127.0.0.1 until closed; the FTP scenario's server."""

    def __init__(self, www: Path, workdir: Path):
        super().__init__(www, workdir, prefer_nginx=False)
        self.kind = "pyftpdlib"
        try:
            from importlib.metadata import version

            self.version = f"pyftpdlib {version('pyftpdlib')}"
        except Exception:  # not installed: start() fails and the scenario is skipped
            self.version = "pyftpdlib (not installed)"
        self.note = "anonymous, passive mode, sendfile"

    @property
    def base_url(self) -> str:
        return f"ftp://127.0.0.1:{self.port}"

    def start(self) -> FtpServer:
        cmd = [sys.executable, "-m", "pyftpdlib", "-i", "127.0.0.1", "-p", str(self.port),
               "-d", str(self.www)]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"pyftpdlib exited early (code {self.proc.returncode})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(3) == b"220":
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"pyftpdlib did not answer on {self.base_url} in {timeout}s")
