"""The two scenarios, their contenders, how each run is verified, and the summary numbers.

Every run gets a fresh directory that is deleted right after it is measured and verified
(followed by ``sync``), so no contender's dirty pages or outputs linger into the next one. The
page cache cannot be dropped without root: the corpus is served warm from it on purpose (the
server must not be the bottleneck).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.corpus import BIG_PREFIX, SMALL_PREFIX, CorpusFile
from bench.measure import Measurement, Pipeline, measure
from bench.stock_project import crawl_command as stock_command

REPO = Path(__file__).resolve().parents[1]
MAX_PROBLEMS = 10
BIG_RSS_TARGET_MB = 150.0
BIG_WALL_TARGET = 1.15
SAME_WORK = "curl|tee|md5+sha256,sync"


@dataclass
class Plan:
    """One run of a contender in a fresh directory: what to execute and how to check it."""

    steps: list[Pipeline]
    cwd: Path
    verify: Callable[[Measurement], dict[str, Any]]


@dataclass
class Contender:
    name: str
    plan: Callable[[Path], Plan]
    note: str = ""


@dataclass
class Scenario:
    name: str
    files: list[CorpusFile]
    contenders: list[Contender]
    notes: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


@dataclass
class Context:
    """Everything contenders need: server URL, corpus files, the stock project."""

    base_url: str
    stock_root: Path | None
    concurrency: dict[str, int]
    aria2c: str | None = field(default_factory=lambda: shutil.which("aria2c"))


def capture_concurrency() -> dict[str, int]:
    """The concurrency the thousand_genomes spider really runs with (project + custom_settings)."""
    from scrapy.settings import Settings

    from spiders.thousand_genomes import ThousandGenomesSpider

    settings = Settings()
    settings.setmodule("capture.settings", priority="project")
    ThousandGenomesSpider.update_settings(settings)
    keys = ("CONCURRENT_REQUESTS", "CONCURRENT_REQUESTS_PER_DOMAIN", "CONCURRENT_ITEMS")
    return {k: settings.getint(k) for k in keys}


def _problem(problems: list[str], text: str) -> None:
    if len(problems) < MAX_PROBLEMS:
        problems.append(text)
    elif len(problems) == MAX_PROBLEMS:
        problems.append("... (more problems not shown)")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _exit_codes_ok(m: Measurement) -> None:
    bad = [rc for rcs in m.returncodes for rc in rcs if rc]
    if bad:
        m.problems.append(f"exit codes {m.returncodes}; stderr tail: {m.stderr_tail[-600:]!r}")


# -- capture ---------------------------------------------------------------------------------
def capture_run_stats(data_dir: Path) -> dict[str, Any]:
    """Scrapy stats of the crawl, as capture recorded them in its catalog's ``runs`` table."""
    try:
        con = sqlite3.connect(f"file:{data_dir / 'catalog.sqlite'}?mode=ro", uri=True)
        try:
            row = con.execute("select stats from runs order by started_at desc limit 1").fetchone()
        finally:
            con.close()
        return json.loads(row[0]) if row and row[0] else {}
    except (sqlite3.Error, ValueError):
        return {}


