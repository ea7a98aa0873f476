"""A corpus of real files nobody here wrote, with the truth from independent tools, and the
corrupted variants a capture meets (cut short, an HTML error page under the file's name,
junk appended, bytes flipped), scored through the pipeline's own ``score_file``.

Sources: the test data installed packages ship (astropy's FITS, VOTable and ASCII data;
scipy's netCDF; h5py's HDF5) and the recorded archive responses in ``../shared/samples``.
Truth: ``fitsverify`` for FITS, ``ncdump -h`` for netCDF, ``h5dump -H`` for HDF5, astropy's
VOTable parser (E-codes are errors, W-codes warnings) and the VOTable QUERY_STATUS for service
error documents; where the tool is missing, that part of the corpus is left out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HTML_404 = (
    b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n"
    b"<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p>"
    b"</body></html>\n"
)


@dataclass
class Case:
    path: Path
    fmt: str  # family, for the matrix
    truth: str  # "good" | "nonconformant" (intact, never nasa_grade) | "broken" (quarantine)
    variant: str = "original"  # original | cut | html | junk | flip
    checksummed: bool = False  # the format embeds a checksum of its data


def _site(package: str) -> Path | None:
    try:
        module = __import__(package)
    except ImportError:
        return None
    return Path(os.path.dirname(module.__file__))


def _ok(cmd: list[str]) -> bool | None:
    if shutil.which(cmd[0]) is None:
        return None
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return proc.returncode == 0


#: Files fitsverify reports errors on wrongly (checked against the FITS 4.0 standard):
#: theap-gap.fits: the gap between table and heap is counted twice (section 7.3.5; astropy's
#: test_vla_with_gap reads the heap); random_groups.fits: group parameters bounded by GCOUNT
#: instead of PCOUNT (section 6.1.1).
FITSVERIFY_MISTAKES = {"theap-gap.fits", "random_groups.fits"}


def fitsverify_truth(path: Path) -> str | None:
    """``broken`` (do not trust the bytes) when a CHECKSUM/DATASUM disagrees with the data;
    ``nonconformant`` (readable, intact, but breaking the standard: never nasa_grade) when
    fitsverify reports errors; ``good`` otherwise (its style warnings do not count)."""
    if shutil.which("fitsverify") is None:
        return None
    out = subprocess.run(["fitsverify", str(path)], capture_output=True, text=True)
    if "checksum is not" in (out.stdout + out.stderr).lower():
        return "broken"
    if path.name in FITSVERIFY_MISTAKES:
        return "good"
    quiet = subprocess.run(["fitsverify", "-q", str(path)], capture_output=True, text=True)
    # "verification OK: F" or "verification FAILED: F, W warnings and E errors"
    line = quiet.stdout.strip()
    if line.startswith("verification OK"):
        return "good"
    words = line.replace(",", " ").split()
    errors = int(words[-2]) if len(words) >= 2 and words[-2].isdigit() else 1
    return "good" if errors == 0 else "nonconformant"


def votable_truth(path: Path) -> str:
    import warnings

    from astropy.io import votable

    text = path.read_bytes()[:65536]
    # A service's error document: QUERY_STATUS=ERROR (DALI), or an INFO named ERROR and no
    # table (older services, e.g. IRSA's).
    if b'name="QUERY_STATUS" value="ERROR"' in text or (
        b'<INFO name="ERROR"' in text and b"<TABLE" not in text
    ):
        return "broken"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            votable.parse(str(path), verify="warn")
        except ImportError:
            return "skip"  # needs an optional reader (e.g. pyarrow for PARQUET)
        except Exception:
            return "broken"
    # astropy's warning classes are named by their code: E02 (an error), W01 (a warning).
    codes = [type(w.message).__name__ for w in caught]
    if any(c[:1] == "E" and c[1:].isdigit() for c in codes):
        return "nonconformant"
    return "good"


def real_files(samples: Path | None) -> list[Case]:
    cases: list[Case] = []
    astropy = _site("astropy")
    if astropy is not None and shutil.which("fitsverify"):
        for path in sorted((astropy / "io/fits/tests/data").glob("*.fits")):
            head = path.read_bytes()[: 2880 * 4]
            truth = fitsverify_truth(path) or "good"
            cases.append(Case(path, "fits", truth, checksummed=b"CHECKSUM=" in head))
    if astropy is not None:
        from capture.quality.scorers.container import xml_root

        for path in sorted((astropy / "io/votable/tests/data").glob("*.xml")):
            if (xml_root(path.read_bytes()[:8192]) or "").upper() != "VOTABLE":
                cases.append(Case(path, "xml", "good"))  # another XML vocabulary (VODML)
                continue
            truth = votable_truth(path)
            if truth != "skip":
                cases.append(Case(path, "votable", truth))
        for name in ("simple_csv.csv", "simple_csv_missing.csv"):
            cases.append(Case(astropy / "io/ascii/tests/data" / name, "csv", "good"))
    scipy = _site("scipy")
    if scipy is not None and shutil.which("ncdump"):
        for path in sorted((scipy / "io/tests/data").glob("*.nc")):
            ok = _ok(["ncdump", "-h", str(path)])
            cases.append(Case(path, "netcdf", "good" if ok else "broken"))
    h5py = _site("h5py")
    if h5py is not None and shutil.which("h5dump"):
        for path in sorted((h5py / "tests/data_files").glob("*.h5")):
            ok = _ok(["h5dump", "-H", str(path)])
            cases.append(Case(path, "hdf5", "good" if ok else "broken"))
    if samples is not None and samples.is_dir():
        for path in sorted((samples / "nasa_exoplanet_archive").glob("*.csv")):
            cases.append(Case(path, "csv", "good"))
        emc = samples / "iris_emc" / "emc-jnp-PNW10-S_kmps.nc"
        if emc.exists() and shutil.which("ncdump"):
            ok = _ok(["ncdump", "-h", str(emc)])
            cases.append(Case(emc, "netcdf", "good" if ok else "broken"))
    return cases


def variants(cases: list[Case], work: Path) -> list[Case]:
    """Corrupted copies of every good file, each under the original's name."""
    out: list[Case] = []
    for i, case in enumerate(c for c in cases if c.truth == "good"):
        data = case.path.read_bytes()
        mid = len(data) // 2
        flipped = bytearray(data)
        for k in range(16):
            flipped[(mid + k * 7) % len(data)] ^= 0xFF
        for variant, body in (
            ("cut", data[:mid]),
            ("html", HTML_404),
            ("junk", data + os.urandom(4096)),
            ("flip", bytes(flipped)),
        ):
            d = work / f"{i:03d}-{variant}"
            d.mkdir(parents=True, exist_ok=True)
            path = d / case.path.name
            path.write_bytes(body)
            out.append(Case(path, case.fmt, "broken", variant, case.checksummed))
    return out


