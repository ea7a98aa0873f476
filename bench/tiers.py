"""``python -m bench tiers``: ``capture storage plan`` over a catalog of N files (1,000,000).

Fills the catalog fast (SQLite: DB-API ``executemany`` of tuples in one transaction per
100k rows; PostgreSQL: ``COPY``) with a realistic mix (sizes log-uniform 1 KiB-16 GiB, files
retrieved up to 400 days ago, a third read since, some retracted, most with a publisher
digest), then times the plan (one aggregate scan) and a dry-run page of apply candidates.
Target: the plan in seconds.
"""

from __future__ import annotations

import json
import math
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from capture.catalog import Catalog
from capture.config import CaptureSettings
from capture.storage.plan import make_plan
from capture.storage.tiers import Policy

COLUMNS = (
    "id",
    "archive",
    "archive_path",
    "domain",
    "url",
    "path",
    "state",
    "size",
    "sha256",
    "digest_expected",
    "retrieved_at",
    "first_seen_at",
    "last_seen_at",
    "last_accessed_at",
    "attempts",
    "resumes",
    "bytes_transferred",
    "version",
    "item",
)
BATCH = 100_000


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def rows(start: int, n: int, rng: random.Random, now: datetime) -> Iterator[tuple[Any, ...]]:
    """Synthetic held files ``start .. start+n-1`` as tuples in :data:`COLUMNS` order."""
    for i in range(start, start + n):
        archive = f"archive{i % 10}"
        path = f"bench/{i // 1000:05d}/f{i:08d}.dat"
        size = int(math.exp(rng.uniform(math.log(1024), math.log(16 * 1024**3))))
        retrieved = now - timedelta(days=rng.uniform(0, 400))
        accessed = (
            _iso(retrieved + (now - retrieved) * rng.random()) if rng.random() < 0.33 else None
        )
        retracted = rng.random() < 0.03
        seen = now - timedelta(days=rng.uniform(0, 120)) if not retracted else retrieved
        yield (
            i + 1,
            archive,
            path,
            "astronomy",
            f"https://{archive}.example.org/{path}",
            f"astronomy/{archive}/{path}",
            "retracted" if retracted else "stored",
            size,
            f"{rng.getrandbits(256):064x}",
            f"{rng.getrandbits(128):032x}" if rng.random() < 0.8 else None,
            _iso(retrieved),
            _iso(retrieved),
            _iso(seen),
            accessed,
            1,
            0,
            size,
            1,
            "{}",
        )


def fill(catalog: Catalog, n: int, seed: int = 7, now: datetime | None = None) -> float:
    """Insert ``n`` synthetic files; returns the seconds it took."""
    rng, now = random.Random(seed), now or datetime.now(UTC)
    started = time.perf_counter()
    cols = ", ".join(COLUMNS)
    with catalog.engine.begin() as conn:
        raw: Any = conn.connection.driver_connection
        for start in range(0, n, BATCH):
            batch = rows(start, min(BATCH, n - start), rng, now)
            if conn.dialect.name == "postgresql":
                with raw.cursor().copy(f"COPY files ({cols}) FROM STDIN") as copy:
                    for r in batch:
                        copy.write_row(r)
            else:
                marks = ", ".join("?" * len(COLUMNS))
                raw.cursor().executemany(f"INSERT INTO files ({cols}) VALUES ({marks})", batch)
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT setval('files_id_seq', (SELECT max(id) FROM files))"))
    with catalog.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


def run(records: int = 1_000_000, url: str | None = None, workdir: Path | None = None) -> Any:
    tmp = Path(tempfile.mkdtemp(prefix="capture-tiers-bench-", dir=workdir))
    catalog = Catalog(url or f"sqlite:///{tmp / 'catalog.sqlite'}")
    try:
        fill_s = fill(catalog, records)
        result: dict[str, Any] = {
            "records": records,
            "backend": catalog.engine.dialect.name,
            "fill_seconds": round(fill_s, 2),
            "fill_rate_per_s": round(records / fill_s),
        }
        config = CaptureSettings.from_settings()
        for remote in (False, True):
            policy = Policy.from_config(config, remote=remote)
            times = []
            for _ in range(3):
                plan = make_plan(catalog, policy, store="bench")
                times.append(plan.seconds)
            doc = plan.to_dict()
            result["s3" if remote else "local"] = {
                "plan_seconds_median": round(sorted(times)[1], 3),
                "plan_seconds_all": [round(t, 3) for t in times],
                "tiers": doc["tiers"],
                "apply_moves": doc["apply_moves"],
            }
        return result
    finally:
        catalog.close()
        for p in tmp.iterdir():
            p.unlink()
        tmp.rmdir()


def main(args: Any) -> int:
    result = run(args.records, args.catalog_url, args.workdir)
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0
