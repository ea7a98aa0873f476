"""Genomics: VCF (plain or BGZF), tabix/CSI/BAI/CRAI indexes, 1000 Genomes *.index tables.

VCF rules from the VCF 4.x specification (``##fileformat`` first, ``#CHROM`` header with the
eight fixed columns, then ``FORMAT`` and at least one sample; every record a tab-separated
line with one field per header column, none empty, ended by a line break); index magics from
the htslib specifications. BGZF EOF and CRC checks are samtools quickcheck's; unlike quickcheck
we also decompress (within budget) so corruption in the middle is not missed, and every record
read is checked for its structure, so a file cut inside a record is caught at any size.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from capture.quality.model import Outcome, Severity, Tier
from capture.quality.scorers.base import Checks, ScoreContext
from capture.quality.scorers.text import BGZF_EOF, gzip_checks, text_checks

VCF_COLUMNS = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
MD5 = re.compile(r"^[0-9a-f]{32}$")
INDEX_MAGIC = {"tabix": b"TBI\x01", "csi": b"CSI\x01", "bai": b"BAI\x01"}
DECLARATION = re.compile(r"^##(INFO|FORMAT)=<(.*)>\s*$")
CHUNK = 1024 * 1024
#: Longer lines are cut for checking (a VCF line of a million samples is about 4 MiB).
MAX_LINE = 16 * 1024 * 1024
#: A BGZF block holds at most 64 KiB; the tail of a BGZF file is found by walking blocks
#: backwards from its EOF block within this many bytes.
BGZF_TAIL_WINDOW = 4 * 1024 * 1024
#: Records whose INFO/FORMAT values are type-checked against the header (first ones read).
TYPED_RECORDS = 2000
#: Share of the time budget the streamed pass leaves for the checks after it.
RESERVE = 0.1
INTEGER = re.compile(r"[+-]?\d+")
FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity)|nan", re.I)
INT_MIN, INT_MAX = -(2**31) + 8, 2**31 - 1


@dataclass
class _Scan:
    """What one pass over a VCF's (decompressed) content found."""

    sample: bytes = b""  # the first ctx.sample_bytes of content, for the header and typing
    header_columns: int | None = None
    records: int = 0
    malformed: int = 0
    first_malformed: str = ""  # "line N: why"
    with_empty: int = 0  # records with an empty field (conformance, not structure)
    first_empty: str = ""
    last_line: bytes = b""
    ends_with_newline: bool = True
    complete: bool = False  # every byte of the content was read
    gzip_error: str | None = None  # corrupt or cut compressed stream
    members: int = 0
    lines: int = 0


def _record_problem(line: bytes, columns: int) -> str | None:
    """Why a data line cannot be parsed as a record (None: it can)."""
    fields = line.split(b"\t")
    if len(fields) != columns:
        return f"{len(fields)} tab-separated fields, the #CHROM header has {columns}"
    if len(fields) < 2 or not fields[1].isdigit():
        return f"POS {fields[1][:20] if len(fields) > 1 else b''!r} is not an integer"
    return None


def _cut_last_record(line: bytes, columns: int) -> str | None:
    """Why an unterminated last line looks cut: unparseable, an empty field, or a last sample
    with fewer sub-fields than FORMAT names (writers drop trailing sub-fields rarely, and
    never together with the final line break)."""
    problem = _record_problem(line, columns)
    if problem is not None:
        return problem
    fields = line.split(b"\t")
    if not all(fields):
        return "an empty field"
    if columns > 9 and fields[-1].count(b":") < fields[8].count(b":"):
        keys = fields[8][:40].decode(errors="replace")
        return f"the last sample has fewer sub-fields than FORMAT {keys!r}"
    return None


