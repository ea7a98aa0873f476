"""Quality verdicts on real tables and PDS3 labels nobody here wrote (issue 12).

The corpus is test data that installed packages ship (astropy's VOTable and ascii data, the CSVs
of astropy, numpy and matplotlib), pvl's PDS3 labels (from its source distribution: the wheel
ships none), and the real archive responses in ../shared/samples. The truth comes from those
packages' own tests: astropy's ``votable.validate`` and test_vo/test_table (which files parse,
which raise), pvl's test_pvl.py (which labels are broken, and on which lines). Every file is
scored through ``score_file`` as the pipeline scores it, then cut in half, replaced by an HTML
404 page and given junk at its end; the confusion matrix is printed and held.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from capture.formats.pds3 import parse_label
from capture.quality.model import CheckResult, Outcome, QualityReport
from capture.quality.score import score_file
from capture.quality.scorers.base import ScoreContext
from tests.archives.samples import samples_root

SITE = Path(pytest.importorskip("astropy").__file__).parent.parent
ASTROPY = SITE / "astropy"
VOTABLE_DATA = ASTROPY / "io" / "votable" / "tests" / "data"
ASCII_DATA = ASTROPY / "io" / "ascii" / "tests" / "data"
PVL_VERSION = "1.3.2"

GOOD, NONCONFORMANT, BROKEN = "good", "nonconformant", "broken"
LINE_TABLES = frozenset({"csv", "tsv", "ipac"})  # a cut on a line break leaves a whole table

# astropy/io/votable/tests/data: validate() is True, or only W (warning) codes and astropy's
# tests read the file (test_open_files parses every file but the three it excludes).
VOTABLE_GOOD = (
    "binary2_masked_strings.xml",
    "binary2_variable_length_char.xml",
    "coosys.xml",
    "empty_table.xml",
    "mivot_annotated_table.xml",
    "test.order.xml",
    "timesys.xml",
    "valid_votable.xml",
    "irsa-nph-m31.xml",  # real IRSA response: W21 W29 W30 W42
    "names.xml",  # W18
    "nonstandard_units.xml",  # W50
    "resource_groups.xml",  # W20
    "vizier_b2_votable.xml",  # real VizieR response: W50
    "regression.bin.tabledata.truth.1.3.xml",  # astropy's own output: W50
    "no_resource.xml",  # W53: no RESOURCE, so no table
)
# Readable, but with E (error) codes: never nasa_grade.
VOTABLE_NONCONFORMANT = (
    "gemini.xml",  # real Gemini archive response: E02 W06 W48 W49
    "regression.xml",  # astropy's torture test: E02 and twelve W codes
    "regression.bin.tabledata.truth.1.1.xml",  # E02
    "no_field_not_empty_table.xml",  # E25: rows but no FIELD (test_table raises E25 when strict)
)
VOTABLE_BROKEN = {
    "custom_datatype.xml": "E06 unknown datatype: test_open_files excludes it",
    "timesys_errors.xml": "E22/E23: test_open_files excludes it",
    "mivot_block_custom_datatype.xml": "a MIVOT fragment, not a VOTable (E19)",
    "irsa-nph-error.xml": "IRSA's error document: INFO name=ERROR and no table",
    "too_many_columns.xml": "test_too_many_columns expects VOTableSpecError",
}

# CSVs shipped inside installed packages: each package's tests read them as tables.
CSV_GOOD = (
    "astropy/io/ascii/tests/data/simple_csv.csv",  # no final newline
    "astropy/timeseries/tests/data/sampled.csv",
    "astropy/timeseries/tests/data/binned.csv",
    "astropy/coordinates/tests/accuracy/data/fk4_no_e_fk4.csv",  # comment line with a comma
    "astropy/coordinates/tests/accuracy/data/fk4_no_e_fk5.csv",
    "astropy/coordinates/tests/accuracy/data/galactic_fk4.csv",
    "astropy/coordinates/tests/accuracy/data/icrs_fk5.csv",
    "matplotlib/mpl-data/sample_data/msft.csv",  # no final newline
    "matplotlib/mpl-data/sample_data/Stocks.csv",  # leading comment line, empty cells
    "matplotlib/mpl-data/sample_data/data_x_x2_x3.csv",
)
CSV_GLOBS = (
    "numpy/random/tests/data/*-testset-*.csv",
    "numpy/_core/tests/data/umath-validation-set-*.csv",  # "## ... ##" comments, some with commas
)
# A short row: astropy's csv reader pads it with masked values (test_read reads 2 rows).
CSV_SHORT_ROW = "astropy/io/ascii/tests/data/simple_csv_missing.csv"
TSV_GOOD = ("astropy/io/ascii/tests/data/short.tab", "astropy/io/ascii/tests/data/apostrophe.tab")
IPAC_GOOD = ("astropy/io/ascii/tests/data/ipac.dat", "astropy/io/ascii/tests/data/no_data_ipac.dat")
EXOPLANET_CSV = (
    "tap_k2names_all_columns.csv",
    "tap_keplernames_pl_name.csv",
    "tap_keplernames_top5.csv",
    "tap_ps_pl_name.head300.csv",
    "tap_ps_pl_name_discoverymethod.head300.csv",
)

# pvl tests/test_pvl.py test_broken_labels: the lines whose statement has no value.
PVL_EMPTY_VALUE_LINES = {
    "broken1.lbl": [2],
    "broken2.lbl": [2],
    "broken3.lbl": [1],
    "broken4.lbl": [2, 3],
    "broken5.lbl": [1, 2],
    "broken6.lbl": [1, 2, 3],
    "broken7.lbl": [4],
    "broken8.lbl": [4],
    "broken9.lbl": [2],
    "broken10.lbl": [2],
    "broken11.lbl": [1],
    "broken12.lbl": [2],
    "broken13.lbl": [1, 2],
    "broken14.lbl": [3],
    "broken15.lbl": [4],
    "broken16.lbl": [2],
}
# pvl's lenient reader takes these, but PDS3 ends every label with END (Standards Reference
# ch. 12): without it a label cannot be told from one cut short.
PVL_NO_END = {"backslashes.lbl", "utf-replacement.lbl"}

HTML_404 = (
    b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n"
    b"<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p>"
    b"</body></html>\n"
)
JUNK = b"\x00\x17\xfe trailing garbage from a reused buffer \xff\x00" * 4


@dataclass(frozen=True)
class Case:
    path: Path
    name: str  # the archive path the pipeline would record (its suffix matters)
    fmt: str  # the format the capturing spider declares
    truth: str
    why: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


def score(
    path: Path, name: str, fmt: str, metadata: dict[str, Any] | None = None, **kw: Any
) -> QualityReport:
    """Exactly the call the pipeline makes: size and sha256 known, no published size."""
    size = path.stat().st_size
    ctx = ScoreContext(
        str(path), name, format=fmt, size=size, sha256="0" * 64, metadata=dict(metadata or {}), **kw
    )
    return score_file(ctx)


def pvl_data() -> Path | None:
    """pvl's tests/data from its source distribution (cached; None when PyPI is unreachable)."""
    cache = Path(os.environ.get("CAPTURE_TEST_DATA_CACHE", Path.home() / ".cache" / "capture"))
    root = cache / f"pvl-{PVL_VERSION}"
    data = root / "tests" / "data"
    if (data / "pds3" / "broken").is_dir():
        return data
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:"]
        try:
            subprocess.run(
                [*cmd, "-d", tmp, f"pvl=={PVL_VERSION}"],
                check=True,
                capture_output=True,
                timeout=120,
            )
            sdist = next(Path(tmp).glob("pvl-*.tar.gz"))
            with tarfile.open(sdist) as tar:
                prefix = f"pvl-{PVL_VERSION}/tests/data/"
                members = [m for m in tar.getmembers() if m.name.startswith(prefix) and m.isfile()]
                for member in members:
                    member.name = member.name[len(f"pvl-{PVL_VERSION}/") :]
                tar.extractall(root, members=members, filter="data")
        except (OSError, subprocess.SubprocessError, StopIteration, tarfile.TarError):
            return None
    return data if (data / "pds3" / "broken").is_dir() else None


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    work = tmp_path_factory.mktemp("real")
    cases: list[Case] = []
    for name in VOTABLE_GOOD:
        cases.append(Case(VOTABLE_DATA / name, f"votable/{name}", "votable", GOOD))
    if importlib.util.find_spec("pyarrow") is not None:  # the checker needs it to read PARQUET
        cases.append(Case(VOTABLE_DATA / "parquet_binary.xml", "votable/pq.xml", "votable", GOOD))
    gaia = ASTROPY / "io" / "misc" / "tests" / "data" / "gaia_source_dr3_select_1_result.vot"
    cases.append(Case(gaia, "tap/sync/gaia.vot", "votable", GOOD, "real Gaia TAP response"))
    for name in VOTABLE_NONCONFORMANT:
        cases.append(Case(VOTABLE_DATA / name, f"votable/{name}", "votable", NONCONFORMANT))
    many = work / "too_many_columns.xml"
    many.write_bytes(gzip.decompress((VOTABLE_DATA / "too_many_columns.xml.gz").read_bytes()))
    for name, why in VOTABLE_BROKEN.items():
        path = many if name == "too_many_columns.xml" else VOTABLE_DATA / name
        cases.append(Case(path, f"votable/{name}", "votable", BROKEN, why))
    csvs = [SITE / p for p in CSV_GOOD]
    for pattern in CSV_GLOBS:
        csvs += sorted(SITE.glob(pattern))
    cases += [Case(p, f"{p.parent.name}/{p.name}", "csv", GOOD) for p in csvs]
    cases.append(Case(SITE / CSV_SHORT_ROW, "simple_csv_missing.csv", "csv", GOOD))
    cases += [Case(SITE / p, Path(p).stem + ".tsv", "tsv", GOOD) for p in TSV_GOOD]
    cases += [Case(SITE / p, Path(p).stem + ".tbl", "ipac", GOOD) for p in IPAC_GOOD]
    samples = samples_root()
    if samples is not None:
        exo = samples / "nasa_exoplanet_archive"
        for name in EXOPLANET_CSV:
            if (exo / name).exists():
                cases.append(Case(exo / name, f"TAP/sync/{name}", "csv", GOOD, "real TAP CSV"))
        ipac = exo / "nstedapi_cumulative_kepid10601284.ipac.txt"
        if ipac.exists():
            cases.append(Case(ipac, "nph-nstedAPI/cumulative.tbl", "ipac", GOOD, "real IPAC"))
        shadr = samples / "pds_geosciences" / "jgmro_110b_sha.tab.head_deg8"
        if shadr.exists():
            records = shadr.stat().st_size // 122
            md = {"record_bytes": 122, "file_records": records}
            cases.append(Case(shadr, "mro/shadr/jgmro_110b_sha.tab", "pds_table", GOOD, "", md))
    pvl = pvl_data()
    if pvl is not None:
        for path in sorted((pvl / "pds3").glob("*.lbl")):
            truth = BROKEN if path.name in PVL_NO_END else GOOD
            cases.append(Case(path, f"pvl/{path.name}", "pds_label", truth, "pvl test_pvl.py"))
        for path in sorted((pvl / "pds3" / "broken").glob("*")):
            cases.append(Case(path, f"pvl/broken/{path.stem}.lbl", "pds_label", BROKEN))
        replacement = pvl / "utf-replacement.lbl"
        cases.append(Case(replacement, "pvl/utf-replacement.lbl", "pds_label", BROKEN))
    return cases


