"""``python -m bench latency``: capture against the round-trip floor of a distant archive.

Many small files from a far-away archive are bound by latency, not bandwidth: with a round
trip of L before each response and N connections allowed, F files cannot take less than
``ceil(F / N) x L`` (plus one L for the listing). This scenario serves the bench corpus through
:mod:`bench.latency_server` (every response delayed by ``--latency-ms``, at most
``--max-conns-per-host`` connections served at once, extra ones wait) and measures, in the same
run, capture's ``thousand_genomes`` crawl and ``aria2c -jN -x1`` with md5 checks at the same
concurrency N, against that ideal. Target: capture's wall time <= 1.2 x the ideal.

Run from the repository root::

    python -m bench latency [--latency-ms 50] [--files 800] [--concurrency N] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.corpus import SMALL_PREFIX, Corpus, CorpusFile, generate
from bench.latency_server import LatencyServer
from bench.machine import load_snapshot, machine_info
from bench.measure import Measurement, clean_env, compile_bytecode
from bench.report import load_lines, verdict_lines
from bench.scenarios import (
    REPO,
    Contender,
    Plan,
    Scenario,
    _exit_codes_ok,
    _problem,
    aria2c_input,
    capture_concurrency,
    capture_plan,
    run_scenario,
)

TARGET = 1.2
DEFAULT_LATENCY_MS = 50.0
DEFAULT_FILES = 800


def add_parser(sub: Any) -> None:
    """The ``latency`` subcommand's options (wired in bench/__main__.py)."""
    p = sub.add_parser("latency", help="latency-bound crawl: capture and aria2c vs the ideal")
    p.add_argument("--latency-ms", type=float, default=DEFAULT_LATENCY_MS)
    p.add_argument("--files", type=int, default=DEFAULT_FILES, help="number of 50 KB files")
    p.add_argument(
        "--concurrency",
        type=int,
        help="N: connections for every contender (default: thousand_genomes' "
        "CONCURRENT_REQUESTS_PER_DOMAIN)",
    )
    p.add_argument("--max-conns-per-host", type=int, help="server cap (default: N)")
    p.add_argument("--over-cap", choices=("wait", "refuse"), default="wait")
    p.add_argument("--only", choices=("capture", "aria2c", "curl"), help="one contender only")
    p.add_argument("--repeat", type=int, default=3, help="repetitions per contender")
    p.add_argument("--out", type=Path, help="results JSON (default bench/results/latency-<UTC>)")
    p.add_argument("--workdir", type=Path, help="parent of the temp dir (default $TMPDIR)")
    p.add_argument("--timeout", type=float, default=600, help="seconds per measured run")
    p.add_argument("--json", action="store_true", help="print the results JSON, not the table")


def small_corpus(www: Path, files: int) -> Corpus:
    """``bench.corpus.generate``, drawn again while a random file starts with gzip's 2-byte
    magic (1 in 65,536 per file): capture's quality stage sniffs such a file as a broken gzip
    and quarantines it, which would fail verification by chance, not by latency."""
    for _ in range(5):
        corpus = generate(www, big_mib=None, small_count=files)
        if not any(_gzip_magic(www / "vol1" / f.rel) for f in corpus.small):
            return corpus
        shutil.rmtree(www)
    raise RuntimeError("could not draw a corpus without gzip-looking files")


