"""``python -m bench faults``: random kills and server faults across a mixed crawl, then resume.

Each *campaign* is one fresh data root and one emulator server holding three archives (1000
Genomes: small and tens-of-MB files plus one duplicate pair; Kurucz: Apache listings; JWST
MAST: the portal API). The mixed crawl runs ``thousand_genomes``, ``kurucz`` and ``jwst_mast``
one after the other as real ``scrapy crawl`` processes, each with its own JOBDIR. A campaign
makes K *kill cycles*: before each, random server faults are armed on random files and
listings; the crawl is (re)started where it stopped and, after a random delay, the running
process gets SIGKILL or SIGTERM (a cycle that outlives the whole mix starts a re-crawl, so
every kill lands on a live process). Then the faults are cleared and one final run of every
spider, without kills, must complete. The checks (:func:`check`) then look for garbled,
unrecorded, lost and duplicated files and measure what the kills cost in bytes re-fetched.

N kill points = campaigns x K; ``--parallel 2`` runs two campaigns at a time. The corpus, the
faults, the delays and the signals derive from ``--seed``; where a kill lands in the crawl
depends on timing and is recorded per kill (spider, phase, what was in flight).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from bench.scenarios import REPO
from capture.status import UNFINISHED

MB = 1 << 20
SPIDERS = ("thousand_genomes", "kurucz", "jwst_mast")
#: Server faults on files (tests/archives/server.py documents each kind).
FILE_FAULTS = (
    "drop",
    "truncate",
    "status",
    "stall",
    "ignore_range",
    "early_206",
    "change",
    "html_200",
    "no_length",
)
#: Faults a listing or API answer can get (``Reply`` routes only honour status and html_200).
LISTING_FAULTS = ("status", "drop", "truncate")
#: JWST products the spider captures by default (public SCIENCE rows of these subgroups).
MAST_SUBGROUPS = {"X1D", "X1DINTS", "C1D", "S3D", "CALINTS"}
#: Crawl settings: short stall timeout (stall faults last 1-2.5 s), small checkpoints so kills
#: land between durable checkpoints of the big files, no backoff sleeps.
CRAWL_SETTINGS = {
    "CAPTURE_STALL_TIMEOUT": "1",
    "CAPTURE_CHECKPOINT_BYTES": str(2 * MB),
    "CAPTURE_WRITE_BUFFER": str(256 * 1024),
    "RETRY_TIMES": "4",
    "LOG_LEVEL": "INFO",
}
SIGTERM_GRACE = 30.0  # seconds a SIGTERM'ed crawl gets before it is recorded as stuck and killed
FINAL_TIMEOUT = 300.0
STATE_QUERY = "select archive, archive_path, path, state, sha256, size, version, error from files"


# -- the world: one server, three archives, the files the crawl must end with --------------------


@dataclass
class Expected:
    """A file the mixed crawl must capture, and where its bytes live on the server."""

    archive: str
    archive_path: str
    blob: Any  # tests.archives.Blob
    fault_key: str  # the server path (``path?query`` for MAST) faults are armed on
    log_key: tuple[str, str]  # (path, query) of its requests in the server log

    def shas(self) -> set[str]:
        """sha256 of every version the server has served so far (a change bumps it)."""
        from tests.archives import Blob

        if self.blob.data is not None:  # fixed bytes: a version bump changes only the ETag
            return {self.blob.sha256}
        return {
            Blob(self.blob.seed, self.blob.size, version=v).sha256
            for v in range(1, self.blob.version + 1)
        }


@dataclass
class World:
    server: Any  # tests.archives.ArchiveServer
    tg: Any  # ThousandGenomesArchive (its tree is republished after changes)
    files: dict[tuple[str, str], Expected]
    listings: list[str]

    def args(self, spider: str) -> dict[str, str]:
        extra = {"prefix": "ftp/"} if spider == "thousand_genomes" else {}
        return {"base_url": self.server.base_url, **extra}

    def total_size(self) -> int:
        return sum(e.blob.size for e in self.files.values())


def build_world(server: Any, rng: random.Random, big_mib: tuple[int, int]) -> World:
    """Random sizes from ``rng``: 8-12 small files (1 B - 400 KB), one of ``big_mib`` MiB and
    one of 2-8 MiB."""
    files: dict[tuple[str, str], Expected] = {}
    tg = _thousand_genomes(server, rng, big_mib, files)
    _kurucz(server, rng, files)
    _mast(server, files)
    listings = ["/vol1/ftp/current.tree", "/grids/", "/grids.html", "/api/v0/invoke"]
    listings += ["/grids/gridP00ODFNEW/", "/grids/gridM05ODFNEW/"]
    return World(server, tg, files, listings)


def _thousand_genomes(
    server: Any, rng: random.Random, big_mib: tuple[int, int], files: dict
) -> Any:
    from tests.archives import Blob
    from tests.archives.thousand_genomes import ThousandGenomesArchive

    tg = ThousandGenomesArchive(server)
    blobs = [
        (f"ftp/mix/small{i:02d}.bin", rng.randint(1, 400_000)) for i in range(rng.randint(8, 12))
    ]
    blobs.append(("ftp/mix/big0.bin", rng.randint(*big_mib) * MB))
    blobs.append(("ftp/mix/big1.bin", rng.randint(2 * MB, 8 * MB)))
    seed = rng.getrandbits(32)
    for rel, size in blobs:
        _tg_add(tg, rel, Blob(f"{seed}:{rel}", size), files)
    # Identical content under a second name: published as a hard link to the first copy.
    twin = files[("thousand_genomes", "vol1/ftp/mix/small00.bin")].blob
    _tg_add(tg, "ftp/mix/twin/small00.bin", Blob(twin.seed, twin.size), files)
    tg.publish()
    return tg


def _tg_add(tg: Any, rel: str, blob: Any, files: dict) -> None:
    tg.add_file(rel, blob)
    path = f"/vol1/{rel}"
    files[("thousand_genomes", f"vol1/{rel}")] = Expected(
        "thousand_genomes", f"vol1/{rel}", blob, path, (path, "")
    )


def _kurucz(server: Any, rng: random.Random, files: dict) -> None:
    from tests.archives.kurucz import KuruczArchive, flux_file, model_atmospheres

    kz = KuruczArchive(server)
    grids = {
        "gridP00ODFNEW/ap00k2odfnew.dat": model_atmospheres([3500, 5750, 9000], 4.5),
        "gridP00ODFNEW/fp00k2odfnew.pck": flux_file(rng.randint(100_000, 600_000)),
        "gridM05ODFNEW/am05k2odfnew.dat": model_atmospheres([5750], 4.0, 0.31623),
        "gridM05ODFNEW/fm05k2odfnew.pck": flux_file(rng.randint(20_000, 200_000)),
    }
    for rel, data in grids.items():
        blob = kz.add(rel, data)
        path = f"/grids/{rel}"
        files[("kurucz", f"grids/{rel}")] = Expected(
            "kurucz", f"grids/{rel}", blob, path, (path, "")
        )
    kz.link("http://kurucz.harvard.edu/grids/gridP00ODFNEW/", "GRIDP00ODFNEW")
    kz.publish()


def _mast(server: Any, files: dict) -> None:
    from tests.archives import mast

    mast.default_archive(server, Path(tempfile.gettempdir()))
    archive = server.routes[mast.DOWNLOAD].__self__  # the MastArchive behind the route
    kinds = {o["obsid"]: o["dataproduct_type"] for o in archive.observations}
    for product in archive.products:
        row = product.row
        wanted = (
            row["productType"] == "SCIENCE"
            and row["productSubGroupDescription"] in MAST_SUBGROUPS
            and kinds[row["obsID"]] != "image"
        )
        if wanted:
            query = mast.uri_query(product.uri)
            rel = product.uri.removeprefix("mast:")
            files[("jwst_mast", rel)] = Expected(
                "jwst_mast", rel, product.blob, f"{mast.DOWNLOAD}?{query}", (mast.DOWNLOAD, query)
            )


# -- faults ---------------------------------------------------------------------------------------


def arm_faults(world: World, rng: random.Random) -> list[dict[str, Any]]:
    """Arm 1-3 one-shot faults on random files and, one time in four, one on a listing/API."""
    from tests.archives import Fault

    armed = []
    for exp in rng.sample(
        sorted(world.files.values(), key=lambda e: e.fault_key), rng.randint(1, 3)
    ):
        kind = rng.choice(FILE_FAULTS)
        fault = Fault(
            kind,
            times=rng.randint(1, 2) if kind == "status" else 1,
            after=rng.randint(0, max(0, exp.blob.size - 1)),
            delta=rng.randint(1, 64 * 1024),
            seconds=round(rng.uniform(1.0, 2.5), 2),
            retry_after=rng.choice([None, "1"]),
        )
        world.server.fault(exp.fault_key, fault)
        armed.append({"target": exp.archive_path, "kind": kind, "after": fault.after})
    if rng.random() < 0.25:
        path, kind = rng.choice(world.listings), rng.choice(LISTING_FAULTS)
        world.server.fault(path, Fault(kind, after=rng.randint(0, 2000), seconds=1.5))
        armed.append({"target": path, "kind": kind})
    return armed


def clear_faults(world: World) -> None:
    with world.server._lock:
        world.server.faults.clear()


# -- running and killing crawls ---------------------------------------------------------------


@dataclass
class Crawl:
    """One ``scrapy crawl`` process of the mixed crawl."""

    spider: str
    proc: subprocess.Popen[bytes]
    started: float
    log_index: int  # server log length when it started
    log: Path


def crawl_cmd(world: World, spider: str, root: Path, log: Path, quality: bool) -> list[str]:
    from tests.crawl import crawl_command

    settings = {
        **CRAWL_SETTINGS,
        "JOBDIR": str(root / "jobs" / spider),
        "CAPTURE_QUALITY_ENABLED": str(quality),
    }
    out = root / "feeds" / f"{spider}-{time.monotonic_ns()}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    return crawl_command(spider, root / "data", out, world.args(spider), settings, log)


def start(world: World, spider: str, root: Path, seq: int, quality: bool) -> Crawl:
    log = root / "logs" / f"{seq:04d}-{spider}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = crawl_cmd(world, spider, root, log, quality)
    env = {**os.environ, "CAPTURE_BACKOFF_TIME_SCALE": "0"}
    env.pop("MAST_API_TOKEN", None)
    with log.with_suffix(".err").open("wb") as err:  # tracebacks before LOG_FILE is set up
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err)
    return Crawl(spider, proc, time.monotonic(), len(world.server.log), log)


def crash_report(crawl: Crawl, rc: int | str) -> dict[str, Any]:
    """For a crawl that crashed on its own: the end of its stderr and log."""
    if not isinstance(rc, int) or not _crashed(rc):
        return {}
    tails = {}
    for path in (crawl.log.with_suffix(".err"), crawl.log):
        if path.exists():
            tails[path.suffix.lstrip(".")] = path.read_text(errors="replace")[-3000:]
    return {"log": str(crawl.log), "tail": tails}


def phase_of(world: World, crawl: Crawl) -> dict[str, Any]:
    """What the crawl was doing when the signal went out, as far as the server saw it."""
    server = world.server
    with server._lock:
        entries = server.log[crawl.log_index :]
        active = server.active
    file_keys = {e.log_key for e in world.files.values()}
    if not entries:
        return {"phase": "startup", "requests": 0}
    last = entries[-1]
    is_file = (last.path, last.query) in file_keys
    if active:
        phase = "transfer" if is_file else "listing"
    else:
        phase = "after_transfer" if is_file else "after_listing"
    return {"phase": phase, "requests": len(entries), "last": last.path, "in_flight": active}


def stop(crawl: Crawl, sig: int) -> dict[str, Any]:
    """Send ``sig``; a SIGTERM'ed crawl must exit on its own within ``SIGTERM_GRACE``."""
    sent = time.monotonic()
    crawl.proc.send_signal(sig)
    try:
        rc = crawl.proc.wait(timeout=SIGTERM_GRACE if sig == signal.SIGTERM else 30)
        stuck = False
    except subprocess.TimeoutExpired:
        crawl.proc.kill()
        rc, stuck = crawl.proc.wait(), True
    return {"rc": rc, "stop_s": round(time.monotonic() - sent, 2), "stuck": stuck}