def variants(data: bytes) -> dict[str, bytes]:
    """Corruptions made at test time: none but 'flipped' may ever be accepted (none of these
    formats embeds a checksum)."""
    mid = len(data) // 2
    flipped = data[:mid] + bytes(b ^ 0xFF for b in data[mid : mid + 16]) + data[mid + 16 :]
    return {
        "truncated": data[:mid],
        "html": HTML_404,
        "junk": data + JUNK,
        "page appended": data + HTML_404,  # a server's error page written after the data
        "flipped": flipped,
    }


def test_real_files_confusion_matrix(corpus: list[Case], tmp_path: Path) -> None:
    """Good files are never quarantined, known-broken ones never accepted, nonconformant ones
    never nasa_grade, and no truncated, HTML or junk-appended copy is ever accepted."""
    matrix: dict[str, Counter[str]] = defaultdict(Counter)
    wrong: list[str] = []
    for n, case in enumerate(corpus):
        report = score(case.path, case.name, case.fmt, case.metadata)
        row = matrix[case.fmt]
        row[case.truth] += 1
        bad = {
            GOOD: report.grade == "quarantined",
            NONCONFORMANT: report.grade == "nasa_grade",
            BROKEN: report.grade != "quarantined",
        }[case.truth]
        if bad:
            row[f"{case.truth} wrong"] += 1
            wrong.append(
                f"{case.truth} {case.name}: {report.grade} {report.score:.3f} "
                f"{report.reasons()[:3]}"
            )
        errors = [c for c in report.checks if c.outcome == Outcome.ERROR]
        if errors:
            wrong.append(f"checker error on {case.name}: {errors[0].message}")
        if case.truth == BROKEN:
            continue
        original = case.path.read_bytes()
        for kind, data in variants(original).items():
            path = tmp_path / f"{n}_{kind}_{case.path.name}"
            path.write_bytes(data)
            bad_copy = score(path, case.name, case.fmt, case.metadata)
            row[kind] += 1
            if bad_copy.grade == "quarantined":
                continue
            row[f"{kind} accepted"] += 1
            if kind == "flipped":  # none of these formats carries an embedded checksum
                continue
            next_byte = original[len(data) : len(data) + 1]
            if (
                kind == "truncated"
                and case.fmt in LINE_TABLES
                and (data.endswith(b"\n") or next_byte in (b"\r", b"\n"))
            ):
                # Cut on a record boundary: the bytes are a whole, smaller table. Only the
                # size the archive published can tell, and the transport gate does.
                row["invisible cut"] += 1
                published = score(
                    path, case.name, case.fmt, case.metadata, expected_size=len(original)
                )
                if published.grade == "quarantined":
                    continue
            wrong.append(
                f"{kind} copy of {case.name}: {bad_copy.grade} "
                f"{bad_copy.score:.3f} {bad_copy.reasons()[:2]}"
            )
    lines = [
        "format     good(quar.) nonconf.(nasa) broken(acc.) trunc(on a line break) html junk "
        "page+ flipped"
    ]
    for fmt, row in sorted(matrix.items()):
        lines.append(
            f"{fmt:10} {row[GOOD]:3} ({row['good wrong']:2})   {row[NONCONFORMANT]:3} "
            f"({row['nonconformant wrong']:2})      {row[BROKEN]:3} ({row['broken wrong']:2})"
            f"    {row['truncated accepted']:2}/{row['truncated']:<3}({row['invisible cut']}) "
            f"{row['html accepted']:2}/{row['html']:<3}{row['junk accepted']:2}/{row['junk']:<3}"
            f"{row['page appended accepted']:2}/{row['page appended']:<3}"
            f"{row['flipped accepted']:2}/{row['flipped']}"
        )
    print("\n" + "\n".join(lines))
    assert not wrong, "\n".join(wrong)


