"""Genomics: VCF (plain or BGZF), tabix/CSI/BAI/CRAI indexes, 1000 Genomes *.index tables.

VCF rules from the VCF 4.x specification (``##fileformat`` first, ``#CHROM`` header with the
eight fixed columns); index magics from the htslib specifications. BGZF EOF and CRC checks are
samtools quickcheck's; unlike quickcheck we also decompress (within budget) so corruption in
the middle is not missed.
"""

from __future__ import annotations

import re

from capture.quality.model import Severity, Tier
from capture.quality.scorers.base import Checks, ScoreContext
from capture.quality.scorers.text import gzip_checks, text_checks

VCF_COLUMNS = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
MD5 = re.compile(r"^[0-9a-f]{32}$")
INDEX_MAGIC = {"tabix": b"TBI\x01", "csi": b"CSI\x01", "bai": b"BAI\x01"}


def score_vcf(ctx: ScoreContext) -> Checks:
    checks = Checks("capture vcf")
    if ctx.name.endswith((".gz", ".bgz")):
        sample = gzip_checks(ctx, checks)
    else:
        sample = ctx.head(ctx.sample_bytes)
    text = text_checks(ctx, checks, sample, tier_for_nul=Tier.CONTAINER)
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
        f"#CHROM line does not have the 8 fixed columns: {columns[:8]}",
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
    declared = set(re.findall(r"^##INFO=<ID=([^,>]+)", "\n".join(meta), re.M))
    data = [line for line in lines[header_idx + 1 :] if line]
    if len(sample) < (ctx.size or 0) and data:
        data = data[:-1]  # the sample may end mid-line
    bad_cols = [i for i, line in enumerate(data) if len(line.split("\t")) != len(columns)]
    bad_pos = [
        i
        for i, line in enumerate(data)
        if not line.split("\t")[1:2] or not line.split("\t")[1].isdigit()
    ]
    if data:
        checks.fraction(
            "vcf.records",
            Tier.CONFORMANCE,
            Severity.HIGH,
            len(data) - len(set(bad_cols) | set(bad_pos)),
            len(data),
            "sampled records well-formed (column count, integer POS)",
        )
        used = set()
        for line in data[:2000]:
            fields = line.split("\t")
            if len(fields) > 7 and fields[7] != ".":
                used.update(kv.split("=", 1)[0] for kv in fields[7].split(";"))
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
    return checks


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
