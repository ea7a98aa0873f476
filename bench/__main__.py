"""``python -m bench run``: generate the corpus, serve it, measure every contender, report.

Run from the repository root (``scrapy crawl`` needs its ``scrapy.cfg``)::

    python -m bench run [--only big|small|ftp] [--big-size-mib N] [--small-count N] [--repeat K]
                        [--out bench/results/<timestamp>.json] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import compress as compress_bench
from bench import faults, latency, s3replica
from bench import verify as verify_bench
from bench.corpus import SMALL_PREFIX, Corpus, generate
from bench.machine import load_snapshot, machine_info
from bench.measure import clean_env, compile_bytecode
from bench.report import render
from bench.scenarios import (
    REPO,
    Context,
    Scenario,
    aria2c_contender,
    big_contenders,
    capture_concurrency,
    capture_contender,
    run_scenario,
    stock_contender,
)
from bench.server import FtpServer, StaticServer
from bench.stock_project import write_project

DISK_MARGIN = 2 * 2**30
GLOBAL_NOTES = [
    "page cache is not dropped (no root); every run writes into a fresh directory that is "
    "deleted right after it is verified, followed by sync, outside the timing",
    "the corpus is written, hashed and synced before any measurement and is served warm from "
    "the page cache, so the server is not the bottleneck",
    "peak RSS MB = getrusage(RUSAGE_CHILDREN).ru_maxrss of a fresh wrapper per run (largest "
    "single process, KiB/1024); tree RSS MB = sampled peak of the sum over the process tree",
    "MB/s and the corpus sizes use 10^6 bytes; wall s is the median of the samples",
    "order of contenders rotates every repetition; one unmeasured warm-up of each tool first",
]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the benchmark")
    run.add_argument(
        "--only",
        choices=("big", "small", "ftp"),
        help="run a single scenario (ftp: the big file over FTP, capture vs curl ftp://)",
    )
    run.add_argument("--big-size-mib", type=int, default=2048, help="size of the big file")
    run.add_argument("--small-count", type=int, default=2000, help="number of 50 KB files")
    run.add_argument("--repeat", type=int, default=3, help="repetitions per contender")
    run.add_argument("--out", type=Path, help="results JSON (default bench/results/<UTC>.json)")
    run.add_argument("--workdir", type=Path, help="parent of the temp dir (default $TMPDIR)")
    run.add_argument("--timeout", type=float, default=1800, help="seconds per measured run")
    cat = sub.add_parser("catalog", help="catalog insert rate and lookup latency")
    cat.add_argument("--records", type=int, default=1_000_000)
    cat.add_argument("--lookups", type=int, default=2000)
    cat.add_argument("--searches", type=int, default=200)
    cat.add_argument("--workdir", type=Path)
    cat.add_argument("--out", type=Path)
    tiers = sub.add_parser("tiers", help="capture storage plan over a catalog of N files")
    tiers.add_argument("--records", type=int, default=1_000_000)
    tiers.add_argument("--catalog-url", help="e.g. postgresql+psycopg://127.0.0.1/db (empty)")
    tiers.add_argument("--workdir", type=Path)
    tiers.add_argument("--out", type=Path)
    qual = sub.add_parser("quality", help="scoring throughput (MB/s, files/s)")
    qual.add_argument("--big-mib", type=int, default=512, help="size of each large file")
    qual.add_argument("--small-count", type=int, default=300)
    qual.add_argument("--workers", type=int, default=2)
    qual.add_argument("--workdir", type=Path)
    qual.add_argument("--out", type=Path)
    sc = sub.add_parser("scaling", help="throughput of 1..K workers sharing a frontier")
    sc.add_argument("--max-workers", type=int, default=2)
    sc.add_argument("--files", type=int, default=48)
    sc.add_argument("--file-mib", type=int, default=8)
    sc.add_argument(
        "--per-connection-mbps",
        type=float,
        default=8.0,
        help="MB/s per connection the emulated archive allows",
    )
    sc.add_argument("--per-domain", type=int, default=4)
    sc.add_argument("--out", type=Path)
    faults.add_parser(sub)
    latency.add_parser(sub)
    s3replica.add_parser(sub)
    verify_bench.add_parser(sub)
    compress_bench.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command != "run":
        return args
    if args.repeat < 1 or args.big_size_mib < 1 or args.small_count < 1:
        parser.error("--repeat, --big-size-mib and --small-count must be positive")
    return args


def check_disk(workdir: Path, big_mib: int, small_count: int) -> None:
    """Corpus + one contender's output + margin must fit; fail before writing anything."""
    need = 2 * ((big_mib << 20) + small_count * 51200) + DISK_MARGIN
    free = shutil.disk_usage(workdir).free
    if free < need:
        sys.exit(f"not enough disk in {workdir}: {free / 1e9:.1f} GB free, need {need / 1e9:.1f}")