class _Reader:
    """One streamed pass over the file's content: plain text, or gzip/BGZF members inflated
    with their CRC32 checked; stops when the time budget runs out."""

    def __init__(self, ctx: ScoreContext, gz: bool):
        self.ctx, self.gz = ctx, gz
        self.scan = _Scan()

    def _out_of_time(self) -> bool:
        return self.ctx.time_left < RESERVE * self.ctx.budget_seconds

    def chunks(self) -> Iterator[bytes]:
        """Content in pieces of at most CHUNK bytes (a gzip bomb cannot inflate memory); the
        first piece, holding the header, is read whatever the budget."""
        scan = self.scan
        with open(self.ctx.path, "rb") as fh:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if self.gz else None
            mid_member, first = False, True
            while raw := fh.read(CHUNK):
                if inflater is None:
                    if not first and self._out_of_time():
                        return
                    first = False
                    yield raw
                    continue
                buf = raw
                while True:
                    if not first and self._out_of_time():
                        return
                    try:
                        out = inflater.decompress(buf, CHUNK)
                    except zlib.error as exc:
                        scan.gzip_error = f"corrupt gzip data after {scan.members} member(s): {exc}"
                        return
                    if out:
                        first = False
                        yield out
                    if inflater.eof:  # a member ends: CRC32 and length verified by zlib
                        scan.members, mid_member = scan.members + 1, False
                        buf = inflater.unused_data
                        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                        if not buf:
                            break
                        continue
                    mid_member = True
                    buf = inflater.unconsumed_tail
                    if not buf and len(out) < CHUNK:
                        break
            if inflater is not None and (mid_member or scan.members == 0):
                scan.gzip_error = "gzip stream ends in the middle of a member (truncated)"
                return
        scan.complete = True

    def run(self) -> _Scan:
        scan, limit = self.scan, self.ctx.sample_bytes
        pending = bytearray()
        for chunk in self.chunks():
            if len(scan.sample) < limit:
                scan.sample += chunk[: limit - len(scan.sample)]
            if b"\n" not in chunk:  # a long line goes on (appending keeps this linear)
                pending += chunk
                if len(pending) > MAX_LINE:  # no line break in sight: binary or damaged
                    self._line(bytes(pending[:MAX_LINE]))
                    pending.clear()
                continue
            lines = (bytes(pending) + chunk).split(b"\n")
            pending = bytearray(lines.pop())
            for line in lines:
                self._line(line)
        if pending and scan.complete:  # text after the last line break: a cut record?
            scan.ends_with_newline = False
            self._line(bytes(pending))
        return scan

    def _line(self, line: bytes) -> None:
        scan = self.scan
        scan.lines += 1
        line = line.removesuffix(b"\r")
        scan.last_line = line
        if line.startswith(b"#"):
            if line.startswith(b"#CHROM"):
                scan.header_columns = line.count(b"\t") + 1
            return
        if not line:
            return
        if scan.header_columns is None:
            return
        scan.records += 1
        problem = _record_problem(line, scan.header_columns)
        if problem is not None:
            scan.malformed += 1
            if not scan.first_malformed:
                scan.first_malformed = f"line {scan.lines}: {problem}"
        elif b"\t\t" in line or line.endswith(b"\t"):
            scan.with_empty += 1
            scan.first_empty = scan.first_empty or f"line {scan.lines}"


def _bgzf_tail(ctx: ScoreContext) -> bytes | None:
    """The decompressed end of a BGZF file (its last blocks, walked back from the EOF block),
    enough to hold its last complete line; None when the blocks do not chain."""
    size = os.path.getsize(ctx.path)
    window = ctx.tail(min(size, BGZF_TAIL_WINDOW))
    base = size - len(window)
    if window[-28:] != BGZF_EOF:
        return None
    starts = [m.start() for m in re.finditer(b"\x1f\x8b\x08\x04", window)]
    by_end: dict[int, int] = {}
    for s in starts:
        if window[s + 12 : s + 14] == b"BC" and s + 18 <= len(window):
            (bsize,) = struct.unpack_from("<H", window, s + 16)
            by_end[s + bsize + 1] = s
    end, text = len(window) - 28, b""
    while end in by_end and text.count(b"\n") < 2:
        start = by_end[end]
        try:
            text = zlib.decompress(window[start:end], 16 + zlib.MAX_WBITS) + text
        except zlib.error:
            return None
        end = start
    if text.count(b"\n") < 2 and base + end > 0:
        return None  # the last line is longer than the window: not decided here
    return text


