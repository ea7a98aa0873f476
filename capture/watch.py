"""``capture watch``: run ``capture diff`` on a schedule, notify only when something changed or
broke, and keep a ``status.json`` heartbeat for external monitors.

Each tick is a fresh ``capture diff --json`` process. A Scrapy crawl runs on the Twisted
reactor, which cannot be started twice in one process; a process per tick also keeps one bad
tick (a crash, a leak, a hung archive past ``timeout``) from poisoning the next.

What is notified, once each (the state survives a restart of the watcher, in the status file):

* ``changed``: the diff lists new, changed, pending or gone files, and that list differs from
  the one last notified (keyed by the listed entries only, so a flaky listing's wording or the
  unchanged counts do not re-notify the same change);
* ``broken``: the diff failed, was partial, timed out or printed no document; the same problem
  on the next ticks stays quiet;
* ``recovered``: the first healthy tick after a ``broken`` one;
* ``update_failed``: with ``update`` (which runs ``capture run --update`` on every tick whose
  diff lists changes, so a failed update is retried at the next interval), an update did not
  complete.

Webhooks are JSON POSTs (:func:`capture.monitors.post_json`); e-mail goes through the SMTP host
of Scrapy's ``MAIL_*`` settings. Credentials are never written to the status file or the log.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from capture.monitors import post_json
from capture.outcomes import EXIT_FAILED, EXIT_INTERRUPTED

STATUS_VERSION = 1
LISTED = ("new", "changed", "pending", "gone")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_interval(text: str) -> float:
    """Seconds in ``30s``, ``15m``, ``6h``, ``1d``, ``1w`` or a bare number of seconds."""
    m = _INTERVAL.match(text)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"bad interval {text!r}: use e.g. 30s, 15m, 6h, 1d or 1w")
    return float(m.group(1)) * _UNITS[m.group(2)]


def now_iso(clock: Callable[[], float] = time.time) -> str:
    return datetime.fromtimestamp(clock(), UTC).isoformat(timespec="seconds")


def change_key(document: dict[str, Any]) -> str | None:
    """A key of what the diff lists (None: nothing): sha256 of the listed entries only."""
    listed = {
        a["archive"]: {c: a.get("files", {}).get(c, []) for c in LISTED}
        for a in document.get("archives", [])
        if any(a.get("files", {}).get(c) for c in LISTED)
    }
    if not listed:
        return None
    canonical = json.dumps(listed, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Tick:
    """One ``capture diff`` run, as the watcher saw it."""

    at: str
    duration: float
    exit_code: int
    document: dict[str, Any] | None
    error: str | None = None

    @property
    def healthy(self) -> bool:
        return self.exit_code == 0 and self.document is not None

    @property
    def problem(self) -> str:
        """What went wrong, stable across ticks with the same problem (the notify key)."""
        if self.error:
            return self.error
        doc = self.document or {}
        broken = sorted(
            f"{a.get('archive')}: {a.get('outcome')}"
            for a in doc.get("archives", [])
            if a.get("outcome") not in (None, "completed", "skipped")
        )
        return f"diff exited {self.exit_code}" + (f" ({'; '.join(broken)})" if broken else "")

    def summary(self) -> dict[str, Any]:
        doc = self.document or {}
        return {
            "at": self.at,
            "duration_s": round(self.duration, 3),
            "exit_code": self.exit_code,
            "run_id": doc.get("run_id"),
            "totals": doc.get("totals"),
            "change_key": change_key(doc) if self.document is not None else None,
            "error": self.error,
        }


@dataclass
class Mail:
    """Scrapy's ``MAIL_*`` settings, for a process without a reactor (plain smtplib)."""

    host: str = "localhost"
    port: int = 25
    sender: str = "capture@localhost"
    user: str | None = None
    password: str | None = None
    tls: bool = False
    ssl: bool = False

    @classmethod
    def from_settings(cls, settings: Any) -> Mail:
        return cls(
            host=settings.get("MAIL_HOST") or "localhost",
            port=settings.getint("MAIL_PORT") or 25,
            sender=settings.get("MAIL_FROM") or "capture@localhost",
            user=settings.get("MAIL_USER") or None,
            password=settings.get("MAIL_PASS") or None,
            tls=settings.getbool("MAIL_TLS"),
            ssl=settings.getbool("MAIL_SSL"),
        )

    def send(self, to: str, subject: str, body: str, timeout: float = 30.0) -> None:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, to, subject
        msg.set_content(body)
        smtp_cls = smtplib.SMTP_SSL if self.ssl else smtplib.SMTP
        with smtp_cls(self.host, self.port, timeout=timeout) as smtp:
            if self.tls:
                smtp.starttls()
            if self.user and self.password:
                smtp.login(self.user, self.password)
            smtp.send_message(msg)


