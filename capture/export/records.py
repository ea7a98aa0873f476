"""Complete provenance records of catalog files (one query per table, not per file).

Each record maps without loss to a W3C PROV entity and an RO-Crate ``File``: content size,
format, both digests (ours and the publisher's, with its source), access time, content and
final URLs, HTTP validators, every transfer attempt and resume, the run, spider, software
version and git commit, the quality report and the version history.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from capture.catalog import Catalog
from capture.catalog.schema import events, file_versions, files, quality_checks, runs
from capture.catalog.search import Filters, build

CHUNK = 500


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def file_ids(catalog: Catalog, filters: Filters) -> list[int]:
    q = build(filters).with_only_columns(files.c.id).limit(None).offset(None)
    with catalog.engine.connect() as conn:
        return [r[0] for r in conn.execute(q)]


def records(catalog: Catalog, ids: list[int]) -> Iterator[dict[str, Any]]:
    with catalog.engine.connect() as conn:
        run_rows = {
            (r["run_id"], r["spider"]): dict(r) for r in conn.execute(select(runs)).mappings()
        }
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i : i + CHUNK]
            evs: dict[int, list[dict[str, Any]]] = defaultdict(list)
            for r in conn.execute(
                select(events).where(events.c.file_id.in_(chunk)).order_by(events.c.id)
            ).mappings():
                evs[r["file_id"]].append(
                    {
                        "at": r["at"],
                        "kind": r["kind"],
                        "run_id": r["run_id"],
                        **(_json(r["detail"]) or {}),
                    }
                )
            vers: dict[int, list[dict[str, Any]]] = defaultdict(list)
            for r in conn.execute(
                select(file_versions)
                .where(file_versions.c.file_id.in_(chunk))
                .order_by(file_versions.c.version)
            ).mappings():
                vers[r["file_id"]].append({k: v for k, v in dict(r).items() if k != "id"})
            checks: dict[int, list[dict[str, Any]]] = defaultdict(list)
            for r in conn.execute(
                select(quality_checks)
                .where(quality_checks.c.file_id.in_(chunk))
                .order_by(quality_checks.c.id)
            ).mappings():
                checks[r["file_id"]].append(
                    {k: v for k, v in dict(r).items() if k not in ("id", "file_id")}
                )
            for mapping in conn.execute(
                select(files).where(files.c.id.in_(chunk)).order_by(files.c.id)
            ).mappings():
                row = dict(mapping)
                fid = row["id"]
                run = run_rows.get((row["last_run"], row["spider"])) or {}
                latest = _latest(checks.get(fid, []))
                yield {
                    **{
                        k: _json(v) if k in ("quality", "file_metadata", "item", "citation") else v
                        for k, v in row.items()
                    },
                    "events": evs.get(fid, []),
                    "versions": vers.get(fid, []),
                    "quality_checks": latest,
                    "run": {
                        k: run.get(k)
                        for k in (
                            "run_id",
                            "spider",
                            "started_at",
                            "finished_at",
                            "capture_version",
                            "git_commit",
                            "hostname",
                        )
                    },
                }


def _latest(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not checks:
        return []
    last = max(c["scored_at"] for c in checks)
    return [c for c in checks if c["scored_at"] == last]
