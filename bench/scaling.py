"""``python -m bench scaling``: aggregate throughput of 1..K crawler processes sharing one
archive through the Redis frontier and a PostgreSQL catalog (the multi-node deployment of
``docs/scaling.md``, on one machine).

The emulated archive caps each connection (``--per-connection-mbps``) the way a distant archive
does, so adding workers adds connections; the measurement shows whether the shared frontier
and catalog scale (aggregate ~ workers x connections x per-connection rate) or become the
bottleneck.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

MB = 1024 * 1024


def run_workers(n: int, files: int, size: int, per_conn: float, per_domain: int) -> dict[str, Any]:
    from tests.archives import ArchiveServer, Blob
    from tests.archives.thousand_genomes import ThousandGenomesArchive
    from tests.crawl import start_crawl
    from tests.services import REDIS_URL, postgres_database

    tmp = Path(tempfile.mkdtemp(prefix="capture-scaling-"))
    try:
        with ArchiveServer(bandwidth=per_conn * MB) as server, postgres_database() as catalog:
            tg = ThousandGenomesArchive(server)
            for i in range(files):
                tg.add_file(f"ftp/s/f{i:03d}.bin", Blob(f"sc{n}-{i}", size), md5="-")
            base = tg.publish()
            settings = {
                "CAPTURE_CATALOG_URL": catalog,
                "CAPTURE_FRONTIER_URL": REDIS_URL,
                "CAPTURE_RUN_ID": f"scaling_{uuid.uuid4().hex[:8]}",
                "CAPTURE_FRONTIER_IDLE_EXIT": "1",
                "CAPTURE_QUALITY_ENABLED": "False",
                "CONCURRENT_REQUESTS_PER_DOMAIN": str(per_domain),
                "LOG_LEVEL": "WARNING",
            }
            started = time.perf_counter()
            procs = [
                start_crawl(
                    "thousand_genomes",
                    tmp / "data",
                    args={"base_url": base, "prefix": "ftp/"},
                    settings=settings,
                    tag=f"w{k}",
                )[0]
                for k in range(n)
            ]
            codes = [p.wait(timeout=3600) for p in procs]
            seconds = time.perf_counter() - started
            sent = sum(e.bytes_sent for e in server.log if e.path.startswith("/vol1/ftp/s/"))
        return {
            "workers": n,
            "seconds": round(seconds, 2),
            "exit_codes": codes,
            "bytes": sent,
            "MB_per_s": round(sent / MB / seconds, 1),
            "connections": n * per_domain,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def _frontier_ops(n: int, item_bytes: int) -> dict[str, Any]:
    """Cost of the frontier itself per file: offer, take (batches of 8) and ack on Redis."""
    from capture.frontier import RedisFrontier
    from tests.services import REDIS_URL

    name = f"bench_{uuid.uuid4().hex[:8]}"
    frontier = RedisFrontier(REDIS_URL, name, consumer="bench")
    item = {"url": "https://ftp.example.org/x", "pad": "x" * item_bytes}
    try:
        started = time.perf_counter()
        for i in range(n):
            await frontier.offer(f"f{i}", item)
        offered = time.perf_counter() - started
        started, taken = time.perf_counter(), 0
        while batch := await frontier.take(8):
            for entry_id, _ in batch:
                await frontier.ack(entry_id)
            taken += len(batch)
        consumed = time.perf_counter() - started
        memory = await frontier.redis.memory_usage(frontier.stream) or 0
        memory += await frontier.redis.memory_usage(frontier.seen) or 0
    finally:
        await frontier.redis.delete(frontier.stream, frontier.seen)
        await frontier.close()
    return {
        "files": n,
        "taken": taken,
        "offer_per_s": round(n / offered),
        "take_ack_per_s": round(taken / consumed),
        "redis_bytes_per_file": round(memory / n),
    }


def main(args: Any) -> int:
    import asyncio

    ops = asyncio.run(_frontier_ops(20_000, 700))
    print(json.dumps({"frontier_ops": ops}, indent=2))
    results = [
        run_workers(n, args.files, args.file_mib * MB, args.per_connection_mbps, args.per_domain)
        for n in range(1, args.max_workers + 1)
    ]
    report = {
        "files": args.files,
        "file_mib": args.file_mib,
        "per_connection_MB_per_s": args.per_connection_mbps,
        "frontier_ops": ops,
        "runs": results,
    }
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(c == 0 for r in results for c in r["exit_codes"]) else 1
