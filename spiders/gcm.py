"""Base spider for climate-model (GCM) output trees published as HTML directory listings.

On top of :class:`~spiders.listing.DirectoryListingSpider` (bounded, loop-free recursion:
a directory whose listing is that of one of its ancestors, ``run/latest/`` -> ``run/``, is a
server-side symlink loop and is not descended into; include/exclude patterns; listing sizes as
estimates) it adds:

* netCDF inspection: every ``.nc``/``.nc4``/``.cdf`` file is opened with netCDF4 after its
  transfer (in the IO thread) and its format, dimensions, variables (dims, units, long and
  standard names) and global attributes (CF ``Conventions``, title, institution, source,
  history, ...) go into the catalog as ``metadata.netcdf``; an unreadable or truncated file is
  quarantined.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field
from scrapy_spider_metadata import Args

from capture.formats.netcdf import NetCDFProblem, describe_netcdf
from capture.inspection import InspectionProblem
from capture.items import CapturedFile
from spiders.listing import DirectoryListingSpider, ListingParams, NonNegativeInt

NETCDF_SUFFIXES = (".nc", ".nc4", ".cdf", ".netcdf")


class GCMParams(ListingParams):
    # GCM trees are shallow (paper / run / files); a deeper chain is a loop or a mistake.
    max_depth: NonNegativeInt = Field(
        8,
        description="directory levels below the root that are listed (GCM trees are paper/"
        "run/files; deeper chains are symlink loops)",
    )


class GCMOutputSpider(DirectoryListingSpider, Args[GCMParams]):
    #: The parsed arguments (typed as this spider's own model).
    args: GCMParams
    domain = "climate_science"
    formats: ClassVar[tuple[str, ...]] = ("netcdf",)

    def inspect_file(self, item: CapturedFile, path: str) -> dict[str, Any] | None:
        """netCDF files: record what they contain; anything else is stored as is."""
        if not item.archive_path.lower().endswith(NETCDF_SUFFIXES):
            return None
        try:
            return {"netcdf": describe_netcdf(path)}
        except NetCDFProblem as exc:
            raise InspectionProblem(str(exc)) from exc
