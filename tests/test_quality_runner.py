"""Quality scoring sized to the file: small files of pure-Python formats are scored in the
crawl process, everything else in worker processes started on demand and stopped when idle;
the time limits and crash isolation hold on both paths; and the score model's numbers are
exactly the original formulas'."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from capture.quality.model import CheckResult, Outcome, QualityReport, Severity, Tier, grade_for
from capture.quality.registry import INLINE_SAFE, inline_safe
from capture.quality.runner import QualityRunner
from capture.quality.scorers.base import Checks, ScoreContext
from tests import quality_files as qf
from tests.archives import ArchiveServer, Blob
from tests.archives.thousand_genomes import WHOLE_TREE, ThousandGenomesArchive
from tests.crawl import REPO, last_run_stats, run_crawl, wait_for

#: How long :func:`sleepy` keeps its thread busy: far past the tiny deadlines used below.
SLEEP = 3.0


def sleepy(ctx: ScoreContext) -> Checks:
    """A scorer plugin that overruns any small budget (declared inline-safe by the tests)."""
    time.sleep(SLEEP)
    checks = Checks()
    checks.passed("sleepy.done", Tier.CONFORMANCE, Severity.LOW, "woke up")
    return checks


def _ctx(path: Path, fmt: str | None = None, **kw: object) -> ScoreContext:
    return ScoreContext(
        str(path), path.name, format=fmt, size=path.stat().st_size, sha256="0" * 64, **kw
    )


def _children() -> set[int]:
    """Child processes of this test process (from /proc, whatever started them)."""
    me = os.getpid()
    kids = set()
    for task in Path(f"/proc/{me}/task").iterdir():
        text = (task / "children").read_text().split()
        kids.update(int(pid) for pid in text)
    return kids


def _small_tables(root: Path, count: int) -> list[tuple[Path, str]]:
    files = []
    for i in range(count):
        if i % 2:
            path = root / f"t{i}.csv"
            path.write_text(
                "st_teff,ra,dec\n" + "".join(f"{5000 + j},{j}.5,-{j}.25\n" for j in range(40))
            )
            files.append((path, "csv"))
        else:
            path = root / f"n{i}.txt"
            path.write_text(f"observation log {i}\n" * 30)
            files.append((path, "text"))
    return files


def _run_script(script: str, tmp_path: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh interpreter (its own imports and reactor) on ``tmp_path``."""
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_small_safe_files_are_scored_in_process_without_any_worker(tmp_path: Path) -> None:
    runner = QualityRunner(hard_factor=1.0, grace=5.0)
    before = _children()
    try:
        for path, fmt in _small_tables(tmp_path, 50):
            report = runner.score_sync(_ctx(path, fmt), 0.9, 0.92)
            assert report.grade == "nasa_grade", (path.name, report.reasons())
            assert report.scorer == fmt
        assert runner.inline_files == 50
        assert runner.workers_started == 0 and runner.live_workers == 0
        assert _children() == before  # no process was started for them
    finally:
        runner.close()


IMPORTS_SCRIPT = """
import json, sys
from pathlib import Path
from capture.quality.runner import QualityRunner
from capture.quality.scorers.base import ScoreContext

runner = QualityRunner()
grades = []
for p in sorted(Path(sys.argv[1]).iterdir()):
    fmt = {"csv": "csv", "txt": "text", "json": "json", "bin": None}[p.suffix[1:]]
    ctx = ScoreContext(str(p), p.name, format=fmt, size=p.stat().st_size, sha256="0" * 64)
    grades.append(runner.score_sync(ctx, 0.9, 0.92).grade)
heavy = [m for m in ("numpy", "astropy", "netCDF4", "h5py") if m in sys.modules]
print(json.dumps([grades, heavy, runner.inline_files, runner.workers_started]))
"""


