"""What every scorer gets (:class:`ScoreContext`) and a helper to record checks
(:class:`Checks`)."""

from __future__ import annotations

import csv
import struct
import time
import traceback
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from capture.quality.model import CheckResult, Outcome, Severity, Tier

HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<title")


@dataclass
class ScoreContext:
    """Everything a scorer may know about a file besides its bytes (all picklable)."""

    path: str
    name: str  # the archive path (file name and suffixes matter)
    format: str | None = None
    archive: str | None = None
    size: int | None = None
    expected_size: int | None = None
    digest_algorithm: str | None = None
    digest_verified: bool | None = None
    sha256: str | None = None
    length_verified: bool | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    budget_seconds: float = 20.0
    # Bytes of data a scorer may read from a big file for sampled checks.
    sample_bytes: int = 16 * 1024 * 1024
    # Extra scorers ("module:function"), keyed by format name or by file suffix (".xyz").
    plugins: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.started = time.monotonic()
        # The first HEAD_CACHE bytes, read once: sniffing, the transport gates and a scorer
        # each ask for the head (a small file was opened five times per score).
        self._head: bytes | None = None
        self._whole = False  # the cached head is the whole file

    @property
    def time_left(self) -> float:
        return self.budget_seconds - (time.monotonic() - self.started)

    def head(self, n: int = 4096) -> bytes:
        if self._head is not None and (n <= len(self._head) or self._whole):
            return self._head[:n]
        want = max(n, HEAD_CACHE)
        with open(self.path, "rb", buffering=0) as fh:
            data = _read_up_to(fh, want)
        if want <= HEAD_CACHE_MAX:
            self._head, self._whole = data, len(data) < want
        return data[:n]

    def tail(self, n: int = 4096) -> bytes:
        if self._whole and self._head is not None:
            return self._head[-n:] if n else b""
        with open(self.path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - n))
            return fh.read()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_head"], state["_whole"] = None, False  # workers read for themselves
        return state


#: Bytes of a file's head read (and kept) on the first ``head()``; a request for more than
#: HEAD_CACHE_MAX is read for that caller only.
HEAD_CACHE = 64 * 1024
HEAD_CACHE_MAX = 1024 * 1024


def _read_up_to(fh: Any, n: int) -> bytes:
    """``n`` bytes or up to the end (an unbuffered read may return fewer)."""
    parts, got = [], 0
    while got < n:
        block = fh.read(n - got)
        if not block:
            break
        parts.append(block)
        got += len(block)
    return b"".join(parts)


class Checks:
    """Collects :class:`CheckResult` objects for one tool, timing each check.

    ``with checks.run("fits.verify", Tier.CONFORMANCE, Severity.MEDIUM) as c:`` records an
    ``error`` outcome (never raises) if the body fails unexpectedly, so a hostile file can only
    ever produce error outcomes, not a crash of the capture.
    """

    def __init__(self, tool: str = "capture", tool_version: str = ""):
        self.tool = tool
        self.tool_version = tool_version
        self.results: list[CheckResult] = []

    def add(
        self,
        check_id: str,
        tier: Tier,
        severity: Severity,
        outcome: Outcome,
        message: str = "",
        location: str | None = None,
        credit: float | None = None,
        duration_ms: float = 0.0,
    ) -> CheckResult:
        result = CheckResult(
            check_id,
            tier,
            severity,
            outcome,
            message,
            location,
            self.tool,
            self.tool_version,
            round(duration_ms, 3),
            credit,
        )
        self.results.append(result)
        return result

    def passed(
        self,
        check_id: str,
        tier: Tier,
        severity: Severity,
        message: str = "",
        location: str | None = None,
    ) -> CheckResult:
        return self.add(check_id, tier, severity, Outcome.PASS, message, location)

    def failed(
        self,
        check_id: str,
        tier: Tier,
        severity: Severity,
        message: str,
        location: str | None = None,
        credit: float | None = None,
    ) -> CheckResult:
        return self.add(check_id, tier, severity, Outcome.FAIL, message, location, credit)

    def check(
        self,
        check_id: str,
        tier: Tier,
        severity: Severity,
        ok: bool,
        message_ok: str,
        message_fail: str,
        location: str | None = None,
    ) -> CheckResult:
        if ok:
            return self.passed(check_id, tier, severity, message_ok, location)
        return self.failed(check_id, tier, severity, message_fail, location)

    def na(self, check_id: str, tier: Tier, severity: Severity, message: str) -> CheckResult:
        return self.add(check_id, tier, severity, Outcome.NOT_APPLICABLE, message)

    def fraction(
        self,
        check_id: str,
        tier: Tier,
        severity: Severity,
        good: int,
        total: int,
        what: str,
        location: str | None = None,
        missing: list[str] | None = None,
    ) -> CheckResult:
        """A partial check: credit = good/total (e.g. 5 of 6 required keywords present)."""
        if total == 0:
            return self.na(check_id, tier, severity, f"no {what} to check")
        credit = good / total
        outcome = Outcome.PASS if good == total else Outcome.FAIL
        extra = f"; missing: {', '.join(missing[:8])}" if missing else ""
        return self.add(
            check_id, tier, severity, outcome, f"{good}/{total} {what}{extra}", location, credit
        )

    @contextmanager
    def run(
        self, check_id: str, tier: Tier, severity: Severity, location: str | None = None
    ) -> Iterator[None]:
        started = time.monotonic()
        before = len(self.results)
        try:
            yield
        except Exception as exc:
            # Checks already recorded stand (they were decided before the failure). A reader
            # that cannot parse the file's structure (a container/transport check) is a
            # verdict on the file; any other exception is the checker's own failure and is
            # never presented as a defect of the file.
            tb = traceback.extract_tb(exc.__traceback__)
            where = f" at {tb[-1].name}:{tb[-1].lineno}" if tb else ""
            unreadable = tier in (Tier.TRANSPORT, Tier.CONTAINER) and isinstance(exc, READ_ERRORS)
            message = " ".join(str(exc).split())[:600]
            self.add(
                check_id,
                tier,
                severity,
                Outcome.FAIL if unreadable else Outcome.ERROR,
                f"cannot read: {type(exc).__name__}: {message}"
                if unreadable
                else f"checker failed: {type(exc).__name__}: {message}{where}",
                location,
                duration_ms=(time.monotonic() - started) * 1000,
            )
        else:
            for r in self.results[before:]:
                if not r.duration_ms:
                    r.duration_ms = round((time.monotonic() - started) * 1000, 3)


#: Exceptions a format reader raises on bytes it cannot parse (as opposed to our own bugs:
#: TypeError, AttributeError, NameError, AssertionError... stay checker errors).
READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    IndexError,
    UnicodeDecodeError,
    struct.error,
    zlib.error,
    csv.Error,
    ElementTree.ParseError,
)


def looks_like_html(head: bytes) -> bool:
    sniff = head.lstrip()[:512].lower()
    return sniff.startswith(HTML_MARKERS) or (sniff.startswith(b"<?xml") and b"<html" in sniff)