def verify_capture(
    m: Measurement, files: list[CorpusFile], items: Path, data_dir: Path
) -> dict[str, Any]:
    """Every file stored, size/sha256 right, md5 verified against current.tree, file in place."""
    _exit_codes_ok(m)
    by_path = {i.get("archive_path"): i for i in _read_jsonl(items)}
    for f in files:
        item = by_path.pop(f.url_path, None)
        if item is None:
            _problem(m.problems, f"{f.url_path}: no item in items.jsonl")
            continue
        checksum = item.get("checksum") or {}
        if item.get("status") != "stored":
            _problem(m.problems, f"{f.name}: status {item.get('status')!r}: {item.get('error')}")
        if item.get("sha256") != f.sha256:
            _problem(m.problems, f"{f.name}: sha256 {item.get('sha256')} != {f.sha256}")
        if item.get("size") != f.size:
            _problem(m.problems, f"{f.name}: size {item.get('size')} != {f.size}")
        if checksum.get("algorithm") != "md5" or checksum.get("expected") != f.md5:
            _problem(m.problems, f"{f.name}: md5 from current.tree not expected: {checksum}")
        if checksum.get("verified") is not True or checksum.get("actual") != f.md5:
            _problem(m.problems, f"{f.name}: md5 not verified: {checksum}")
        path = data_dir / (item.get("path") or "?")
        if not path.is_file() or path.stat().st_size != f.size:
            _problem(m.problems, f"{f.name}: published file missing or wrong size at {path}")
    if by_path:
        _problem(m.problems, f"{len(by_path)} unexpected item(s): {sorted(by_path)[:3]}")
    stats = capture_run_stats(data_dir)
    extra: dict[str, Any] = {"items": len(files) - len(by_path)}
    elapsed = stats.get("elapsed_time_seconds")
    if isinstance(elapsed, int | float):
        extra["crawl_elapsed_s"] = round(elapsed, 3)
        extra["startup_shutdown_s"] = round(m.wall_s - elapsed, 3)
    for key in ("capture/checksum/verified", "capture/status/stored", "log_count/WARNING"):
        if key in stats:
            extra[key] = stats[key]
    return extra


def capture_plan(
    base_url: str,
    prefix: str,
    files: list[CorpusFile],
    run_dir: Path,
    settings: dict[str, str] | None = None,
    args: dict[str, str] | None = None,
) -> Plan:
    """One measured ``scrapy crawl thousand_genomes`` into a fresh data root under ``run_dir``
    (extra ``-s`` settings from ``settings``, extra ``-a`` from ``args``), verified file by
    file."""
    run_dir.mkdir(parents=True)
    data_dir, items = run_dir / "data", run_dir / "items.jsonl"
    cmd = [
        sys.executable, "-m", "scrapy", "crawl", "thousand_genomes",
        "-a", f"base_url={base_url}", "-a", f"prefix={prefix}",
        "-s", f"CAPTURE_DATA_DIR={data_dir}", "-s", "LOG_LEVEL=WARNING",
    ]  # fmt: skip
    for key, value in (settings or {}).items():
        cmd += ["-s", f"{key}={value}"]
    for key, value in (args or {}).items():
        cmd += ["-a", f"{key}={value}"]
    cmd += ["-O", str(items)]
    return Plan([[cmd]], REPO, lambda m: verify_capture(m, files, items, data_dir))


def capture_contender(ctx: Context, prefix: str, files: list[CorpusFile]) -> Contender:
    def plan(run_dir: Path) -> Plan:
        return capture_plan(ctx.base_url, prefix, files, run_dir)

    return Contender("capture", plan, "scrapy crawl thousand_genomes (catalog + md5 + sha256)")


# -- big file: curl and friends --------------------------------------------------------------
def _verify_file(m: Measurement, f: CorpusFile, path: Path, sha_out: str | None) -> dict[str, Any]:
    """The downloaded file has the right size and, when given, sha256sum printed the digest."""
    _exit_codes_ok(m)
    if not path.is_file() or path.stat().st_size != f.size:
        size = path.stat().st_size if path.exists() else None
        _problem(m.problems, f"{path.name}: size {size} != {f.size}")
    if sha_out is not None and sha_out.split(" ", 1)[0].strip() != f.sha256:
        _problem(m.problems, f"sha256sum printed {sha_out.strip()!r}, expected {f.sha256}")
    return {}