def test_in_process_scoring_loads_no_c_reader(tmp_path: Path) -> None:
    """The crawl process pays for no numpy/astropy/netCDF-C when it scores small files."""
    _small_tables(tmp_path, 6)
    (tmp_path / "a.json").write_text('{"rows": [1, 2, 3]}')
    (tmp_path / "blob.bin").write_bytes(random.Random(2).randbytes(5 << 20))  # no scorer
    proc = _run_script(IMPORTS_SCRIPT, tmp_path, timeout=60)
    grades, heavy, inline, started = json.loads(proc.stdout)
    assert len(grades) == 8 and "quarantined" not in grades, grades
    assert heavy == [] and inline == 8 and started == 0


def test_routing_rule(tmp_path: Path) -> None:
    """Which files may be scored in-process, read from real files."""
    small_csv = tmp_path / "t.csv"
    small_csv.write_text("a,b\n1,2\n")
    wide = tmp_path / "wide.csv"  # 20,000 columns: its duplicate-name check is quadratic
    wide.write_text(",".join(f"c{i}" for i in range(20000)) + "\n1\n")
    big_text = tmp_path / "big.txt"
    big_text.write_text("x" * 99 + "\n" * (2 << 20))
    big_unknown = tmp_path / "blob.bin"  # no content scorer: 8 KiB read at any size
    big_unknown.write_bytes(random.Random(1).randbytes(3 << 20))
    fits, gz, psg = tmp_path / "a.fits", tmp_path / "a.txt.gz", tmp_path / "a.psg"
    fits.write_bytes(qf.fits_bytes())
    gz.write_bytes(qf.vcf_gz())
    psg.write_bytes(b"# Planetary Spectrum Generator\n1.0 2.0\n")
    cases = {
        (small_csv, "csv"): True,
        (wide, "csv"): False,
        (big_text, "text"): False,
        (big_unknown, None): True,
        (fits, "fits"): False,
        (gz, "text"): False,
        (psg, "psg"): False,
    }
    for (path, fmt), expected in cases.items():
        assert inline_safe(_ctx(path, fmt), INLINE_SAFE, 1 << 20) is expected, path.name
    plugin = _ctx(small_csv, "csv", plugins={".csv": "tests.test_quality_runner:sleepy"})
    assert not inline_safe(plugin, INLINE_SAFE, 1 << 20)  # unknown code: isolated
    assert inline_safe(plugin, INLINE_SAFE | {".csv"}, 1 << 20)


def test_fits_and_netcdf_go_to_workers_that_hold_one_reader_family(tmp_path: Path) -> None:
    fits, nc = tmp_path / "x1d.fits", tmp_path / "gcm.nc"
    fits.write_bytes(qf.fits_bytes())
    nc.write_bytes(qf.netcdf_bytes("NETCDF4"))
    runner = QualityRunner(workers=1, hard_factor=2.0, grace=20.0)
    try:
        assert runner.score_sync(_ctx(fits, "fits"), 0.9, 0.92).grade == "nasa_grade"
        assert runner.workers_started == 1 and runner.live_workers == 1
        pid = runner.worker_pids[0]
        assert pid in _children()
        assert runner.score_sync(_ctx(fits, "fits"), 0.9, 0.92).grade == "nasa_grade"
        assert runner.workers_started == 1  # reused
        # netCDF needs other readers than the FITS worker holds: a fresh worker takes it.
        assert runner.score_sync(_ctx(nc, "netcdf"), 0.9, 0.92).grade == "nasa_grade"
        assert runner.workers_started == 2 and runner.live_workers == 1
        assert wait_for(lambda: pid not in _children(), timeout=10)
        assert runner.isolated_files == 3 and runner.inline_files == 0
    finally:
        runner.close()


def test_a_crashing_scorer_takes_down_only_its_worker(tmp_path: Path) -> None:
    boom, fits = tmp_path / "segfault.crash", tmp_path / "x1d.fits"
    boom.write_bytes(b"boom")
    fits.write_bytes(qf.fits_bytes())
    plugins = {".crash": "tests.quality_plugins:crash"}
    runner = QualityRunner(hard_factor=2.0, grace=20.0)
    try:
        report = runner.score_sync(_ctx(boom, plugins=plugins), 0.9, 0.92)
        assert report.grade == "quarantined"
        assert report.reasons()[0].startswith("scorer.process: scorer process crashed")
        assert "exit code 3" in report.reasons()[0]
        assert runner.score_sync(_ctx(fits, "fits"), 0.9, 0.92).grade == "nasa_grade"
        assert runner.workers_started == 2
    finally:
        runner.close()


