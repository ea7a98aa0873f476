"""``python -m bench compress``: what compression at rest saves and what it costs.

The corpus is files in the archives' real formats, gathered on this machine (nothing is
downloaded):

* ``samples``: the recorded archive responses in ``../shared/samples`` (TAP CSV/JSON, KEGG,
  PSG, IRIS EMC netCDF, PDS SHADR table, 1000 Genomes indexes, NOAA paleo, MAST JSON);
* ``packages``: the test data astropy and h5py ship (FITS images and tables, some
  tile-compressed, VOTable/XML, ASCII tables, gzip files, HDF5);
* ``written``: files written here by the formats' own libraries: netCDF classic and netCDF4
  (zlib chunks) of a smooth climate-like field, FITS images plain and RICE/GZIP tile-compressed
  (astropy), a gzip-compressed VCF;
* ``emulators``: what tests/archives serves for 1000 Genomes (panel, BGZF VCF, .bai, .crai,
  indexes) and KEGG (flat-file entries).

For every file the production path runs (:func:`capture.storage.compress.encode` on a file in a
``.partial/`` directory: trial, streamed encode, read-back proof) and the stored bytes are
decoded once more and compared with the original byte for byte. Reported: bytes before/after
by format and overall, files encoded and left alone, zstd compress and decompress MB/s, the
levels 1/3/9/19 on the whole corpus, what a trained dictionary would add on small files
(trained on half, measured on the other half), and capture's small-file crawl throughput with
``CAPTURE_COMPRESS`` off and auto in the same run (interleaved, repeated).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import zstandard

from bench.machine import machine_info
from capture.formats.detection import guess_format
from capture.storage import codec as codecs
from capture.storage.compress import Plan, encode
from capture.storage.local import LocalEncodeIO

REPO = Path(__file__).resolve().parents[1]
MB = 1e6
SUFFIX_FORMATS = {".h5": "hdf5", ".nc": "netcdf", ".fits": "fits", ".xml": "xml"}


@dataclass
class Sample:
    source: str
    name: str
    data: bytes

    @property
    def format(self) -> str:
        return guess_format(self.name) or "other"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("compress", help="compression at rest: storage table and crawl cost")
    p.add_argument("--level", type=int, default=3)
    p.add_argument("--min-gain", type=float, default=0.1)
    p.add_argument("--crawl-files", type=int, default=300, help="files of the crawl comparison")
    p.add_argument("--repeat", type=int, default=3, help="crawls per setting")
    p.add_argument("--workdir", type=Path)
    p.add_argument("--out", type=Path)


# -- corpus -----------------------------------------------------------------------------------
def samples_corpus() -> list[Sample]:
    sys.path.insert(0, str(REPO))
    from tests.archives.samples import samples_root

    root = samples_root()
    if root is None:
        return []
    return [
        Sample("samples", str(p.relative_to(root)), p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "SOURCE.md"
    ]


def package_corpus() -> list[Sample]:
    import astropy
    import h5py

    out = []
    base = Path(astropy.__file__).parent
    for sub in ("io/fits/tests/data", "io/ascii/tests/data", "io/votable/tests/data"):
        for p in sorted((base / sub).rglob("*")):
            if p.is_file() and p.stat().st_size >= 512 and p.suffix != ".py":
                out.append(Sample("packages", f"astropy/{p.relative_to(base)}", p.read_bytes()))
    for p in sorted(Path(h5py.__file__).parent.rglob("*.h5")):
        out.append(Sample("packages", f"h5py/{p.name}", p.read_bytes()))
    return out


def written_corpus(tmp: Path) -> list[Sample]:
    import netCDF4
    import numpy as np
    from astropy.io import fits

    rng = np.random.default_rng(7)
    lat, lon, t = np.linspace(-90, 90, 90), np.linspace(0, 360, 144), 24
    field = (
        288
        + 30 * np.cos(np.radians(lat))[None, :, None]
        + 5 * np.sin(np.arange(t) / 4)[:, None, None]
        + rng.normal(0, 0.5, (t, lat.size, lon.size))
    ).astype("f4")
    out = []
    for fmt, zlib in (("NETCDF3_CLASSIC", False), ("NETCDF4", True)):
        path = tmp / f"tsurf_{fmt.lower()}.nc"
        with netCDF4.Dataset(path, "w", format=fmt) as ds:
            ds.createDimension("time", t)
            ds.createDimension("lat", lat.size)
            ds.createDimension("lon", lon.size)
            var = ds.createVariable("tsurf", "f4", ("time", "lat", "lon"), zlib=zlib)
            var.units = "K"
            var[:] = field
        out.append(Sample("written", path.name, path.read_bytes()))
    img = rng.normal(1000, 30, (1024, 1024)).astype(np.int16)
    for kind in (None, "RICE_1", "GZIP_1"):
        buf = io.BytesIO()
        hdus = [fits.PrimaryHDU(None if kind else img)]
        if kind:
            hdus.append(fits.CompImageHDU(img, compression_type=kind))
        fits.HDUList(hdus).writeto(buf)
        out.append(Sample("written", f"image_{kind or 'plain'}.fits", buf.getvalue()))
    sys.path.insert(0, str(REPO))
    from tests.archives.thousand_genomes import genotypes_vcf

    vcf = gzip.decompress(genotypes_vcf(2000))
    out.append(Sample("written", "chr22.genotypes.vcf", vcf))
    out.append(Sample("written", "chr22.genotypes.plain-gzip.vcf.gz", gzip.compress(vcf)))
    return out


def emulator_corpus() -> list[Sample]:
    sys.path.insert(0, str(REPO))
    from tests.archives import kegg
    from tests.archives import thousand_genomes as tg

    out = [
        Sample("emulators", "ALL.panel.txt", tg.panel()),
        Sample("emulators", "ALL.chr22.genotypes.vcf.gz", tg.genotypes_vcf(2000)),
        Sample("emulators", "HG00096.bam.bai", tg.bai()),
        Sample("emulators", "HG00096.cram.crai", tg.crai()),
        Sample("emulators", "1000G_2504_high_coverage.sequence.index", tg.sequence_index()),
    ]
    for i in range(40):
        text = kegg.flat_entry("compound", f"C{i:05d}", f"compound {i}")
        out.append(Sample("emulators", f"kegg/get/cpd_C{i:05d}", text.encode()))
    return out


# -- measurements -----------------------------------------------------------------------------
def through_store(tmp: Path, s: Sample, plan: Plan) -> tuple[int, bool, float]:
    """(stored bytes, encoded?, seconds) of the production path; checks the round trip."""
    part = tmp / ".partial" / "f.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(s.data)
    sha = hashlib.sha256(s.data).hexdigest()
    clock = time.perf_counter()
    got = encode(LocalEncodeIO(str(part)), len(s.data), sha, plan)
    took = time.perf_counter() - clock
    if got is None:
        return len(s.data), False, took
    stored = Path(got.part).read_bytes()
    back = b"".join(codecs.decode([stored], got.codec))
    if back != s.data:
        raise SystemExit(f"round trip of {s.source}/{s.name} is not byte-exact")
    os.unlink(got.part)
    return len(stored), True, took


def speeds(data: list[bytes], level: int) -> tuple[int, float, float]:
    """(compressed bytes, compress MB/s, decompress MB/s) of zstd alone, in memory."""
    cctx, dctx = zstandard.ZstdCompressor(level=level), zstandard.ZstdDecompressor()
    total = sum(map(len, data))
    clock = time.perf_counter()
    frames = [cctx.compress(d) for d in data]
    ctime = time.perf_counter() - clock
    clock = time.perf_counter()
    for f in frames:
        dctx.decompress(f)
    dtime = time.perf_counter() - clock
    return sum(map(len, frames)), total / MB / ctime, total / MB / dtime


def dictionary_gain(small: list[bytes], level: int) -> dict[str, Any]:
    """A dictionary trained on every other small file, measured on the rest (hold-out)."""
    train, test = small[::2], small[1::2]
    if len(train) < 8 or not test:
        return {"files": len(small), "note": "too few small files to train"}
    size = min(16384, max(1024, sum(map(len, train)) // 10))
    try:
        d = zstandard.train_dictionary(size, train)
    except zstandard.ZstdError as exc:
        return {"files": len(small), "note": f"training failed: {exc}"}
    plain = sum(len(zstandard.ZstdCompressor(level=level).compress(t)) for t in test)
    with_d = sum(len(zstandard.ZstdCompressor(level=level, dict_data=d).compress(t)) for t in test)
    before = sum(map(len, test))
    return {
        "train_files": len(train),
        "test_files": len(test),
        "test_bytes": before,
        "zstd_bytes": plain,
        "zstd_dict_bytes": with_d,
        "dict_bytes": len(d.as_bytes()),
    }


def storage_table(corpus: list[Sample], plan: Plan, tmp: Path) -> dict[str, Any]:
    by_fmt: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"files": 0, "before": 0, "after": 0, "encoded": 0, "seconds": 0.0}
    )
    for s in corpus:
        after, encoded, took = through_store(tmp, s, plan)
        row = by_fmt[s.format]
        row["files"] += 1
        row["before"] += len(s.data)
        row["after"] += after
        row["encoded"] += encoded
        row["seconds"] += took
    total = {k: sum(r[k] for r in by_fmt.values()) for k in ("files", "before", "after")}
    total["encoded"] = sum(r["encoded"] for r in by_fmt.values())
    total["seconds"] = sum(r["seconds"] for r in by_fmt.values())
    return {"formats": dict(sorted(by_fmt.items())), "total": total}


# -- crawl cost -------------------------------------------------------------------------------
def crawl_cost(count: int, repeat: int, work: Path) -> dict[str, Any]:
    """Small-file crawls of the 1000 Genomes emulator, off and auto interleaved."""
    sys.path.insert(0, str(REPO))
    from tests.archives import ArchiveServer, Blob
    from tests.archives.thousand_genomes import ThousandGenomesArchive, sequence_index
    from tests.crawl import run_crawl

    base = sequence_index()
    times: dict[str, list[float]] = {"off": [], "auto": []}
    stored: dict[str, int] = {}
    with ArchiveServer() as server:
        tg = ThousandGenomesArchive(server)
        tg.add_directory("ftp/idx")
        total = 0
        for i in range(count):
            body = base.replace(b"SRR", f"S{i:04d}".encode()) * 8  # ~30 KB text index
            total += len(body)
            tg.add_file(f"ftp/idx/run{i:04d}.sequence.index", Blob.of(body))
        url = tg.publish()
        for n in range(repeat):
            for mode in ("off", "auto") if n % 2 == 0 else ("auto", "off"):
                data = work / f"crawl-{mode}-{n}" / "data"
                clock = time.monotonic()
                result = run_crawl(
                    "thousand_genomes",
                    data,
                    args={"base_url": url, "prefix": "ftp/"},
                    settings={"CAPTURE_COMPRESS": mode, "CAPTURE_QUALITY_ENABLED": "False"},
                    timeout=1800,
                )
                wall = time.monotonic() - clock
                if result.returncode != 0:
                    raise SystemExit(f"crawl {mode} failed:\n{result.log[-2000:]}")
                times[mode].append(wall)
                stored[mode] = sum(
                    f.stat().st_size
                    for f in (data / "genomics").rglob("*")
                    if f.is_file() and not f.is_symlink()
                )
                shutil.rmtree(data.parent)
    out: dict[str, Any] = {"files": count, "bytes": total, "repeat": repeat}
    for mode, walls in times.items():
        wall = statistics.median(walls)
        out[mode] = {
            "wall_s": round(wall, 2),
            "walls": [round(w, 2) for w in walls],
            "files_per_s": round(count / wall, 1),
            "stored_bytes": stored[mode],
        }
    out["cost_pct"] = round(100 * (out["auto"]["wall_s"] / out["off"]["wall_s"] - 1), 1)
    return out


# -- report -----------------------------------------------------------------------------------
def render(results: dict[str, Any]) -> list[str]:
    st = results["storage"]
    lines = [
        f"compression at rest: zstd level {results['level']}, min gain {results['min_gain']}",
        "",
        "| format | files | encoded | bytes before | bytes after | ratio | saved |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]

    def row(name: str, r: dict[str, Any]) -> str:
        ratio = r["before"] / r["after"] if r["after"] else 0
        saved = 100 * (1 - r["after"] / r["before"]) if r["before"] else 0
        return (
            f"| {name} | {r['files']} | {r['encoded']} | {r['before']:,} | {r['after']:,} | "
            f"{ratio:.2f} | {saved:.1f}% |"
        )

    for name, r in st["formats"].items():
        lines.append(row(name, r))
    lines.append(row("**all**", st["total"]))
    lines += ["", "| level | bytes after | ratio | compress MB/s | decompress MB/s |"]
    lines.append("|---:|---:|---:|---:|---:|")
    for lv in results["levels"]:
        lines.append(
            f"| {lv['level']} | {lv['after']:,} | {lv['ratio']:.2f} | {lv['compress_mb_s']:.0f} "
            f"| {lv['decompress_mb_s']:.0f} |"
        )
    d = results["dictionary"]
    if "zstd_bytes" in d:
        lines += [
            "",
            f"dictionary ({d['dict_bytes']:,} B, trained on {d['train_files']} small files, "
            f"held-out {d['test_files']}): {d['test_bytes']:,} -> zstd {d['zstd_bytes']:,} -> "
            f"zstd+dict {d['zstd_dict_bytes']:,}",
        ]
    c = results.get("crawl")
    if c:
        lines += [
            "",
            f"crawl of {c['files']} small files ({c['bytes'] / MB:.1f} MB), median of "
            f"{c['repeat']}:",
            "| CAPTURE_COMPRESS | wall s | files/s | stored bytes |",
            "|---|---:|---:|---:|",
        ]
        for mode in ("off", "auto"):
            m = c[mode]
            lines.append(f"| {mode} | {m['wall_s']} | {m['files_per_s']} | {m['stored_bytes']:,} |")
        lines.append(f"cost of compression: {c['cost_pct']:+.1f}% wall time")
    lines.append(f"round trips byte-exact: {results['round_trips']} of {results['round_trips']}")
    return lines


def main(args: argparse.Namespace) -> int:
    plan = Plan(level=args.level, min_gain=args.min_gain)
    base = Path(tempfile.mkdtemp(prefix="bench-compress-", dir=args.workdir))
    try:
        corpus = samples_corpus() + package_corpus() + written_corpus(base) + emulator_corpus()
        storage = storage_table(corpus, plan, base / "store")
        levels = []
        for level in (1, 3, 9, 19):
            after, cmb, dmb = speeds([s.data for s in corpus], level)
            before = sum(len(s.data) for s in corpus)
            levels.append(
                {
                    "level": level,
                    "after": after,
                    "ratio": before / after,
                    "compress_mb_s": cmb,
                    "decompress_mb_s": dmb,
                }
            )
        small = [s.data for s in corpus if len(s.data) < 32768 and s.format != "gzip"]
        results: dict[str, Any] = {
            "level": args.level,
            "min_gain": args.min_gain,
            "corpus": {
                src: sum(1 for s in corpus if s.source == src)
                for src in ("samples", "packages", "written", "emulators")
            },
            "storage": storage,
            "levels": levels,
            "dictionary": dictionary_gain(small, args.level),
            "round_trips": len(corpus),
        }
        if args.crawl_files:
            results["crawl"] = crawl_cost(args.crawl_files, args.repeat, base)
        results["machine"] = machine_info(base, REPO)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    out = args.out or REPO / "bench" / "results" / f"compress-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    for line in render(results):
        print(line)
    print(f"results: {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    subprocess.run([sys.executable, "-m", "bench", "compress", *sys.argv[1:]], check=False)
