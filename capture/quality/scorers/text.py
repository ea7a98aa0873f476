"""Plain text, JSON and gzip/BGZF containers."""

from __future__ import annotations

import json
import zlib

from capture.quality.model import Outcome, Severity, Tier
from capture.quality.scorers.base import Checks, ScoreContext

# The 28-byte empty BGZF block that must end every BGZF file (SAM/BAM spec 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def text_checks(ctx: ScoreContext, checks: Checks, sample: bytes, *, tier_for_nul: Tier) -> str:
    """Decodability, binary garbage and a final newline; returns the decoded sample."""
    nul = sample.count(b"\x00")
    checks.check(
        "text.no_nul_bytes",
        tier_for_nul,
        Severity.HIGH,
        nul == 0,
        "no NUL bytes",
        f"{nul} NUL bytes in the first {len(sample)} bytes (binary data "
        "or zero-filled corruption in a text file)",
    )
    try:
        text = sample.decode("utf-8")
        checks.passed("text.encoding", Tier.CONFORMANCE, Severity.MEDIUM, "valid UTF-8")
    except UnicodeDecodeError as exc:
        # Do not punish a sample cut in the middle of a multi-byte character.
        if exc.start >= len(sample) - 4 and (ctx.size or 0) > len(sample):
            text = sample[: exc.start].decode("utf-8")
            checks.passed("text.encoding", Tier.CONFORMANCE, Severity.MEDIUM, "valid UTF-8")
        else:
            text = sample.decode("latin-1")
            checks.add(
                "text.encoding",
                Tier.CONFORMANCE,
                Severity.MEDIUM,
                Outcome.FAIL,
                f"not UTF-8 (byte {exc.start}); read as Latin-1",
                credit=0.5,
            )
    return text


def score_text(ctx: ScoreContext) -> Checks:
    checks = Checks()
    sample = ctx.head(ctx.sample_bytes)
    text_checks(ctx, checks, sample, tier_for_nul=Tier.CONFORMANCE)
    tail = ctx.tail(1)
    checks.check(
        "text.final_newline",
        Tier.CONFORMANCE,
        Severity.LOW,
        tail in (b"\n", b"\r", b""),
        "ends with a line break",
        "last line has no line break (possibly truncated)",
    )
    return checks


def score_json(ctx: ScoreContext) -> Checks:
    checks = Checks("json")
    with checks.run("json.parse", Tier.CONTAINER, Severity.HIGH):
        if (ctx.size or 0) > 512 * 1024 * 1024:
            checks.na("json.parse", Tier.CONTAINER, Severity.HIGH, "too large to parse in budget")
            return checks
        with open(ctx.path, "rb") as fh:
            try:
                json.load(fh)
            except ValueError as exc:
                checks.failed("json.parse", Tier.CONTAINER, Severity.HIGH, f"invalid JSON: {exc}")
            else:
                checks.passed("json.parse", Tier.CONTAINER, Severity.HIGH, "valid JSON")
    return checks


def gzip_checks(ctx: ScoreContext, checks: Checks) -> bytes:
    """Magic, BGZF EOF marker, and a streamed decompression (CRC32 of every member) within
    the time budget. Returns the first decompressed bytes for content checks."""
    head = ctx.head(18)
    checks.check(
        "gzip.magic",
        Tier.CONTAINER,
        Severity.HIGH,
        head[:2] == b"\x1f\x8b",
        "gzip magic",
        "no gzip magic (1f 8b): not a gzip/BGZF file",
    )
    if head[:2] != b"\x1f\x8b":
        return b""
    bgzf = len(head) >= 16 and head[3] & 4 and head[12:14] == b"BC"
    if bgzf:
        tail = ctx.tail(28)
        checks.check(
            "bgzf.eof",
            Tier.CONTAINER,
            Severity.HIGH,
            tail == BGZF_EOF,
            "BGZF EOF block present",
            "BGZF EOF block missing: file truncated",
        )
    first = b""
    with checks.run("gzip.crc", Tier.FIXITY, Severity.MEDIUM):
        complete, first = _inflate(ctx)
        if complete is None:
            checks.add(
                "gzip.crc",
                Tier.FIXITY,
                Severity.MEDIUM,
                Outcome.ABSENT,
                "not fully decompressed within the time budget",
            )
        else:
            ok, message = complete
            if ok:
                checks.passed("gzip.crc", Tier.FIXITY, Severity.MEDIUM, message)
            else:
                # A bad CRC or a stream that stops early is corruption, not a style issue.
                checks.add("gzip.crc", Tier.CONTAINER, Severity.HIGH, Outcome.FAIL, message)
    return first


def _inflate(ctx: ScoreContext) -> tuple[tuple[bool, str] | None, bytes]:
    """Decompress every member; (None, ...) when the time budget ran out first."""
    first = b""
    members, mid_member = 0, False
    with open(ctx.path, "rb") as fh:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        while chunk := fh.read(1024 * 1024):
            if ctx.time_left < 0:
                return None, first
            while chunk:
                try:
                    out = d.decompress(chunk)
                except zlib.error as exc:
                    return (False, f"corrupt gzip data after {members} member(s): {exc}"), first
                mid_member = True
                if len(first) < 65536:
                    first += out[: 65536 - len(first)]
                if d.eof:
                    members, mid_member = members + 1, False
                    chunk = d.unused_data
                    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                else:
                    chunk = b""
    if mid_member or members == 0:
        return (False, "gzip stream ends in the middle of a member (truncated)"), first
    return (True, f"{members} gzip member(s) decompressed, CRC32 verified"), first


def score_gzip(ctx: ScoreContext) -> Checks:
    checks = Checks("zlib", zlib.ZLIB_RUNTIME_VERSION)
    gzip_checks(ctx, checks)
    return checks
