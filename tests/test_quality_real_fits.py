"""FITS verdicts on real files nobody here wrote (issue 12): every FITS file astropy ships as
test data, judged against Debian's ``fitsverify``, and corrupted copies of the good ones (cut in
half, 16 bytes flipped, an HTML 404 page under the file's name, junk appended), all scored
through ``score_file`` exactly as the pipeline does.

Truth per file, from fitsverify (the tests needing it skip when it is not installed):
- ``good``: no error (style warnings do not make bytes untrustworthy);
- ``fixity``: fitsverify finds a CHECKSUM/DATASUM disagreement: the bytes are not those the
  writer summed, so the file must be quarantined;
- ``broken``: fitsverify aborts or finds the file's byte structure wrong (data past the end,
  bytes after the last HDU): quarantined;
- ``nonconformant``: keyword or value errors in bytes that are intact: trusted (never gated)
  but the shortfall must be named by a conformance check with its HDU.
Two fitsverify errors contradict the FITS standard itself; those files count as good
(``FITSVERIFY_WRONG`` says why).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tracemalloc
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import astropy
import pytest

from capture.formats import guess_format
from capture.quality.model import Outcome, QualityReport, Tier
from capture.quality.score import score_file
from capture.quality.scorers.base import ScoreContext

ASTROPY = Path(astropy.__file__).parent
FITS_DATA = ASTROPY / "io" / "fits" / "tests" / "data"
TILED_DATA = ASTROPY / "io" / "fits" / "hdu" / "compressed" / "tests" / "data"
FITSVERIFY = shutil.which("fitsverify")
needs_fitsverify = pytest.mark.skipif(FITSVERIFY is None, reason="fitsverify not installed")
HTML_404 = (
    b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n"
    b"<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p>"
    b"</body></html>\n"
)
FITSVERIFY_WRONG = {
    # FITS 4.0 sec. 7.3.5: PCOUNT counts the gap between the table and THEAP plus the heap;
    # fitsverify adds the gap twice and looks past the end. astropy's test_vla_with_gap reads
    # row 497's heap values from this file.
    "theap-gap.fits": "PCOUNT includes the THEAP gap",
    # FITS 4.0 sec. 6.1.1: PTYPEn/PSCALn/PZEROn run to PCOUNT (= 5 here); fitsverify bounds
    # them by GCOUNT (= 3).
    "random_groups.fits": "group parameters are indexed up to PCOUNT, not GCOUNT",
}


@dataclass
class Case:
    name: str  # the archive path (relative to astropy's package)
    path: Path  # a plain FITS file (a shipped .fits.gz is decompressed first)
    truth: str  # good | fixity | broken | nonconformant


def fitsverify_truth(path: Path) -> str:
    run = subprocess.run([str(FITSVERIFY), str(path)], capture_output=True, text=True)
    report = (run.stdout + run.stderr).lower()
    if "checksum is not consistent" in report or "not in agreement with checksum" in report:
        return "fixity"
    quiet = subprocess.run([str(FITSVERIFY), "-q", str(path)], capture_output=True, text=True)
    line = quiet.stdout.strip()
    if line.startswith("verification OK") or line.endswith(" 0 errors"):
        return "good"
    if path.name in FITSVERIFY_WRONG:
        return "good"
    if any(s in report for s in ("abort verification", "end of file", "extra byte")):
        return "broken"
    return "nonconformant"


def score(path: Path, name: str, **kw: object) -> QualityReport:
    """As the pipeline scores a stored file: format from the name, size and sha256 measured."""
    with open(path, "rb") as fh:
        sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
    fields = {
        "format": guess_format(name),
        "size": path.stat().st_size,
        "sha256": sha256,
        **kw,
    }
    return score_file(ScoreContext(str(path), name, **fields))  # type: ignore[arg-type]


def plain_copy(source: Path, work: Path) -> Path:
    """A shipped file as plain FITS bytes, decompressed when gzipped."""
    target = work / source.name.removesuffix(".gz")
    data = gzip.decompress(source.read_bytes()) if source.suffix == ".gz" else source.read_bytes()
    target.write_bytes(data)
    return target


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    if FITSVERIFY is None:
        pytest.skip("fitsverify not installed")
    work = tmp_path_factory.mktemp("plain")
    cases = []
    for source in sorted(ASTROPY.rglob("*.fits")) + sorted(ASTROPY.rglob("*.fits.gz")):
        path = plain_copy(source, work) if source.suffix == ".gz" else source
        name = str(source.relative_to(ASTROPY)).removesuffix(".gz")
        cases.append(Case(name, path, fitsverify_truth(path)))
    assert len(cases) >= 50, "astropy ships fewer FITS files than expected"
    return cases


@pytest.fixture(scope="module")
def reports(corpus: list[Case]) -> dict[str, QualityReport]:
    out = {case.name: score(case.path, case.name) for case in corpus}
    matrix = Counter((case.truth, out[case.name].grade) for case in corpus)
    print("\nFITS corpus (truth, grade): " + json.dumps({f"{t}/{g}": n for (t, g), n in
                                                       sorted(matrix.items())}))  # fmt: skip
    return out


def of(corpus: list[Case], truth: str) -> list[Case]:
    return [c for c in corpus if c.truth == truth]


def failures(report: QualityReport, tier: Tier | None = None) -> list:
    return [c for c in report.checks if c.outcome == Outcome.FAIL and tier in (None, c.tier)]


# --- the originals -----------------------------------------------------------------------


@needs_fitsverify
def test_no_good_real_file_is_quarantined(
    corpus: list[Case], reports: dict[str, QualityReport]
) -> None:
    good = of(corpus, "good")
    assert len(good) >= 40
    quarantined = [(c.name, reports[c.name].reasons()[:3]) for c in good
                   if reports[c.name].grade == "quarantined"]  # fmt: skip
    assert quarantined == []


@needs_fitsverify
def test_checksum_disagreements_are_quarantined_with_their_hdu(
    corpus: list[Case], reports: dict[str, QualityReport]
) -> None:
    cases = of(corpus, "fixity")
    assert len(cases) >= 4  # chandra_time, checksum_false, memtest, header_newlines, validate
    for case in cases:
        report = reports[case.name]
        fixity = failures(report, Tier.FIXITY)
        assert report.grade == "quarantined" and fixity, (case.name, report.reasons())
        assert all(c.location and c.location.startswith("HDU ") for c in fixity)
        assert any(c.message in reason for c in fixity for reason in report.reasons())


@needs_fitsverify
def test_structurally_broken_files_are_quarantined(
    corpus: list[Case], reports: dict[str, QualityReport]
) -> None:
    cases = of(corpus, "broken")
    assert {Path(c.name).name for c in cases} >= {"verify.fits", "idcompspec.fits"}
    for case in cases:
        report = reports[case.name]
        assert report.grade == "quarantined", (case.name, report.reasons())
        assert report.gate_failures, case.name


@needs_fitsverify
def test_nonconformant_files_stay_trusted_and_name_the_problem(
    corpus: list[Case], reports: dict[str, QualityReport]
) -> None:
    """Intact bytes with keyword or value errors: no gate, a conformance failure at its HDU
    (PCOUNT in a primary header, BSCALE in a table, a bad SKEW value, 0x01 logicals...)."""
    cases = of(corpus, "nonconformant")
    assert len(cases) >= 4
    for case in cases:
        report = reports[case.name]
        assert not report.gate_failures, (case.name, report.reasons())
        found = failures(report, Tier.CONFORMANCE)
        assert found and all(c.location and c.location.startswith("HDU") for c in found), (
            case.name,
            report.reasons(),
        )


@needs_fitsverify
def test_no_checker_error_on_any_real_file(
    corpus: list[Case], reports: dict[str, QualityReport]
) -> None:
    errors = [(c.name, e.message) for c in corpus for e in reports[c.name].errors]
    assert errors == []


# --- corrupted copies of the good files ----------------------------------------------------


def _flip_is_checksummed(path: Path, offset: int) -> bool:
    """The flipped byte lies in an HDU that carries CHECKSUM or DATASUM."""
    from astropy.io import fits

    with fits.open(path, disable_image_compression=True, do_not_scale_image_data=True) as hdul:
        for hdu in hdul:
            end = hdu._data_offset + hdu._data_size
            if hdu._header_offset <= offset < end:
                return "CHECKSUM" in hdu.header or "DATASUM" in hdu.header
    return False


def corrupt(data: bytes, variant: str) -> bytes:
    """A copy as a capture meets it: cut in half, 16 bytes flipped in the middle, an HTML
    error page under the file's name, or text appended by a bad transfer."""
    mid = len(data) // 2
    if variant == "cut":
        return data[:mid]
    if variant == "flip":
        return data[:mid] + bytes(b ^ 0xFF for b in data[mid : mid + 16]) + data[mid + 16 :]
    if variant == "html":
        return HTML_404
    return data + b"\r\n--junk appended by a resumed transfer--\r\n" * 40