# -- the defects of issue 12, one by one, on real files --------------------------------------
def check(report: QualityReport, check_id: str) -> CheckResult:
    return next(c for c in report.checks if c.check_id == check_id)


def copy(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name.replace("/", "_")
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "relative",
    ["astropy/io/ascii/tests/data/simple_csv.csv", "matplotlib/mpl-data/sample_data/msft.csv"],
)
def test_csv_without_final_newline_is_whole_but_its_cut_copy_is_not(
    tmp_path: Path, relative: str
) -> None:
    """RFC 4180: the last record may lack a line break. A cut inside its last value is still
    told apart, by the value itself."""
    data = (SITE / relative).read_bytes()
    assert not data.endswith(b"\n")
    whole = score(copy(tmp_path, "t.csv", data), "t.csv", "csv")
    assert whole.grade == "nasa_grade", whole.reasons()
    assert "no final line break" in check(whole, "table.complete").message
    cut = score(copy(tmp_path, "cut.csv", data[:-1]), "t.csv", "csv")  # "…,25.9" / "4,5,"
    assert cut.grade == "quarantined"
    assert check(cut, "table.complete").outcome == Outcome.FAIL
    assert "table truncated" in cut.reasons()[0] and "[line " in cut.reasons()[0]


def test_csv_comment_lines_with_commas_are_comments(tmp_path: Path) -> None:
    """astropy's coordinate reference tables open with a comment holding a comma; numpy's
    umath validation sets have ``## ... ##`` comments between rows, some with commas."""
    ref = ASTROPY / "coordinates" / "tests" / "accuracy" / "data" / "fk4_no_e_fk5.csv"
    lines = ref.read_text().splitlines()
    assert lines[0].startswith("#") and "," in lines[0]
    report = score(ref, "accuracy/fk4_no_e_fk5.csv", "csv")
    assert report.grade == "nasa_grade", report.reasons()
    assert check(report, "table.consistent_rows").message.startswith(f"{len(lines) - 2}/")
    assert check(report, "table.header").location == "line 2"
    umath = SITE / "numpy" / "_core" / "tests" / "data" / "umath-validation-set-log.csv"
    commented = [x for x in umath.read_text().splitlines() if x.startswith("#") and "," in x]
    assert commented
    report = score(umath, "data/umath-validation-set-log.csv", "csv")
    assert report.grade == "nasa_grade", report.reasons()


