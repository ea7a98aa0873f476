"""One audit: select, read back, compare, record; then look for extra files and, on request,
re-queue what was lost. Blocking and single-threaded (hashing uses a second thread for a
publisher digest); the rate limit is the politeness towards the disks or the bucket."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from capture.catalog.requeue import requeue
from capture.fixity.check import CHUNK, Throttle, check
from capture.fixity.expect import expected
from capture.fixity.extras import extras, tops
from capture.fixity.record import Verdict, record
from capture.fixity.results import PROBLEMS, Result
from capture.fixity.targets import FILE, Selection, targets
from capture.storage.base import Store

BATCH = 200  # verdicts per catalog transaction


def now() -> str:
    """Microseconds: an audit started within the same second as the last one still sees the
    rows that one verified as older than itself."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def stamp(iso: str) -> str:
    """``2026-12-02T10:15:00.123456+00:00`` -> ``20261202T101500.123456Z`` (ids, file names)."""
    return iso.replace("-", "").replace(":", "").replace("+0000", "Z")


@dataclass
class Options:
    selection: Selection
    #: Stop before the location that would take the audit past this many bytes (None: no cap).
    max_bytes: int | None = None
    #: Bytes per second (0: as fast as the store gives them).
    rate: float = 0.0
    #: Walk the published tree for files no row points to.
    extras: bool = True
    #: Limit the extras walk to these archives ({archive: domain}); else ``domains``.
    archives: dict[str, str] | None = None
    domains: tuple[str, ...] = ()
    #: Re-queue lost files (missing, quarantined) for the next crawl.
    requeue: bool = False
    publisher: bool = True
    #: Also decode bytes encoded at rest and check the archive's digests (CPU, not reads).
    deep: bool = False
    chunk_size: int = CHUNK


@dataclass
class Report:
    audit_id: str
    started: str
    counts: Counter[str] = field(default_factory=Counter)
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    problems: list[dict[str, Any]] = field(default_factory=list)
    #: "budget" (--max-gb reached) or "interrupted"; None when the selection was exhausted.
    stopped: str | None = None
    requeued: int = 0
    extras_checked: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds else 0.0

    def add(self, v: Verdict) -> None:
        self.files += 1
        self.bytes += v.finding.bytes_read
        self.counts[v.result.value] += 1
        if v.result in PROBLEMS:
            t = v.target
            self.problems.append(
                {
                    "result": v.result.value,
                    "location": t.location,
                    "archive": t.archive,
                    "file_id": t.file_id,
                    "kind": t.kind,
                    "message": v.finding.message,
                    "quarantined_at": v.quarantined_at,
                }
            )

    def add_extra(self, rel: str, size: int, kind: str) -> None:
        self.counts[Result.EXTRA.value] += 1
        message = f"{size} bytes, in no catalog row" + ("" if kind == "file" else f" ({kind})")
        self.problems.append(
            {"result": Result.EXTRA.value, "location": rel, "message": message, "size": size}
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "audit_id": self.audit_id,
            "started": self.started,
            "files": self.files,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "mb_per_s": round(self.mb_per_s, 1),
            "counts": dict(sorted(self.counts.items())),
            "stopped": self.stopped,
            "extras_checked": self.extras_checked,
            "requeued": self.requeued,
            "problems": self.problems,
        }


def audit(
    engine: Engine,
    store: Store,
    options: Options,
    on_verdict: Callable[[Verdict], None] | None = None,
) -> Report:
    """Run one audit; a Ctrl-C stops it cleanly (what was verified is recorded)."""
    sel = options.selection
    report = Report(audit_id=f"verify_{stamp(sel.started)}", started=sel.started)
    throttle = Throttle(options.rate)
    pending: list[Verdict] = []
    clock = time.monotonic()
    try:
        for target in targets(engine, sel):
            size = target.size or 0
            if (
                options.max_bytes is not None
                and report.files
                and (report.bytes + size > options.max_bytes)
            ):
                report.stopped = "budget"
                break
            expectation = expected(target, publisher=options.publisher, deep=options.deep)
            finding = check(store, target.location, expectation, throttle, options.chunk_size)
            verdict = Verdict(target, expectation, finding, now())
            if target.kind == FILE and finding.result in (Result.CORRUPT, Result.SIZE):
                _quarantine(store, verdict, report.audit_id)
            report.add(verdict)
            pending.append(verdict)
            if on_verdict is not None:
                on_verdict(verdict)
            if len(pending) >= BATCH:
                _flush(engine, pending, report.audit_id)
    except KeyboardInterrupt:
        report.stopped = "interrupted"
    finally:
        _flush(engine, pending, report.audit_id)
        report.seconds = time.monotonic() - clock
    if options.extras and report.stopped != "interrupted":
        report.extras_checked = True
        for obj in extras(engine, store, tops(options.domains, options.archives)):
            report.add_extra(obj.rel, obj.size, obj.kind)
    if options.requeue:
        lost = [(p["file_id"], "fixity") for p in report.problems if _lost(p)]
        with engine.begin() as conn:
            report.requeued = requeue(conn, lost)
    return report


def _lost(problem: dict[str, Any]) -> bool:
    if problem.get("kind") != FILE:
        return False
    return problem["result"] == Result.MISSING.value or bool(problem.get("quarantined_at"))


def _quarantine(store: Store, verdict: Verdict, audit_id: str) -> None:
    """Move corrupt published bytes aside; if the store refuses, they stay and the row is only
    marked (the report says why)."""
    t = verdict.target
    reason = {
        "reason": "fixity",
        "audit_id": audit_id,
        "archive": t.archive,
        "archive_path": t.archive_path,
        "detected_at": verdict.at,
        **verdict.finding.detail(verdict.expectation),
    }
    try:
        verdict.quarantined_at = store.recorded(store.quarantine_stored(t.location, reason))
    except Exception as exc:
        verdict.finding.message += f"; left in place: {type(exc).__name__}: {exc}"


def _flush(engine: Engine, pending: list[Verdict], audit_id: str) -> None:
    if pending:
        with engine.begin() as conn:
            record(conn, pending, audit_id)
        pending.clear()
