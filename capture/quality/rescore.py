"""``capture quality rescore``: score stored files again after scorers improve, from disk.

Nothing is downloaded. Each file gets a new set of check rows (history is kept), its summary
is updated, and a file that now falls below the threshold is moved to quarantine like a
freshly captured one would be (unless ``apply_quarantine`` is off).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from capture.catalog import Catalog
from capture.catalog.schema import files
from capture.catalog.store import utcnow
from capture.paths import DataRoot
from capture.quality.runner import QualityRunner
from capture.quality.scorers.base import ScoreContext
from capture.runids import new_run_id
from capture.settings import CAPTURE_NASA_GRADE_THRESHOLD as NASA_GRADE_THRESHOLD
from capture.settings import CAPTURE_QUALITY_THRESHOLD as QUALITY_THRESHOLD
from capture.storage import LocalStore
from capture.storage import codec as codecs


@dataclass
class RescoreResult:
    run_id: str
    grades: Counter[str] = field(default_factory=Counter)
    changed: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def rescore(
    catalog: Catalog,
    root: Path,
    *,
    archive: str | None = None,
    quality: float = QUALITY_THRESHOLD,
    nasa: float = NASA_GRADE_THRESHOLD,
    apply_quarantine: bool = True,
    runner: QualityRunner | None = None,
    budget: float = 30.0,
) -> RescoreResult:
    data = DataRoot.at(root)
    store = LocalStore(data)
    runner = runner or QualityRunner(mode="process", workers=2)
    result = RescoreResult(run_id=new_run_id("rescore"))
    q = select(files).where(files.c.state == "stored")
    if archive:
        q = q.where(files.c.archive == archive)
    with catalog.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(q.order_by(files.c.id)).mappings()]
    try:
        for row in rows:
            stored = codecs.location(row["path"], row.get("codec"))
            path = data.final(stored)
            if not path.is_file():
                result.missing.append(stored)
                continue
            # Scorers open real files: a file compressed at rest is decoded to scratch first.
            scratch = _decoded(data, path, row) if row.get("codec") else None
            ctx = ScoreContext(
                path=str(scratch or path),
                name=row["archive_path"],
                format=row["format"],
                archive=row["archive"],
                size=os.path.getsize(scratch or path),
                expected_size=row["expected_size"],
                digest_algorithm=row["digest_algorithm"],
                digest_verified=row["verified"],
                sha256=row["sha256"],
                length_verified=None,
                metadata=_json(row["file_metadata"]),
                budget_seconds=budget,
            )
            try:
                report = runner.score_sync(ctx, quality, nasa)
            finally:
                if scratch is not None:
                    scratch.unlink(missing_ok=True)
            before = (_json(row["quality"]) or {}).get("grade")
            summary = {
                **report.summary(),
                "scorer": report.scorer,
                "weighted_score": report.weighted_score,
                "gated": report.gated,
                "checks": len(report.checks),
                "rescored_at": utcnow(),
                "thresholds": {"quality": quality, "nasa_grade": nasa},
            }
            values: dict[str, Any] = {
                "quality": summary,
                "updated_at": utcnow(),
                "grade": report.grade,
                "score": report.score,
            }
            if report.grade == "quarantined" and apply_quarantine:
                target = store.quarantine(
                    str(path),
                    stored,
                    {
                        "archive": row["archive"],
                        "archive_path": row["archive_path"],
                        "reasons": report.reasons(),
                        "rescore_run": result.run_id,
                    },
                )
                values.update(
                    state="quarantined",
                    error=f"rescore: {'; '.join(report.reasons(3))} "
                    f"[quarantined at {store.recorded(target)}]",
                )
            with catalog.engine.begin() as conn:
                conn.execute(update(files).where(files.c.id == row["id"]).values(**values))
                catalog.record_quality(conn, row["id"], result.run_id, report.to_dict())
            result.grades[report.grade] += 1
            if before != report.grade:
                result.changed.append(
                    {
                        "archive_path": row["archive_path"],
                        "from": before,
                        "to": report.grade,
                        "score": report.score,
                    }
                )
    finally:
        runner.close()
    return result


def _decoded(data: DataRoot, path: Path, row: dict[str, Any]) -> Path:
    """The original bytes of an encoded file in the private scratch area (bounded memory)."""
    scratch = data.internal / "scratch" / f"rescore-{row['id']}"
    scratch.parent.mkdir(parents=True, exist_ok=True)
    with codecs.open_original(path, row["codec"]) as src, open(scratch, "wb") as dst:
        while chunk := src.read(4 << 20):
            dst.write(chunk)
    return scratch


def _json(value: Any) -> Any:
    if value is None or isinstance(value, dict):
        return value or {}
    return json.loads(value)