def test_big_csv_is_judged_by_its_tail(tmp_path: Path) -> None:
    """A table larger than the sample read for checks still has its real last row judged."""
    data = (SITE / "numpy" / "random" / "tests" / "data" / "pcg64-testset-1.csv").read_bytes()
    cut = data[: data.rstrip().rfind(b"\n") + 12]  # "...\n999, 0xa5cb3"
    for body, grade in ((data, "nasa_grade"), (cut, "quarantined")):
        path = copy(tmp_path, "big.csv", body)
        ctx = ScoreContext(
            str(path), "big.csv", format="csv", size=len(body), sha256="0" * 64, sample_bytes=4096
        )
        report = score_file(ctx)
        assert report.grade == grade, report.reasons()
        assert "sample" in check(report, "table.parse").message
    assert "table truncated" in report.reasons()[0]


def test_votable_warnings_cost_less_than_errors_and_are_named_where_they_are(
    tmp_path: Path,
) -> None:
    """W codes (warnings) never quarantine (the bytes are trusted; the shortfall is named, so
    the file is accepted, not nasa_grade); E codes (errors) cost more than any warnings;
    every reason carries the code, astropy's message and the line."""
    warned = score(VOTABLE_DATA / "irsa-nph-m31.xml", "irsa/m31.xml", "votable")
    assert warned.grade == "accepted", warned.reasons()
    w = check(warned, "votable.spec_warnings")
    assert w.outcome == Outcome.FAIL and w.location == "line 3"
    assert "W30 Invalid literal for float 'null'. Treating as empty. (line 48, column" in w.message
    errored = score(VOTABLE_DATA / "gemini.xml", "gemini/x.xml", "votable")
    e = check(errored, "votable.spec_errors")
    assert e.outcome == Outcome.FAIL and e.message.startswith("VOTable errors: E02 Incorrect")
    assert "(line 99, column 6; 10 times)" in e.message
    assert errored.loss(e) > max(errored.loss(check(errored, "votable.spec_warnings")), 0)
    assert errored.grade != "nasa_grade"
    assert warned.score > errored.weighted_score


