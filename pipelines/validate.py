"""Stage 1: validate the item at the pipeline boundary (JSON Schema, safe path, allowed host).

Listing entries are untrusted. An invalid item is dropped with a clear log line and a stats
counter (``capture/dropped/<reason>``); it never crashes the crawl.
"""

from __future__ import annotations

from typing import Any

from scrapy import Spider
from scrapy.exceptions import DropItem

from capture.formats import guess_format
from capture.hosts import host_allowed
from capture.items import CapturedFile, item_dict
from capture.paths import UnsafePathError
from capture.validation import item_errors
from pipelines.base import CaptureStage


class SchemaValidationPipeline(CaptureStage):
    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, CapturedFile):
            return item  # not ours (e.g. a spider's auxiliary record): leave it alone
        spider = self.crawler.spider
        item.spider = item.spider or (spider.name if spider else None)
        item.run_id = self.ctx.run_id
        item.format = item.format or guess_format(item.archive_path)
        try:
            item.path = self.ctx.data.relpath_for(item.domain, item.archive, item.archive_path)
        except UnsafePathError as exc:
            self._drop("unsafe_path", item, str(exc))
        allowed = getattr(spider, "allowed_hosts", None)
        if allowed is not None and not host_allowed(item.url, allowed):
            self._drop(
                "offsite", item, f"URL host is not one of the archive's hosts {sorted(allowed)}"
            )
        errors = item_errors(item_dict(item))
        if errors:
            self._drop("invalid_item", item, "; ".join(errors[:5]))
        return item

    def _drop(self, reason: str, item: CapturedFile, detail: str) -> None:
        self.inc(f"dropped/{reason}")
        raise DropItem(
            f"refused listing entry {item.archive}:{item.archive_path!r} "
            f"({item.url}): {reason}: {detail}"
        )
