"""Failure triage across runs: every file whose catalog state is failed or quarantined now,
grouped by cause and archive, with its attempt history and how many runs in a row it ended
badly.

The per-run report (capture.reports.failures) answers "what went wrong in this run"; triage
answers "what is still broken and what to do about it", so a file that keeps failing is told
apart (``needs_attention``) from one that a retry will most likely fix. Everything is read from
the catalog's ``files`` and ``events`` tables: no new bookkeeping.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from capture.catalog import Catalog
from capture.catalog.schema import events, files
from capture.reports.failures import classify
from capture.status import PROBLEMS, FileStatus

#: Event kinds that make up a file's attempt history (others, e.g. dedup, say nothing of it).
HISTORY_KINDS = ("attempt", "restart", "resume", "outcome", "requeued")
CHUNK = 500


def triage(
    catalog: Catalog,
    *,
    archive: str | None = None,
    cause: str | None = None,
    attention_rounds: int = 3,
) -> dict[str, Any]:
    """``{"total", "needs_attention", "attention_rounds", "groups": [...]}``: the files whose
    current state is failed or quarantined, one group per (cause, archive); groups and files
    that need attention first."""
    q = select(
        files.c.id,
        files.c.archive,
        files.c.domain,
        files.c.spider,
        files.c.archive_path,
        files.c.url,
        files.c.state,
        files.c.error,
    ).where(files.c.state.in_(PROBLEMS))
    if archive:
        q = q.where(files.c.archive == archive)
    with catalog.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(q.order_by(files.c.id)).mappings()]
        history = _histories(conn, [r["id"] for r in rows])
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        file_cause, advice = classify(row["state"], row["error"])
        if cause and file_cause != cause:
            continue
        events_of = history.get(row["id"], [])
        rounds = consecutive_problem_runs(events_of)
        entry = {
            "id": row["id"],
            "path": row["archive_path"],
            "url": row["url"],
            "spider": row["spider"] or row["archive"],
            "state": row["state"],
            "cause": file_cause,
            "error": row["error"],
            "rounds": rounds,
            "needs_attention": attention_rounds > 0 and rounds >= attention_rounds,
            "history": [_history_entry(e) for e in events_of],
        }
        group = groups.setdefault(
            (file_cause, row["archive"]),
            {
                "cause": file_cause,
                "archive": row["archive"],
                "domain": row["domain"],
                "advice": advice,
                "count": 0,
                "needs_attention": 0,
                "files": [],
            },
        )
        group["count"] += 1
        group["needs_attention"] += entry["needs_attention"]
        group["files"].append(entry)
    for group in groups.values():
        group["files"].sort(key=lambda f: (not f["needs_attention"], -f["rounds"], f["path"]))
    ordered = sorted(
        groups.values(),
        key=lambda g: (-g["needs_attention"], -g["count"], g["cause"], g["archive"]),
    )
    return {
        "total": sum(g["count"] for g in ordered),
        "needs_attention": sum(g["needs_attention"] for g in ordered),
        "attention_rounds": attention_rounds,
        "groups": ordered,
    }


def consecutive_problem_runs(file_events: Iterable[dict[str, Any]]) -> int:
    """How many of the file's latest runs, in a row, ended failed or quarantined (a run's last
    outcome counts: a resume of the same run that stored the file settles that run)."""
    last: dict[str | None, str] = {}
    for e in file_events:
        if e["kind"] != "outcome":
            continue
        last.pop(e["run_id"], None)  # re-insert: runs ordered by their latest outcome
        last[e["run_id"]] = str(e["detail"].get("status"))
    rounds = 0
    for status in reversed(list(last.values())):
        if status not in PROBLEMS:
            break
        rounds += 1
    return rounds


def _histories(conn: Any, file_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each file's history events, oldest first (event ids are in recording order)."""
    out: dict[int, list[dict[str, Any]]] = {}
    for i in range(0, len(file_ids), CHUNK):
        q = (
            select(events.c.file_id, events.c.run_id, events.c.at, events.c.kind, events.c.detail)
            .where(events.c.file_id.in_(file_ids[i : i + CHUNK]), events.c.kind.in_(HISTORY_KINDS))
            .order_by(events.c.id)
        )
        for fid, run_id, at, kind, detail in conn.execute(q):
            detail = detail if isinstance(detail, dict) else json.loads(detail or "{}")
            out.setdefault(fid, []).append(
                {"run_id": run_id, "at": at, "kind": kind, "detail": detail}
            )
    return out


def _history_entry(e: dict[str, Any]) -> dict[str, Any]:
    """One line of history: when, what, the error class (a ``classify`` cause, None when the
    step went well) and the archive's (or our) message."""
    d, kind = e["detail"], e["kind"]
    status: Any = d.get("status")
    error_class: str | None = None
    message: str | None = None
    if kind == "outcome":
        message = d.get("error")
        if status in PROBLEMS:
            error_class = classify(status, message)[0]
    elif kind == "attempt":
        message = f"HTTP {status}" + (f" ({d['outcome']})" if d.get("outcome") else "")
        if isinstance(status, int) and status >= 400:
            error_class = classify(FileStatus.FAILED, f"HTTP {status}")[0]
        elif d.get("outcome") == "local_error":
            error_class = "local_storage"
    elif kind == "restart":
        message = f"restarted from byte 0: {d.get('reason')}"
        error_class = classify(FileStatus.FAILED, str(d.get("reason")))[0]
    elif kind == "resume":
        message = f"resumed at byte {d.get('offset')}"
    elif kind == "requeued":
        message = f"re-queued from {d.get('from')} ({d.get('cause')})"
    return {
        "at": e["at"],
        "run_id": e["run_id"],
        "kind": kind,
        "status": status,
        "error_class": error_class,
        "message": message,
    }