def test_votable_error_documents_are_never_accepted(tmp_path: Path) -> None:
    """IRSA's error document (an INFO named ERROR, no table), and a DALI QUERY_STATUS=ERROR
    answer, as a VOTable and saved where a CSV was asked for."""
    irsa = score(VOTABLE_DATA / "irsa-nph-error.xml", "irsa/nph-error.xml", "votable")
    assert irsa.grade == "quarantined"
    assert "Either wrong or missing coordinate/object name" in irsa.reasons()[0]
    gaia = ASTROPY / "io" / "misc" / "tests" / "data" / "gaia_source_dr3_select_1_result.vot"
    data = gaia.read_bytes()
    table = data[data.index(b"<TABLE") : data.index(b"</TABLE>") + len(b"</TABLE>")]
    error = data.replace(table, b"").replace(
        b'<INFO name="QUERY_STATUS" value="OK"/>',
        b'<INFO name="QUERY_STATUS" value="ERROR">Table gaiadr3.nosuch does not exist</INFO>',
    )
    for fmt, name in (("votable", "tap/sync.vot"), ("csv", "tap/sync.csv")):
        report = score(copy(tmp_path, name, error), name, fmt)
        assert report.grade == "quarantined"
        assert "Table gaiadr3.nosuch does not exist" in " ".join(report.reasons())


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.999])
def test_part_of_a_votable_is_never_accepted(tmp_path: Path, cut: float) -> None:
    gaia = ASTROPY / "io" / "misc" / "tests" / "data" / "gaia_source_dr3_select_1_result.vot"
    data = gaia.read_bytes()
    report = score(copy(tmp_path, "g.vot", data[: int(len(data) * cut)]), "tap/g.vot", "votable")
    assert report.grade == "quarantined"
    assert check(report, "votable.complete").outcome == Outcome.FAIL


