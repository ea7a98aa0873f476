"""One receiver per crawl for "an item left the item pipeline" (scraped, dropped or failed).

Several components release something per file when its item leaves: the register stage its
in-flight key, the disk-room guard its reservation, the spider its re-drive room. Each used to
connect to ``item_scraped``, ``item_dropped`` and ``item_error`` itself; every signal receiver
costs a ``pydispatch`` ``robustApply`` (a signature inspection) per item, which showed in a
small-file crawl's profile. Here one receiver per signal calls the hooks in turn, each guarded
the way Scrapy's ``send_catch_log`` guards a receiver (an error is logged, the others run).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

_ATTR = "_capture_item_left"


class ItemLeft:
    def __init__(self, crawler: Crawler):
        self.hooks: list[Callable[[Any], Any]] = []
        for sig in (signals.item_scraped, signals.item_dropped, signals.item_error):
            crawler.signals.connect(self._left, signal=sig)

    @classmethod
    def of(cls, crawler: Crawler) -> ItemLeft:
        """The crawl's dispatcher (created, and connected, on first use)."""
        found = getattr(crawler, _ATTR, None)
        if found is None:
            found = cls(crawler)
            setattr(crawler, _ATTR, found)
        return found

    def add(self, hook: Callable[[Any], Any]) -> None:
        """Call ``hook(item)`` whenever an item leaves the pipeline."""
        self.hooks.append(hook)

    def _left(self, item: Any, **_: Any) -> None:
        for hook in self.hooks:
            try:
                hook(item)
            except Exception:
                logger.exception("Error in %r while an item left the pipeline", hook)


def on_item_left(crawler: Crawler, hook: Callable[[Any], Any]) -> None:
    ItemLeft.of(crawler).add(hook)
