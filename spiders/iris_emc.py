"""EarthScope (formerly IRIS) Earth Model Collaboration: netCDF Earth models from the model
file listing, with their CF/ACDD metadata recorded in the catalog.

Where the files are (the listing was not documented; resolved from public sources):

* Current: the EarthScope data archive, ``https://data.earthscope.org/archive/seismology/
  products/emc/netcdf/`` ("EMC Model File Server", EarthScope/emc-tools ``docs/index.md`` and
  ``docs/reference/emc-standards-conventions.md``, which link the ``data.dev`` twin); third-party
  downloads use ``data.earthscope.org/.../netcdf/<model>.r0.0-n4c.nc`` and report the listing as
  an HTML page of about 280 ``.nc`` files. The listing's exact HTML is not published; a
  third-party client of the sibling ``.../emc/data/`` tree reads absolute links with a
  ``?type=file`` suffix on files. Both that and plain relative links are accepted: the
  ``?type=...`` hint is dropped and files are fetched at their plain URL (as the third-party
  downloads do).
* Legacy: ``https://ds.iris.edu/files/products/emc/emc-files/<name>.nc`` (many scripts, e.g.
  VBR ``fetch_velo_models.py``); crawl it with ``-a base_url=https://ds.iris.edu
  -a root=/files/products/emc/emc-files/``. Its hosts are allowed as the archive's own
  (``extra_hosts``) in case one location redirects to the other.

Format (emc-standards-conventions.md): netCDF-4 classic now, netCDF-3 classic earlier;
CF-compliant; ``data_layout`` (default ``vertex``) and ``grid_ref`` (default
``latitude_longitude``) globals; real file ``PNW10-S_kmps.nc`` (sample) carries ACDD
``geospatial_*`` bounds, ``reference_pid`` (the paper's DOI) and ``repository_pid`` (the EMC
product DOI). No checksums are published; listing sizes are estimates only.

``inspect_file`` reads the header with ``capture.formats.netcdf`` and records the geospatial
bounds and units, every variable with its units, the DOIs, title and summary; a file that is
not readable netCDF, or a classic file shorter than its header says, is quarantined.

Default (no arguments; the mission's Earth models): list
``https://data.earthscope.org/archive/seismology/products/emc/netcdf/`` and its subdirectories
(``max_depth=20``) and capture every file matching ``*.nc`` (``include=*.nc``), i.e. every EMC
netCDF Earth model. Absolute links to the archive's hosts in a listing served by a mirror are
re-rooted onto the mirror (see :mod:`spiders.listing`).

Arguments (:class:`IrisEmcParams`): ``-a root=`` (comma-separated start directories), ``-a
include=`` (default ``*.nc``), ``-a exclude=``, ``-a max_depth=``, ``-a render_js=``, ``-a
base_url=``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pydantic import Field
from scrapy.http import Response
from scrapy_spider_metadata import Args

from capture import citation
from capture.formats.netcdf import NetCDFProblem, describe_netcdf
from capture.inspection import InspectionProblem
from capture.items import CapturedFile
from spiders.listing import Directories, DirectoryListingSpider, ListingParams
from spiders.params import CommaList

EARTHSCOPE_NETCDF = "/archive/seismology/products/emc/netcdf/"

# href="...model.nc?type=file" -> href="...model.nc" (the listing's link style, see above)
TYPE_HINT = re.compile(r"""(href\s*=\s*["'][^"'?#]*)\?type=(?:file|dir|directory)(["'])""", re.I)
GEOSPATIAL = tuple(
    f"geospatial_{axis}_{what}"
    for axis, whats in (
        ("lat", ("min", "max", "units", "resolution")),
        ("lon", ("min", "max", "units", "resolution")),
        ("vertical", ("min", "max", "units", "positive")),
    )
    for what in whats
)
GLOBALS = (
    "title",
    "id",
    "summary",
    "keywords",
    "Conventions",
    "reference",
    "reference_pid",
    "repository_name",
    "repository_institution",
    "repository_pid",
    "author_name",
    "author_institution",
    "netcdf_file",
)
#: Global attributes every EMC model file must carry (EMC netCDF template; emc-tools
#: ``emc_inspector.py`` flags their absence). Missing ones are recorded, not quarantined.
EMC_REQUIRED = (
    "title",
    "geospatial_lat_min",
    "geospatial_lat_max",
    "geospatial_lon_min",
    "geospatial_lon_max",
    "geospatial_vertical_min",
    "geospatial_vertical_max",
)


def doi_of(value: Any) -> str | None:
    """``doi:10.17611/DP/9991680`` or ``https://doi.org/10...`` -> ``10.17611/DP/9991680``."""
    if not isinstance(value, str):
        return None
    m = re.search(r"(10\.\d{4,9}/\S+)", value)
    return m.group(1).rstrip(".,;") if m else None