def test_a_hung_inline_scorer_is_quarantined_in_time_and_workers_take_over(
    tmp_path: Path,
) -> None:
    slow, table = tmp_path / "slow.sleepy", tmp_path / "t.csv"
    slow.write_bytes(b"zzz")
    table.write_text("a,b\n1,2\n")
    plugins = {".sleepy": "tests.test_quality_runner:sleepy"}
    runner = QualityRunner(
        hard_factor=1.0, grace=0.3, idle_seconds=0, inline_formats=INLINE_SAFE | {".sleepy"}
    )
    try:
        started = time.monotonic()
        report = runner.score_sync(_ctx(slow, plugins=plugins, budget_seconds=0.2), 0.9, 0.92)
        elapsed = time.monotonic() - started
        assert report.grade == "quarantined"
        assert "did not finish" in report.reasons()[0]
        assert 0.45 <= elapsed < 1.5, elapsed  # deadline 0.2 x 1 + 0.3 s, not the 3 s sleep
        # While the abandoned thread sleeps, every file is isolated, even a small table.
        assert runner.score_sync(_ctx(table, "csv"), 0.9, 0.92).grade == "nasa_grade"
        assert runner.isolated_files == 1 and runner.workers_started == 1
        # Once the scorer returns, its thread is gone and small tables are in-process again.
        inline = runner.inline_files
        assert wait_for(lambda: runner.inline_files == inline + 1, timeout=SLEEP + 5)
        assert wait_for(lambda: runner._may_inline(_ctx(table, "csv")), timeout=5)
        assert runner.score_sync(_ctx(table, "csv"), 0.9, 0.92).grade == "nasa_grade"
        assert runner.inline_files == inline + 2 and runner.isolated_files == 1
    finally:
        runner.close()


def test_idle_workers_stop_and_restart_on_demand(tmp_path: Path) -> None:
    fits = tmp_path / "x1d.fits"
    fits.write_bytes(qf.fits_bytes())
    runner = QualityRunner(idle_seconds=0.5, hard_factor=2.0, grace=20.0)
    try:
        assert runner.score_sync(_ctx(fits, "fits"), 0.9, 0.92).grade == "nasa_grade"
        pid = runner.worker_pids[0]
        assert runner.live_workers == 1 and pid in _children()
        assert wait_for(lambda: runner.live_workers == 0, timeout=5)
        assert wait_for(lambda: pid not in _children(), timeout=5)  # exited and reaped
        assert runner.score_sync(_ctx(fits, "fits"), 0.9, 0.92).grade == "nasa_grade"
        assert runner.workers_started == 2 and runner.live_workers == 1
    finally:
        runner.close()
    assert runner.live_workers == 0


# The Deferred path under a real reactor: in-process and worker files at once, one of them
# hanging in-process past its deadline.
REACTOR_SCRIPT = """
import json, sys, time
from pathlib import Path
from twisted.internet import reactor
from twisted.internet.defer import DeferredList
from capture.quality.registry import INLINE_SAFE
from capture.quality.runner import QualityRunner
from capture.quality.scorers.base import ScoreContext

root = Path(sys.argv[1])
runner = QualityRunner(hard_factor=1.0, grace=0.3, inline_formats=INLINE_SAFE | {".sleepy"})
plugins = {".sleepy": "tests.test_quality_runner:sleepy"}
names = sorted(p.name for p in root.iterdir())
out = {}

def ctx(name):
    p = root / name
    fmt = {"fits": "fits", "csv": "csv", "txt": "text"}.get(name.rsplit(".", 1)[-1])
    budget = 0.2 if name.endswith(".sleepy") else 30.0
    return ScoreContext(str(p), name, format=fmt, size=p.stat().st_size, sha256="0" * 64,
                        plugins=plugins, budget_seconds=budget)

def done(report, name, t0):
    out[name] = [report.grade, report.reasons(1), round(time.monotonic() - t0, 3)]

def run():
    t0 = time.monotonic()
    ds = [runner.score(ctx(n), 0.9, 0.92).addCallback(done, n, t0) for n in names]
    DeferredList(ds).addBoth(lambda _: finish())

def finish():
    out["_counts"] = [runner.inline_files, runner.isolated_files, runner.workers_started]
    runner.close()
    reactor.stop()

reactor.callWhenRunning(run)
reactor.run()
print(json.dumps(out))
"""


