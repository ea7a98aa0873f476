"""Content sniffing and the containers that hold other formats.

A file's declared format (from its name or the spider) is a claim; its bytes decide. XML is
checked for well-formedness (a half VOTable, an HTML page saved as ``.xml``) and its root
tells a VOTable from other XML; a compressed wrapper (gzip, bzip2, xz) is decompressed,
bounded in size and time, and its content scored as the format it really is.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import tempfile
import time
import zipfile
from collections.abc import Callable
from typing import IO, Any

from capture.quality.model import Outcome, Severity, Tier
from capture.quality.scorers.base import Checks, ScoreContext, looks_like_html

#: The decompressed content of a wrapper is scored only up to this many bytes (beyond it the
#: wrapper's own integrity check still runs, and the content counts as not examined).
INNER_MAX_BYTES = 2 * 1024**3  # and never longer than the time budget

XML_ROOT = re.compile(rb"<([A-Za-z_][\w.:-]*)")
OPENERS: dict[str, Callable[..., IO[bytes]] | type[gzip.GzipFile]] = {
    "gzip": gzip.GzipFile,
    "bzip2": bz2.BZ2File,
    "xz": lzma.LZMAFile,
}
SUFFIXES = {"gzip": (".gz", ".gzip"), "bzip2": (".bz2",), "xz": (".xz",)}


def compression_of(head: bytes) -> str | None:
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh":
        return "bzip2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    return None


def xml_root(head: bytes) -> str | None:
    """The root element's name of an XML document (prolog, comments, doctype skipped)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"<"):
        return None
    body = re.sub(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", b"", text, flags=re.S)
    match = XML_ROOT.search(body)
    return match.group(1).decode("ascii", "replace").split(":")[-1] if match else None


def sniff_content(head: bytes) -> str | None:
    """Formats told by their bytes alone (beyond the self-describing binaries)."""
    if looks_like_html(head):
        return "html"
    root = xml_root(head)
    if root is not None and (head.lstrip().startswith(b"<?xml") or root.upper() == "VOTABLE"):
        return "votable" if root.upper() == "VOTABLE" else "xml"
    if head[:4] == b"PK\x03\x04":
        return "zip"
    return None


def score_xml(ctx: ScoreContext) -> Checks:
    """Well-formed from the first byte to the last (streamed, entity expansion refused)."""
    from defusedxml.ElementTree import iterparse

    checks = Checks("defusedxml")
    with checks.run("xml.well_formed", Tier.CONTAINER, Severity.HIGH):
        deadline = time.monotonic() + max(1.0, ctx.time_left)
        elements = 0
        for _event, _elem in iterparse(ctx.path, events=("end",)):
            elements += 1
            if elements % 10000 == 0 and time.monotonic() > deadline:
                checks.add(
                    "xml.well_formed",
                    Tier.CONTAINER,
                    Severity.HIGH,
                    Outcome.ABSENT,
                    f"parsed {elements} elements before the time budget ran out",
                )
                return checks
        checks.passed(
            "xml.well_formed", Tier.CONTAINER, Severity.HIGH, f"well-formed ({elements} elements)"
        )
    return checks


def score_zip(ctx: ScoreContext) -> Checks:
    """Every member's CRC (zipfile.testzip): the archive is complete and uncorrupted."""
    checks = Checks("zipfile")
    with checks.run("zip.crc", Tier.CONTAINER, Severity.HIGH):
        with zipfile.ZipFile(ctx.path) as archive:
            bad = archive.testzip()
            members = len(archive.infolist())
        checks.check(
            "zip.crc",
            Tier.CONTAINER,
            Severity.HIGH,
            bad is None,
            f"{members} member(s), every CRC matches",
            f"member {bad!r} fails its CRC",
        )
    return checks


def inner_name(name: str, kind: str) -> str:
    lower = name.lower()
    for suffix in SUFFIXES[kind]:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def decompress(ctx: ScoreContext, kind: str, limit: int = INNER_MAX_BYTES) -> tuple[str, Any]:
    """Decompress to a private temporary file: (path, None) or (path, reason not examined).
    Raises the decompressor's error on corrupt or truncated input."""
    fd, path = tempfile.mkstemp(prefix="capture-inner-")
    deadline = time.monotonic() + max(1.0, ctx.time_left)
    written = 0
    with os.fdopen(fd, "wb") as out, OPENERS[kind](ctx.path, "rb") as src:
        while True:
            block = src.read(1024 * 1024)
            if not block:
                return path, None
            written += len(block)
            if written > limit:
                return path, f"decompressed content larger than {limit} bytes"
            if time.monotonic() > deadline:
                return path, "decompression did not finish within the time budget"
            out.write(block)


def remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


__all__ = [
    "compression_of",
    "decompress",
    "inner_name",
    "remove",
    "score_xml",
    "score_zip",
    "sniff_content",
    "xml_root",
]
