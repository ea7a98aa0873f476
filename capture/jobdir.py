"""A JOBDIR that Scrapy left unreadable is set aside, not a crash on every resume.

Scrapy writes ``requests.queue/active.json`` and ``spider.state`` when a crawl closes, in place
and without fsync: a full disk (or a kill during the close) leaves them empty or cut, and every
later start fails in the scheduler with ``JSONDecodeError`` (or in SpiderState with an
unpickling error). The catalog survives anything, so the crawl can always start over from it:
the files it still has ``discovered`` are re-driven and listings are asked again. So an
unreadable JOBDIR is renamed ``<jobdir>.unreadable-<UTC time>`` (kept for a post-mortem) and a
fresh one started that keeps the run id (the resumed run stays the same run).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from datetime import UTC, datetime
from pathlib import Path

from capture.context import RUN_ID_FILE

logger = logging.getLogger(__name__)


def unreadable_parts(jobdir: Path) -> list[str]:
    """The JOBDIR files Scrapy would fail to load (empty list: it loads)."""
    problems = []
    active = jobdir / "requests.queue" / "active.json"
    if active.exists():
        try:
            json.loads(active.read_text())
        except (ValueError, OSError):
            problems.append("requests.queue/active.json")
    state = jobdir / "spider.state"
    if state.exists():
        try:
            with state.open("rb") as fh:
                pickle.load(fh)
        except Exception:
            problems.append("spider.state")
    return problems


def set_aside_if_unreadable(jobdir: str | os.PathLike[str] | None) -> Path | None:
    """Move an unreadable JOBDIR aside (keeping its run id in a fresh one); where it went."""
    if not jobdir:
        return None
    path = Path(jobdir)
    problems = unreadable_parts(path) if path.is_dir() else []
    if not problems:
        return None
    run_id_file = path / RUN_ID_FILE
    run_id = run_id_file.read_text() if run_id_file.is_file() else ""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.unreadable-{stamp}")
    os.replace(path, target)
    path.mkdir(parents=True)
    if run_id.strip():
        (path / RUN_ID_FILE).write_text(run_id)
    logger.warning(
        "JOBDIR %s could not be loaded (%s cut short, e.g. by a full disk or a kill while "
        "Scrapy saved it): set aside as %s; starting afresh from the catalog, which re-drives "
        "every file not yet stored",
        path,
        ", ".join(problems),
        target,
    )
    return target