@dataclass
class Notifier:
    webhook: str = ""
    email: str = ""
    mail: Mail = field(default_factory=Mail)

    @property
    def channels(self) -> list[str]:
        return [name for name, on in (("webhook", self.webhook), ("email", self.email)) if on]

    def send(self, kind: str, payload: dict[str, Any]) -> list[str]:
        """Deliver to every configured channel; the errors (never raised: a watcher that dies
        because its webhook is down would stop watching)."""
        errors = []
        if self.webhook:
            try:
                post_json(self.webhook, payload)
            except (OSError, ValueError) as exc:
                errors.append(f"webhook: {exc}")
        if self.email:
            try:
                subject = f"[capture watch] {kind}: {payload.get('message', '')}"[:200]
                self.mail.send(self.email, subject, json.dumps(payload, indent=2))
            except (OSError, smtplib.SMTPException) as exc:
                errors.append(f"email: {type(exc).__name__}: {exc}")
        return errors


def write_status(path: Path, status: dict[str, Any]) -> None:
    """Atomically replace the status file (a monitor never reads half a heartbeat)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".status.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(status, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def read_status(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class _Stop(Exception):
    pass


class Watch:
    """The loop: tick, decide, notify, write the heartbeat, sleep until the next tick."""

    def __init__(
        self,
        diff_cmd: Sequence[str],
        every: float,
        status_path: Path,
        notifier: Notifier,
        *,
        update_cmd: Sequence[str] | None = None,
        timeout: float | None = None,
        max_ticks: int | None = None,
        clock: Callable[[], float] = time.time,
        log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
    ):
        self.diff_cmd, self.update_cmd = list(diff_cmd), list(update_cmd or [])
        self.every, self.timeout, self.max_ticks = every, timeout, max_ticks
        self.status_path, self.notifier = status_path, notifier
        self.clock, self.log = clock, log
        previous = read_status(status_path)
        self.notified: dict[str, Any] = dict(previous.get("notified") or {})
        self.status: dict[str, Any] = {
            "version": STATUS_VERSION,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": now_iso(clock),
            "every_seconds": every,
            "ticks": 0,
            "consecutive_failures": 0,
            "healthy": None,
            "state": "starting",
            "last_change_at": previous.get("last_change_at"),
            "last_notification": previous.get("last_notification"),
            "notified": self.notified,
        }
        self._child: subprocess.Popen[str] | None = None

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> int:
        """Tick until ``max_ticks`` or a signal: the last tick's exit code, 130 if stopped."""
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        last = 0
        try:
            while self.max_ticks is None or self.status["ticks"] < self.max_ticks:
                started = self.clock()
                tick = self._tick()
                last = tick.exit_code if not tick.healthy else 0
                if self.max_ticks is not None and self.status["ticks"] >= self.max_ticks:
                    break
                self._sleep_until(started + self.every)
        except _Stop:
            self._beat("stopped")
            return EXIT_INTERRUPTED
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
        self._beat("stopped")
        return last

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self._child is not None and self._child.poll() is None:
            self._child.send_signal(signal.SIGINT)  # let the child close cleanly
        raise _Stop

    def _sleep_until(self, deadline: float) -> None:
        self.status["next_tick_at"] = now_iso(lambda: deadline)
        self._beat("sleeping")
        while (left := deadline - self.clock()) > 0:
            time.sleep(min(left, 1.0))

    # -- one tick --------------------------------------------------------------------------
    def _tick(self) -> Tick:
        self._beat("diffing")
        tick = self._run_diff()
        self.status["ticks"] += 1
        self.status["last_tick"] = tick.summary()
        self.status["healthy"] = tick.healthy
        self.status["consecutive_failures"] = (
            0 if tick.healthy else self.status["consecutive_failures"] + 1
        )
        key = change_key(tick.document) if tick.document is not None else None
        if key is not None:
            self.status["last_change_at"] = self.status["last_change_at"] or tick.at
        self.log(
            f"watch: tick {self.status['ticks']} at {tick.at}: "
            + ("healthy" if tick.healthy else f"BROKEN ({tick.problem})")
            + (f", changes {key[:12]}" if key else ", no changes")
        )
        self._decide(tick, key)
        return tick

    def _run_diff(self) -> Tick:
        at, t0 = now_iso(self.clock), time.monotonic()
        try:
            code, out, err = self._child_run(self.diff_cmd, capture=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            error = f"timed out after {self.timeout:g} s"
            return Tick(at, time.monotonic() - t0, EXIT_FAILED, None, error)
        except OSError as exc:
            return Tick(at, time.monotonic() - t0, EXIT_FAILED, None, f"cannot run diff: {exc}")
        try:
            document = json.loads(out)
        except ValueError:
            last = (err.strip().splitlines() or ["no output"])[-1]
            error = f"no diff document: {last}"
            return Tick(at, time.monotonic() - t0, code or EXIT_FAILED, None, error)
        doc = document if isinstance(document, dict) else None
        return Tick(at, time.monotonic() - t0, code, doc)

    def _child_run(
        self, cmd: list[str], *, capture: bool, timeout: float | None = None
    ) -> tuple[int, str, str]:
        """Run a child to its end; on a signal it gets SIGINT and a minute to close cleanly."""
        pipe = subprocess.PIPE if capture else None
        proc = subprocess.Popen(cmd, stdout=pipe, stderr=pipe, text=True)
        self._child = proc
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        except _Stop:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise
        finally:
            self._child = None
        return proc.returncode, out or "", err or ""

    def _decide(self, tick: Tick, key: str | None) -> None:
        if not tick.healthy:
            if self.notified.get("broken") != tick.problem:
                self.notified["broken"] = tick.problem
                self._notify("broken", tick, tick.problem)
        elif self.notified.get("broken"):
            was = self.notified.pop("broken")
            self._notify("recovered", tick, f"diff healthy again (was: {was})")
        if tick.document is None:
            return
        if key is None:
            if tick.healthy:
                self.notified.pop("change", None)
            return
        if self.notified.get("change") != key:
            self.notified["change"] = key
            self.status["last_change_at"] = tick.at
            totals = tick.document.get("totals") or {}
            counts = ", ".join(
                f"{c} {totals.get(c, {}).get('files', 0)}"
                for c in LISTED
                if totals.get(c, {}).get("files")
            )
            self._notify("changed", tick, f"upstream changes: {counts}")
        if self.update_cmd:
            self._update(tick, key)

    def _update(self, tick: Tick, key: str) -> None:
        """Fetch what the diff listed; tried again on every tick that still lists changes (a
        failed update is retried at the next interval), notified once per change and code."""
        self._beat("updating")
        code, _, _ = self._child_run(self.update_cmd, capture=False)
        self.status["last_update"] = {"at": now_iso(self.clock), "exit_code": code}
        failure = f"{key}:{code}"
        if code == 0:
            self.notified.pop("update_failed", None)
        elif self.notified.get("update_failed") != failure:
            self.notified["update_failed"] = failure
            self._notify("update_failed", tick, f"capture run --update exited {code}")

    def _notify(self, kind: str, tick: Tick, message: str) -> None:
        doc = tick.document or {}
        payload = {
            "kind": kind,
            "message": message,
            "at": now_iso(self.clock),
            "host": self.status["host"],
            "tick": tick.summary(),
            "archives": [
                {k: a.get(k) for k in ("archive", "outcome", "counts")}
                for a in doc.get("archives", [])
            ],
        }
        errors = self.notifier.send(kind, payload)
        channels = self.notifier.channels
        self.status["last_notification"] = {
            "kind": kind,
            "at": payload["at"],
            "message": message,
            "channels": channels,
            # None: no channel configured, the log is the only record.
            "delivered": (not errors) if channels else None,
            "errors": errors,
        }
        self.log(f"watch: notified {kind}: {message}" + (f" (errors: {errors})" if errors else ""))

    def _beat(self, state: str) -> None:
        self.status["state"] = state
        self.status["updated_at"] = now_iso(self.clock)
        write_status(self.status_path, self.status)