def warm_up(ctx: Context, stock_root: Path | None) -> None:
    """Load the tools once (imports, binaries) so the first measured run is not a cold start."""
    env = clean_env()
    compile_bytecode(REPO)
    cmds: list[tuple[list[str], Path]] = [
        ([sys.executable, "-m", "scrapy", "list"], REPO),
        (["curl", "-s", "-o", os.devnull, f"{ctx.base_url}/vol1/ftp/current.tree"], REPO),
    ]
    if stock_root is not None:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(stock_root)], check=False,
                       capture_output=True)  # fmt: skip
        cmds.append(([sys.executable, "-m", "scrapy", "list"], stock_root))
    if ctx.aria2c:
        cmds.append(([ctx.aria2c, "--version"], REPO))
    for cmd, cwd in cmds:
        subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, check=False)


def build_scenarios(args: argparse.Namespace, corpus: Corpus, ctx: Context) -> list[Scenario]:
    scenarios: list[Scenario] = []
    if corpus.big and args.only != "ftp":
        scenarios.append(Scenario("big", corpus.big, big_contenders(ctx, corpus.big[0])))
    if corpus.small:
        small = [
            capture_contender(ctx, SMALL_PREFIX, corpus.small),
            stock_contender(ctx, corpus.small),
        ]
        notes = [
            "capture: -a prefix=ftp/bench/small; catalog (SQLite), md5 + sha256, quality, every "
            "file fsync'ed as written and each directory once per group, before the catalog "
            "commit",
            "stock FilesPipeline: in-memory bodies, md5 of the body only (not compared), "
            "no fsync, no catalog",
            f"concurrency (capture's effective thousand_genomes settings, also given to stock): "
            f"{ctx.concurrency}",
        ]
        if ctx.aria2c:
            small.append(aria2c_contender(ctx, corpus.small))
            notes.append(
                "aria2c -j16 runs 16 transfers at once; capture and stock are configured for the "
                "per-domain limit above, but Scrapy 2.19's downloader was seen to exceed it for "
                "pipeline-issued downloads (up to CONCURRENT_ITEMS at once)"
            )
        else:
            notes.append("aria2c not installed: skipped")
        scenarios.append(Scenario("small", corpus.small, small, notes))
    return scenarios


def ftp_scenario(corpus: Corpus, ctx: Context, ftp: FtpServer) -> Scenario:
    """The big file again, served over FTP: capture's FTP handler against curl ftp:// (and the
    same-work pipeline) on the same file in the same run."""
    ftp_ctx = Context(ftp.base_url, None, ctx.concurrency, None)
    notes = [
        f"server: {ftp.version} ({ftp.note}) on {ftp.base_url}, the same www/ tree as HTTP",
        "capture: -a base_url=ftp://...: SIZE/MDTM, passive RETR streamed to .part, md5 + "
        "sha256 in-stream, fsync, catalog; curl: curl -s -o FILE ftp://... (passive)",
    ]
    return Scenario("ftp", corpus.big, big_contenders(ftp_ctx, corpus.big[0]), notes)


