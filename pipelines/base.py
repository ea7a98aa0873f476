"""Common plumbing for the capture pipeline stages."""

from __future__ import annotations

import logging
from typing import Any

from scrapy.crawler import Crawler

from capture.context import CaptureContext


class CaptureStage:
    """A pipeline stage with the crawl's shared context (data root, catalog, IO pool)."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.settings = crawler.settings
        self.stats = crawler.stats
        self.logger = logging.getLogger(type(self).__module__)
        self._ctx: CaptureContext | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Any:
        return cls(crawler)

    @property
    def ctx(self) -> CaptureContext:
        if self._ctx is None:
            self._ctx = CaptureContext.for_crawler(self.crawler)
        return self._ctx

    def inc(self, key: str, n: int = 1) -> None:
        self.stats.inc_value(f"capture/{key}", n)
