"""Quality scoring over real and synthetic files (scorers called directly, no crawl)."""

from __future__ import annotations

from pathlib import Path

import pytest

from capture.quality.model import CheckResult, Outcome, QualityReport, Severity, Tier
from capture.quality.score import score_file
from capture.quality.scorers.base import ScoreContext
from tests import quality_files as qf
from tests.archives.samples import sample_path


def score(tmp_path: Path, name: str, data: bytes, **kw: object) -> QualityReport:
    path = tmp_path / name.replace("/", "_")
    path.write_bytes(data)
    from capture.formats import guess_format

    fields = {"format": guess_format(name), "size": len(data), "sha256": "0" * 64, **kw}
    return score_file(ScoreContext(str(path), name, **fields))  # type: ignore[arg-type]


def check(report: QualityReport, check_id: str) -> CheckResult:
    return next(c for c in report.checks if c.check_id == check_id)


def test_valid_fits_with_checksums_is_nasa_grade(tmp_path: Path) -> None:
    report = score(tmp_path, "jw01_x1d.fits", qf.fits_bytes(), archive="jwst_mast")
    assert report.grade == "nasa_grade" and report.score > 0.92, report.to_dict()
    assert check(report, "fits.datasum").outcome == Outcome.PASS
    assert check(report, "fits.monotonic_wavelength").outcome == Outcome.PASS


def test_fits_without_checksums_loses_confidence_not_validity(tmp_path: Path) -> None:
    with_sums = score(tmp_path, "a.fits", qf.fits_bytes(), archive="jwst_mast")
    without = score(tmp_path, "b.fits", qf.fits_bytes(checksum=False), archive="jwst_mast")
    assert check(without, "fits.checksum").outcome == Outcome.ABSENT
    assert not without.gated and without.score < with_sums.score


