"""Which scorer reads which file: by the item's format, by archive, or by sniffing content;
and which files may be scored in the crawl process (:func:`inline_safe`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
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

#: Formats whose small files are scored in the crawl process rather than in a worker process
#: (None: no content scorer, transport checks only). Their scorers are pure Python
#: over the file's own bytes: no third-party C reader, no decompression, time linear in the
#: size and memory at most ~30x it (a table's parsed rows), and no backtracking regular
#: expression over unbounded text (a regex runs in C holding the GIL: a pathological match
#: would freeze the whole crawl, not just its thread). Everything else is isolated:
#:
#: - fits, netcdf, hdf5, votable, ipac: third-party C readers (astropy, netCDF-C, HDF5);
#: - gzip and every compressed wrapper, vcf.gz, tabix, csi, crai, zip: decompression (a small
#:   file may inflate a thousandfold; zip's testzip has no time limit);
#: - xml: a C parser (expat) on hostile markup, keeping every element (~25x the file's size);
#: - vcf, psg, pds_table, pds_label: number regexes that backtrack quadratically on a long run
#:   of digits (16 KB of them take seconds);
#: - plugins (CAPTURE_QUALITY_PLUGINS): unknown code.
INLINE_SAFE: frozenset[str | None] = frozenset(
    {None, "text", "json", "csv", "tsv", "index", "kegg_flat", "bai"}
)
#: A delimited table whose first line is longer than this is isolated: its duplicate-column
#: check is quadratic in the number of columns (20,000 columns: 5 s).
TABLE_HEADER_INLINE_MAX = 16 * 1024


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


def plugin_key(ctx: ScoreContext) -> str | None:
    """The key of the configured plugin (CAPTURE_QUALITY_PLUGINS) matching the format or
    suffix, without importing it."""
    for key in ctx.plugins:
        if (key.startswith(".") and ctx.name.lower().endswith(key.lower())) or key == ctx.format:
            return key
    return None


def plugin_for(ctx: ScoreContext) -> tuple[str, Scorer] | None:
    """A configured plugin scorer (CAPTURE_QUALITY_PLUGINS) matching the format or suffix."""
    key = plugin_key(ctx)
    if key is None:
        return None
    module, _, func = ctx.plugins[key].partition(":")
    return key.lstrip("."), getattr(import_module(module), func)


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


def inline_safe(
    ctx: ScoreContext, formats: Collection[str | None] = INLINE_SAFE, max_bytes: int = 1 << 20
) -> bool:
    """Whether ``ctx`` may be scored in the crawl process (see :data:`INLINE_SAFE`): a file of
    an inline-safe format up to ``max_bytes``, or one with no content scorer at any size (its
    transport checks read 8 KiB). A plugin only when its key is in ``formats``. Reads at most
    the file's first 16 KiB."""
    key = plugin_key(ctx)
    if key is not None:
        return key in formats and bool(ctx.path) and os.path.getsize(ctx.path) <= max_bytes
    if not ctx.path:
        return None in formats
    fmt, scorer = resolve(ctx)
    if scorer is None:
        return None in formats
    if fmt not in formats or os.path.getsize(ctx.path) > max_bytes:
        return False
    if compressed_wrapper(ctx, fmt) is not None:
        return False
    if fmt in ("csv", "tsv"):
        head = ctx.head(TABLE_HEADER_INLINE_MAX)
        return len(head) < TABLE_HEADER_INLINE_MAX or b"\n" in head or b"\r" in head
    return True