@dataclass
class Cycle:
    """One kill cycle: faults armed, the mix (re)started, one signal."""

    index: int
    delay: float
    signal: str
    faults: list[dict[str, Any]]
    anchor: str = "start"  # the delay counts from the process start or its first request
    spider: str = ""
    recrawl: bool = False
    exits: list[dict[str, Any]] = field(default_factory=list)  # spiders that ended on their own
    kill: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    after: dict[str, Any] = field(default_factory=dict)  # catalog/disk snapshot afterwards


class Campaign:
    """One data root, K kill cycles, then a final clean run and the checks."""

    def __init__(self, index: int, seed: int, kills: int, root: Path, options: dict[str, Any]):
        self.index, self.kills, self.root = index, kills, root
        self.rng = random.Random(f"{seed}:{index}")
        self.options = options
        self.cycles: list[Cycle] = []
        self.final: list[dict[str, Any]] = []
        self.processes = 0
        # The mix in this campaign's order (rotated, so kills reach every spider's crawl).
        self.order = SPIDERS[index % 3 :] + SPIDERS[: index % 3]
        self.position = 0  # index in self.order of the next spider to run
        self.passes = 0

    def run(self, world: World) -> dict[str, Any]:
        t0 = time.monotonic()
        for i in range(self.kills):
            self.cycles.append(self.kill_cycle(world, i))
        clear_faults(world)
        world.tg.publish()
        self.final = self.final_run(world)
        wall = time.monotonic() - t0
        result = check(world, self.root / "data")
        return self.summary(world, result, wall)

    def kill_cycle(self, world: World, i: int) -> Cycle:
        rng = self.rng
        lo, hi = self.options["delay"]
        # A third of the delays count from the process start (kills during start-up and
        # resume bookkeeping), the rest from its first request (start-up takes 1-4 s
        # depending on load, so counting from the start alone would mostly hit imports).
        anchor = "start" if rng.random() < 1 / 3 else "request"
        delay = rng.uniform(lo, hi) if anchor == "start" else rng.uniform(0.05, hi - lo)
        signame = rng.choice(["SIGKILL", "SIGTERM"])
        cycle = Cycle(i, round(delay, 2), signame, arm_faults(world, rng), anchor=anchor)
        world.tg.publish()  # the archive's listing follows changed files
        t0, remaining = time.monotonic(), delay
        while True:
            if self.position == len(self.order):
                self.position, self.passes = 0, self.passes + 1
            spider = self.order[self.position]
            crawl = start(world, spider, self.root, self.processes, self.options["quality"])
            self.processes += 1
            rc, remaining = self.countdown(world, crawl, anchor, remaining)
            if rc is None:
                cycle.spider, cycle.recrawl = spider, self.passes > 0
                cycle.kill = {"at_s": round(time.monotonic() - crawl.started, 2)}
                cycle.kill.update(phase_of(world, crawl))
                cycle.kill.update(stop(crawl, getattr(signal, signame)))
                break
            cycle.exits.append({"spider": spider, "rc": rc, **crash_report(crawl, rc)})
            self.position += 1
        cycle.wall_s = round(time.monotonic() - t0, 2)
        cycle.after = snapshot(self.root / "data")
        return cycle

    @staticmethod
    def countdown(
        world: World, crawl: Crawl, anchor: str, remaining: float
    ) -> tuple[int | None, float]:
        """Wait until ``remaining`` seconds after the anchor (None: time to kill) or until the
        process exits (its code, and what is left of the delay for the next process)."""
        anchored = crawl.started if anchor == "start" else None
        while True:
            rc = crawl.proc.poll()
            now = time.monotonic()
            if anchored is None and len(world.server.log) > crawl.log_index:
                anchored = now
            spent = now - anchored if anchored is not None else 0.0
            if rc is not None:
                return rc, max(0.0, remaining - spent)
            if spent >= remaining:
                return None, 0.0
            time.sleep(0.02)

    def final_run(self, world: World) -> list[dict[str, Any]]:
        """Every spider once more, no faults, no kills: each must end on its own."""
        out = []
        for spider in self.order:
            crawl = start(world, spider, self.root, self.processes, self.options["quality"])
            self.processes += 1
            t0 = time.monotonic()
            try:
                rc = crawl.proc.wait(timeout=FINAL_TIMEOUT)
            except subprocess.TimeoutExpired:
                rc = stop(crawl, signal.SIGKILL)["rc"]
                rc = f"timeout ({rc})"
            wall = round(time.monotonic() - t0, 2)
            out.append({"spider": spider, "rc": rc, "wall_s": wall, **crash_report(crawl, rc)})
        return out

    def summary(self, world: World, result: dict[str, Any], wall: float) -> dict[str, Any]:
        sent = bytes_sent(world)
        kills = len(self.cycles)
        return {
            "campaign": self.index,
            "kills": kills,
            "processes": self.processes,
            "passes": self.passes + 1,
            "wall_s": round(wall, 1),
            "files": len(world.files),
            "total_size": world.total_size(),
            **sent,
            "refetched": sent["file_bytes_sent"] - world.total_size(),
            "final": self.final,
            "checks": result,
            "cycles": [asdict(c) for c in self.cycles],
        }


