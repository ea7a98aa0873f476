"""ExoCubed GCM output trees (netCDF) published as HTML directory listings.

ExoCubed is the cubed-sphere dynamical core of Sihe Chen and Cheng Li (arXiv:2403.06844, ApJ
2024; code ``cshsgy/ExoCubed``, built on the ``canoe``/SNAP Athena++ framework), not a
Hui/Showman model as the issue guessed. Its runs write netCDF that is combined into one file per
run (e.g. ``hot_jupiter-main.nc`` with ``temp``, ``vlat``, ``vlon``, ``vel1`` on ``time, x1, x2,
x3``; the repository's ``examples/2023-Chen-exo3/calc_avg.py`` and ``linfel/README``).

Where outputs are published is UNCONFIRMED: no public ExoCubed output archive was found (code,
docs and pages searches; the paper's supplement location was not seen). The issue expects
NASA NCCS-style datashare HTML indexes, so the spider defaults to the NCCS data portal host and
REQUIRES the start directory: ``-a root=/datashare/<project>/...`` (comma-separated), plus
``-a base_url=`` for any other host. It never guesses a root, so it cannot crawl a wrong tree.

Listing HTML may be Apache fancy/table or nginx (the parser takes all three); recursion is
bounded (``max_depth``), never follows ``../`` or sort links, and prunes symlink loops;
listing sizes are estimates only. netCDF files are inspected after transfer (see
:mod:`spiders.gcm`).

Arguments: ``root`` (required), ``include``, ``exclude``, ``max_depth``, ``base_url``.
"""

from __future__ import annotations

from spiders.gcm import GCMOutputSpider


class ExoCubedSpider(GCMOutputSpider):
    name = "exocubed"
    default_base_url = "https://portal.nccs.nasa.gov"
    default_roots = ()  # no public location known: -a root= is required
    custom_settings = {
        # No published rate limit for NCCS datashare (research/archives.md section 6); modest.
        "CONCURRENT_REQUESTS_PER_DOMAIN": 4,
        "DOWNLOAD_DELAY": 0,
    }
