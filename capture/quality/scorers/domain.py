"""Archive-specific text formats: KEGG DBGET flat files, PSG outputs, PDS3 SHADR tables and
labels."""

from __future__ import annotations

import re
from itertools import pairwise

from capture.formats.pds3 import scan_label
from capture.quality.model import Severity, Tier
from capture.quality.scorers.base import Checks, ScoreContext
from capture.quality.scorers.text import text_checks

FLOAT = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eEdD][-+]?\d+)?"


def score_kegg(ctx: ScoreContext) -> Checks:
    """Entries start with ``ENTRY`` and end with ``///`` (KEGG DBGET flat-file format)."""
    checks = Checks("capture kegg")
    sample = ctx.head(ctx.sample_bytes)
    text = text_checks(ctx, checks, sample, tier_for_nul=Tier.CONTAINER)
    complete = len(sample) >= (ctx.size or 0)
    stripped = text.rstrip()
    if complete:
        checks.check(
            "kegg.terminated",
            Tier.CONTAINER,
            Severity.HIGH,
            stripped.endswith("///"),
            "last entry ends with ///",
            "last entry is not terminated by /// (truncated)",
        )
    entries = re.findall(r"^ENTRY {7}(\S+)", text, re.M)
    terminators = len(re.findall(r"^///\s*$", text, re.M))
    checks.check(
        "kegg.entries",
        Tier.CONFORMANCE,
        Severity.HIGH,
        bool(entries) and (len(entries) == terminators or not complete),
        f"{len(entries)} entries",
        f"{len(entries)} ENTRY lines but {terminators} ///",
    )
    keys = re.findall(r"^([A-Z_]+)\s", text, re.M)
    checks.check(
        "kegg.fields",
        Tier.METADATA,
        Severity.LOW,
        "NAME" in keys or "DEFINITION" in keys,
        "entries carry NAME/DEFINITION",
        "no NAME or DEFINITION fields",
    )
    expected = ctx.metadata.get("entry_count") or ctx.metadata.get("requested_entries")
    if expected is not None and complete:
        n = expected if isinstance(expected, int) else len(expected)
        checks.check(
            "kegg.entry_count",
            Tier.PLAUSIBILITY,
            Severity.HIGH,
            len(entries) == n,
            f"{len(entries)} entries as requested",
            f"{len(entries)} entries, {n} requested",
        )
    return checks


def score_psg(ctx: ScoreContext) -> Checks:
    """PSG text output: ``# `` header lines, numeric rows; errors come back in the body as
    ``# ERROR | module | message`` (psg.gsfc.nasa.gov/helpapi.php)."""
    checks = Checks("capture psg")
    sample = ctx.head(ctx.sample_bytes)
    text = text_checks(ctx, checks, sample, tier_for_nul=Tier.CONTAINER)
    errors = re.findall(r"^#\s*ERROR\s*\|.*$", text, re.M)
    checks.check(
        "psg.no_error",
        Tier.CONTAINER,
        Severity.HIGH,
        not errors,
        "no in-body PSG error",
        errors[0].strip()[:200] if errors else "",
    )
    rows = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if len(sample) < (ctx.size or 0) and rows:
        rows = rows[:-1]
    widths = [len(r.split()) for r in rows]
    numeric = [r for r in rows if all(re.fullmatch(FLOAT, t) for t in r.split())]
    if rows:
        mode = max(set(widths), key=widths.count)
        checks.fraction(
            "psg.rows",
            Tier.CONFORMANCE,
            Severity.HIGH,
            sum(1 for r, w in zip(rows, widths, strict=True) if w == mode and r in numeric),
            len(rows),
            f"numeric data rows with {mode} columns",
        )
        first = [float(r.split()[0].replace("D", "E").replace("d", "e")) for r in numeric]
        mono = all(b > a for a, b in pairwise(first)) or all(b < a for a, b in pairwise(first))
        checks.check(
            "psg.monotonic_axis",
            Tier.PLAUSIBILITY,
            Severity.MEDIUM,
            mono,
            "spectral axis monotonic",
            "spectral axis is not monotonic",
        )
    elif not errors:
        checks.failed("psg.rows", Tier.CONFORMANCE, Severity.HIGH, "no data rows")
    checks.check(
        "psg.header",
        Tier.METADATA,
        Severity.LOW,
        "Planetary Spectrum Generator" in text,
        "PSG provenance header present",
        "no PSG provenance header",
    )
    return checks