# -- measurements -----------------------------------------------------------------------------


def bytes_sent(world: World) -> dict[str, int]:
    """Bytes the server sent for file bodies and for everything else (listings, API)."""
    keys = {e.log_key for e in world.files.values()}
    files = other = 0
    with world.server._lock:
        for e in world.server.log:
            if (e.path, e.query) in keys:
                files += e.bytes_sent
            else:
                other += e.bytes_sent
    return {"file_bytes_sent": files, "other_bytes_sent": other}


def rows(data: Path, sql: str = STATE_QUERY) -> list[dict[str, Any]]:
    db = data / "catalog.sqlite"
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql)]
    except sqlite3.OperationalError:  # killed before the schema existed
        return []
    finally:
        con.close()


def published_files(data: Path) -> list[str]:
    """Files in the published tree (outside the reserved areas and the catalog itself)."""
    from capture.paths import RESERVED_TOP

    out = []
    for top in sorted(p for p in data.iterdir() if p.is_dir() and p.name not in RESERVED_TOP):
        out += [str(f.relative_to(data)) for f in top.rglob("*") if f.is_file() or f.is_symlink()]
    return out


def snapshot(data: Path) -> dict[str, Any]:
    """Cheap state after a kill: row states, and published files without a ``stored`` row
    (transient after a kill between publish and catalog write; the final check says whether
    the resume repaired it)."""
    if not data.exists():
        return {"states": {}}
    got = rows(data)
    stored = {r["path"] for r in got if r["state"] == "stored"}
    unrecorded = [p for p in published_files(data) if p not in stored]
    return {"states": dict(Counter(r["state"] for r in got)), "unrecorded": unrecorded}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(4 * MB):
            h.update(chunk)
    return h.hexdigest()


