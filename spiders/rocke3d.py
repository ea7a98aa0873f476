"""ROCKE-3D (NASA GISS rocky-planet GCM) output trees on the NASA NCCS data portal.

Where the outputs are (no NCCS page documents it; found through third-party code that downloads
them):

* ``https://portal.nccs.nasa.gov/GISS_modelE/ROCKE-3D/publication-supplements/`` is the GISS
  archive of publication supplements (rundecks and outputs), one directory per paper, e.g.
  ``Tsigaridis2025GMD-planet_2.0/`` with a ``README.txt`` and one directory per run
  (``P2SAoM40_003/``) holding annual ModelE diagnostics ``ANN4000.aijP2SAoM40.nc`` and
  ``ANN4000.aijlP2SAoM40.nc`` (netCDF); clients find the files by scraping ``href="..."`` from
  the directory page;
* ``https://portal.nccs.nasa.gov/GISS_modelE/ROCKE-3D/data-share/<project>/`` (e.g. ``hab4D``)
  holds other shared runs.

The exact listing HTML of the portal is UNCONFIRMED (the GEOS datashare pages on the same host
are scraped with BeautifulSoup ``find_all("a")``), so the parser accepts Apache fancy, Apache
table and nginx listings alike. Public locations move: ``-a root=`` names the start
directories (comma-separated), the default being the publication-supplements tree; use
``-a include=*.nc`` to skip rundecks and READMEs, or ``-a exclude=*/old/*`` to prune.

One such client sends ``User-Agent: curl/8``, which hints that the portal may refuse some
default agents (UNCONFIRMED); if every listing answers 403, retry with ``-s USER_AGENT=...``.

No checksums or exact sizes are published (listing sizes are human-rounded estimates); every
netCDF file is opened after transfer and its structure recorded (see :mod:`spiders.gcm`).

Default (no arguments; the mission's ROCKE-3D climate datacubes): list
``https://portal.nccs.nasa.gov/GISS_modelE/ROCKE-3D/publication-supplements/`` and every
directory below it down to depth 8 (``max_depth=8``, no include or exclude pattern), and capture
every file found: the annual ModelE netCDF diagnostics (``ANN<year>.aij<run>.nc``,
``ANN<year>.aijl<run>.nc``) with the READMEs and rundecks that say how each run was made.

Arguments (:class:`Rocke3DParams`): ``root``, ``include``, ``exclude``, ``max_depth``,
``render_js``, ``base_url``.
"""

from __future__ import annotations

from pydantic import Field
from scrapy_spider_metadata import Args

from spiders.gcm import GCMOutputSpider, GCMParams
from spiders.listing import Directories

SUPPLEMENTS = "/GISS_modelE/ROCKE-3D/publication-supplements/"


class Rocke3DParams(GCMParams):
    root: Directories = Field(
        default=[SUPPLEMENTS],
        description="start directories on the portal, comma-separated (default: the GISS "
        "publication supplements; e.g. /GISS_modelE/ROCKE-3D/data-share/hab4D/)",
    )


class Rocke3DSpider(GCMOutputSpider, Args[Rocke3DParams]):
    #: The parsed arguments (typed as this spider's own model).
    args: Rocke3DParams
    name = "rocke3d"
    publisher = {
        "name": "ROCKE-3D (NASA GISS)",
        "url": "https://www.giss.nasa.gov/projects/rocke-3d/",
    }
    formats = ("netcdf", "text")
    scope = (
        "every ROCKE-3D publication supplement on the NCCS portal "
        f"({SUPPLEMENTS}, depth <= 8): annual ModelE netCDF diagnostics with their READMEs "
        "and rundecks"
    )
    default_base_url = "https://portal.nccs.nasa.gov"
    custom_settings = {
        # NCCS publishes no rate limit for the portal; these are shared multi-GB files on one
        # public data server, so stay modest.
        "CONCURRENT_REQUESTS_PER_DOMAIN": 4,
        "DOWNLOAD_DELAY": 0,
    }
