"""``python -m bench quality``: scoring throughput and memory of the quality stage.

Large files (a FITS image with CHECKSUM/DATASUM and a netCDF-4 cube, each ``--big-mib``) and
``--small-count`` small files of mixed formats (FITS, CSV, VCF, text) are scored through
:class:`capture.quality.runner.QualityRunner` in process mode, as the pipeline does: small
CSV and text files in this process, the rest in worker processes. Reports MB/s and files/s
(compare with the download rates of ``python -m bench run``: scoring must not be the
bottleneck of a capture), how many files each path took, and the peak resident memory of the
worker process that scored each large file (the crawl's own RSS plus that is the process
tree while a large file is scored).
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from capture.quality.runner import QualityRunner
from capture.quality.scorers.base import ScoreContext


def _fits(path: Path, mib: int) -> None:
    from astropy.io import fits

    side = int((mib * 1024 * 1024 / 4) ** 0.5)
    data = np.random.default_rng(0).random((side, side), dtype=np.float32)
    hdu = fits.PrimaryHDU(data)
    hdu.header["TELESCOP"], hdu.header["DATE"], hdu.header["ORIGIN"] = "BENCH", "2024-01-01", "x"
    hdu.writeto(path, checksum=True, overwrite=True)


def _netcdf(path: Path, mib: int) -> None:
    import netCDF4

    n = int(mib * 1024 * 1024 / 4 / (180 * 360))
    ds = netCDF4.Dataset(path, "w", format="NETCDF4")
    ds.Conventions, ds.title, ds.summary = "CF-1.8", "bench", "bench cube"
    for name, size in (("time", n), ("lat", 180), ("lon", 360)):
        ds.createDimension(name, size)
        v = ds.createVariable(name, "f8", (name,))
        v.units = "1"
        v[:] = np.arange(size)
    tas = ds.createVariable("tas", "f4", ("time", "lat", "lon"))
    tas.units = "K"
    rng = np.random.default_rng(1)
    for t in range(n):
        tas[t] = rng.random((180, 360), dtype=np.float32) + 250
    ds.close()


def _small(root: Path, count: int) -> list[tuple[Path, str]]:
    from astropy.io import fits

    out = []
    for i in range(count):
        kind = ("fits", "csv", "vcf.gz", "text")[i % 4]
        path = root / f"small_{i}.{kind if kind != 'text' else 'txt'}"
        if kind == "fits":
            buf = io.BytesIO()
            fits.PrimaryHDU(np.arange(10000, dtype=np.float32)).writeto(buf, checksum=True)
            path.write_bytes(buf.getvalue())
        elif kind == "csv":
            path.write_text(
                "a,b,st_teff\n" + "".join(f'"x{j}",{j},{5000 + j}\n' for j in range(1000))
            )
        elif kind == "vcf.gz":
            body = (
                "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                + "".join(f"1\t{100 + j}\t.\tA\tG\t50\tPASS\t.\n" for j in range(1000))
            )
            path.write_bytes(gzip.compress(body.encode()))
        else:
            path.write_text("notes\n" * 500)
        out.append((path, kind))
    return out


def _context(path: Path, fmt: str) -> ScoreContext:
    return ScoreContext(
        str(path),
        path.name,
        format=fmt,
        size=path.stat().st_size,
        sha256="0" * 64,
        budget_seconds=60,
    )


def _score_all(runner: QualityRunner, items: list[tuple[Path, str]], workers: int) -> float:
    def one(pair: tuple[Path, str]) -> str:
        return runner.score_sync(_context(*pair), 0.9, 0.92).grade

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:  # keep every worker process busy
        grades = list(pool.map(one, items))
    elapsed = time.perf_counter() - started
    bad = [g for g in grades if g == "quarantined"]
    if bad:
        raise SystemExit(f"{len(bad)} benchmark files unexpectedly quarantined")
    return elapsed


def _peak_rss_mb(pid: int) -> float:
    """The kernel's high-water mark of a process's resident memory (VmHWM)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def run(big_mib: int, small_count: int, workers: int, workdir: Path | None) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="capture-quality-bench-", dir=workdir))
    runner = QualityRunner(mode="process", workers=workers, idle_seconds=0)
    try:
        big = [(tmp / "image.fits", "fits"), (tmp / "cube.nc", "netcdf")]
        _fits(big[0][0], big_mib)
        _netcdf(big[1][0], big_mib)
        smalls = _small(tmp, small_count)
        result: dict[str, Any] = {"workers": workers, "large": {}}
        for path, fmt in big:
            # A fresh worker, started and holding this format's readers outside the timing.
            runner.close()
            warm = tmp / f"warm.{fmt}"
            (_fits if fmt == "fits" else _netcdf)(warm, 1)
            runner.score_sync(_context(warm, fmt), 0.9, 0.92)
            size = path.stat().st_size
            seconds = _score_all(runner, [(path, fmt)], 1)
            result["large"][fmt] = {
                "bytes": size,
                "seconds": round(seconds, 3),
                "MB_per_s": round(size / 1e6 / seconds, 1),
                "worker_peak_rss_mb": max(_peak_rss_mb(pid) for pid in runner.worker_pids),
            }
        runner.close()
        before = (runner.inline_files, runner.isolated_files)
        size = sum(p.stat().st_size for p, _ in smalls)
        seconds = _score_all(runner, smalls, workers + 1)  # + the in-process thread
        result["small"] = {
            "files": len(smalls),
            "bytes": size,
            "seconds": round(seconds, 3),
            "MB_per_s": round(size / 1e6 / seconds, 1),
            "files_per_s": round(len(smalls) / seconds, 1),
            "in_process": runner.inline_files - before[0],
            "in_workers": runner.isolated_files - before[1],
        }
        return result
    finally:
        runner.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main(args: Any) -> int:
    result = run(args.big_mib, args.small_count, args.workers, args.workdir)
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0
