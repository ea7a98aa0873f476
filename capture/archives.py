"""Who publishes each archive (for DataCite/RO-Crate exports and reports).

Publishers are declared on the spider classes (``publisher``) and read here through Scrapy's
spider loader (:func:`declarations`, which :mod:`capture.domains` reads too); only the system's
own ops archive is kept here.
"""

from __future__ import annotations

from functools import cache
from typing import Any

#: The system itself, for its own ops bundles (no spider).
OWN: dict[str, dict[str, str]] = {
    "capture_ops": {"name": "capture (this system)", "url": "https://capture.invalid/"},
}


MEDIA_TYPES: dict[str, str] = {
    "fits": "application/fits",
    "fits.gz": "application/gzip",
    "netcdf": "application/x-netcdf",
    "hdf5": "application/x-hdf5",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "votable": "application/x-votable+xml",
    "ipac": "text/plain",
    "json": "application/json",
    "vcf": "text/plain",
    "vcf.gz": "application/gzip",
    "gzip": "application/gzip",
    "text": "text/plain",
    "kegg_flat": "text/plain",
    "psg": "text/plain",
    "pds_table": "text/plain",
    "pds_label": "text/plain",
    "index": "text/tab-separated-values",
    "html": "text/html",
    "xml": "application/xml",
    "bam": "application/octet-stream",
    "cram": "application/octet-stream",
}


@cache
def declarations() -> dict[str, dict[str, Any]]:
    """Spider name -> its archive declaration, for every spider the project's loader finds."""
    from scrapy.spiderloader import SpiderLoader

    from capture.project import project_settings

    loader = SpiderLoader.from_settings(project_settings())
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(loader.list()):
        cls = loader.load(name)
        declaration = getattr(cls, "declaration", None)
        if callable(declaration):
            out[name] = declaration()
    return out


def publishers() -> dict[str, dict[str, str]]:
    return {**OWN, **{d["archive"]: d["publisher"] for d in declarations().values()}}


def publisher(archive: str) -> dict[str, str]:
    return publishers().get(archive, {"name": archive, "url": ""})


def media_type(fmt: str | None) -> str:
    return MEDIA_TYPES.get(fmt or "", "application/octet-stream")
