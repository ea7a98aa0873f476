"""Base spider for climate-model (GCM) output trees published as HTML directory listings.

On top of :class:`~spiders.listing.DirectoryListingSpider` (bounded, loop-free recursion,
include/exclude patterns, listing sizes as estimates only) it adds:

* symlink-loop pruning: a directory whose listing is identical to one of its ancestors'
  (``run/latest/`` -> ``run/``) is a server-side symlink back up the tree; it is not descended
  into, so its files are not captured again under every ``latest/latest/...`` path
  (``max_depth`` remains the hard bound for loops that change the listing). Only ancestors
  are compared: a sibling alias (``latest/`` -> ``v3/``) is captured under both paths (the
  catalog's sha256 shows the duplicate), because two different runs can have identical-looking
  listings (same names, rounded sizes, upload minute) and pruning those would lose data;
* netCDF inspection: every ``.nc``/``.nc4``/``.cdf`` file is opened with netCDF4 after its
  transfer (in the IO thread) and its format, dimensions, variables (dims, units, long and
  standard names) and global attributes (CF ``Conventions``, title, institution, source,
  history, ...) go into the catalog as ``metadata.netcdf``; an unreadable or truncated file is
  quarantined.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field
from scrapy.http import Response
from scrapy_spider_metadata import Args

from capture.autoindex import parse_index
from capture.items import CapturedFile
from capture.netcdf_meta import NetCDFProblem, describe_netcdf
from pipelines.inspect import InspectionProblem
from spiders.listing import DirectoryListingSpider, ListingParams, NonNegativeInt

NETCDF_SUFFIXES = (".nc", ".nc4", ".cdf", ".netcdf")


def listing_fingerprint(html: str, dir_url: str) -> frozenset[tuple[Any, ...]]:
    """What a directory listing shows (names, kinds, sizes, dates), independent of its URL."""
    return frozenset(
        (e.name, e.is_dir, e.size_text, e.modified) for e in parse_index(html, dir_url)
    )


class GCMParams(ListingParams):
    # GCM trees are shallow (paper / run / files); a deeper chain is a loop or a mistake.
    max_depth: NonNegativeInt = Field(
        8,
        description="directory levels below the root that are listed (GCM trees are paper/"
        "run/files; deeper chains are symlink loops)",
    )


class GCMOutputSpider(DirectoryListingSpider, Args[GCMParams]):
    domain = "climate_science"
    formats = ("netcdf",)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._fingerprints: dict[str, frozenset[tuple[Any, ...]]] = {}

    def parse_directory(self, response: Response, root: str, depth: int) -> Iterator[Any]:
        dir_url = response.url if response.url.endswith("/") else response.url + "/"
        if dir_url not in self._fingerprints:
            fingerprint = listing_fingerprint(response.text, dir_url)
            self._fingerprints[dir_url] = fingerprint
            ancestor = self._same_as_ancestor(dir_url, fingerprint)
            if ancestor is not None:
                self.crawler.stats.inc_value(f"{self.archive}/listing/symlink_loops_pruned")
                self.logger.warning(
                    "Not descending into %s: its listing is that of its ancestor %s "
                    "(a server-side symlink loop)",
                    dir_url,
                    ancestor,
                )
                return
        yield from super().parse_directory(response, root, depth)

    def _same_as_ancestor(self, dir_url: str, fingerprint: frozenset[Any]) -> str | None:
        if not fingerprint:
            return None  # empty directories are alike without being loops
        head = dir_url.rstrip("/")
        while "/" in head.split("://", 1)[-1]:
            head = head.rsplit("/", 1)[0]
            ancestor = head + "/"
            if self._fingerprints.get(ancestor) == fingerprint:
                return ancestor
        return None

    def inspect_file(self, item: CapturedFile, path: str) -> dict[str, Any] | None:
        """netCDF files: record what they contain; anything else is stored as is."""
        if not item.archive_path.lower().endswith(NETCDF_SUFFIXES):
            return None
        try:
            return {"netcdf": describe_netcdf(path)}
        except NetCDFProblem as exc:
            raise InspectionProblem(str(exc)) from exc
