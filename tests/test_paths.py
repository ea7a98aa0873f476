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


def _reference_relpath(path: str) -> str:
    """The checks of ``safe_relpath`` written out in full, without its ASCII fast path: every
    decoded variant examined, every character tested one by one."""
    import re
    import unicodedata
    from urllib.parse import unquote

    from capture.paths import MAX_PATH_BYTES, MAX_SEGMENT_BYTES

    original = path
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise UnsafePathError("control")
    if "\\" in path or path.startswith(("/", "~")) or (len(path) > 1 and path[1] == ":"):
        raise UnsafePathError("backslash or absolute")
    for variant in {unquote(path), unquote(unquote(path)), unicodedata.normalize("NFKC", path)}:
        if variant == path:
            continue
        if "\\" in variant or variant.startswith(("/", "~")) or "\x00" in variant:
            raise UnsafePathError("decodes unsafe")
        if any(p in (".", "..") for p in variant.split("/")):
            raise UnsafePathError("decodes to traversal")
    path = re.sub("/+", "/", re.sub(r"^(?:\./)+", "", unicodedata.normalize("NFC", path)))
    segments = path.rstrip("/").split("/")
    path = "/".join(segments)
    if any(s in ("", ".", "..") for s in segments):
        raise UnsafePathError(f"segment in {original!r}")
    if any(len(s.encode()) > MAX_SEGMENT_BYTES for s in segments):
        raise UnsafePathError("segment too long")
    if len(path.encode()) > MAX_PATH_BYTES:
        raise UnsafePathError("too long")
    return path


def test_fast_path_answers_as_the_full_checks_do() -> None:
    """Plain ASCII paths skip the decoding checks (they have no other form); on random paths
    mixing ASCII, escapes, control characters and look-alike Unicode, ``safe_relpath`` accepts
    exactly what the full checks accept, with the same result."""
    import random

    rng = random.Random(1234)
    alphabet = [
        *"abcXYZ019._-~:/%",
        "%2e", "%2F", "%25", "%5c", "%00", "..", "./", "//",
        "\x00", "\x1f", "\x7f", "\t", "\\",
        "\uff0e", "\uff0f", "e\u0301", "\u00e9", "\u2024", "\u00a0", "ﬁ",
    ]  # fmt: skip
    for _ in range(20000):
        path = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        try:
            expected: str | None = _reference_relpath(path)
        except UnsafePathError:
            expected = None
        try:
            got: str | None = safe_relpath(path)
        except UnsafePathError:
            got = None
        assert got == expected, path