@pytest.mark.parametrize(
    "name,data,reason",
    [
        ("t.fits", qf.fits_truncated(), "fits.structure"),
        ("s.fits", qf.fits_bad_datasum(), "fits.datasum"),
        ("h.fits", qf.HTML, "container.not_error_page"),
        ("cut.nc", qf.netcdf_bytes("NETCDF3_CLASSIC", cut=True), "netcdf.classic_size"),
        ("cut4.nc", qf.netcdf_bytes("NETCDF4", cut=True), "netcdf.readable"),
        ("broken.vcf", qf.vcf_text(broken_header=True), "vcf.fileformat"),
        ("broken.vcf.gz", qf.vcf_gz(broken_header=True), "vcf.fileformat"),
    ],
    ids=[
        "truncated-fits",
        "bad-datasum",
        "html-as-fits",
        "cut-netcdf3",
        "cut-netcdf4",
        "broken-vcf",
        "broken-vcf-gz",
    ],
)
def test_bad_files_are_quarantined_with_the_right_reason(
    tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    report = score(tmp_path, name, data)
    assert report.grade == "quarantined" and report.score == 0.0
    assert any(r.startswith(reason) for r in report.reasons()[:2]), report.reasons()


@pytest.mark.parametrize("fmt", ["NETCDF4", "NETCDF3_CLASSIC", "NETCDF4_CLASSIC"])
def test_valid_netcdf_scores_nasa_grade(tmp_path: Path, fmt: str) -> None:
    report = score(tmp_path, f"gcm_{fmt}.nc", qf.netcdf_bytes(fmt))
    assert report.grade == "nasa_grade", report.reasons()


def test_valid_vcf(tmp_path: Path) -> None:
    for name, data in (("a.vcf", qf.vcf_text()), ("a.vcf.gz", qf.vcf_gz())):
        report = score(tmp_path, name, data)
        assert report.grade == "nasa_grade", report.reasons()


def test_real_emc_netcdf_scores_valid(tmp_path: Path) -> None:
    sample = sample_path("iris_emc", "emc-jnp-PNW10-S_kmps.nc")
    report = score(tmp_path, "PNW10-S_kmps.nc", sample.read_bytes())
    assert report.grade in ("nasa_grade", "accepted"), report.reasons()
    assert check(report, "netcdf.classic_size").outcome == Outcome.PASS
    assert check(report, "netcdf.cf_conventions").outcome == Outcome.PASS


def test_real_pds_shadr_excerpt_scores_valid(tmp_path: Path) -> None:
    sample = sample_path("pds_geosciences", "jgmro_110b_sha.tab.head_deg8")
    data = sample.read_bytes()
    report = score(
        tmp_path,
        "mro/shadr/jgmro_110b_sha.tab",
        data,
        metadata={"record_bytes": 122, "file_records": len(data) // 122},
    )
    assert report.grade == "nasa_grade", report.reasons()
    bad = score(
        tmp_path,
        "mro/shadr/jgmro_110b_sha.tab",
        data,
        metadata={"record_bytes": 122, "file_records": 6217},
    )
    assert bad.grade == "quarantined" and bad.reasons()[0].startswith("pds.label_size")


def test_real_psg_outputs(tmp_path: Path) -> None:
    ok = sample_path("psg", "api_type_rad_response.txt").read_bytes()
    err = sample_path("psg", "api_error_response.txt").read_bytes()
    assert score(tmp_path, "api/x.rad.txt", ok, archive="psg").grade == "nasa_grade"
    bad = score(tmp_path, "api/y.rad.txt", err, archive="psg")
    assert bad.grade == "quarantined" and "# ERROR | GlobES" in bad.reasons()[0]


def test_real_exoplanet_csv_and_truncated_csv(tmp_path: Path) -> None:
    data = sample_path(
        "nasa_exoplanet_archive", "tap_ps_pl_name_discoverymethod.head300.csv"
    ).read_bytes()
    assert score(tmp_path, "TAP/ps.csv", data).grade == "nasa_grade"
    rows = data.count(b"\n") - 1
    assert score(tmp_path, "TAP/ps.csv", data, metadata={"reported_row_count": rows}).score == 1.0
    short = score(tmp_path, "TAP/ps.csv", data, metadata={"reported_row_count": rows + 5})
    assert check(short, "table.row_count").outcome == Outcome.FAIL
    cut = data[: data.rfind(b",") + 3]  # ends inside a quoted value of the last row
    assert score(tmp_path, "TAP/ps.csv", cut).grade == "quarantined"


def test_unknown_format_gets_transport_only_score_and_says_so(tmp_path: Path) -> None:
    report = score(tmp_path, "x.weird", b"\x00\x01binary", expected_size=8)
    # Trusted bytes, but no scorer looked inside: never nasa_grade, and it says so.
    assert report.scorer == "transport-only" and report.grade == "accepted"
    assert report.reasons()[0].startswith("content not examined: no content scorer")
    note = check(report, "content.scorer")
    assert note.outcome == Outcome.NOT_APPLICABLE and "transport checks only" in note.message


def test_score_is_an_exact_weighted_mean_over_applicable_checks() -> None:
    report = QualityReport("x")
    report.checks = [
        CheckResult("a", Tier.CONFORMANCE, Severity.HIGH, Outcome.PASS),
        CheckResult("b", Tier.METADATA, Severity.MEDIUM, Outcome.FAIL),
        CheckResult("c", Tier.FIXITY, Severity.LOW, Outcome.ABSENT),
        CheckResult("d", Tier.PLAUSIBILITY, Severity.HIGH, Outcome.NOT_APPLICABLE),
        CheckResult("e", Tier.PLAUSIBILITY, Severity.MEDIUM, Outcome.FAIL, credit=0.75),
    ]
    # (3*1 + 2*0 + 1*0.5 + 2*0.75) / (3 + 2 + 1 + 2) = 5/8
    assert report.score == pytest.approx(5 / 8)
    assert sum(report.contribution(c) for c in report.checks) == pytest.approx(report.score)
    assert report.grade == "quarantined"
    assert report.reasons()[0].startswith("b (fail, -0.250)")