def score_pds_table(ctx: ScoreContext) -> Checks:
    """PDS3 fixed-length SHADR table: every record RECORD_BYTES long (CR LF included), the
    label's FILE_RECORDS x RECORD_BYTES equals the size, header record of 8 comma-separated
    numbers, then ``l, m, Clm, Slm, sigmaC, sigmaS`` rows (SHADR SIS)."""
    checks = Checks("capture pds")
    md = ctx.metadata
    record_bytes = int(md.get("record_bytes") or md.get("RECORD_BYTES") or 0)
    file_records = md.get("file_records") or md.get("FILE_RECORDS")
    size = ctx.size or 0
    if record_bytes:
        checks.check(
            "pds.record_length",
            Tier.CONTAINER,
            Severity.HIGH,
            size % record_bytes == 0,
            f"{size} bytes = {size // record_bytes} records of {record_bytes}",
            f"{size} bytes is not a whole number of {record_bytes}-byte records",
        )
    else:
        checks.na("pds.record_length", Tier.CONTAINER, Severity.HIGH, "no label RECORD_BYTES known")
    if record_bytes and file_records:
        expected = int(file_records) * record_bytes
        checks.check(
            "pds.label_size",
            Tier.CONTAINER,
            Severity.HIGH,
            size == expected,
            f"FILE_RECORDS x RECORD_BYTES = {expected} = size",
            f"label says FILE_RECORDS {file_records} x RECORD_BYTES {record_bytes} = "
            f"{expected} bytes, file has {size}",
        )
    sample = ctx.head(min(ctx.sample_bytes, 4 * 1024 * 1024))
    text = text_checks(ctx, checks, sample, tier_for_nul=Tier.CONTAINER)
    lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
    if lines and len(sample) < size:
        lines = lines[:-1]
    header = [t.strip() for t in lines[0].split(",")] if lines else []
    header_ok = len(header) >= 8 and all(re.fullmatch(FLOAT, t) for t in header[:8])
    checks.check(
        "pds.shadr_header",
        Tier.CONFORMANCE,
        Severity.HIGH,
        header_ok,
        "header record: 8 numeric fields (radius, GM, sigma GM, degree, order, "
        "normalization, ref. lon, ref. lat)",
        f"header record is not 8 numbers: {header[:8]}",
        "record 1",
    )
    rows = [line for line in lines[1:] if line.strip()]
    good, max_degree = 0, None
    if header_ok:
        max_degree = int(float(header[3]))
    for line in rows:
        fields = [t.strip() for t in line.split(",") if t.strip()]
        if len(fields) >= 6 and all(re.fullmatch(FLOAT, t) for t in fields[:6]):
            degree, order = int(float(fields[0])), int(float(fields[1]))
            if 0 <= order <= degree and (max_degree is None or degree <= max_degree):
                good += 1
    if rows:
        checks.fraction(
            "pds.coefficients",
            Tier.CONFORMANCE,
            Severity.HIGH,
            good,
            len(rows),
            "coefficient records well-formed with 0 <= m <= l <= max degree",
        )
    return checks


# A detached label larger than this is not a label (real ones are a few KB to a few 100 KB).
LABEL_MAX_BYTES = 1024 * 1024
# What may follow END in a detached label: line ends, blanks, NUL padding and a DOS EOF mark.
LABEL_PADDING = b" \t\r\n\x00\x1a"
NEWLINE = b"\n"


