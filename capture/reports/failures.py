"""End-of-run failure report: every failed or quarantined file of a run, grouped by cause,
with the archive's own message and what to do about it.

Causes are classified from the error text the transfer and quality stages record
(``files.error``): the classes are few and stable so a reader can act on a group at once
(retry later, check credentials, report to the archive, review the quarantine).
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select

from capture.catalog import Catalog
from capture.catalog.schema import events, files
from capture.status import PROBLEMS, FileStatus

#: (cause, pattern on the recorded error, what to do). First match wins.
CAUSES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "fixity",
        re.compile(r"^fixity:"),
        "the stored copy changed or vanished after capture (found by `capture verify`): "
        "check the disk or bucket, then `capture verify --requeue` or `capture retry "
        "--failed --cause fixity` fetches it again as a new version",
    ),
    (
        "unreachable",
        re.compile(r"unreachable|DNS|resolve|refused|No route|SSL|TLS|certificate", re.I),
        "the archive could not be reached: check the network, base_url and the archive's "
        "status page, then `capture run --resume RUN_ID`",
    ),
    (
        "auth",
        re.compile(r"HTTP 40[13]\b|unauthori[sz]ed|forbidden|token|API key", re.I),
        "access refused: check the credentials in the environment (e.g. MAST_API_TOKEN) "
        "and that the data is public",
    ),
    (
        "not_found",
        re.compile(r"HTTP 404\b|HTTP 410\b|not found", re.I),
        "listed but not served: report to the archive (a stale listing or a retracted file)",
    ),
    (
        "rate_limited",
        re.compile(r"HTTP 429\b|too many requests|rate", re.I),
        "the archive throttled us: retry later with a larger rate_limit_delay",
    ),
    (
        "server_error",
        re.compile(r"HTTP 5\d\d\b|Service Unavailable|Bad Gateway", re.I),
        "the archive failed to serve the file: retry later; report to the archive if it persists",
    ),
    (
        "checksum_mismatch",
        re.compile(r"checksum|digest|md5|sha256|size mismatch|mismatch", re.I),
        "the bytes did not match the archive's published size or digest twice: report to "
        "the archive (corrupt copy or stale manifest)",
    ),
    (
        "interrupted",
        re.compile(r"timed out|timeout|stall|interrupted|connection lost|reset|short body", re.I),
        "the transfer kept breaking off: retry (partial data is kept and resumed)",
    ),
    (
        "quality",
        re.compile(r"quality|score|quarantin|inspect|truncat|not a valid|invalid", re.I),
        "captured but below the quality threshold: review the quarantined file and its "
        "reasons (`capture quality report RUN_ID`)",
    ),
    (
        "local_storage",
        re.compile(r"No space|Permission denied|disk|OSError", re.I),
        "writing to the data root failed: free space or fix permissions, then resume",
    ),
)
OTHER = "look at the file's error and the run log"


def classify(status: str, error: str | None) -> tuple[str, str]:
    text = error or ""
    for cause, pattern, advice in CAUSES:
        if pattern.search(text):
            return cause, advice
    if status == FileStatus.QUARANTINED:
        return "quality", dict((c, a) for c, _, a in CAUSES)["quality"]
    return "other", OTHER


def failure_report(catalog: Catalog, run_id: str, examples: int = 20) -> dict[str, Any]:
    """``{"total": N, "groups": [{cause, status, archive, count, advice, files: [...]}]}``
    for the files of ``run_id`` whose outcome was failed or quarantined."""
    q = (
        select(
            files.c.archive,
            files.c.domain,
            files.c.archive_path,
            files.c.url,
            files.c.error,
            files.c.state,
            events.c.detail,
        )
        .join(files, files.c.id == events.c.file_id)
        .where(events.c.run_id == run_id, events.c.kind == "outcome")
        .order_by(files.c.archive, files.c.archive_path)
    )
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    total = 0
    with catalog.engine.connect() as conn:
        for archive, domain, path, url, error, state, detail in conn.execute(q):
            detail = detail if isinstance(detail, dict) else json.loads(detail or "{}")
            status = detail.get("status", state)
            if status not in PROBLEMS or state not in PROBLEMS:
                continue  # later settled (e.g. stored on a resume of the same run)
            total += 1
            message = detail.get("error") or error
            cause, advice = classify(status, message)
            group = groups.setdefault(
                (archive, cause, status),
                {
                    "archive": archive,
                    "domain": domain,
                    "cause": cause,
                    "status": status,
                    "advice": advice,
                    "count": 0,
                    "files": [],
                },
            )
            group["count"] += 1
            if len(group["files"]) < examples:
                group["files"].append({"path": path, "url": url, "message": message})
    ordered = sorted(groups.values(), key=lambda g: (-g["count"], g["archive"], g["cause"]))
    return {"total": total, "groups": ordered}
