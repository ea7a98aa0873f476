"""Hostile input: random and mutated bytes fed to every scorer through the worker-process
runner the pipeline stage uses. Nothing may raise; every report is a valid verdict."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capture.quality.registry import BY_FORMAT
from capture.quality.runner import QualityRunner
from capture.quality.scorers.base import ScoreContext
from tests import quality_files as qf

SEEDS: dict[str, bytes] = {
    "fits": qf.fits_bytes(),
    "netcdf": qf.netcdf_bytes("NETCDF4"),
    "vcf": qf.vcf_text(),
    "vcf.gz": qf.vcf_gz(),
    "csv": b'a,b\n"1","2"\n"3","4"\n',
    "tsv": b"a\tb\n1\t2\n",
    "kegg_flat": b"ENTRY       C00001\nNAME        H2O\n///\n",
    "psg": b"# Planetary Spectrum Generator\n1.0 2.0\n1.1 2.1\n",
    "pds_table": b"3396.0,42828.37,5.3e-5,2,2,1,0,0" + b" " * 87 + b"\r\n",
    "json": b'{"a": [1, 2]}',
    "text": b"hello\n",
    "gzip": qf.vcf_gz(),
}


@pytest.fixture(scope="module")
def runner() -> Iterator[QualityRunner]:
    r = QualityRunner(mode="process", workers=2, hard_factor=2.0, grace=5.0)
    yield r
    r.close()


def mutate(data: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    buf = bytearray(data)
    for kind, pos, value in ops:
        if not buf:
            break
        i = pos % len(buf)
        if kind == 0:
            buf[i] ^= value or 1
        elif kind == 1:
            del buf[i:]
        else:
            buf[i:i] = bytes([value]) * (value % 7 + 1)
    return bytes(buf)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    fmt=st.sampled_from(sorted(BY_FORMAT)),
    seeded=st.booleans(),
    raw=st.binary(max_size=4096),
    ops=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 1 << 20), st.integers(0, 255)), max_size=6
    ),
)
def test_no_scorer_raises_on_hostile_bytes(
    runner: QualityRunner,
    tmp_path_factory: pytest.TempPathFactory,
    fmt: str,
    seeded: bool,
    raw: bytes,
    ops: list[tuple[int, int, int]],
) -> None:
    data = mutate(SEEDS.get(fmt, raw), ops) if seeded else raw
    path = Path(tmp_path_factory.mktemp("fuzz")) / f"f.{fmt}"
    path.write_bytes(data)
    ctx = ScoreContext(
        str(path),
        f"x/f.{fmt}",
        format=fmt,
        size=len(data),
        sha256="0" * 64,
        budget_seconds=5.0,
        metadata={"record_bytes": 122},
    )
    report = runner.score_sync(ctx, 0.9, 0.92)
    assert report.grade in ("nasa_grade", "accepted", "quarantined")
    assert 0.0 <= report.score <= 1.0
    if report.errors:  # a checker's failure is not the file's, but nobody vouched for it
        assert report.grade != "nasa_grade"
    os.unlink(path)


def test_mutated_seeds_never_pass_as_the_original_when_truncated(
    runner: QualityRunner, tmp_path: Path
) -> None:
    for fmt in ("fits", "netcdf", "vcf.gz", "gzip"):
        data = SEEDS[fmt]
        path = tmp_path / f"t.{fmt}"
        path.write_bytes(data[: len(data) * 2 // 3])
        ctx = ScoreContext(
            str(path), f"t.{fmt}", format=fmt, size=path.stat().st_size, sha256="0" * 64
        )
        assert runner.score_sync(ctx, 0.9, 0.92).grade == "quarantined", fmt