def emc_metadata(info: dict[str, Any]) -> dict[str, Any]:
    """The catalog record of an EMC model from :func:`describe_netcdf`'s description."""
    attrs = info.get("global_attributes", {})
    dims = info.get("dimensions", {})
    variables = info.get("variables", {})
    out: dict[str, Any] = {
        "netcdf_format": info.get("format"),
        "dimensions": dims,
        "variables": {
            name: {k: v for k, v in var.items() if k in ("dims", "units", "long_name", "dtype")}
            for name, var in variables.items()
        },
        "model_variables": [n for n in variables if n not in dims],
        "data_layout": attrs.get("data_layout", "vertex"),
        "grid_ref": attrs.get("grid_ref", "latitude_longitude"),
    }
    for key in (*GLOBALS, *GEOSPATIAL):
        if key in attrs:
            out[key] = attrs[key]
    out["doi"] = doi_of(attrs.get("repository_pid")) or doi_of(attrs.get("doi"))
    out["reference_doi"] = doi_of(attrs.get("reference_pid"))
    missing = [k for k in EMC_REQUIRED if k not in attrs]
    if missing:
        out["emc_missing_attributes"] = missing
    return out


def emc_citation(attrs: dict[str, Any]) -> dict[str, Any] | None:
    """The model's citation from its own global attributes: ``repository_pid`` (the EMC
    product DOI, ACDD-style ``doi`` as a fallback), ``title``, ``author_name``,
    ``repository_institution``, ``acknowledgment``; the paper (``reference``,
    ``reference_pid``) is the publication to cite with it. None without a DOI or a title."""

    def text(key: str) -> str | None:
        value = attrs.get(key)
        return " ".join(value.split()) if isinstance(value, str) and value.strip() else None

    doi = doi_of(attrs.get("repository_pid")) or doi_of(attrs.get("doi"))
    paper = doi_of(attrs.get("reference_pid"))
    if not (doi or text("title")):
        return None
    return citation.make(
        doi=citation.doi_of(doi),
        kind="dataset",
        title=text("title"),
        authors=[a for a in [text("author_name")] if a],
        publisher=text("repository_institution") or text("repository_name"),
        identifiers=[{"type": "EMC model id", "value": text("id")}] if text("id") else [],
        text=text("acknowledgment") or text("acknowledgement"),
        related=[citation.related(citation.doi_of(paper), text("reference"))]
        if paper or text("reference")
        else [],
        source="netCDF global attributes (repository_pid, title, author_name, "
        "repository_institution, acknowledgment, reference, reference_pid)",
    )


class IrisEmcParams(ListingParams):
    root: Directories = Field(
        default=[EARTHSCOPE_NETCDF],
        description="start directories, comma-separated (default: the EarthScope EMC netCDF "
        "directory; legacy: /files/products/emc/emc-files/ with base_url=https://ds.iris.edu)",
    )
    include: CommaList = Field(
        default=["*.nc"],
        description="shell patterns a model file's path below the root (or its name) must match",
    )


class IrisEmcSpider(DirectoryListingSpider, Args[IrisEmcParams]):
    #: The parsed arguments (typed as this spider's own model).
    args: IrisEmcParams
    name = "iris_emc"
    domain = "planetary_interior"
    publisher = {
        "name": "EarthScope Consortium (IRIS Earth Model Collaboration)",
        "url": "https://ds.iris.edu/ds/products/emc/",
    }
    formats = ("netcdf",)
    scope = (
        "every EMC netCDF Earth model (*.nc) listed under "
        f"data.earthscope.org{EARTHSCOPE_NETCDF}, with its CF/ACDD metadata and DOIs"
    )
    default_base_url = "https://data.earthscope.org"
    extra_hosts = ("data.earthscope.org", "data.dev.earthscope.org", "ds.iris.edu")
    custom_settings = {
        # EarthScope publishes no limit for its file archive; models are tens to hundreds of
        # MB (GLAD-M35 ~344 MB), so two transfers at a time and a short pause between requests.
        "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
        "DOWNLOAD_DELAY": 0.25,
    }

    def parse_directory(self, response: Response, root: str, depth: int) -> Iterator[Any]:
        text = response.text
        cleaned = TYPE_HINT.sub(r"\1\2", text)
        if cleaned != text:
            self.crawler.stats.inc_value("iris_emc/listing/type_hints_dropped")
            response = response.replace(body=cleaned.encode("utf-8"), encoding="utf-8")
        yield from super().parse_directory(response, root, depth)

    def inspect_file(self, item: CapturedFile, path: str) -> dict[str, Any]:
        try:
            info = describe_netcdf(path)
        except NetCDFProblem as exc:
            raise InspectionProblem(f"{item.archive_path}: {exc}") from exc
        # The citation is read from the file itself: set here (the item waits on this call).
        item.citation = emc_citation(info.get("global_attributes", {})) or item.citation
        return emc_metadata(info)