def check(world: World, data: Path) -> dict[str, Any]:
    """The campaign's verdict on the data root: every list here must be empty except
    ``not_stored`` entries of changed files (a new server version quarantined for md5)."""
    got = rows(data)
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in got:
        by_key.setdefault((r["archive"], r["archive_path"]), []).append(r)
    out: dict[str, Any] = {
        "garbled": [],
        "sha_mismatch": [],
        "stored_missing": [],
        "unrecorded": [],
        "lost": [],
        "duplicated": [],
        "unexpected_rows": [],
        "not_stored": [],
        "bad_versions": [],
    }
    stored_paths = set()
    for key, exp in world.files.items():
        found = by_key.get(key, [])
        if len(found) > 1:
            out["duplicated"].append({"file": key[1], "rows": len(found)})
        if not found or found[0]["state"] in UNFINISHED:
            out["lost"].append({"file": key[1], "state": found[0]["state"] if found else None})
            continue
        row = found[0]
        if row["state"] != "stored":
            out["not_stored"].append(_not_stored(exp, row))
            continue
        stored_paths.add(row["path"])
        _check_stored(data, exp, row, out)
    out["unexpected_rows"] = [
        {"archive": k[0], "file": k[1], "state": v[0]["state"]}
        for k, v in by_key.items()
        if k not in world.files
    ]
    stored_paths |= {r["path"] for r in got if r["state"] == "stored"}
    out["unrecorded"] = [p for p in published_files(data) if p not in stored_paths]
    _check_versions(world, data, out)
    out["quarantined"] = _quarantine_reasons(data)
    out["leftover_partials"] = _partials(data)
    out["events"] = {
        r["kind"]: r["n"] for r in rows(data, "select kind, count(*) n from events group by kind")
    }
    return out


