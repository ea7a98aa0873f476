"""Kurucz model-atmosphere grids (kurucz.harvard.edu ``/grids/`` tree).

Protocol (sczesla/PyAstronomy ``src/pyasl/resBased/kuruczModels.py``):

* ``http://kurucz.harvard.edu/grids.html`` links every grid directory with upper-case anchors
  ``<A HREF="http://kurucz.harvard.edu/grids/gridP00ODFNEW/">GRIDP00ODFNEW</A>``; PyAstronomy
  opens the HREF as given (so it is an absolute URL ending in ``/``) and keeps links that
  contain ``grids``; dead links are skipped.
* Each grid directory is an Apache fancy index (one verbatim line in
  ``shared/samples/kurucz/SOURCE.md``: ``<a href="am40ak2odfnew.dat">`` ... ``13-Apr-2011
  15:07  4.2M``). Sizes there are human-rounded (``4.2M``): they are recorded as
  ``metadata.listing_size_estimate`` and never used to reject a file.
* HTTP only; no checksums, no API; Range/auth/rate limits UNCONFIRMED.

Whether ``/grids/`` itself is listable was not seen, so discovery uses both readings: the
``/grids/`` listing (recursively) and the grid directories linked from ``grids.html``; each
directory is fetched once either way. Absolute links to the real host are mapped onto
``base_url`` (a mirror of the origin); links to ``base_url``'s own host (a mirror that rewrote
them) are the archive's too; links elsewhere are ignored.

Default (no arguments; the mission's stellar atmosphere models): the ATLAS9 grids, i.e.
``GET http://kurucz.harvard.edu/grids/`` listed recursively (``max_depth=20``) plus every grid
directory linked from ``GET http://kurucz.harvard.edu/grids.html`` that lies under ``/grids/``,
capturing every file (no include or exclude pattern): model atmospheres ``a*.dat``, flux files
``f*.pck`` and whatever else each grid directory holds.

Arguments (:class:`KuruczParams`): ``root`` (default ``/grids/``; e.g.
``/linelists/gfnew/``), ``include`` (e.g. ``*.dat,*.pck``), ``exclude`` (e.g. ``*NOVER*``),
``max_depth``, ``render_js``, ``base_url``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import scrapy
from pydantic import Field
from scrapy.http import Response
from scrapy_spider_metadata import Args

from capture.formats.autoindex import IndexEntry, is_child
from capture.items import CapturedFile
from spiders.listing import Directories, DirectoryListingSpider, ListingParams

REAL_HOST = "kurucz.harvard.edu"


class KuruczParams(ListingParams):
    root: Directories = Field(
        default=["/grids/"],
        description="start directories, comma-separated (default: the ATLAS9 grids, /grids/; "
        "e.g. /linelists/gfnew/)",
    )


class KuruczSpider(DirectoryListingSpider, Args[KuruczParams]):
    #: The parsed arguments (typed as this spider's own model).
    args: KuruczParams
    name = "kurucz"
    domain = "astrophysics"
    publisher = {
        "name": "Kurucz model atmospheres (Harvard-Smithsonian CfA)",
        "url": "http://kurucz.harvard.edu/",
    }
    formats = ("text",)
    scope = (
        "the ATLAS9 model-atmosphere grids: every file under /grids/ (its listings and the "
        "grid directories linked from grids.html)"
    )
    default_base_url = f"http://{REAL_HOST}"  # HTTP only: every published URL is http://
    index_page = "grids.html"
    custom_settings = {
        # One university web server; no published limit: be gentle.
        "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
        "DOWNLOAD_DELAY": 0,
    }

    async def discover(self) -> AsyncIterator[Any]:
        async for request in super().discover():
            yield request
        yield scrapy.Request(
            self.archive_url(self.index_page),
            callback=self.parse_grids_index,
            errback=self.listing_failed,
        )

    def parse_grids_index(self, response: Response) -> Iterator[scrapy.Request]:
        """Grid directories linked from grids.html (anchors in any case, absolute or not)."""
        for href in response.css("a::attr(href)").getall():
            url = urljoin(response.url, href.strip())
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or parts.query:
                continue
            if not self.on_archive_host(url, REAL_HOST):
                self.crawler.stats.inc_value("kurucz/index/links_elsewhere")
                continue
            path = parts.path
            last = path.rstrip("/").rsplit("/", 1)[-1]
            if not path.endswith("/") and "." not in last:
                path += "/"  # a directory linked without its trailing slash
            if not path.endswith("/"):
                continue  # pages and files: grids.html only names grid directories
            mirrored = self.base_url + path
            for root in self.roots:
                if not is_child(self.base_url + root, mirrored):
                    continue
                rel = unquote(path[len(root) :]).strip("/")
                depth = rel.count("/") + 1
                entry = IndexEntry(url=mirrored, name=rel.rsplit("/", 1)[-1], is_dir=True)
                if depth > self.max_depth or not self.wanted_directory(entry, root):
                    break
                self.crawler.stats.inc_value("kurucz/index/grid_directories")
                yield self.directory_request(mirrored, root, depth)
                break

    def file_item(self, entry: IndexEntry, rel: str) -> CapturedFile | None:
        item = super().file_item(entry, rel)
        if item is not None and "/" in rel:
            item.metadata["grid"] = rel.split("/", 1)[0]
        return item