def test_big_votable_is_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the size astropy may hold in memory, the XML is streamed: still well-formed
    whole, still told apart when cut, junked or an error document."""
    from capture.quality.scorers import tables

    monkeypatch.setattr(tables, "VOTABLE_PARSE_MAX", 100)
    data = ASTROPY / "io" / "misc" / "tests" / "data" / "gaia_source_dr3_select_1_result.vot"
    whole = data.read_bytes()
    assert score(copy(tmp_path, "a.vot", whole), "a.vot", "votable").grade == "nasa_grade"
    error = whole.replace(b'value="OK"', b'value="ERROR"')
    for bad in (whole[: len(whole) // 2], whole + JUNK, error):
        assert score(copy(tmp_path, "b.vot", bad), "b.vot", "votable").grade == "quarantined"


def test_pds3_end_in_any_case_ends_a_label(tmp_path: Path) -> None:
    """ODL keywords are case-insensitive: ``End`` and ``end;`` end a label as ``END`` does."""
    pvl = pvl_data()
    if pvl is None:
        pytest.skip("pvl's source distribution (its test labels) could not be fetched")
    data = (pvl / "pds3" / "tiny2.lbl").read_bytes()
    assert data.rstrip().endswith(b"\nEND")
    for end in (b"End", b"end;", b"END /* the end */"):
        variant = data.rstrip()[:-3] + end + b"\r\n"
        report = score(copy(tmp_path, "t.lbl", variant), "v/t.lbl", "pds_label")
        assert check(report, "pds.label_end").outcome == Outcome.PASS
        assert report.grade != "quarantined", report.reasons()
        assert parse_label(variant.decode()).int("RECORD_BYTES") == 89


def test_pds3_empty_values_are_found_on_pvls_lines(tmp_path: Path) -> None:
    """pvl's own tests list the line of every statement without a value in its broken
    labels; the scorer names the same lines and quarantines the label."""
    pvl = pvl_data()
    if pvl is None:
        pytest.skip("pvl's source distribution (its test labels) could not be fetched")
    for name, lines in PVL_EMPTY_VALUE_LINES.items():
        path = pvl / "pds3" / "broken" / name
        report = score(path, f"pvl/{name}", "pds_label")
        syntax = check(report, "pds.label_syntax")
        assert syntax.outcome == Outcome.FAIL and report.grade == "quarantined"
        assert [
            int(n) for n in re.findall(r"line (\d+): statement has no value", syntax.message)
        ] == lines, name


def test_pds3_junk_after_end_is_not_the_label(tmp_path: Path) -> None:
    pvl = pvl_data()
    if pvl is None:
        pytest.skip("pvl's source distribution (its test labels) could not be fetched")
    data = (pvl / "pds3" / "simple_image_1.lbl").read_bytes()
    padded = score(copy(tmp_path, "p.lbl", data + b" " * 200 + b"\r\n"), "v/p.lbl", "pds_label")
    assert padded.grade != "quarantined"
    text_junk = data + b"PDS_VERSION_ID = PDS3\r\nEND\r\n"  # two labels joined
    joined = score(copy(tmp_path, "j.lbl", text_junk), "v/j.lbl", "pds_label")
    assert joined.grade == "quarantined" and "after END" in joined.reasons()[0]


def test_ipac_cut_is_not_accepted(tmp_path: Path) -> None:
    samples = samples_root()
    path = ASCII_DATA / "ipac.dat"
    if samples is not None and (samples / "nasa_exoplanet_archive").is_dir():
        path = samples / "nasa_exoplanet_archive" / "nstedapi_cumulative_kepid10601284.ipac.txt"
    data = path.read_bytes()
    assert score(path, "t.tbl", "ipac").grade != "quarantined"
    for end in (len(data) // 3, len(data) // 2, len(data) - 3):
        report = score(copy(tmp_path, "t.tbl", data[:end]), "t.tbl", "ipac")
        assert report.grade == "quarantined", (end, report.reasons())
