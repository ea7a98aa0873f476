from __future__ import annotations

import os
from pathlib import Path

import pytest

from capture.paths import DataRoot, UnsafePathError, safe_relpath

HOSTILE = [
    "../../etc/x",
    "/etc/passwd",
    "ftp/../../x",
    "a/../../b",
    "..",
    ".",
    "",
    "a\\..\\b",
    "%2e%2e/x",
    "ftp/%2e%2e/%2e%2e/x",
    "%252e%252e/x",
    "a/\uff0e\uff0e/b",
    "~/x",
    "C:/x",
    "a/\x00b",
    "a/b\nc",
    "a/%2F..%2F..%2Fetc",
    "ftp/%2E%2E",
    "a/" + "x" * 300,
]


@pytest.mark.parametrize("path", HOSTILE)
def test_hostile_paths_are_refused(path: str) -> None:
    with pytest.raises(UnsafePathError):
        safe_relpath(path)


@pytest.mark.parametrize(
    "path,expected",
    [
        ("ftp/a.txt", "ftp/a.txt"),
        ("./ftp//a.txt", "ftp/a.txt"),
        ("vol1/ftp/x y.fits", "vol1/ftp/x y.fits"),
        ("Z-0.0/lte05800-4.50-0.0.fits", "Z-0.0/lte05800-4.50-0.0.fits"),
        ("a/b/", "a/b"),
        ("data/caf\u0065\u0301.txt", "data/caf\u00e9.txt"),
        ("a/..b/c..", "a/..b/c.."),
    ],
)
def test_plausible_paths_are_normalised(path: str, expected: str) -> None:
    assert safe_relpath(path) == expected


def test_data_root_layout(tmp_path: Path) -> None:
    root = DataRoot.at(tmp_path / "data")
    rel = root.relpath_for("genomics", "thousand_genomes", "vol1/ftp/a.vcf.gz")
    assert rel == "genomics/thousand_genomes/vol1/ftp/a.vcf.gz"
    assert root.final(rel) == tmp_path / "data" / rel
    assert root.partial(rel) == tmp_path / "data" / ".partial" / (rel + ".part")
    assert root.quarantine(rel) == tmp_path / "data" / "quarantine" / rel


def test_reserved_and_symlink_escapes_are_refused(tmp_path: Path) -> None:
    root = DataRoot.at(tmp_path / "data")
    with pytest.raises(UnsafePathError):
        root.relpath_for("quarantine", "x", "y")
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "data" / "genomics").mkdir()
    os.symlink(outside, tmp_path / "data" / "genomics" / "evil")
    with pytest.raises(UnsafePathError):
        root.final("genomics/evil/x.txt")