def big_contenders(ctx: Context, big: CorpusFile) -> list[Contender]:
    url = big.url(ctx.base_url)

    def curl(run_dir: Path) -> Plan:
        out = run_dir / big.name
        run_dir.mkdir(parents=True)
        steps = [[["curl", "-s", "-o", str(out), url]]]
        return Plan(steps, run_dir, lambda m: _verify_file(m, big, out, None))

    def curl_sync(run_dir: Path) -> Plan:
        out = run_dir / big.name
        run_dir.mkdir(parents=True)
        steps = [[["curl", "-s", "-o", str(out), url]], [["sync", str(out)]]]
        return Plan(steps, run_dir, lambda m: _verify_file(m, big, out, None))

    def curl_then_sha(run_dir: Path) -> Plan:
        out = run_dir / big.name
        run_dir.mkdir(parents=True)
        steps = [[["curl", "-s", "-o", str(out), url]], [["sha256sum", str(out)]]]

        def verify(m: Measurement) -> dict[str, Any]:
            return _verify_file(m, big, out, m.stdout[1] if len(m.stdout) > 1 else "")

        return Plan(steps, run_dir, verify)

    def curl_tee_sha(run_dir: Path) -> Plan:
        out = run_dir / big.name
        run_dir.mkdir(parents=True)
        steps = [[["curl", "-s", url], ["tee", str(out)], ["sha256sum"]]]

        def verify(m: Measurement) -> dict[str, Any]:
            return _verify_file(m, big, out, m.stdout[0] if m.stdout else "")

        return Plan(steps, run_dir, verify)

    def same_work(run_dir: Path) -> Plan:
        """What capture does, with the standard tools: one streaming pass that stores the
        file and computes md5 and sha256, then fsync. bash runs the pipeline (process
        substitution feeds md5sum beside sha256sum)."""
        out = run_dir / big.name
        run_dir.mkdir(parents=True)
        script = f"curl -s {url} | tee {out} | tee >(md5sum >&2) | sha256sum"
        steps = [[["bash", "-c", script]], [["sync", str(out)]]]

        def verify(m: Measurement) -> dict[str, Any]:
            return _verify_file(m, big, out, m.stdout[0] if m.stdout else "")

        return Plan(steps, run_dir, verify)

    return [
        capture_contender(ctx, BIG_PREFIX, [big]),
        Contender(
            SAME_WORK,
            same_work,
            "the same work as capture: curl URL | tee FILE | md5sum + sha256sum, then sync FILE",
        ),
        Contender("curl", curl, "curl -s -o FILE URL (no digest, no fsync)"),
        Contender("curl+sha256sum", curl_then_sha, "curl -o FILE, then sha256sum FILE"),
        Contender("curl|tee|sha256sum", curl_tee_sha, "streaming: curl URL | tee FILE | sha256sum"),
        Contender("curl+sync", curl_sync, "extra: curl -o FILE, then sync FILE (fsync)"),
    ]


# -- small files: stock FilesPipeline and aria2c ---------------------------------------------
def verify_stock(
    m: Measurement, files: list[CorpusFile], items: Path, store: Path
) -> dict[str, Any]:
    """Every file downloaded once, present in FILES_STORE with the right size and md5."""
    _exit_codes_ok(m)
    by_path = {i.get("archive_path"): i for i in _read_jsonl(items)}
    for f in files:
        item = by_path.pop(f.url_path, None)
        results = (item or {}).get("files") or []
        if not results:
            _problem(m.problems, f"{f.name}: not downloaded (item {item!r})")
            continue
        res = results[0]
        if res.get("status") != "downloaded" or res.get("checksum") != f.md5:
            _problem(m.problems, f"{f.name}: {res}")
        path = store / res.get("path", "?")
        if not path.is_file() or path.stat().st_size != f.size:
            _problem(m.problems, f"{f.name}: stored file missing or wrong size at {path}")
    if by_path:
        _problem(m.problems, f"{len(by_path)} unexpected item(s)")
    return {"items": len(files) - len(by_path)}


def stock_contender(ctx: Context, files: list[CorpusFile]) -> Contender:
    assert ctx.stock_root is not None

    def plan(run_dir: Path) -> Plan:
        run_dir.mkdir(parents=True)
        store, items = run_dir / "files", run_dir / "items.jsonl"
        cmd = stock_command(ctx.base_url, SMALL_PREFIX, store, items)
        return Plan([[cmd]], ctx.stock_root, lambda m: verify_stock(m, files, items, store))

    c = ctx.concurrency
    note = (
        f"scrapy FilesPipeline, CONCURRENT_REQUESTS={c['CONCURRENT_REQUESTS']}, "
        f"PER_DOMAIN={c['CONCURRENT_REQUESTS_PER_DOMAIN']} (same as capture)"
    )
    return Contender("stock FilesPipeline", plan, note)