def test_deferred_path_under_a_real_reactor(tmp_path: Path) -> None:
    files = _small_tables(tmp_path, 10)
    (tmp_path / "slow.sleepy").write_bytes(b"zzz")
    (tmp_path / "x1d.fits").write_bytes(qf.fits_bytes())
    proc = _run_script(REACTOR_SCRIPT, tmp_path, timeout=120)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    grade, reasons, seconds = out["slow.sleepy"]
    assert grade == "quarantined" and "did not finish" in reasons[0]
    assert seconds < SLEEP  # the deadline (0.5 s after it started), not the scorer, ended it
    for path, _fmt in files:
        assert out[path.name][0] == "nasa_grade", out[path.name]
    assert out["x1d.fits"][0] == "nasa_grade"
    inline, isolated, started = out["_counts"]
    # The tables queued behind the sleeper ran on a fresh thread, or went to the worker once
    # the sleeper was abandoned: every file scored once, one worker at most.
    assert inline + isolated >= len(files) + 1 and started == 1


def test_small_files_of_a_real_crawl_are_scored_in_the_crawl_process(tmp_path: Path) -> None:
    files = {f"ftp/q/n{i}.txt": f"observation log {i}\n".encode() * 20 for i in range(30)}
    files["ftp/q/x1d.fits"] = qf.fits_bytes()
    files["ftp/q/gcm.nc"] = qf.netcdf_bytes("NETCDF4")
    with ArchiveServer() as server:
        tg = ThousandGenomesArchive(server)
        for name, data in files.items():
            tg.add_file(name, Blob.of(data))
        result = run_crawl(
            "thousand_genomes",
            tmp_path / "data",
            args={"base_url": tg.publish(), **WHOLE_TREE},
            settings={"CAPTURE_QUALITY_ENABLED": "True"},
            timeout=300,
        )
    assert result.returncode == 0, result.log[-3000:]
    items = result.by_path()
    assert len(items) == len(files)
    assert all(i["status"] == "stored" for i in items.values()), items
    stats = last_run_stats(result.data_dir)
    assert stats["capture/quality/scored_in_process"] == 30
    assert stats["capture/quality/scored_in_workers"] == 2
    assert stats["capture/quality/workers_started"] == 2  # astropy, then netCDF-C/HDF5


# -- the score model: computed once, numbers exactly the original formulas' -------------------
def _reference(report: QualityReport) -> dict[str, object]:
    """The model's formulas as first written (every property recomputed from the checks)."""

    def is_applicable(c: CheckResult) -> bool:
        return c.outcome not in (Outcome.NOT_APPLICABLE, Outcome.ERROR)

    def applicable() -> list[CheckResult]:
        return [c for c in report.checks if is_applicable(c)]

    def weight(c: CheckResult) -> int:
        return {"HIGH": 3, "MEDIUM": 2, "LOW": 1}[c.severity.value]

    def total() -> int:
        return sum(weight(c) for c in applicable())

    def contribution(c: CheckResult) -> float:
        t = total()
        if not t or not is_applicable(c):
            return 0.0
        return weight(c) * c.earned / t

    def loss(c: CheckResult) -> float:
        t = total()
        if not t or not is_applicable(c):
            return 0.0
        return weight(c) * (1.0 - c.earned) / t

    gates = [c for c in report.checks if c.is_gate_failure]
    errors = [c for c in report.checks if c.outcome == Outcome.ERROR]
    nonconf = [c for c in report.checks if c.tier == Tier.CONFORMANCE and c.outcome == Outcome.FAIL]
    weighted = round(sum(contribution(c) for c in applicable()), 6)
    score = 0.0 if gates else weighted
    if not applicable():
        grade = "quarantined"
    else:
        grade = grade_for(score, bool(gates), report.quality_threshold, report.nasa_threshold)
        if grade == "nasa_grade" and (report.unexamined or errors or nonconf):
            grade = "accepted"
    at = lambda c: f" [{c.location}]" if c.location else ""  # noqa: E731
    reasons = [f"{c.check_id}{at(c)}: {c.message}" for c in gates]
    if report.unexamined:
        reasons.append(f"content not examined: {report.unexamined}")
    reasons += [
        f"{c.check_id}{at(c)}: checker failed (not a defect of the file): {c.message}"
        for c in errors
    ]
    lossy = sorted(
        (
            c
            for c in applicable()
            if c.earned < 1.0 and not c.is_gate_failure and c.outcome != Outcome.ERROR
        ),
        key=loss,
        reverse=True,
    )
    reasons += [f"{c.check_id}{at(c)} ({c.outcome}, -{loss(c):.3f}): {c.message}" for c in lossy]
    return {
        "score": round(score, 4),
        "grade": grade,
        "reasons": reasons[:8],
        "weighted_score": weighted,
        "total_weight": total(),
        "contributions": [round(contribution(c), 6) for c in report.checks],
        "losses": [loss(c) for c in report.checks],
    }


