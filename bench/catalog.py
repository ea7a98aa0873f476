"""``python -m bench catalog``: a catalog of N synthetic records (default 1,000,000).

Measures the insert rate (bulk inserts in 10k-row transactions, as listings are registered)
and lookup latency, median and p99, for the queries scientists and the crawler run: by URL,
by sha256, by data-root path, and a multi-filter search (domain + state + grade + a Teff range
through ``file_params``) built by the same code as ``capture catalog search``. Targets: p99 <
1 ms for single-key lookups and < 50 ms for the filtered search (SQLite).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text

from capture.catalog import Catalog
from capture.catalog.schema import file_params, files
from capture.catalog.search import LOOKUPS, Filters, build

ARCHIVES = [
    ("nasa_exoplanet_archive", "astronomy"),
    ("phoenix", "astrophysics"),
    ("kurucz", "astrophysics"),
    ("jwst_mast", "spectroscopy"),
    ("psg", "spectroscopy"),
    ("rocke3d", "climate_science"),
    ("kegg", "astrobiology"),
    ("thousand_genomes", "genomics"),
    ("noaa_paleo", "geochemistry"),
    ("pds_gravity", "planetary_interior"),
]
STATES = ["stored"] * 90 + ["quarantined"] * 4 + ["failed"] * 3 + ["discovered"] * 3
GRADES = ["nasa_grade"] * 80 + ["accepted"] * 15 + ["quarantined"] * 5
BATCH = 10_000


def _rows(
    start: int, n: int, rng: random.Random
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows, params = [], []
    for i in range(start, start + n):
        archive, domain = ARCHIVES[i % len(ARCHIVES)]
        path = f"bench/{i // 1000:05d}/file_{i:08d}.dat"
        rows.append(
            {
                "id": i + 1,
                "archive": archive,
                "archive_path": path,
                "domain": domain,
                "url": f"https://{archive}.example.org/{path}",
                "path": f"{domain}/{archive}/{path}",
                "state": rng.choice(STATES),
                "format": rng.choice(("fits", "netcdf", "csv", "text")),
                "size": rng.randrange(1, 1 << 34),
                "sha256": f"{rng.getrandbits(256):064x}",
                "grade": rng.choice(GRADES),
                "score": rng.random(),
                "version": 1,
                "target": f"target{rng.randrange(5000)}",
                "attempts": 1,
                "resumes": 0,
                "bytes_transferred": 0,
                "item": {},
                "last_run": "bench_run",
            }
        )
        if archive == "phoenix":
            params.append({"file_id": i + 1, "name": "teff", "value": rng.randrange(2300, 12001)})
            params.append({"file_id": i + 1, "name": "logg", "value": rng.randrange(0, 13) / 2})
    return rows, params


def _percentiles(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return {
        "median_ms": round(statistics.median(samples) * 1000, 4),
        "p99_ms": round(p99 * 1000, 4),
        "n": len(samples),
    }


def run(
    records: int = 1_000_000, lookups: int = 2000, searches: int = 200, workdir: Path | None = None
) -> dict[str, Any]:
    rng = random.Random(42)
    tmp = Path(tempfile.mkdtemp(prefix="capture-catalog-bench-", dir=workdir))
    db = tmp / "catalog.sqlite"
    catalog = Catalog(f"sqlite:///{db}")
    try:
        t0 = time.perf_counter()
        for start in range(0, records, BATCH):
            rows, params = _rows(start, min(BATCH, records - start), rng)
            with catalog.engine.begin() as conn:
                conn.execute(insert(files), rows)
                if params:
                    conn.execute(insert(file_params), params)
        insert_s = time.perf_counter() - t0
        with catalog.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        result: dict[str, Any] = {
            "records": records,
            "insert_seconds": round(insert_s, 2),
            "insert_rate_per_s": round(records / insert_s),
            "db_bytes": os.path.getsize(db),
        }
        with catalog.engine.connect() as conn:
            ids = [rng.randrange(1, records + 1) for _ in range(lookups)]
            sample = {
                r[0]: r
                for r in conn.execute(
                    select(files.c.id, files.c.url, files.c.sha256, files.c.path).where(
                        files.c.id.in_(ids[:999])
                    )
                )
            }
            keys = list(sample.values())
            for name, _column, idx in (
                ("url", files.c.url, 1),
                ("sha256", files.c.sha256, 2),
                ("path", files.c.path, 3),
            ):
                times = []
                stmt = LOOKUPS[name]
                for i in range(lookups):
                    key = keys[i % len(keys)][idx]
                    started = time.perf_counter()
                    conn.execute(stmt, {"key": key}).all()
                    times.append(time.perf_counter() - started)
                result[f"lookup_{name}"] = _percentiles(times)
            times, hits = [], []
            for _ in range(searches):
                lo = rng.randrange(2300, 11000)
                f = Filters(
                    domain="astrophysics",
                    state="stored",
                    grade="nasa_grade",
                    params=[("teff", lo, lo + 500)],
                    limit=50,
                )
                started = time.perf_counter()
                rows = conn.execute(build(f)).all()
                times.append(time.perf_counter() - started)
                hits.append(len(rows))
            result["search_multi_filter"] = {
                **_percentiles(times),
                "mean_hits": statistics.mean(hits),
            }
        result["targets"] = {
            "single_key_p99_lt_1ms": all(
                result[f"lookup_{k}"]["p99_ms"] < 1.0 for k in ("url", "sha256", "path")
            ),
            "search_p99_lt_50ms": result["search_multi_filter"]["p99_ms"] < 50.0,
        }
        return result
    finally:
        catalog.close()
        for p in tmp.iterdir():
            p.unlink()
        tmp.rmdir()


def main(args: Any) -> int:
    result = run(args.records, args.lookups, args.searches, args.workdir)
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0