def run(args: argparse.Namespace) -> int:
    started = datetime.now(UTC)
    out = args.out or REPO / "bench" / "results" / f"{started:%Y%m%dT%H%M%SZ}.json"
    big_mib = None if args.only == "small" else args.big_size_mib
    small_count = None if args.only in ("big", "ftp") else args.small_count
    parent = args.workdir or Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    check_disk(parent, big_mib or 0, small_count or 0)
    workdir = Path(tempfile.mkdtemp(prefix="capture-bench-", dir=parent))
    server: StaticServer | None = None
    ftp: FtpServer | None = None
    try:
        print(f"workdir {workdir}; generating corpus ...", flush=True)
        t0 = time.monotonic()
        corpus = generate(workdir / "www", big_mib=big_mib, small_count=small_count)
        os.sync()
        print(f"corpus ready in {time.monotonic() - t0:.1f} s (written, hashed, synced)")
        server = StaticServer(workdir / "www", workdir).start()
        print(f"serving with {server.kind} on {server.base_url}")
        concurrency = capture_concurrency()
        stock_root = None
        if corpus.small:
            stock_root = write_project(
                workdir / "stock",
                concurrent_requests=concurrency["CONCURRENT_REQUESTS"],
                per_domain=concurrency["CONCURRENT_REQUESTS_PER_DOMAIN"],
                concurrent_items=concurrency["CONCURRENT_ITEMS"],
            )
        ctx = Context(server.base_url, stock_root, concurrency)
        warm_up(ctx, stock_root)
        results: dict[str, Any] = {
            "command": " ".join(["python -m bench", *sys.argv[1:]]),
            "config": {
                "only": args.only,
                "big_size_mib": big_mib,
                "small_count": small_count,
                "repeat": args.repeat,
                "capture_concurrency": concurrency,
            },
            "machine": machine_info(workdir, REPO),
            "server": {"kind": server.kind, "version": server.version, "note": server.note},
            "corpus": corpus.summary(),
            "notes": GLOBAL_NOTES,
            "scenarios": {},
        }
        scenarios = build_scenarios(args, corpus, ctx)
        if corpus.big and args.only in (None, "ftp"):
            ftp = FtpServer(workdir / "www", workdir)
            try:
                ftp.start()
            except RuntimeError as exc:
                print(f"ftp scenario skipped: {exc}", flush=True)
            else:
                results["ftp_server"] = {"kind": ftp.kind, "version": ftp.version}
                scenarios.append(ftp_scenario(corpus, ctx, ftp))
        for scenario in scenarios:
            print(f"scenario {scenario.name}: {len(scenario.contenders)} contenders", flush=True)
            results["scenarios"][scenario.name] = run_scenario(
                scenario, args.repeat, workdir / "runs", args.timeout
            )
        results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        results["machine"]["load_at_end"] = load_snapshot()
    finally:
        if server is not None:
            server.stop()
        if ftp is not None:
            ftp.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(render(results))
    print(f"\nresults written to {out}")
    failed = [
        f"{s}/{c}"
        for s, scen in results["scenarios"].items()
        for c, entry in scen["contenders"].items()
        if not entry["summary"]["all_ok"]
    ]
    if failed:
        print(f"VERIFICATION FAILED for: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "tiers":
        from bench import tiers as tiers_bench

        return tiers_bench.main(args)
    if args.command == "catalog":
        from bench import catalog

        return catalog.main(args)
    if args.command == "scaling":
        from bench import scaling

        return scaling.main(args)
    if args.command == "faults":
        return faults.main(args)
    if args.command == "latency":
        return latency.main(args)
    if args.command == "s3":
        return s3replica.main(args)
    if args.command == "verify":
        return verify_bench.main(args)
    if args.command == "compress":
        return compress_bench.main(args)
    if args.command == "quality":
        from bench import quality

        return quality.main(args)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