def aria2c_input(files: list[CorpusFile], base_url: str) -> str:
    """aria2c ``-i`` input: a URI line, then indented per-download option lines."""
    return "".join(f"{f.url(base_url)}\n  checksum=md5={f.md5}\n  out={f.name}\n" for f in files)


def aria2c_contender(ctx: Context, files: list[CorpusFile]) -> Contender:
    assert ctx.aria2c is not None

    def plan(run_dir: Path) -> Plan:
        out = run_dir / "files"
        out.mkdir(parents=True)
        urls = run_dir / "urls.txt"
        urls.write_text(aria2c_input(files, ctx.base_url))
        cmd = [
            ctx.aria2c, "-j16", "-x1", "-i", str(urls), "-d", str(out),
            "--console-log-level=warn", "--summary-interval=0",
            "--allow-overwrite=true", "--auto-file-renaming=false",
        ]  # fmt: skip

        def verify(m: Measurement) -> dict[str, Any]:
            _exit_codes_ok(m)  # aria2c exits 32 on an md5 mismatch
            for f in files:
                path = out / f.name
                if not path.is_file() or path.stat().st_size != f.size:
                    _problem(m.problems, f"{f.name}: missing or wrong size")
            return {}

        return Plan([[cmd]], run_dir, verify)

    return Contender("aria2c -j16", plan, "aria2c -j16 -x1 -i urls.txt, md5 checked per file")


# -- running and summarising -----------------------------------------------------------------
def run_one(
    contender: Contender, run_dir: Path, timeout: float
) -> tuple[Measurement, dict[str, Any]]:
    """Measure and verify one run, then delete its outputs and sync (outside the timing)."""
    scratch = run_dir.parent / f"{run_dir.name}.measure"
    try:
        plan = contender.plan(run_dir)
        m = measure(plan.steps, cwd=plan.cwd, scratch=scratch, timeout=timeout)
        extra = plan.verify(m)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
        os.sync()
    return m, extra


def sample_record(m: Measurement, extra: dict[str, Any], rep: int, position: int) -> dict[str, Any]:
    return {
        "rep": rep,
        "position": position,
        "wall_s": round(m.wall_s, 3),
        "peak_rss_mb": round(m.peak_rss_mb, 1),
        "tree_rss_mb": round(m.tree_rss_mb, 1),
        "cpu_s": round(m.user_s + m.sys_s, 3),
        "user_s": round(m.user_s, 3),
        "sys_s": round(m.sys_s, 3),
        "ok": m.ok,
        "problems": m.problems,
        **extra,
    }


def summarise(samples: list[dict[str, Any]], scenario: Scenario) -> dict[str, Any]:
    def med(key: str) -> float:
        return round(statistics.median(s[key] for s in samples), 3)

    wall = med("wall_s")
    split = {}
    if all("crawl_elapsed_s" in s for s in samples):  # capture: crawl vs process overhead
        split = {
            "crawl_elapsed_s": med("crawl_elapsed_s"),
            "startup_shutdown_s": med("startup_shutdown_s"),
        }
    return {
        **split,
        "wall_s": wall,
        "peak_rss_mb": med("peak_rss_mb"),
        "peak_rss_mb_max": max(s["peak_rss_mb"] for s in samples),
        "tree_rss_mb": med("tree_rss_mb"),
        "tree_rss_mb_max": max(s["tree_rss_mb"] for s in samples),
        "cpu_s": med("cpu_s"),
        "mb_per_s": round(scenario.total_bytes / 1e6 / wall, 1) if wall else None,
        "files_per_s": round(len(scenario.files) / wall, 1) if wall else None,
        "all_ok": all(s["ok"] for s in samples),
    }