def _tail_scan(ctx: ScoreContext, scan: _Scan, gz: bool, bgzf: bool) -> bool:
    """Fill ``scan.last_line`` from the file's end when the pass ran out of time."""
    if gz and not bgzf:
        return False  # a plain gzip stream cannot be entered at its end
    tail = _bgzf_tail(ctx) if gz else ctx.tail(4 * CHUNK)
    if tail is None:
        return False
    scan.ends_with_newline = tail.endswith(b"\n")
    lines = tail.split(b"\n")
    if scan.ends_with_newline:
        lines.pop()
    scan.last_line = lines[-1].removesuffix(b"\r") if lines else b""
    return True


def _gzip_verdicts(checks: Checks, ctx: ScoreContext, scan: _Scan, bgzf: bool) -> None:
    """The same verdicts as :func:`text.gzip_checks`, from the single pass."""
    checks.passed("gzip.magic", Tier.CONTAINER, Severity.HIGH, "gzip magic")
    if bgzf:
        checks.check(
            "bgzf.eof",
            Tier.CONTAINER,
            Severity.HIGH,
            ctx.tail(28) == BGZF_EOF,
            "BGZF EOF block present",
            "BGZF EOF block missing: file truncated",
        )
    if scan.gzip_error:
        checks.failed("gzip.crc", Tier.CONTAINER, Severity.HIGH, scan.gzip_error)
    elif not scan.complete:
        checks.add(
            "gzip.crc",
            Tier.FIXITY,
            Severity.MEDIUM,
            Outcome.ABSENT,
            "not fully decompressed within the time budget",
        )
    else:
        checks.passed(
            "gzip.crc",
            Tier.FIXITY,
            Severity.MEDIUM,
            f"{scan.members} gzip member(s) decompressed, CRC32 verified",
        )


def score_vcf(ctx: ScoreContext) -> Checks:
    """Header, every record's structure and the file's end (a cut VCF is caught wherever the
    cut falls), compressed stream integrity, typed values on the first records."""
    checks = Checks("capture vcf")
    head = ctx.head(18)
    gz = head[:2] == b"\x1f\x8b"
    bgzf = gz and len(head) >= 16 and bool(head[3] & 4) and head[12:14] == b"BC"
    if not gz and ctx.name.lower().endswith((".gz", ".bgz")):
        checks.failed(
            "gzip.magic",
            Tier.CONTAINER,
            Severity.HIGH,
            "no gzip magic (1f 8b): not a gzip/BGZF file",
        )
        return checks
    scan = _Reader(ctx, gz).run()
    if gz:
        _gzip_verdicts(checks, ctx, scan, bgzf)
    text = text_checks(ctx, checks, scan.sample, tier_for_nul=Tier.CONTAINER)
    lines = text.splitlines()
    ok_format = bool(lines) and re.match(r"^##fileformat=VCFv4\.\d", lines[0]) is not None
    checks.check(
        "vcf.fileformat",
        Tier.CONTAINER,
        Severity.HIGH,
        ok_format,
        lines[0] if lines else "",
        f"first line is not ##fileformat=VCFv4.x (found {lines[0][:60]!r})"
        if lines
        else "empty file",
        "line 1",
    )
    header_idx = next((i for i, line in enumerate(lines) if line.startswith("#CHROM")), None)
    if header_idx is None:
        checks.failed(
            "vcf.header_line",
            Tier.CONTAINER,
            Severity.HIGH,
            "no #CHROM header line: the VCF header is broken",
        )
        return checks
    columns = lines[header_idx].split("\t")
    checks.check(
        "vcf.header_line",
        Tier.CONTAINER,
        Severity.HIGH,
        columns[:8] == VCF_COLUMNS,
        f"#CHROM header with {len(columns)} columns",
        f"#CHROM line does not have the 8 tab-separated fixed columns: {columns[:8]}",
        f"line {header_idx + 1}",
    )
    if columns[:8] != VCF_COLUMNS:
        return checks  # records cannot be read against a broken header
    if len(columns) > 8:
        samples = len(columns) - 9
        checks.check(
            "vcf.header_samples",
            Tier.CONFORMANCE,
            Severity.HIGH,
            columns[8] == "FORMAT" and samples > 0,
            f"FORMAT and {samples} sample column(s)",
            "a 9th header column must be FORMAT followed by at least one sample, found "
            f"{columns[8]!r} and {max(samples, 0)} sample(s)",
            f"line {header_idx + 1}",
        )
    meta = lines[:header_idx]
    bad_meta = [i + 1 for i, line in enumerate(meta) if not line.startswith("##")]
    checks.check(
        "vcf.meta_lines",
        Tier.CONFORMANCE,
        Severity.MEDIUM,
        not bad_meta,
        f"{len(meta)} ## meta-information lines",
        f"malformed header line(s) {bad_meta[:5]}",
    )
    _structure(ctx, checks, scan, gz, bgzf)
    data = [line for line in lines[header_idx + 1 :] if line]
    if data and not (scan.complete and len(scan.sample) < ctx.sample_bytes):
        data = data[:-1]  # the sample may end mid-line
    if data:
        _values(checks, meta, data[:TYPED_RECORDS], columns)
    return checks