@needs_fitsverify
@pytest.mark.parametrize("variant", ["cut", "flip", "html", "junk"])
def test_corrupted_copies_are_not_accepted(
    corpus: list[Case], tmp_path: Path, variant: str
) -> None:
    accepted = []
    checked = 0
    for i, case in enumerate(of(corpus, "good")):
        data = case.path.read_bytes()
        mid = len(data) // 2
        if variant == "flip" and not _flip_is_checksummed(case.path, mid):
            continue  # without an embedded checksum the format cannot tell
        body = corrupt(data, variant)
        path = tmp_path / f"{i:03d}" / Path(case.name).name
        path.parent.mkdir()
        path.write_bytes(body)
        report = score(path, case.name)
        checked += 1
        if report.grade != "quarantined":
            accepted.append((case.name, report.grade, report.reasons()[:2]))
    assert checked >= (5 if variant == "flip" else 40)
    assert accepted == []


# --- the defects of issue 12, one by one ---------------------------------------------------


@pytest.mark.parametrize(
    "name", ["scale.fits", "o4sp040b0_raw.fits", "fixed-1890.fits", "blank.fits"]
)
def test_scaled_images_are_read_not_refused(name: str) -> None:
    """BZERO/BSCALE/BLANK images (uint16 frames, HST raw data) once failed the structure gate
    with astropy's "Cannot load a memory-mapped image"."""
    path = FITS_DATA / name
    assert any(key in path.read_bytes()[:28800] for key in (b"BZERO   =", b"BLANK   ="))
    report = score(path, f"hst/{name}")
    structure = [c for c in report.checks if c.check_id == "fits.structure"]
    assert [c.outcome for c in structure] == [Outcome.PASS], report.reasons()
    assert not report.errors and not report.gate_failures, report.reasons()
    assert report.grade != "quarantined"