def _gzip_magic(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def ideal_seconds(files: int, latency_s: float, concurrency: int) -> float:
    """Round trips alone: ``ceil(files / N)`` batches of one latency, plus the listing."""
    return (math.ceil(files / concurrency) + 1) * latency_s


class Counted:
    """Resets the server's counters when a run is planned and attaches them to its record."""

    def __init__(self, server: LatencyServer):
        self.server = server

    def wrap(self, contender: Contender) -> Contender:
        def plan(run_dir: Path) -> Plan:
            self.server.reset_stats()
            inner = contender.plan(run_dir)

            def verify(m: Measurement) -> dict[str, Any]:
                extra = inner.verify(m)
                hosts = self.server.stats()
                return {**extra, "server": hosts.get("127.0.0.1", {})}

            return Plan(inner.steps, inner.cwd, verify)

        return Contender(contender.name, plan, contender.note)


def capture_at(base_url: str, files: list[CorpusFile], n: int) -> Contender:
    """The crawl of ``bench run``'s capture contender, with N as both concurrency limits."""

    def plan(run_dir: Path) -> Plan:
        limits = {"CONCURRENT_REQUESTS_PER_DOMAIN": str(n), "CONCURRENT_REQUESTS": str(n)}
        return capture_plan(base_url, SMALL_PREFIX, files, run_dir, limits)

    note = f"scrapy crawl thousand_genomes, CONCURRENT_REQUESTS(_PER_DOMAIN)={n}"
    return Contender("capture", plan, note)


def aria2c_at(aria2c: str, base_url: str, files: list[CorpusFile], n: int) -> Contender:
    """``aria2c -jN -x1`` over the same URLs, md5 checked per file (exit 32 on a mismatch)."""

    def plan(run_dir: Path) -> Plan:
        out = run_dir / "files"
        out.mkdir(parents=True)
        urls = run_dir / "urls.txt"
        urls.write_text(aria2c_input(files, base_url))
        cmd = [
            aria2c, f"-j{n}", "-x1", "-i", str(urls), "-d", str(out),
            "--console-log-level=warn", "--summary-interval=0",
            "--allow-overwrite=true", "--auto-file-renaming=false",
        ]  # fmt: skip

        def verify(m: Measurement) -> dict[str, Any]:
            _exit_codes_ok(m)
            for f in files:
                path = out / f.name
                if not path.is_file() or path.stat().st_size != f.size:
                    _problem(m.problems, f"{f.name}: missing or wrong size")
            return {}

        return Plan([[cmd]], run_dir, verify)

    return Contender(f"aria2c -j{n}", plan, f"aria2c -j{n} -x1 -i urls.txt, md5 checked")


def curl_floor_at(base_url: str, files: list[CorpusFile], n: int) -> Contender:
    """Reference: ``curl -Z --parallel-max N`` into /dev/null (no hashing, no disk): how close
    to the ideal a lean client gets on this machine, so a miss is not the emulator's."""

    def plan(run_dir: Path) -> Plan:
        run_dir.mkdir(parents=True)
        config = run_dir / "curl.cfg"
        config.write_text(
            "".join(f'url = "{f.url(base_url)}"\noutput = "/dev/null"\n' for f in files)
        )
        fmt = "%{http_code}:%{size_download} "
        cmd = ["curl", "-s", "--fail", "-Z", "--parallel-max", str(n), "-w", fmt, "-K", str(config)]

        def verify(m: Measurement) -> dict[str, Any]:
            _exit_codes_ok(m)
            out = m.stdout[0] if m.stdout else ""
            done = [x for x in out.split() if x == f"200:{files[0].size}"]
            if len(out) < 65000 and len(done) != len(files):  # runner keeps 64 KiB of stdout
                _problem(m.problems, f"{len(done)} of {len(files)} transfers were 200 + size")
            return {}

        return Plan([[cmd]], run_dir, verify)

    return Contender(f"curl -Z{n} (floor)", plan, "curl -Z -o /dev/null: no hashing, no disk")


def server_summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """What the server saw over a contender's runs: worst peak, waits, requests per run."""
    srv = [s.get("server") or {} for s in samples]
    return {
        "peak_conns_max": max((x.get("peak_conns", 0) for x in srv), default=0),
        "connections_median": statistics.median(x.get("connections", 0) for x in srv),
        "requests_median": statistics.median(x.get("requests", 0) for x in srv),
        "waited_max": max((x.get("waited", 0) for x in srv), default=0),
        "wait_s_max": max((x.get("wait_s", 0.0) for x in srv), default=0.0),
        "refused_max": max((x.get("refused", 0) for x in srv), default=0),
        "idle_closed_max": max((x.get("idle_closed", 0) for x in srv), default=0),
        "client_gap_ms_median": statistics.median(_gap_ms(x) for x in srv) if srv else 0.0,
    }


def _gap_ms(host: dict[str, Any]) -> float:
    """Mean time a connection sat between a response and the client's next request (ms)."""
    n = host.get("client_gaps", 0)
    return round(1000 * host.get("client_gap_s", 0.0) / n, 2) if n else 0.0


def judge(scenario: dict[str, Any], ideal: float) -> None:
    """Ratios to the ideal (medians) and the target; a target on unverified runs fails. With
    no latency there is no ideal (a server throughput check): no ratios, no targets."""
    ratios: dict[str, float | None] = {}
    targets: dict[str, bool] = {}
    for name, entry in scenario["contenders"].items():
        s = entry["summary"]
        entry["server"] = server_summary(entry["samples"])
        key = name.split(" ")[0]
        ratios[f"{key} wall/ideal"] = _ratio(s["wall_s"], ideal)
        if "crawl_elapsed_s" in s:
            ratios[f"{key} crawl elapsed/ideal"] = _ratio(s["crawl_elapsed_s"], ideal)
    cap = scenario["contenders"].get("capture", {}).get("summary")
    if cap is not None and ideal > 0:
        ok = bool(cap["all_ok"])
        targets[f"capture wall <= {TARGET:g} x ideal (median)"] = (
            ok and cap["wall_s"] <= TARGET * ideal
        )
        if "crawl_elapsed_s" in cap:
            targets[f"capture crawl elapsed <= {TARGET:g} x ideal (median, no start-up)"] = (
                ok and cap["crawl_elapsed_s"] <= TARGET * ideal
            )
    scenario["ratios"], scenario["targets"] = ratios, targets


def _ratio(seconds: float, ideal: float) -> float | None:
    return round(seconds / ideal, 3) if ideal > 0 else None


def warm_up(aria2c: str | None) -> None:
    """Load the tools once so the first measured run is not a cold start."""
    compile_bytecode(REPO)
    cmds = [[sys.executable, "-m", "scrapy", "list"]] + ([[aria2c, "--version"]] if aria2c else [])
    for cmd in cmds:
        subprocess.run(cmd, cwd=REPO, env=clean_env(), capture_output=True, check=False)


def render(results: dict[str, Any]) -> str:
    cfg, scen = results["config"], results["scenario"]
    lines = [
        f"== latency: {cfg['files']} x 50 KB, latency {cfg['latency_ms']:g} ms, N = "
        f"{cfg['concurrency']}, server cap {cfg['max_conns_per_host']} per host "
        f"({cfg['over_cap']}), repeat {cfg['repeat']}",
        f"ideal = (ceil({cfg['files']}/{cfg['concurrency']}) + 1 listing) x "
        f"{cfg['latency_ms']:g} ms = {scen['ideal_s']:.2f} s",
        f"{'contender':<18} {'wall s':>7} {'samples':>20} {'crawl s':>8} {'start-up s':>10} "
        f"{'wall/ideal':>10} {'files/s':>8} {'peak conns':>10} {'waited':>6} {'gap ms':>6} "
        f"{'verified':>8}",
    ]
    for name, entry in scen["contenders"].items():
        s, srv = entry["summary"], entry["server"]
        walls = ",".join(f"{x['wall_s']:.2f}" for x in entry["samples"])
        crawl = f"{s['crawl_elapsed_s']:.2f}" if "crawl_elapsed_s" in s else "-"
        start = f"{s['startup_shutdown_s']:.2f}" if "startup_shutdown_s" in s else "-"
        ratio = _ratio(s["wall_s"], scen["ideal_s"])
        ratio = "-" if ratio is None else f"{ratio:.3f}"
        lines.append(
            f"{name:<18} {s['wall_s']:>7.2f} {walls:>20} {crawl:>8} {start:>10} "
            f"{ratio:>10} {s['files_per_s']:>8.1f} "
            f"{srv['peak_conns_max']:>10} {srv['waited_max']:>6} "
            f"{srv['client_gap_ms_median']:>6.2f} {'yes' if s['all_ok'] else 'NO':>8}"
        )
    lines += verdict_lines(scen)
    lines += load_lines(results)
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    if args.files < 1 or args.repeat < 1 or args.latency_ms < 0:
        sys.exit("--files and --repeat must be positive, --latency-ms not negative")
    started = datetime.now(UTC)
    out = args.out or REPO / "bench" / "results" / f"latency-{started:%Y%m%dT%H%M%SZ}.json"
    n = args.concurrency or capture_concurrency()["CONCURRENT_REQUESTS_PER_DOMAIN"]
    cap = n if args.max_conns_per_host is None else args.max_conns_per_host
    latency = args.latency_ms / 1000
    aria2c = shutil.which("aria2c")
    parent = args.workdir or Path(tempfile.gettempdir())
    workdir = Path(tempfile.mkdtemp(prefix="capture-bench-latency-", dir=parent))
    try:
        corpus = small_corpus(workdir / "www", args.files)
        os.sync()
        with LatencyServer(
            workdir / "www", latency=latency, max_conns_per_host=cap, over_cap=args.over_cap
        ) as server:
            print(f"serving {args.files} files on {server.base_url}: {args.latency_ms:g} ms, "
                  f"cap {cap}/host ({args.over_cap}); N = {n}", flush=True)  # fmt: skip
            warm_up(aria2c)
            counted = Counted(server)
            contenders: list[Contender] = []
            notes = [
                "capture: -a prefix=ftp/bench/small, -s CONCURRENT_REQUESTS_PER_DOMAIN=N "
                "-s CONCURRENT_REQUESTS=N, catalog, md5 + sha256, -O items.jsonl (verification)",
                "crawl s = Scrapy's elapsed_time_seconds (catalog runs table); start-up s = "
                "wall - crawl (interpreter, imports, catalog open, shutdown)",
                "peak conns = most connections the server served at once in a run; waited = "
                "connections that queued for the cap (worst run)",
                "gap ms = mean time a kept-alive connection sat between a response and the "
                "client's next request on it (median over runs): the client's own cost per "
                "round trip",
            ]
            if args.only in (None, "capture"):
                contenders.append(counted.wrap(capture_at(server.base_url, corpus.small, n)))
            if args.only in (None, "curl") and shutil.which("curl"):
                contenders.append(counted.wrap(curl_floor_at(server.base_url, corpus.small, n)))
            if args.only in (None, "aria2c"):
                if aria2c:
                    contenders.append(
                        counted.wrap(aria2c_at(aria2c, server.base_url, corpus.small, n))
                    )
                else:
                    notes.append("aria2c not installed: skipped")
            if not contenders:
                sys.exit(f"nothing to run: {args.only or 'every contender'} is not installed")
            scenario = Scenario("latency", corpus.small, contenders, notes)
            load_start = load_snapshot()
            result = run_scenario(scenario, args.repeat, workdir / "runs", args.timeout)
        ideal = ideal_seconds(args.files, latency, n)
        result["ideal_s"] = round(ideal, 3)
        judge(result, ideal)
        machine = machine_info(workdir, REPO)
        machine["load_at_start"], machine["load_at_end"] = load_start, load_snapshot()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results = {
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
        "started": started.isoformat(timespec="seconds"),
        "config": {
            "files": args.files,
            "latency_ms": args.latency_ms,
            "concurrency": n,
            "max_conns_per_host": cap,
            "over_cap": args.over_cap,
            "repeat": args.repeat,
        },
        "machine": machine,
        "scenario": result,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2) if args.json else "\n" + render(results))
    print(f"\nresults written to {out}", file=sys.stderr if args.json else sys.stdout)
    failed = [c for c, e in result["contenders"].items() if not e["summary"]["all_ok"]]
    if failed:
        print(f"VERIFICATION FAILED for: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