def _not_stored(exp: Expected, row: dict[str, Any]) -> dict[str, Any]:
    changed = exp.blob.version > 1 and exp.blob.data is None
    return {
        "file": exp.archive_path,
        "state": row["state"],
        "changed": changed,
        "error": (row["error"] or "")[:200],
    }


def _check_stored(data: Path, exp: Expected, row: dict[str, Any], out: dict[str, Any]) -> None:
    path = data / row["path"]
    if not path.is_file():
        out["stored_missing"].append({"file": exp.archive_path, "path": row["path"]})
        return
    sha = sha256_of(path)
    if sha != row["sha256"]:
        out["sha_mismatch"].append({"file": exp.archive_path, "disk": sha, "row": row["sha256"]})
    if sha not in exp.shas():
        out["garbled"].append(
            {"file": exp.archive_path, "size": path.stat().st_size, "expected": exp.blob.size}
        )


def _check_versions(world: World, data: Path, out: dict[str, Any]) -> None:
    """Retired versions: one row per (file, version), bytes kept equal to a served version."""
    sql = (
        "select f.archive, f.archive_path, v.version, v.sha256, v.stored_at "
        "from file_versions v join files f on f.id = v.file_id"
    )
    seen: Counter[tuple[str, str, int]] = Counter()
    for v in rows(data, sql):
        key = (v["archive"], v["archive_path"])
        seen[(*key, v["version"])] += 1
        exp = world.files.get(key)
        if not v["stored_at"] or exp is None or not v["stored_at"].startswith("versions/"):
            continue
        path = data / v["stored_at"]
        if not path.is_file() or sha256_of(path) not in exp.shas() | {v["sha256"]}:
            out["bad_versions"].append({"file": key[1], "version": v["version"]})
    out["duplicated"] += [
        {"file": k[1], "version": k[2], "rows": n} for k, n in seen.items() if n > 1
    ]