@pytest.mark.parametrize("name", ["m13_rice.fits", "m13_hcomp.fits", "m13_gzip.fits",
                                  "m13_plio.fits"])  # fmt: skip
def test_tile_compressed_checksums_are_verified_on_the_stored_hdu(name: str) -> None:
    """CHECKSUM/DATASUM of a tile-compressed HDU cover the binary table as stored (astropy
    agrees with ``disable_image_compression=True``); valid files are not "corrupted"."""
    from astropy.io import fits

    path = TILED_DATA / name
    with fits.open(path, disable_image_compression=True) as hdul:
        assert hdul[1].verify_checksum() == 1 and hdul[1].verify_datasum() == 1
    report = score(path, f"archive/{name}")
    by_hdu = {(c.check_id, c.location): c.outcome for c in report.checks}
    for check_id in ("fits.checksum", "fits.datasum", "fits.compressed_tiles"):
        assert by_hdu[(check_id, "HDU 1")] == Outcome.PASS, report.reasons()
    assert report.grade == "nasa_grade", report.reasons()


def test_corrupt_tiles_are_caught_with_and_without_a_checksum(tmp_path: Path) -> None:
    for source, expect in ((TILED_DATA / "m13_rice.fits", "fits.datasum"),
                           (FITS_DATA / "comp.fits", "fits.compressed_tiles")):  # fmt: skip
        data = bytearray(source.read_bytes())
        mid = len(data) // 2
        data[mid : mid + 16] = bytes(b ^ 0xFF for b in data[mid : mid + 16])
        path = tmp_path / source.name
        path.write_bytes(bytes(data))
        report = score(path, source.name)
        failed = {(c.check_id, c.location) for c in report.gate_failures}
        assert report.grade == "quarantined" and (expect, "HDU 1") in failed, report.reasons()
        assert not report.errors, report.reasons()


def test_reasons_keep_the_location_and_the_whole_message(tmp_path: Path) -> None:
    dss = plain_copy(ASTROPY / "wcs" / "tests" / "data" / "dss.14.29.56-62.41.05.fits.gz", tmp_path)
    report = score(dss, "dss/dss.14.29.56-62.41.05.fits")
    verify = next(c for c in report.checks if c.check_id == "fits.verify")
    assert verify.outcome == Outcome.FAIL and verify.location == "HDU 0"
    assert "card 116" in verify.message and "SKEW" in verify.message
    assert "invalid value string" in verify.message
    assert not any(r.endswith("Verification reported errors:") for r in report.reasons())
    assert any(verify.message in r for r in report.reasons())

    bad_order = score(FITS_DATA / "verify.fits", "x/verify.fits")
    gate = next(c for c in bad_order.gate_failures if c.check_id == "fits.mandatory_keywords")
    assert gate.location == "HDU 0" and "BITPIX" in gate.message and "NAXIS" in gate.message


