"""Which scorer reads which file: by the item's format, by archive, or by sniffing content."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from capture.quality.scorers import container, domain, fits, genomics, netcdf, tables, text
from capture.quality.scorers.base import Checks, ScoreContext

Scorer = Callable[[ScoreContext], Checks]

BY_FORMAT: dict[str, Scorer] = {
    "fits": fits.score_fits,
    "netcdf": netcdf.score_netcdf,
    "hdf5": netcdf.score_hdf5,
    "csv": tables.score_csv,
    "tsv": tables.score_tsv,
    "votable": tables.score_votable,
    "ipac": tables.score_ipac,
    "vcf": genomics.score_vcf,
    "vcf.gz": genomics.score_vcf,
    "tabix": genomics.score_binary_index,
    "csi": genomics.score_binary_index,
    "bai": genomics.score_binary_index,
    "crai": genomics.score_binary_index,
    "index": genomics.score_index_table,
    "kegg_flat": domain.score_kegg,
    "psg": domain.score_psg,
    "pds_table": domain.score_pds_table,
    "pds_label": domain.score_pds_label,
    "text": text.score_text,
    "json": text.score_json,
    "gzip": text.score_gzip,
    "fits.gz": text.score_gzip,
    "fastq.gz": text.score_gzip,
    "xml": container.score_xml,
    "zip": container.score_zip,
}
#: Formats whose scorer reads the compressed file itself (BGZF-aware genomics readers).
READS_COMPRESSED = frozenset({"vcf.gz", "tabix", "csi", "bai", "crai"})


def sniff(ctx: ScoreContext) -> str | None:
    head = ctx.head(8192)
    if head.startswith(b"SIMPLE  ="):
        return "fits"
    if head[:3] == b"CDF":
        return "netcdf"
    if netcdf.hdf5_signature_at(head) is not None:
        return "netcdf" if ctx.name.lower().endswith((".nc", ".nc4")) else "hdf5"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head.startswith(b"##fileformat=VCF"):
        return "vcf"
    return container.sniff_content(head)


def plugin_for(ctx: ScoreContext) -> tuple[str, Scorer] | None:
    """A configured plugin scorer (CAPTURE_QUALITY_PLUGINS) matching the format or suffix."""
    for key, target in ctx.plugins.items():
        if (key.startswith(".") and ctx.name.lower().endswith(key.lower())) or key == ctx.format:
            module, _, func = target.partition(":")
            return key.lstrip("."), getattr(import_module(module), func)
    return None


def resolve(ctx: ScoreContext) -> tuple[str | None, Scorer | None]:
    """The format name and scorer for a file (None: no content scorer applies)."""
    plugin = plugin_for(ctx)
    if plugin is not None:
        return plugin
    fmt = ctx.format
    name = ctx.name.lower()
    if ctx.archive == "kegg" and fmt in (None, "text", "kegg_flat") and "get/" in name:
        fmt = "kegg_flat"
    elif ctx.archive == "psg" and fmt in (None, "text", "psg"):
        fmt = "psg"
    elif fmt == "pds_table" and not ("_sh" in name or ctx.metadata.get("record_bytes")):
        fmt = "text"  # a PDS table we have no layout for: text checks only
    sniffed = sniff(ctx)
    if fmt not in BY_FORMAT:
        fmt = sniffed
    elif sniffed in ("fits", "netcdf", "hdf5") and fmt not in ("fits", "netcdf", "hdf5", "gzip"):
        fmt = sniffed  # the bytes are authoritative for self-describing binary formats
    elif sniffed == "votable" and fmt in ("xml", "text"):
        fmt = "votable"
    elif sniffed in ("xml", "votable") and fmt in ("csv", "tsv", "ipac", "json", "text"):
        fmt = sniffed  # a service's XML error document where a table was expected
    return fmt, BY_FORMAT.get(fmt or "")


def compressed_wrapper(ctx: ScoreContext, fmt: str | None) -> str | None:
    """The compression of a file whose scorer should see its decompressed content."""
    if fmt in READS_COMPRESSED:
        return None
    from capture.quality.scorers.container import compression_of

    return compression_of(ctx.head(8))