def _current(report: QualityReport) -> dict[str, object]:
    data = report.to_dict()
    return {
        "score": data["score"],
        "grade": data["grade"],
        "reasons": data["reasons"],
        "weighted_score": data["weighted_score"],
        "total_weight": report.total_weight,
        "contributions": [c["contribution"] for c in data["checks"]],
        "losses": [report.loss(c) for c in report.checks],
    }


def _random_check(rng: random.Random, i: int) -> CheckResult:
    return CheckResult(
        f"check.{i}",
        rng.choice(list(Tier)),
        rng.choice(list(Severity)),
        rng.choice(list(Outcome)),
        f"message {i}",
        rng.choice([None, f"HDU {i}"]),
        credit=rng.choice([None, None, rng.random(), rng.uniform(-0.5, 1.5)]),
    )


def test_report_numbers_are_the_original_formulas_on_random_reports() -> None:
    rng = random.Random(14)
    for _ in range(3000):
        report = QualityReport(
            "random",
            quality_threshold=rng.choice([0.9, rng.random()]),
            nasa_threshold=rng.choice([0.92, rng.random()]),
            unexamined=rng.choice([None, "no scorer"]),
        )
        n = rng.randint(0, 40)
        for i in range(n // 2):
            report.checks.append(_random_check(rng, i))
        assert _current(report) == _reference(report)
        # Appending after the numbers were read (as error_report and the scorers do) counts.
        for i in range(n // 2, n):
            report.checks.append(_random_check(rng, i))
        assert _current(report) == _reference(report)
        report.checks = report.checks[: n // 3]  # a replaced list is a new report state
        assert _current(report) == _reference(report)


def test_report_numbers_are_the_original_formulas_on_real_reports(tmp_path: Path) -> None:
    samples = {
        "good.fits": ("fits", qf.fits_bytes()),
        "nochecksum.fits": ("fits", qf.fits_bytes(checksum=False)),
        "truncated.fits": ("fits", qf.fits_truncated()),
        "bad.fits": ("fits", qf.fits_bad_datasum()),
        "gcm.nc": ("netcdf", qf.netcdf_bytes("NETCDF4")),
        "cut.nc": ("netcdf", qf.netcdf_bytes("NETCDF3_CLASSIC", cut=True)),
        "calls.vcf.gz": ("vcf.gz", qf.vcf_gz()),
        "broken.vcf": ("vcf", qf.vcf_text(broken_header=True)),
        "page.csv": ("csv", qf.HTML),
        "t.csv": ("csv", b'a,b\n"1",2\n3\n'),
    }
    runner = QualityRunner(hard_factor=2.0, grace=20.0)
    try:
        for name, (fmt, data) in samples.items():
            path = tmp_path / name
            path.write_bytes(data)
            report = runner.score_sync(_ctx(path, fmt), 0.9, 0.92)
            assert report.checks, name
            assert _current(report) == _reference(report), name
    finally:
        runner.close()
