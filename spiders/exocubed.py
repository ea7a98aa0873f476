"""ExoCubed GCM output trees (netCDF) published as HTML directory listings.

ExoCubed is the cubed-sphere dynamical core of Sihe Chen and Cheng Li (arXiv:2403.06844, ApJ
2024; code ``cshsgy/ExoCubed``, built on the ``canoe``/SNAP Athena++ framework), not a
Hui/Showman model. Its runs write netCDF that is combined into one file per run (e.g.
``hot_jupiter-main.nc`` with ``temp``, ``vlat``, ``vlon``, ``vel1`` on ``time, x1, x2, x3``; the
repository's ``examples/2023-Chen-exo3/calc_avg.py`` and ``linfel/README``).

Where outputs are published is UNCONFIRMED: no public ExoCubed output archive was found (code,
docs and pages searches; the paper's supplement location was not seen). The spider assumes NASA
NCCS-style datashare HTML indexes (where ROCKE-3D's outputs are published), so it defaults to
the NCCS data portal host, and takes the start directory from ``-a root=/datashare/<project>/``
(comma-separated), plus ``-a base_url=`` for any other host. It never guesses a root, so it
cannot crawl a wrong tree.

Default (no arguments): nothing is requested. The spider starts, logs one line (its
``skip_reason``) and closes with the reason ``skipped``; a first round records the archive as
skipped with that reason instead of failing.

Listing HTML may be Apache fancy/table or nginx (the parser takes all three); recursion is
bounded (``max_depth``), never follows ``../`` or sort links, and prunes symlink loops;
listing sizes are estimates only. netCDF files are inspected after transfer (see
:mod:`spiders.gcm`).

Arguments (:class:`ExoCubedParams`): ``root`` (no default), ``include``, ``exclude``,
``max_depth``, ``render_js``, ``base_url``.
"""

from __future__ import annotations

from pydantic import Field
from scrapy_spider_metadata import Args

from spiders.gcm import GCMOutputSpider, GCMParams
from spiders.listing import Directories

SKIP_REASON = (
    "no confirmed public location for ExoCubed outputs; give -a root=/path/ on a mirror or "
    "host that has them"
)


class ExoCubedParams(GCMParams):
    root: Directories = Field(
        default=[],
        description="start directories holding ExoCubed outputs, comma-separated, e.g. "
        "/datashare/<project>/ (no default: no public location is confirmed; without it the "
        "archive is skipped)",
    )


class ExoCubedSpider(GCMOutputSpider, Args[ExoCubedParams]):
    #: The parsed arguments (typed as this spider's own model).
    args: ExoCubedParams
    name = "exocubed"
    publisher = {"name": "ExoCubed GCM outputs", "url": "https://portal.nccs.nasa.gov/datashare/"}
    formats = ("netcdf",)
    scope = (
        "nothing until a location is given (-a root=): no public ExoCubed output archive is "
        "confirmed, so a run with no arguments is recorded as skipped"
    )
    default_base_url = "https://portal.nccs.nasa.gov"
    custom_settings = {
        # NCCS publishes no rate limit for its datashare (none found); modest.
        "CONCURRENT_REQUESTS_PER_DOMAIN": 4,
        "DOWNLOAD_DELAY": 0,
    }

    def no_root(self) -> None:
        """No start directory: skip by design (one log line), never crawl a guessed tree."""
        self.skip_reason = SKIP_REASON
