"""The software_ops dataset: a run's own logs, catalog snapshot and reports, captured into the
data root as files with digests and catalog rows (domain ``software_ops``, archive
``capture_ops``), so every round is self-describing.

``capture ops-bundle RUN_ID`` writes ``<root>/software_ops/capture_ops/<run_id>/``; ``capture
run`` calls it at the end of every run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from capture.__version__ import __version__
from capture.catalog import Catalog
from capture.catalog.schema import events, files, quality_checks, runs
from capture.formats import guess_format
from capture.transfer.sink import fsync_dir

ARCHIVE = "capture_ops"
DOMAIN = "software_ops"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _export_catalog(catalog: Catalog, run_id: str, dest: Path) -> None:
    """A portable snapshot (JSON lines per table) of everything this run touched."""
    with catalog.engine.connect() as conn, open(dest, "w") as out:
        run_rows = conn.execute(select(runs).where(runs.c.run_id.like(f"{run_id}%"))).mappings()
        for row in run_rows:
            out.write(json.dumps({"table": "runs", **dict(row)}, default=str) + "\n")
        ids = [
            r[0]
            for r in conn.execute(
                select(events.c.file_id).where(events.c.run_id == run_id).distinct()
            )
        ]
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            for row in conn.execute(select(files).where(files.c.id.in_(chunk))).mappings():
                out.write(json.dumps({"table": "files", **dict(row)}, default=str) + "\n")
        for row in conn.execute(select(events).where(events.c.run_id == run_id)).mappings():
            out.write(json.dumps({"table": "events", **dict(row)}, default=str) + "\n")
        for row in conn.execute(
            select(quality_checks).where(quality_checks.c.run_id == run_id)
        ).mappings():
            out.write(json.dumps({"table": "quality_checks", **dict(row)}, default=str) + "\n")


def sources(root: Path, run_id: str) -> list[tuple[str, Path]]:
    """(name in bundle, source file) for every artefact of the run that exists."""
    found: list[tuple[str, Path]] = []
    for name in ("first_round_data_capture.log",):
        if (root / name).is_file():
            found.append((name, root / name))
    for sub in ("acquisition_logs", "feeds"):
        base = root / sub / run_id
        if base.is_dir():
            found += [
                (f"{sub}/{p.relative_to(base)}", p) for p in sorted(base.rglob("*")) if p.is_file()
            ]
    for sub, pattern in (
        ("reports", f"{run_id}.*"),
        ("performance_metrics", f"{run_id}*"),
        ("quality_reports", f"quality_{run_id}_*"),
    ):
        base = root / sub
        if base.is_dir():
            found += [(f"{sub}/{p.name}", p) for p in sorted(base.glob(pattern)) if p.is_file()]
    state = root / "checkpoints" / run_id / "run.json"
    if state.is_file():
        found.append(("run.json", state))
    return found


def bundle(catalog: Catalog, root: Path, run_id: str) -> list[dict[str, Any]]:
    root = root.resolve()
    dest_rel = f"{DOMAIN}/{ARCHIVE}/{run_id}"
    dest = root / dest_rel
    dest.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[str, Path]] = []
    snapshot = dest / "catalog_snapshot.jsonl"
    tmp = snapshot.with_suffix(".jsonl.part")
    try:
        _export_catalog(catalog, run_id, tmp)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, snapshot)
    staged.append(("catalog_snapshot.jsonl", snapshot))
    for name, src in sources(root, run_id):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        try:
            shutil.copyfile(src, part)
            with open(part, "rb+") as fh:
                os.fsync(fh.fileno())
        except OSError:
            part.unlink(missing_ok=True)  # no half copy left in the published tree
            raise
        os.replace(part, target)
        staged.append((name, target))
    fsync_dir(dest)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    records = []
    manifest_lines = []

    def record(name: str, path: Path) -> dict[str, Any]:
        digest = _sha256(path)
        size = path.stat().st_size
        return {
            "archive": ARCHIVE,
            "domain": DOMAIN,
            "url": path.as_uri(),
            "archive_path": f"{run_id}/{name}",
            "path": f"{dest_rel}/{name}",
            "size": size,
            "sha256": digest,
            "format": guess_format(name) or "text",
            "status": "stored",
            "run_id": run_id,
            "retrieved_at": now,
            "spider": "ops-bundle",
            "checksum": {
                "algorithm": None,
                "expected": None,
                "actual": None,
                "source": None,
                "verified": None,
            },
            "http": {"etag": None, "last_modified": None, "final_url": None},
            "quality": None,
            "metadata": {"bundle": run_id, "capture_version": __version__},
        }

    for name, path in staged:
        item = record(name, path)
        manifest_lines.append(f"{item['sha256']}  {name}")
        records.append(item)
    manifest = dest / "manifest-sha256.txt"
    manifest.write_text("\n".join(manifest_lines) + "\n")
    # The manifest is part of the bundle too: cataloged like its files, so a fixity audit
    # (capture verify) finds no uncatalogued file in the published tree.
    records.append(record(manifest.name, manifest))
    with catalog.engine.begin() as conn:
        regs = catalog.register(
            conn,
            [
                {
                    "archive": r["archive"],
                    "archive_path": r["archive_path"],
                    "domain": r["domain"],
                    "url": r["url"],
                    "path": r["path"],
                    "expected_size": r["size"],
                    "format": r["format"],
                    "spider": "ops-bundle",
                    "capture_version": __version__,
                    "last_run": f"{run_id}:ops",
                    "item": r,
                }
                for r in records
            ],
        )
        for reg, r in zip(regs, records, strict=True):
            catalog.finish(
                conn,
                reg.file_id,
                {
                    "state": "stored",
                    "size": r["size"],
                    "sha256": r["sha256"],
                    "format": r["format"],
                    "retrieved_at": now,
                    "last_run": run_id,
                    "item": r,
                    "file_metadata": r["metadata"],
                },
                [{"kind": "outcome", "status": "stored", "size": r["size"], "sha256": r["sha256"]}],
                run_id,
            )
    return records
