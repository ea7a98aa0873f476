"""Keep credentials off every request object the crawl keeps.

Secrets are added only to the copy of a request that goes on the wire
(:mod:`capture.credentials`, called by the download handler). This middleware is the second
line: a request that carries the spider's credential header for any other origin (set by a
spider, ``DEFAULT_REQUEST_HEADERS`` or a redirect copy) loses it before it is sent, and the
event is counted (``capture/credentials/stripped``).
"""

from __future__ import annotations

import logging

from scrapy import Request, Spider
from scrapy.crawler import Crawler

from capture.credentials import origins_for, same_origin

logger = logging.getLogger(__name__)


class ArchiveCredentialsMiddleware:
    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchiveCredentialsMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        spider = self.crawler.spider
        spec = getattr(spider, "credentials", None)
        if not spec:
            return None
        header = spec.get("header", "Authorization")
        if header not in request.headers:
            return None
        allowed = origins_for(spec, getattr(spider, "base_url", "") or "")
        if not same_origin(request.url, allowed):
            del request.headers[header]
            self.crawler.stats.inc_value("capture/credentials/stripped")
            logger.warning("Removed the %s header from a request to %s", header, request.url)
        return None