def _quarantine_reasons(data: Path) -> dict[str, int]:
    reasons: Counter[str] = Counter()
    for note in (
        (data / "quarantine").rglob("*.reason.json") if (data / "quarantine").exists() else []
    ):
        try:
            reason = json.loads(note.read_text())
        except (OSError, ValueError):
            reasons["unreadable"] += 1
            continue
        text = str((reason.get("reasons") or [reason.get("error") or "unknown"])[0])
        reasons[text.split(":")[0][:60]] += 1
    return dict(reasons)


def _partials(data: Path) -> int:
    part = data / ".partial"
    return sum(1 for f in part.rglob("*.part")) if part.exists() else 0


# -- campaigns in worker processes -------------------------------------------------------------


def run_campaign(index: int, seed: int, kills: int, workdir: str, options: dict[str, Any]) -> dict:
    """One campaign in this process (its own emulator server); its root is deleted unless it
    found a problem or ``options['keep']``."""
    from tests.archives import ArchiveServer

    root = Path(workdir) / f"campaign-{index:04d}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    campaign = Campaign(index, seed, kills, root, options)
    server = ArchiveServer(bandwidth=options["bandwidth_mib"] * MB).start()
    server._httpd.handle_error = lambda *a: None  # a killed client resets: not news here
    try:
        world = build_world(server, campaign.rng, tuple(options["big_mib"]))
        summary = campaign.run(world)
    finally:
        server.stop()
    summary["root"] = str(root)
    if not (problems(summary) or options.get("keep")):
        shutil.rmtree(root, ignore_errors=True)
    return summary


PROBLEM_KEYS = (
    "garbled",
    "sha_mismatch",
    "stored_missing",
    "unrecorded",
    "lost",
    "duplicated",
    "unexpected_rows",
    "bad_versions",
)


def problems(summary: dict[str, Any]) -> list[str]:
    """What is wrong with a campaign, besides changed files legitimately not stored."""
    checks = summary["checks"]
    found = [k for k in PROBLEM_KEYS if checks[k]]
    if any(not n["changed"] for n in checks["not_stored"]):
        found.append("not_stored")
    if any(f["rc"] not in (0,) and not _partial_ok(f, checks) for f in summary["final"]):
        found.append("final_exit")
    if any(c["kill"].get("stuck") for c in summary["cycles"]):
        found.append("sigterm_stuck")
    if any(_crashed(e["rc"]) for c in summary["cycles"] for e in c["exits"]):
        found.append("crash")
    return found