def score_pds_label(ctx: ScoreContext) -> Checks:
    """A detached PDS3 label: ends with ``END`` (any case: ODL keywords are case-insensitive),
    nothing but padding after it, every statement has a value, blocks nest.

    Without END a label cannot be told from one cut short, so END is a container gate, and so
    is a statement with no value: strict ODL readers (PDS tools, pvl's PVLParser) refuse it."""
    checks = Checks("capture pds3")
    head = ctx.head(LABEL_MAX_BYTES)
    scan = scan_label(head.decode("latin-1"))
    label = head[: scan.length] if scan.end_line is not None else head
    text_checks(ctx, checks, label, tier_for_nul=Tier.CONTAINER)
    if scan.end_line is None:
        last = scan.statements[-1].line if scan.statements else 0
        where = (
            f"text stops inside the statement of line {scan.unterminated}"
            if scan.unterminated is not None
            else f"last statement on line {last}"
            if last
            else "no statement at all"
        )
        more = f" in the first {len(head)} bytes" if len(head) < (ctx.size or 0) else ""
        checks.failed(
            "pds.label_end",
            Tier.CONTAINER,
            Severity.HIGH,
            f"no END statement{more} ({where}): label truncated",
            f"line {last}" if last else None,
        )
    else:
        checks.passed(
            "pds.label_end",
            Tier.CONTAINER,
            Severity.HIGH,
            "label ends with END",
            f"line {scan.end_line}",
        )
        _after_end(ctx, checks, head, scan.length, scan.end_line)
    bad = re.search(rb"[^\t\n\x0c\r\x20-\x7e]", label)
    checks.check(
        "pds.label_ascii",
        Tier.CONFORMANCE,
        Severity.MEDIUM,
        bad is None,
        "7-bit ASCII, as PDS3 requires of labels",
        f"byte 0x{label[bad.start()]:02x} at offset {bad.start()} is not printable ASCII "
        "(PDS3 labels are 7-bit ASCII)"
        if bad
        else "",
        f"line {label.count(NEWLINE, 0, bad.start()) + 1}" if bad else None,
    )
    problems = scan.syntax_problems
    checks.check(
        "pds.label_syntax",
        Tier.CONTAINER,
        Severity.HIGH,
        not problems,
        f"{len(scan.statements)} statements, each with a value",
        f"not valid ODL: {'; '.join(problems[:6])}"
        + (f" (+{len(problems) - 6} more)" if len(problems) > 6 else ""),
        problems[0].split(":", 1)[0] if problems else None,
    )
    checks.check(
        "pds.label_structure",
        Tier.CONFORMANCE,
        Severity.MEDIUM,
        not scan.nesting,
        "OBJECT/GROUP blocks nest and close",
        "; ".join(scan.nesting[:4]),
        scan.nesting[0].split(":", 1)[0] if scan.nesting else None,
    )
    keys = {st.key for st in scan.statements}
    wanted = ("PDS_VERSION_ID", "RECORD_TYPE", "DATA_SET_ID", "PRODUCT_ID")
    checks.fraction(
        "pds.label_keywords",
        Tier.METADATA,
        Severity.MEDIUM,
        sum(1 for k in wanted if k in keys),
        len(wanted),
        "core PDS3 keywords",
        missing=[k for k in wanted if k not in keys],
    )
    return checks


def _after_end(ctx: ScoreContext, checks: Checks, head: bytes, end: int, end_line: int) -> None:
    """A detached label ends at END: other bytes after it were appended (or two files were
    joined), so the file is not the label the archive published."""
    rest = head[end:].strip(LABEL_PADDING)
    beyond = max(0, (ctx.size or 0) - len(head))
    if beyond and not rest:
        rest = ctx.tail(min(beyond, 65536)).strip(LABEL_PADDING)
    amount = f"at least {len(rest)}" if beyond else str(len(rest))
    checks.check(
        "pds.after_end",
        Tier.CONTAINER,
        Severity.HIGH,
        not rest,
        "nothing but padding after END",
        f"{amount} bytes of content after END (line {end_line}): data appended to the label",
        f"line {end_line}",
    )