def test_a_plain_fits_file_is_scored_under_any_name(tmp_path: Path) -> None:
    """A compressed wrapper's content arrives as a temporary file with no .fits suffix."""
    inner = tmp_path / "capture-inner-k2x9"
    inner.write_bytes((FITS_DATA / "scale.fits").read_bytes())
    anonymous = score(inner, "mast/product", format="fits")
    named = score(FITS_DATA / "scale.fits", "mast/scale.fits")
    assert anonymous.scorer == "fits" and anonymous.grade == named.grade != "quarantined"
    outcomes = sorted((c.check_id, c.outcome) for c in anonymous.checks if c.tool != "capture")
    assert outcomes == sorted((c.check_id, c.outcome) for c in named.checks if c.tool != "capture")


def test_gzipped_fits_is_scored_through_to_its_content(tmp_path: Path) -> None:
    """A valid ``.fits.gz`` reaches the FITS scorer; a cut gzip and a whole gzip of a cut
    FITS file (which once scored 1.0 on its gzip CRC alone) are quarantined."""
    source = ASTROPY / "wcs" / "tests" / "data" / "dist_lookup.fits.gz"
    plain = gzip.decompress(source.read_bytes())
    bodies = {
        "good": source.read_bytes(),
        "cut-gzip": source.read_bytes()[:3000],
        "gzip-of-cut-fits": gzip.compress(plain[: len(plain) // 2]),
    }
    grades = {}
    for label, body in bodies.items():
        path = tmp_path / label / source.name
        path.parent.mkdir()
        path.write_bytes(body)
        report = score(path, "wcs/dist_lookup.fits.gz")
        grades[label] = report.grade
        if label == "good":
            structure = [c.outcome for c in report.checks if c.check_id == "fits.structure"]
            assert structure == [Outcome.PASS], report.reasons()
    assert grades["good"] != "quarantined"
    assert grades["cut-gzip"] == grades["gzip-of-cut-fits"] == "quarantined"


def test_bytes_after_the_last_hdu(tmp_path: Path) -> None:
    """Zero fill is a conformance slip; a second copy appended (a resumed download) is not
    part of the file and gates it."""
    data = (FITS_DATA / "checksum.fits").read_bytes()
    zero = tmp_path / "zero.fits"
    zero.write_bytes(data + bytes(2880))
    doubled = tmp_path / "doubled.fits"
    doubled.write_bytes(data + data)
    filled = score(zero, "a/checksum.fits")
    assert filled.grade != "quarantined", filled.reasons()
    assert any(c.check_id == "fits.trailing_bytes" for c in failures(filled, Tier.CONFORMANCE))
    assert score(doubled, "a/checksum.fits").grade == "quarantined"


def test_a_huge_scaled_image_is_summed_in_chunks_and_sampled(tmp_path: Path) -> None:
    """A 512 MB uint16 frame (sparse on disk): DATASUM verified, memory bounded; with no time
    left the sum stops and says so instead of running on."""
    from astropy.io import fits

    header = fits.Header()
    for key, value in (("SIMPLE", True), ("BITPIX", 16), ("NAXIS", 2), ("NAXIS1", 16384),
                       ("NAXIS2", 16384), ("BSCALE", 1), ("BZERO", 32768), ("DATE", "2024-01-01"),
                       ("ORIGIN", "test"), ("DATASUM", "0")):  # fmt: skip
        header[key] = value
    raw = header.tostring().encode("ascii")
    path = tmp_path / "big.fits"
    with open(path, "wb") as fh:
        fh.write(raw)
        fh.truncate(len(raw) + -(-16384 * 16384 * 2 // 2880) * 2880)  # zeros: DATASUM 0
    tracemalloc.start()
    try:
        report = score(path, "big/frame.fits")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    datasum = next(c for c in report.checks if c.check_id == "fits.datasum")
    assert datasum.outcome == Outcome.PASS and report.grade == "nasa_grade", report.reasons()
    assert peak < 64 * 1024 * 1024, peak
    rushed = score(path, "big/frame.fits", budget_seconds=0.0)
    datasum = next(c for c in rushed.checks if c.check_id == "fits.datasum")
    assert datasum.outcome == Outcome.ABSENT and "time budget" in datasum.message
    os.remove(path)