def run_scenario(
    scenario: Scenario, repeat: int, runs_dir: Path, timeout: float = 1800
) -> dict[str, Any]:
    """Run every contender ``repeat`` times, interleaved (order rotates each repetition)."""
    samples: dict[str, list[dict[str, Any]]] = {c.name: [] for c in scenario.contenders}
    n = len(scenario.contenders)
    for rep in range(repeat):
        order = scenario.contenders[rep % n :] + scenario.contenders[: rep % n]
        for pos, contender in enumerate(order):
            slug = "".join(ch if ch.isalnum() else "_" for ch in contender.name)
            m, extra = run_one(contender, runs_dir / f"{scenario.name}-{slug}-{rep}", timeout)
            rec = sample_record(m, extra, rep, pos)
            samples[contender.name].append(rec)
            status = "ok" if m.ok else "VERIFY FAILED"
            print(
                f"  [{scenario.name} rep {rep + 1}/{repeat}] {contender.name:<22} "
                f"{m.wall_s:8.2f} s  {m.peak_rss_mb:8.1f} MB  {status}",
                flush=True,
            )
            if not m.ok:
                where = f"{scenario.name}/{contender.name} rep {rep + 1}"
                print(f"!!! {where} FAILED VERIFICATION:", file=sys.stderr)
                for p in m.problems:
                    print(f"!!!   {p}", file=sys.stderr)
    contenders = {
        c.name: {
            "note": c.note,
            "summary": summarise(samples[c.name], scenario),
            "samples": samples[c.name],
        }
        for c in scenario.contenders
    }
    return {
        "files": len(scenario.files),
        "bytes": scenario.total_bytes,
        "notes": scenario.notes,
        "contenders": contenders,
        **judge(scenario.name, contenders),
    }


def _ratio(contenders: dict[str, Any], a: str, b: str, key: str = "wall_s") -> float | None:
    if a not in contenders or b not in contenders:
        return None
    x, y = contenders[a]["summary"][key], contenders[b]["summary"][key]
    return round(x / y, 3) if y else None


def judge(name: str, contenders: dict[str, Any]) -> dict[str, Any]:
    """Ratios (medians) and pass/fail of the targets; a target on unverified runs fails."""
    cap = contenders.get("capture", {}).get("summary", {})
    cap_ok = bool(cap.get("all_ok"))
    if name in ("big", "ftp"):
        ratios = {
            "capture/curl": _ratio(contenders, "capture", "curl"),
            "capture/(curl+sha256sum)": _ratio(contenders, "capture", "curl+sha256sum"),
            "capture/(curl|tee|sha256sum)": _ratio(contenders, "capture", "curl|tee|sha256sum"),
            "capture/(curl+sync)": _ratio(contenders, "capture", "curl+sync"),
            f"capture/({SAME_WORK})": _ratio(contenders, "capture", SAME_WORK),
        }
        wall = ratios["capture/curl"]
        same = ratios[f"capture/({SAME_WORK})"]
        targets = {
            f"capture peak RSS <= {BIG_RSS_TARGET_MB:g} MB (process tree, worst sample)": cap_ok
            and cap.get("tree_rss_mb_max", 1e9) <= BIG_RSS_TARGET_MB,
            f"capture wall <= {BIG_WALL_TARGET:g} x curl (medians)": cap_ok
            and wall is not None
            and wall <= BIG_WALL_TARGET,
            f"capture wall <= 1.0 x {SAME_WORK} (medians)": cap_ok
            and same is not None
            and same <= 1.0,
        }
    elif name == "s3":
        from bench.s3replica import judge_s3

        return judge_s3(contenders)
    else:
        ratios = {"capture/stock": _ratio(contenders, "capture", "stock FilesPipeline")}
        if "aria2c -j16" in contenders:
            ratios["capture/aria2c"] = _ratio(contenders, "capture", "aria2c -j16")
        wall = ratios["capture/stock"]
        targets = {
            "capture wall <= stock FilesPipeline wall (medians)": cap_ok
            and wall is not None
            and wall <= 1.0
        }
    return {"ratios": ratios, "targets": targets}
