"""Refuse any request that would leave the archive's hosts (listing links, redirects)."""

from __future__ import annotations

import logging

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest

from capture.config import config_of
from capture.hosts import host_allowed

logger = logging.getLogger(__name__)


class OffArchiveRequest(IgnoreRequest):
    """A request to a host that is not one of the archive's (or explicitly allowed) hosts."""


class ArchiveHostGuardMiddleware:
    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.extra = [h for h in config_of(crawler).extra_allowed_hosts if h]

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchiveHostGuardMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        spider = self.crawler.spider
        allowed = getattr(spider, "allowed_hosts", None)
        if allowed is None:
            return None
        if host_allowed(request.url, [*allowed, *self.extra]):
            return None
        self.crawler.stats.inc_value("capture/guard/refused_host")
        logger.warning(
            "Refusing %s: not one of the archive's hosts %s", request.url, sorted(allowed)
        )
        raise OffArchiveRequest(f"host of {request.url} is not allowed for this archive")
