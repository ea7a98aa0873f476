"""The diff of a round: every archive's changes (capture/diff.py) in one stable document.

``capture diff --json`` prints it (schema: ``capture/schemas/diff.schema.json``)::

    {"run_id", "since", "status", "exit_code", "fingerprint",
     "totals": {"new"|"changed"|"pending"|"gone"|"unchanged": {"files", "bytes"}},
     "archives": [{"archive", "spider", "outcome", "why", "gone_checked", "gone_held",
                   "gone_why", "repeats", "retracted",
                   "counts": {<category>: {"files", "bytes"}},
                   "files": {"new"|"changed"|"pending"|"gone": [{"archive", "path", "bytes",
                             ...}]}}]}

Archives are sorted by name and files by path; nothing in ``archives``/``totals`` depends
on when the diff ran, so the same archive state gives the same document and the same
``fingerprint`` (sha256 of the canonical ``archives``): a scheduler compares fingerprints.
With ``since``, entries the earlier diff already listed identically are left out (counted as
``already_listed``): what changed since then.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from capture.diff import diff_dir

LISTED = ("new", "changed", "pending", "gone")
CATEGORIES = (*LISTED, "unchanged")


def load(root: Path, run_id: str) -> list[dict[str, Any]]:
    """The per-archive changes a diff or update run wrote (sorted by archive)."""
    folder = diff_dir(root, run_id)
    reports = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    return sorted(reports, key=lambda r: r["archive"])


def _key(category: str, entry: dict[str, Any]) -> str:
    return json.dumps([category, entry], sort_keys=True)


def assemble(
    run_id: str,
    reports: list[dict[str, Any]],
    since: str | None = None,
    earlier: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The round's diff document (module docstring); ``earlier``: the ``since`` run's."""
    seen = {_key(c, e) for r in earlier or () for c in LISTED for e in r["files"].get(c, ())}
    archives = []
    totals = {c: {"files": 0, "bytes": 0} for c in CATEGORIES}
    for report in reports:
        files = {c: [] for c in LISTED}  # type: dict[str, list[dict[str, Any]]]
        already = 0
        for c in LISTED:
            for entry in report["files"].get(c, ()):
                if _key(c, entry) in seen:
                    already += 1
                else:
                    files[c].append(entry)
        counts = {
            c: {"files": len(v), "bytes": sum(e["bytes"] or 0 for e in v)} for c, v in files.items()
        }
        counts["unchanged"] = dict(report["unchanged"])
        for c in CATEGORIES:
            totals[c]["files"] += counts[c]["files"]
            totals[c]["bytes"] += counts[c]["bytes"]
        entry = {
            k: report.get(k)
            for k in (
                "archive",
                "spider",
                "outcome",
                "why",
                "gone_checked",
                "gone_held",
                "gone_why",
                "repeats",
                "retracted",
            )
        }
        entry.update(counts=counts, files=files)
        if since is not None:
            entry["already_listed"] = already
        archives.append(entry)
    canonical = json.dumps(archives, sort_keys=True, separators=(",", ":"))
    return {
        "run_id": run_id,
        "since": since,
        "fingerprint": hashlib.sha256(canonical.encode()).hexdigest(),
        "totals": totals,
        "archives": archives,
    }


def changed_anything(document: dict[str, Any]) -> bool:
    """Whether the diff lists anything to fetch or retract."""
    return any(document["totals"][c]["files"] for c in LISTED)
