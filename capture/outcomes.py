"""How a crawl, an archive, a domain and a run end, and the exit codes that say so.

One vocabulary for the crawl command, ``capture run``, reports and ``capture status``:

* ``completed``: every discovered file settled as stored, unchanged, planned or quarantined
  (quarantined files are captured and held for review; they raise alerts, not the status);
* ``partial``: the crawl ended early (budget, Ctrl-C, disk full) or some files or listings
  failed;
* ``failed``: nothing settled well (every attempted download failed, or the disk filled before
  any file was stored) or the crawl crashed;
* ``unreachable``: the archive could not be reached at all (DNS, refused, TLS, timeouts on
  its first requests); its files stay ``discovered`` for ``--resume``;
* ``skipped``: not run by design, with the reason (e.g. no confirmed public location).
"""

from __future__ import annotations

import errno
from typing import Any

from capture.status import FileStatus, status_counts

#: Outcomes that let a run say ``finished``.
GOOD = frozenset({"completed", "skipped"})

EXIT_OK = 0
EXIT_ERROR = 1  # crashed (a bug, or an environment problem before anything ran)
EXIT_USAGE = 2  # bad command line, config or spider argument: nothing ran
EXIT_PARTIAL = 3  # some archives completed, others partial/unreachable/failed, or budget stop
EXIT_FAILED = 4  # nothing was captured: every archive failed or was unreachable
EXIT_INTERRUPTED = 130  # stopped by Ctrl-C / SIGTERM; resume with --resume RUN_ID

#: Close reason of a crawl stopped because the data root (or the catalog's disk) is full.
DISK_FULL = "disk_full"
_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
#: How a disk-full error reads once it has been flattened into a string (``item.error``):
#: strerror of ENOSPC/EDQUOT and SQLite's SQLITE_FULL message.
_DISK_FULL_TEXT = (
    "[Errno 28]",
    "[Errno 122]",
    "No space left on device",
    "Disk quota exceeded",
    "database or disk is full",
)
SQLITE_FULL = 13


def is_disk_full(error: BaseException | str | None) -> bool:
    """True for ENOSPC/EDQUOT and SQLITE_FULL, however wrapped.

    Walks ``__cause__``/``__context__`` (LocalStorageError from OSError, SQLAlchemy's
    OperationalError from sqlite3's) and SQLAlchemy's ``.orig``; strings are matched on the
    messages those errors print, for errors already flattened into ``item.error``.
    """
    if error is None:
        return False
    if isinstance(error, str):
        return any(text in error for text in _DISK_FULL_TEXT)
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        exc = todo.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
            return True
        if getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL:
            return True
        if type(exc).__name__ == "OperationalError" and "database or disk is full" in str(exc):
            return True
        todo += [exc.__cause__, exc.__context__, getattr(exc, "orig", None)]
    return False


def crawl_outcome(reason: str | None, stats: dict[str, Any]) -> tuple[str, str | None]:
    """(outcome, why) of one spider's crawl from its close reason and its stats."""
    c = status_counts(stats)
    stored = c[FileStatus.STORED] + c[FileStatus.UNCHANGED]
    planned, quarantined, failed = (
        c[FileStatus.PLANNED],
        c[FileStatus.QUARANTINED],
        c[FileStatus.FAILED],
    )
    listing_failed = sum(
        int(v or 0) for k, v in stats.items() if k.endswith("/listing_failed") and v
    )
    # Discovery stopped by a bound or a broken paging: files may be missing.
    truncated = sum(int(v or 0) for k, v in stats.items() if k.endswith("/listing_truncated") and v)
    if reason == "skipped":
        return "skipped", stats.get("capture/skipped_reason") or "skipped by design"
    if reason == "unreachable":
        return "unreachable", stats.get("capture/unreachable_reason") or "archive unreachable"
    if reason in (None, "running", "not_started"):
        return "failed", "the crawl did not start or did not end"
    good = stored + planned + quarantined
    problems = []
    if failed:
        problems.append(f"{failed} file(s) failed")
    if listing_failed:
        problems.append(f"{listing_failed} listing request(s) failed")
    if truncated:
        problems.append(f"{truncated} listing(s) truncated by a bound (see the log's WARNING)")
    if reason not in ("finished",):
        if reason == "budget_exhausted":
            problems.append(stats.get("capture/budget/stop_reason") or "budget exhausted")
        elif reason == DISK_FULL:
            problems.append(stats.get("capture/disk_full/reason") or "disk full")
        elif reason == "shutdown":
            problems.append("interrupted (Ctrl-C)")
        else:
            problems.append(f"crawl ended with {reason!r}")
    if not problems:
        if good == 0:
            return "completed", "nothing to capture (the archive listed no files in scope)"
        return "completed", None
    if good == 0 and (failed or listing_failed or reason not in ("finished", "shutdown")):
        if reason in ("budget_exhausted", "shutdown"):
            return "partial", "; ".join(problems)
        return "failed", "; ".join(problems)
    return "partial", "; ".join(problems)


def combine(outcomes: list[str]) -> str:
    """A domain's (or run's) outcome from its archives' outcomes."""
    if not outcomes:
        return "skipped"
    if all(o == "skipped" for o in outcomes):
        return "skipped"
    if all(o in GOOD for o in outcomes):
        return "completed"
    if all(o in ("failed", "unreachable", "skipped") for o in outcomes):
        return "unreachable" if "unreachable" in outcomes and "failed" not in outcomes else "failed"
    return "partial"


def exit_code_for(status: str) -> int:
    return {
        "finished": EXIT_OK,
        "partial": EXIT_PARTIAL,
        "budget_exhausted": EXIT_PARTIAL,
        DISK_FULL: EXIT_PARTIAL,
        "failed": EXIT_FAILED,
        "interrupted": EXIT_INTERRUPTED,
    }.get(status, EXIT_ERROR)


def crawler_stats(crawler: Any) -> dict[str, Any]:
    """A crawler's stats, or ``{}`` for a crawler that never started (Scrapy 2.19 raises
    ``RuntimeError: Crawler.stats is not set yet`` on access)."""
    try:
        stats = crawler.stats
    except (RuntimeError, AttributeError):
        return {}
    return stats.get_stats() if stats is not None else {}
