"""Stage 3: stream the file into its ``.part`` file (see :mod:`capture.transfer`).

In a dry run no body is fetched: the item is reported ``planned`` with its size from the
listing; where the listing gave none, a spider's estimate (``metadata["size_estimate"]``,
e.g. TAP row count times row width) or a cheap ``HEAD`` request's Content-Length sizes the
plan (``CAPTURE_DRY_RUN_HEAD``); what stays unknown is counted apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.http.request import NO_CALLBACK

from capture.fetch import Fetcher, FetchOutcome
from capture.items import CapturedFile
from capture.work import work_of
from pipelines.base import CaptureStage
from pipelines.register import fill_from_previous


class DownloadPipeline(CaptureStage):
    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        self.fetcher: Fetcher = self.ctx.fetcher

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, CapturedFile) or item.status != "discovered":
            return item
        if self.ctx.dry_run:
            conditional = self.config.diff and work_of(item).decision == "conditional"
            if conditional and await self.still_current(item):
                return item
            item.status = "planned"
            size, source = await self.planned_size(item)
            self.inc("planned_bytes", size or 0)
            self.inc(f"planned_sized_by/{source}")
            if size is None:
                self.inc("planned_unknown_size")
            return item
        outcome = await self.fetcher.fetch(item)
        return apply_outcome(self, item, outcome)

    async def planned_size(self, item: CapturedFile) -> tuple[int | None, str]:
        """(bytes, where the number came from) for a dry run's plan."""
        if item.expected_size is not None:
            return item.expected_size, "listing"
        estimate = item.metadata.get("size_estimate")
        if isinstance(estimate, int) and estimate >= 0:
            return estimate, "estimate"
        if not self.config.dry_run_head or item.fetch:
            return None, "unknown"  # POST-built files (item.fetch) cannot be sized by HEAD
        response = await self.head(item)
        if response is None:
            return None, "unknown"
        length = response.headers.get(b"Content-Length")
        if response.status == 200 and length and length.strip().isdigit():
            return int(length), "head"
        return None, "unknown"

    async def still_current(self, item: CapturedFile) -> bool:
        """A diff's check of a file known only by HTTP validators: a HEAD request, whose
        ETag / Last-Modified go to ``item.http`` for the diff. True (and the item described
        by its stored copy, ``unchanged``) when both equal what the stored copy was fetched
        with; the update round's conditional GET asks the same question."""
        prev = work_of(item).previous or {}
        response = None if item.fetch else await self.head(item)
        if response is None or response.status != 200:
            return False  # unknown: planned, as the update round would fetch it
        now = {
            "etag": _header(response, b"ETag"),
            "last_modified": _header(response, b"Last-Modified"),
        }
        item.http = {**item.http, **now, "final_url": response.url}
        if all(now[k] == prev.get(k) for k in now if prev.get(k)):
            fill_from_previous(item, prev)
            item.status = "unchanged"
            return True
        return False

    async def head(self, item: CapturedFile) -> Any:
        """The archive's HEAD answer for the file (None: it failed)."""
        request = Request(
            item.url,
            method="HEAD",
            callback=NO_CALLBACK,
            dont_filter=True,
            priority=item.priority,
            meta={"dont_redirect": False},
        )
        engine = self.crawler.engine
        assert engine is not None
        try:
            response = await self.fetcher.limiter.run(
                request, lambda: engine.download_async(request)
            )
        except Exception as exc:  # a plan never fails a file: its size is just unknown
            self.logger.debug("HEAD %s failed: %s", item.url, exc)
            return None
        return response


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _header(response: Any, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def apply_outcome(stage: CaptureStage, item: CapturedFile, outcome: FetchOutcome) -> CapturedFile:
    """Copy a fetch outcome into the item (shared with the checksum stage's re-transfer)."""
    work = work_of(item)
    item.attempts = sum(1 for e in work.events if e.get("kind") == "attempt")
    if outcome.budget or outcome.aborted:
        work.frontier_keep = True  # another worker (or a later run) takes it
    if outcome.budget:
        stage.inc("budget/refused")
        stop_for_budget(stage, outcome.budget)
        raise DropItem(
            f"{item.archive}:{item.archive_path} not fetched: {outcome.budget}; it stays "
            "discovered in the catalog for a later run",
            log_level="INFO",
        )
    if outcome.disk_full:
        stage.disk_full(item, outcome.disk_full)
    if outcome.unreachable:
        stage.inc("not_fetched_unreachable")
        raise DropItem(
            f"{item.archive}:{item.archive_path} not fetched: {outcome.unreachable}; it stays "
            "discovered in the catalog for --resume",
            log_level="INFO",
        )
    if outcome.aborted:
        stage.inc("interrupted_by_shutdown")
        raise DropItem(
            f"{item.archive}:{item.archive_path} interrupted by shutdown; "
            "the partial file is kept and the file resumes on the next run",
            log_level="DEBUG",  # one line for all of them at close (capture/extensions.py)
        )
    if outcome.error is not None or outcome.transfer is None:
        item.status = "failed"
        item.error = outcome.error
        stage.inc("download/failed")
        stage.logger.warning("Failed to capture %s: %s", item.url, outcome.error)
        return item
    transfer = outcome.transfer
    if transfer.not_modified:
        fill_from_previous(item, work.previous or {})
        item.status = "unchanged"
        stage.inc("download/not_modified")
        return item
    work.transfer = transfer
    item.size = transfer.size
    item.sha256 = transfer.digests["sha256"]
    item.content_type = transfer.content_type
    item.resumed_from = transfer.resumed_from or None
    item.bytes_transferred += transfer.bytes_transferred
    item.retrieved_at = datetime.now(UTC).isoformat(timespec="seconds")
    item.http = {
        "etag": transfer.etag,
        "last_modified": transfer.last_modified,
        "final_url": transfer.final_url,
    }
    algorithm = item.checksum.get("algorithm")
    if algorithm:
        item.checksum["actual"] = transfer.digests.get(algorithm)
    if transfer.ranges:
        # Which replica served which bytes (capture/replicas.py): on the item and in the
        # catalog's events (kind "replica").
        item.metadata.setdefault("replicas", {})["served"] = transfer.ranges
        work.events.append({"at": _now(), "kind": "replica", "ranges": transfer.ranges})
    stage.inc("download/completed")
    return item


def stop_for_budget(stage: CaptureStage, reason: str) -> None:
    """End the crawl cleanly (in-flight admitted transfers finish) with reason "budget"."""
    crawler = stage.crawler
    if getattr(crawler, "_capture_budget_stop", False) or crawler.engine is None:
        return
    crawler._capture_budget_stop = True  # type: ignore[attr-defined]
    crawler.stats.set_value("capture/budget/stop_reason", reason)
    stage.logger.warning("Stopping %s: %s", crawler.spider.name if crawler.spider else "", reason)
    from scrapy.utils.defer import deferred_from_coro

    deferred_from_coro(crawler.engine.close_spider_async(reason="budget_exhausted"))