def _structure(ctx: ScoreContext, checks: Checks, scan: _Scan, gz: bool, bgzf: bool) -> None:
    """Every record read parses (one field per header column, integer POS) and the content
    ends with a complete record: a cut file does not, wherever the cut falls."""
    if scan.header_columns is None:
        return
    read = "all" if scan.complete else "the first"
    if scan.records:
        checks.check(
            "vcf.records",
            Tier.CONTAINER,
            Severity.HIGH,
            not scan.malformed,
            f"{read} {scan.records} records parse ({scan.header_columns} fields, integer POS)",
            f"{scan.malformed} of {read} {scan.records} records cannot be parsed; first at "
            f"{scan.first_malformed}",
            scan.first_malformed.split(":", 1)[0] or None,
        )
        checks.fraction(
            "vcf.no_empty_fields",
            Tier.CONFORMANCE,
            Severity.MEDIUM,
            scan.records - scan.with_empty,
            scan.records,
            f"records without an empty field (missing values are '.'; first at {scan.first_empty})"
            if scan.with_empty
            else "records without an empty field",
        )
    if scan.gzip_error:
        return  # the stream itself is cut or corrupt: already a gate failure
    if not (scan.complete or _tail_scan(ctx, scan, gz, bgzf)):
        checks.add(
            "vcf.complete",
            Tier.CONTAINER,
            Severity.HIGH,
            Outcome.ABSENT,
            "end of the file not reached within the time budget: completeness not proven",
        )
        return
    last = scan.last_line
    record = bool(last) and not last.startswith(b"#")
    if scan.ends_with_newline:
        why = _record_problem(last, scan.header_columns) if record else None
    else:
        why = _cut_last_record(last, scan.header_columns) if record else "header cut short"
    checks.check(
        "vcf.complete",
        Tier.CONTAINER,
        Severity.HIGH,
        why is None,
        "ends with a complete record",
        f"the file ends inside a record ({why}): cut",
        "end of file",
    )
    if why is None and not scan.ends_with_newline:
        checks.failed(
            "vcf.final_newline",
            Tier.CONFORMANCE,
            Severity.LOW,
            "the last record is complete but has no line break",
            "end of file",
        )


def _declarations(meta: list[str]) -> dict[tuple[str, str], str]:
    """(INFO|FORMAT, ID) -> Type from the header's ##INFO/##FORMAT lines."""
    out: dict[tuple[str, str], str] = {}
    for line in meta:
        m = DECLARATION.match(line)
        if m is None:
            continue
        fields = dict(re.findall(r'(\w+)=("[^"]*"|[^,]*)', m.group(2)))
        if "ID" in fields:
            out[(m.group(1), fields["ID"])] = fields.get("Type", "String")
    return out


def _typed_ok(value: str, vtype: str) -> bool:
    """Each comma-separated item is '.' or a value of the declared type (VCF 4.3 section 1.6.1:
    Integer is 32-bit with the lowest 8 values reserved; Float includes inf and nan)."""
    for item in value.split(","):
        if item == ".":
            continue
        if vtype == "Integer":
            if not INTEGER.fullmatch(item) or not INT_MIN <= int(item) <= INT_MAX:
                return False
        elif not FLOAT.fullmatch(item):
            return False
    return True