def _crashed(rc: int) -> bool:
    """Exit 1 is a crash (capture.outcomes); a negative code is a signal nobody sent."""
    return rc == 1 or rc < 0


def _partial_ok(final: dict[str, Any], checks: dict[str, Any]) -> bool:
    """A final exit 3 (partial) is expected when a changed file was quarantined."""
    return final["rc"] == 3 and any(n["changed"] for n in checks["not_stored"])


def aggregate(summaries: list[dict[str, Any]], wall: float, config: dict[str, Any]) -> dict:
    cycles = [c for s in summaries for c in s["cycles"]]
    kills = len(cycles)
    refetched = sum(s["refetched"] for s in summaries)
    checks = [s["checks"] for s in summaries]
    not_stored = [n for c in checks for n in c["not_stored"]]
    term = [c["kill"]["stop_s"] for c in cycles if c["signal"] == "SIGTERM"]
    quarantined: Counter[str] = Counter()
    events: Counter[str] = Counter()
    for c in checks:
        quarantined.update(c["quarantined"])
        events.update(c["events"])
    return {
        "config": config,
        "campaigns": len(summaries),
        "kills": kills,
        "signals": dict(Counter(c["signal"] for c in cycles)),
        "unkilled_exit_codes": dict(Counter(str(e["rc"]) for c in cycles for e in c["exits"])),
        "killed_exit_codes": dict(Counter(f"{c['signal']}:{c['kill']['rc']}" for c in cycles)),
        "phases": dict(Counter(_phase_label(c) for c in cycles)),
        "faults_armed": dict(Counter(f["kind"] for c in cycles for f in c["faults"])),
        "garbled": sum(len(c["garbled"]) for c in checks),
        "sha_mismatch": sum(len(c["sha_mismatch"]) for c in checks),
        "stored_missing": sum(len(c["stored_missing"]) for c in checks),
        "unrecorded": sum(len(c["unrecorded"]) for c in checks),
        "lost": sum(len(c["lost"]) for c in checks),
        "duplicated": sum(len(c["duplicated"]) for c in checks),
        "unexpected_rows": sum(len(c["unexpected_rows"]) for c in checks),
        "bad_versions": sum(len(c["bad_versions"]) for c in checks),
        "changed_not_stored": sum(1 for n in not_stored if n["changed"]),
        "other_not_stored": sum(1 for n in not_stored if not n["changed"]),
        "quarantined": dict(quarantined),
        "leftover_partials": sum(c["leftover_partials"] for c in checks),
        "events": dict(events),
        "files": sum(s["files"] for s in summaries),
        "total_size": sum(s["total_size"] for s in summaries),
        "file_bytes_sent": sum(s["file_bytes_sent"] for s in summaries),
        "refetched": refetched,
        "refetched_per_kill": round(refetched / kills) if kills else 0,
        "processes": sum(s["processes"] for s in summaries),
        "sigterm_stop_s_max": max(term, default=0.0),
        "sigterm_stuck": sum(1 for c in cycles if c["kill"].get("stuck")),
        "campaign_wall_s": sum(s["wall_s"] for s in summaries),
        "wall_s": round(wall, 1),
        "wall_per_kill_s": round(wall / kills, 2) if kills else 0,
        "problems": {
            s["campaign"]: {"found": problems(s), "root": s["root"]}
            for s in summaries
            if problems(s)
        },
    }


