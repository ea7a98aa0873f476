"""File format detection from names, media types and the first bytes of the body."""

from __future__ import annotations

# Longest suffix first: ".vcf.gz" before ".gz".
SUFFIXES: tuple[tuple[str, str], ...] = (
    (".fits.gz", "fits.gz"),
    (".fits.fz", "fits"),
    (".fits", "fits"),
    (".fit", "fits"),
    (".fts", "fits"),
    (".vcf.gz", "vcf.gz"),
    (".vcf.bgz", "vcf.gz"),
    (".vcf", "vcf"),
    (".tbi", "tabix"),
    (".csi", "csi"),
    (".crai", "crai"),
    (".cram", "cram"),
    (".bam", "bam"),
    (".bai", "bai"),
    (".bas", "bas"),
    (".fastq.gz", "fastq.gz"),
    (".fq.gz", "fastq.gz"),
    (".fastq", "fastq"),
    (".nc4", "netcdf"),
    (".nc", "netcdf"),
    (".cdf", "netcdf"),
    (".h5", "hdf5"),
    (".hdf5", "hdf5"),
    (".he5", "hdf5"),
    (".hdf", "hdf4"),
    (".csv", "csv"),
    (".tsv", "tsv"),
    (".tbl", "ipac"),
    (".ipac", "ipac"),
    (".vot", "votable"),
    (".votable", "votable"),
    (".xml", "xml"),
    (".json", "json"),
    (".ecsv", "ecsv"),
    (".asdf", "asdf"),
    (".tab", "pds_table"),
    (".lbl", "pds_label"),
    (".img", "pds_image"),
    (".dat", "text"),
    (".txt", "text"),
    (".md", "text"),
    (".index", "index"),
    (".tree", "text"),
    (".pck", "text"),
    (".gz", "gzip"),
    (".bz2", "bzip2"),
    (".zip", "zip"),
    (".tar", "tar"),
    (".html", "html"),
    (".htm", "html"),
    (".jpg", "jpeg"),
    (".png", "png"),
    (".pdf", "pdf"),
)

HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<title")


def guess_format(name: str, content_type: str | None = None) -> str | None:
    lower = name.lower().rsplit("/", 1)[-1]
    for suffix, fmt in SUFFIXES:
        if lower.endswith(suffix):
            return fmt
    if lower.startswith("readme") or lower in ("changelog", "current.tree"):
        return "text"
    if content_type:
        ct = content_type.split(";")[0].strip().lower()
        return {
            "application/fits": "fits",
            "image/fits": "fits",
            "text/csv": "csv",
            "text/tab-separated-values": "tsv",
            "application/x-votable+xml": "votable",
            "application/x-netcdf": "netcdf",
            "application/x-hdf5": "hdf5",
            "text/plain": "text",
            "application/json": "json",
        }.get(ct)
    return None


def looks_like_html_page(name: str, content_type: str | None, head: bytes) -> bool:
    """True when an archive answered a data-file request with an HTML page (an error page
    served with status 200, a login or maintenance page). Judged on the bytes: a FITS file
    mislabelled ``text/html`` by a server is still a FITS file."""
    if guess_format(name) in ("html", "xml"):
        return False
    sniff = head.lstrip()[:512].lower()
    if sniff.startswith(HTML_MARKERS):
        return True
    return sniff.startswith(b"<?xml") and b"<html" in sniff


def read_head(path: str, n: int = 1024) -> bytes:
    """The first ``n`` bytes of a local file, for sniffing (empty when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError:
        return b""
