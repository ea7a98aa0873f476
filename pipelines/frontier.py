"""Stage 2b: with a shared frontier (``CAPTURE_FRONTIER_URL``), files discovered here are not
downloaded here: they are queued on the frontier, and each worker downloads what the frontier
hands it (see :mod:`capture.frontier`). Entries are acknowledged when their item leaves the
pipelines, except items interrupted by a shutdown or a budget stop, which stay pending so
another worker (or a later run) picks them up."""

from __future__ import annotations

from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem, NotConfigured
from scrapy.utils.defer import deferred_from_coro

from capture.context import CrawlServices
from capture.items import CapturedFile, item_dict
from capture.work import work_of
from pipelines.base import CaptureStage


class FrontierPipeline(CaptureStage):
    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Any:
        # Without a shared frontier the stage has nothing to do: out of the item chain (a
        # no-op async stage still costs a coroutine and a Deferred per file).
        if not CrawlServices.of(crawler).config.frontier_url:
            raise NotConfigured  # no message: Scrapy would log a warning per crawl
        return cls(crawler)

    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        for sig in (signals.item_scraped, signals.item_dropped, signals.item_error):
            crawler.signals.connect(self._left, signal=sig)

    def _left(self, item: Any, **_: Any) -> Any:
        if not isinstance(item, CapturedFile):
            return None
        work = work_of(item)
        if work.frontier_entry is None or work.frontier_keep or self.ctx.frontier is None:
            return None
        entry, work.frontier_entry = work.frontier_entry, None
        self.inc("frontier/acked")
        return deferred_from_coro(self.ctx.frontier.ack(entry))

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        frontier = self.ctx.frontier
        if frontier is None or not isinstance(item, CapturedFile):
            return item
        work = work_of(item)
        if work.frontier_entry is not None or item.status != "discovered":
            return item
        queued = await frontier.offer(f"{item.archive}:{item.archive_path}", item_dict(item))
        self.inc("frontier/offered" if queued else "frontier/already_queued")
        raise DropItem(
            f"{item.archive}:{item.archive_path} queued on the shared frontier", log_level="DEBUG"
        )