def _values(checks: Checks, meta: list[str], data: list[str], columns: list[str]) -> None:
    """INFO keys declared; Integer and Float INFO/FORMAT values of the first records parse
    as their declared type (htslib refuses records that do not)."""
    types = _declarations(meta)
    declared = {i for (kind, i) in types if kind == "INFO"}
    used: set[str] = set()
    bad: list[str] = []
    for line in data:
        fields = line.split("\t")
        if len(fields) != len(columns):
            continue  # already counted by vcf.records
        problems = []
        if fields[7] != ".":
            for kv in fields[7].split(";"):
                key, _, value = kv.partition("=")
                used.add(key)
                vtype = types.get(("INFO", key))
                if value and vtype in ("Integer", "Float") and not _typed_ok(value, vtype):
                    problems.append(f"INFO/{key}={value[:20]} is not {vtype}")
        if len(fields) > 9:
            keys = fields[8].split(":")
            for sample in fields[9:]:
                for key, value in zip(keys, sample.split(":"), strict=False):
                    vtype = types.get(("FORMAT", key))
                    if vtype in ("Integer", "Float") and not _typed_ok(value, vtype):
                        problems.append(f"FORMAT/{key}={value[:20]} is not {vtype}")
        if problems:
            bad.append(f"{fields[0]}:{fields[1]} {problems[0]}")
    checks.fraction(
        "vcf.typed_values",
        Tier.CONFORMANCE,
        Severity.HIGH,
        len(data) - len(bad),
        len(data),
        "sampled records with Integer/Float INFO/FORMAT values of their declared type",
        missing=bad[:3],
    )
    undeclared = sorted(used - declared)
    checks.fraction(
        "vcf.info_declared",
        Tier.CONFORMANCE,
        Severity.LOW,
        len(used) - len(undeclared),
        len(used),
        "INFO keys declared in the header",
        missing=undeclared,
    )


def score_binary_index(ctx: ScoreContext) -> Checks:
    checks = Checks("capture index")
    kind = ctx.format or ""
    first = gzip_checks(ctx, checks) if kind in ("tabix", "csi", "crai") else ctx.head(64)
    magic = INDEX_MAGIC.get(kind)
    if magic is not None:
        checks.check(
            "index.magic",
            Tier.CONTAINER,
            Severity.HIGH,
            first[:4] == magic,
            f"{kind} magic present",
            f"no {kind} magic {magic!r}",
        )
    return checks


def score_index_table(ctx: ScoreContext) -> Checks:
    """1000 Genomes ``*.index`` tables: ``##`` notes, one ``#`` header, tab-separated rows with
    md5 columns (README_data_collections)."""
    checks = Checks("capture index table")
    sample = ctx.head(ctx.sample_bytes)
    text = text_checks(ctx, checks, sample, tier_for_nul=Tier.CONTAINER)
    lines = [line for line in text.splitlines() if line.strip()]
    if len(sample) < (ctx.size or 0) and lines:
        lines = lines[:-1]
    header = next(
        (line for line in lines if line.startswith("#") and not line.startswith("##")), None
    )
    if header is None:
        checks.failed("index.header", Tier.CONFORMANCE, Severity.HIGH, "no '#' column header line")
        return checks
    cols = header.lstrip("#").split("\t")
    checks.passed("index.header", Tier.CONFORMANCE, Severity.HIGH, f"{len(cols)} columns")
    rows = [line.split("\t") for line in lines if not line.startswith("#")]
    if rows:
        good = sum(1 for r in rows if len(r) == len(cols))
        checks.fraction(
            "index.rows",
            Tier.CONFORMANCE,
            Severity.HIGH,
            good,
            len(rows),
            f"rows with {len(cols)} fields",
        )
        md5_cols = [i for i, c in enumerate(cols) if "MD5" in c.upper()]
        values = [r[i] for r in rows for i in md5_cols if i < len(r) and r[i]]
        if values:
            checks.fraction(
                "index.md5_values",
                Tier.CONFORMANCE,
                Severity.MEDIUM,
                sum(1 for v in values if MD5.match(v.lower())),
                len(values),
                "md5 cells are 32 hex digits",
            )
    return checks