def _phase_label(cycle: dict[str, Any]) -> str:
    prefix = "recrawl " if cycle["recrawl"] else ""
    return f"{prefix}{cycle['spider']}:{cycle['kill'].get('phase', '?')}"


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    per = args.kills_per_campaign
    campaigns = max(1, -(-args.kills // per))
    options = {
        "delay": [args.min_delay, args.max_delay],
        "bandwidth_mib": args.bandwidth_mib,
        "big_mib": [args.big_min_mib, args.big_max_mib],
        "quality": args.quality,
        "keep": args.keep,
    }
    config = {"kills": campaigns * per, "kills_per_campaign": per, "seed": args.seed, **options}
    config["parallel"] = args.parallel
    workdir = args.out / "campaigns"
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    summaries: list[dict[str, Any]] = []
    jobs = [(i, args.seed, per, str(workdir), options) for i in range(campaigns)]
    if args.parallel <= 1:
        for job in jobs:
            summaries.append(run_campaign(*job))
            _progress(summaries, campaigns, t0, args.json)
    else:
        ctx = get_context("spawn")
        with ProcessPoolExecutor(args.parallel, mp_context=ctx) as pool:
            for fut in as_completed([pool.submit(run_campaign, *job) for job in jobs]):
                summaries.append(fut.result())
                _progress(summaries, campaigns, t0, args.json)
    summaries.sort(key=lambda s: s["campaign"])
    return {"summary": aggregate(summaries, time.monotonic() - t0, config), "campaigns": summaries}


def _progress(done: list[dict[str, Any]], total: int, t0: float, quiet: bool) -> None:
    if quiet:
        return
    last = done[-1]
    flag = ",".join(problems(last)) or "ok"
    print(
        f"campaign {last['campaign']} ({len(done)}/{total}): {last['kills']} kills, "
        f"{last['processes']} processes, {last['wall_s']} s, {flag}; "
        f"elapsed {time.monotonic() - t0:.0f} s",
        file=sys.stderr,
        flush=True,
    )


# -- report ----------------------------------------------------------------------------------


def render(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"fault campaign: {summary['kills']} kills, seed {summary['config']['seed']}"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    must_be_zero = ("garbled", "sha_mismatch", "stored_missing", "unrecorded", "lost")
    must_be_zero += ("duplicated", "unexpected_rows", "bad_versions", "other_not_stored")
    for key in must_be_zero:
        value = summary[key]
        table.add_row(f"{key} (must be 0)", f"[{'red' if value else 'green'}]{value}")
    for key in (
        "campaigns",
        "kills",
        "signals",
        "killed_exit_codes",
        "unkilled_exit_codes",
        "changed_not_stored",
        "quarantined",
        "leftover_partials",
        "events",
        "processes",
        "total_size",
        "file_bytes_sent",
        "refetched",
        "refetched_per_kill",
        "sigterm_stop_s_max",
        "sigterm_stuck",
        "wall_s",
        "wall_per_kill_s",
    ):
        table.add_row(key, str(summary[key]))
    console = Console(stderr=False)
    console.print(table)
    phases = Table(title="where the kills landed (spider:phase)")
    phases.add_column("phase")
    phases.add_column("kills", justify="right")
    for label, n in sorted(summary["phases"].items(), key=lambda kv: -kv[1]):
        phases.add_row(label, str(n))
    console.print(phases)
    if summary["problems"]:
        console.print(f"[red]problems: {json.dumps(summary['problems'])}")


def main(args: argparse.Namespace) -> int:
    args.out = (args.out or Path(tempfile.mkdtemp(prefix="capture-faults-"))).resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    results = run_all(args)
    path = args.out / "faults.json"
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    summary = results["summary"]
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        render(summary)
        print(f"results written to {path}")
    return 1 if summary["problems"] else 0


def add_parser(sub: Any) -> None:
    """The ``faults`` subcommand's options (wired in bench/__main__.py)."""
    p = sub.add_parser("faults", help="random kills and server faults, then resume; checks")
    p.add_argument("--kills", type=int, default=30, help="kill points in all (N)")
    p.add_argument("--kills-per-campaign", type=int, default=10, help="K kills per data root")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, help="results dir (faults.json, failing campaigns)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--parallel", type=int, default=1, help="campaigns at a time")
    p.add_argument("--min-delay", type=float, default=0.5, help="seconds after (re)start")
    p.add_argument("--max-delay", type=float, default=5.0)
    p.add_argument("--bandwidth-mib", type=float, default=16.0, help="per connection")
    p.add_argument("--big-min-mib", type=int, default=10)
    p.add_argument("--big-max-mib", type=int, default=30)
    p.add_argument("--quality", action="store_true", help="score quality too (slower cycles)")
    p.add_argument("--keep", action="store_true", help="keep every campaign's data root")