def score_cases(cases: list[Case]) -> list[dict[str, Any]]:
    from capture.cli.quality import score_local

    results = []
    for case in cases:
        r = score_local(str(case.path), None, 0.90, 0.92)
        results.append({**r, "family": case.fmt, "truth": case.truth, "variant": case.variant,
                        "checksummed": case.checksummed})  # fmt: skip
    return results


def confusion(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per family: good files quarantined, known-broken files accepted, and per variant how
    many corrupted copies were accepted."""
    table: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for r in results:
        accepted = r["grade"] != "quarantined"
        if r["variant"] == "original":
            if r["truth"] == "nonconformant":
                key, hit = "nonconformant_nasa_grade", r["grade"] == "nasa_grade"
            else:
                key = "good_quarantined" if r["truth"] == "good" else "broken_accepted"
                hit = (not accepted) if r["truth"] == "good" else accepted
        else:
            key = f"{r['variant']}_accepted"
            if r["variant"] == "flip" and not r["checksummed"]:
                key = "flip_accepted_no_checksum"
            hit = accepted
        cell = table[r["family"]][key]
        cell[0] += int(hit)
        cell[1] += 1
    return {family: {k: f"{v[0]}/{v[1]}" for k, v in sorted(row.items())}
            for family, row in sorted(table.items())}  # fmt: skip
