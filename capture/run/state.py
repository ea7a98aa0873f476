"""What a run remembers about itself in ``<data root>/checkpoints/<run_id>/run.json``: its
options and each spider's outcome, so ``--resume RUN_ID`` continues exactly there."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from capture.catalog.store import utcnow


@dataclass
class RunState:
    run_id: str
    options: dict[str, Any]
    started_at: str = field(default_factory=utcnow)
    finished_at: str | None = None
    status: str = "running"
    reason: str | None = None
    spiders: dict[str, dict[str, Any]] = field(default_factory=dict)
    resumes: int = 0

    @staticmethod
    def directory(root: Path, run_id: str) -> Path:
        return root / "checkpoints" / run_id

    @classmethod
    def load(cls, root: Path, run_id: str) -> RunState | None:
        path = cls.directory(root, run_id) / "run.json"
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None

    def save(self, root: Path) -> None:
        d = self.directory(root, self.run_id)
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / "run.json.tmp"
        try:
            tmp.write_text(json.dumps(asdict(self), indent=2, default=str))
        except OSError:
            tmp.unlink(missing_ok=True)  # the last complete run.json stays
            raise
        os.replace(tmp, d / "run.json")

    def spider_done(self, name: str) -> bool:
        """Completed (or skipped by design) in an earlier attempt: a resume does not run it
        again. Partial, failed and unreachable archives run again; the catalog skips what
        they already verified."""
        entry = self.spiders.get(name, {})
        return entry.get("finish_reason") in ("finished", "skipped") and entry.get(
            "outcome", "completed"
        ) in ("completed", "skipped")
