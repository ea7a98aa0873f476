"""What changed upstream, as one crawl of an archive sees it (``capture diff``, ``--update``).

The register stage reports every listed file with the decision the catalog's one decision
engine made (:mod:`capture.catalog.decide`); the metadata stage settles the files that needed
the server's word (HTTP validators only); at the end of the crawl the catalog rows of the
archive that the discovery did not list are the files gone upstream, but only when the
discovery completed (no failed or truncated listing, not stopped early) and the spider can
tell which paths its arguments cover: a partial discovery never calls a file gone.

Each file is ``new``, ``changed`` (with the validators that differ: ``size``, ``digest``,
``listing_date``, ``etag``, ``last_modified``), ``unchanged``, ``pending`` (known but never
settled, failed, or its stored copy is missing: the next round fetches it too) or ``gone``.
Lists are sorted by path; unchanged files are counted, not listed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from capture.catalog.decide import Decision
from capture.items import CapturedFile
from capture.outcomes import crawl_outcome

CATEGORIES = ("new", "changed", "pending", "gone", "unchanged")
#: Decisions whose files the next round fetches although the listing did not change.
PENDING = {"resume": "unfinished", "retry": "failed before", "refetch": "stored copy missing"}


def diff_dir(root: Path, run_id: str) -> Path:
    """Where a crawl writes its archive's changes (one JSON file per spider)."""
    return root / "diffs" / run_id


class ChangeRecorder:
    """One crawl's view of its archive's changes; see the module docstring."""

    def __init__(self, spider: str) -> None:
        self.spider = spider
        self.seen: set[tuple[str, str]] = set()
        self.files: dict[str, list[dict[str, Any]]] = {c: [] for c in ("new", "changed", "pending")}
        self.unchanged_bytes = 0
        self.unchanged_files = 0
        self.repeats = 0  # files a listing named twice (paging that repeats itself)
        self._waiting: dict[int, dict[str, Any]] = {}  # conditional: the server decides

    # -- during the crawl ------------------------------------------------------------------
    def listed(
        self,
        item: CapturedFile,
        decision: Decision,
        previous: dict[str, Any] | None,
        *,
        redriven: bool = False,
    ) -> bool:
        """A file the register stage decided about (re-driven files are not a listing's);
        False when the listing named it before (counted in ``repeats``)."""
        if redriven:
            return True
        key = (item.archive, item.archive_path)
        if key in self.seen:
            self.repeats += 1
            return False
        self.seen.add(key)
        prev = previous or {}
        entry: dict[str, Any] = {
            "archive": item.archive,
            "path": item.archive_path,
            "bytes": item.expected_size,
            "previous_bytes": prev.get("size"),
        }
        kind = decision.kind
        if prev.get("state") == "retracted":
            # Listed again after an update round found it gone: back upstream.
            self._add("new", entry, reappeared=True, changed=list(decision.changed))
            return True
        if kind == "conditional":
            self._waiting[id(item)] = entry
        elif kind in ("unchanged", "duplicate"):
            self.unchanged_files += 1
            self.unchanged_bytes += int(item.expected_size or prev.get("size") or 0)
        elif kind == "changed":
            self._add("changed", entry, changed=list(decision.changed))
        elif kind in PENDING:
            self._add("pending", entry, why=PENDING[kind], state=prev.get("state"))
        else:
            self._add("new", entry)
        return True

    def settled(
        self, item: CapturedFile, previous: dict[str, Any] | None, http: dict[str, Any]
    ) -> None:
        """A file the server decided about (conditional): ``http`` holds the validators it
        answered with; unchanged when it said 304 or they equal the stored copy's."""
        entry = self._waiting.pop(id(item), None)
        if entry is None:
            return
        prev = previous or {}
        differ = [
            k for k in ("etag", "last_modified") if http.get(k) and http.get(k) != prev.get(k)
        ]
        if item.status == "unchanged" or not differ:
            self.unchanged_files += 1
            self.unchanged_bytes += int(prev.get("size") or 0)
        else:
            self._add("changed", entry, changed=differ)

    def _add(self, category: str, entry: dict[str, Any], **extra: Any) -> None:
        self.files[category].append({**entry, **extra})

    # -- at the end ------------------------------------------------------------------------
    def finish(
        self,
        archive: str,
        reason: str | None,
        stats: dict[str, Any],
        covers: Callable[[str], bool | None],
        rows: Callable[[int], list[dict[str, Any]]],
        max_gone_fraction: float,
    ) -> dict[str, Any]:
        """The archive's changes; ``rows(after_id)`` pages the archive's catalog rows (not
        retracted), ``covers(path)`` says whether this discovery's arguments list a path."""
        outcome, why = crawl_outcome(reason, stats)
        gone: list[dict[str, Any]] = []
        known = 0
        gone_checked, gone_why = False, None
        if outcome != "completed" or self._waiting:
            gone_why = f"discovery {outcome}{f': {why}' if why else ''}"
        else:
            gone_checked = True
            after = 0
            while page := rows(after):
                for row in page:
                    after = row["id"]
                    known += 1
                    path = row["archive_path"]
                    if (archive, path) in self.seen:
                        continue
                    scope = covers(path)
                    if scope is None:
                        gone_checked, gone_why = False, "the spider's arguments narrow its scope"
                        gone = []
                        break
                    if scope:
                        gone.append(_gone_entry(archive, row))
                if not gone_checked:
                    break
        held = bool(gone) and known > 0 and len(gone) > max_gone_fraction * known
        if held:
            gone_why = (
                f"{len(gone)} of {known} known files unlisted: more than "
                f"CAPTURE_RETRACT_MAX_FRACTION ({max_gone_fraction:g}); not retracted"
            )
        return {
            "archive": archive,
            "spider": self.spider,
            "outcome": outcome,
            "why": why,
            "gone_checked": gone_checked,
            "gone_held": held,
            "gone_why": gone_why,
            "repeats": self.repeats,
            "unchanged": {"files": self.unchanged_files, "bytes": self.unchanged_bytes},
            "files": {
                **{c: sorted(v, key=_order) for c, v in self.files.items()},
                "gone": sorted(gone, key=_order),
            },
        }


def _gone_entry(archive: str, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "archive": archive,
        "path": row["archive_path"],
        "bytes": row.get("size") if row.get("size") is not None else row.get("expected_size"),
        "state": row["state"],
        "last_seen_at": row.get("last_seen_at") or row.get("updated_at"),
        "last_seen_run": row.get("last_run"),
        "id": row["id"],
    }


def _order(entry: dict[str, Any]) -> tuple[str, str]:
    return (entry["archive"], entry["path"])


def write(root: Path, run_id: str, report: dict[str, Any]) -> Path:
    """Write one spider's changes under ``<root>/diffs/<run_id>/`` (inside the data root)."""
    target = diff_dir(root, run_id)
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{report['spider']}.json"
    public = {
        **report,
        "files": {c: [_public(e) for e in v] for c, v in report["files"].items()},
    }
    path.write_text(json.dumps(public, indent=1, sort_keys=True) + "\n")
    return path


def _public(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != "id"}
