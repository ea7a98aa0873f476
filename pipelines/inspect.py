"""Stage 5: archive-specific inspection of a verified file (off the reactor thread).

A spider may define ``inspect_file(item, path) -> dict | None`` to read what only it knows how
to read (netCDF variables and CF attributes, a table's row count and columns, a PDS label's
record layout). The returned mapping is merged into ``item.metadata`` (and so into the
catalog). Raising :class:`~capture.inspection.InspectionProblem` quarantines the file with the
reasons given; any other exception is recorded as an inspection error on the item, and never
stops the crawl.
"""

from __future__ import annotations

from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from capture.inspection import InspectionProblem
from capture.items import CapturedFile
from capture.work import work_of
from pipelines.base import CaptureStage


class InspectPipeline(CaptureStage):
    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Any:
        # A spider without an inspector leaves this stage out of the item chain (a no-op
        # async stage still costs a coroutine and a Deferred per file).
        spider = getattr(crawler, "spider", None)
        if spider is not None and getattr(spider, "inspect_file", None) is None:
            raise NotConfigured  # no message: Scrapy would log a warning per crawl
        return cls(crawler)

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, CapturedFile) or item.status != "discovered":
            return item
        spider = self.crawler.spider
        inspect = getattr(spider, "inspect_file", None)
        work = work_of(item)
        if inspect is None or work.transfer is None:
            return item
        try:
            found = await self.ctx.io.run(
                _inspect_local, self.ctx, inspect, item, work.transfer.part
            )
        except InspectionProblem as problem:
            item.metadata.update(problem.metadata)
            work.problems = problem.reasons
            item.status = "quarantined"
            item.error = str(problem)
            self.inc("inspect/quarantined")
            self.logger.warning("Quarantining %s: %s", item.url, item.error)
            return item
        except Exception as exc:
            item.metadata["inspection_error"] = f"{type(exc).__name__}: {exc}"
            self.inc("inspect/error")
            self.logger.warning("Could not inspect %s: %s", item.url, exc)
            return item
        if found:
            item.metadata.update(found)
        self.inc("inspect/ok")
        return item


def _inspect_local(ctx: Any, inspect: Any, item: CapturedFile, part: str) -> dict[str, Any] | None:
    """Run an inspector on a local copy of the bytes (fetched from S3 when needed)."""
    local = ctx.store.scratch_copy(part, item.size)
    if local is None:
        return {"inspection_skipped": "file larger than CAPTURE_S3_SCRATCH_MAX"}
    try:
        found: dict[str, Any] | None = inspect(item, local)
        return found
    finally:
        ctx.store.drop_scratch(local, part)
