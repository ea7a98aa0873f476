"""Stage 2: make the file durable in the catalog before a single byte is fetched.

A new file gets a ``discovered`` row (this is what survives a SIGKILL: on restart the spider
re-drives every unfinished row). A known file is compared with what the listing says now:
unchanged files are not downloaded again, changed ones are, files with only HTTP validators
are fetched conditionally (If-None-Match / If-Modified-Since).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from capture.__version__ import __version__
from capture.catalog.decide import Decision
from capture.itemleft import on_item_left
from capture.items import CapturedFile, item_dict
from capture.storage import codec as codecs
from capture.work import work_of
from pipelines.base import CaptureStage


def catalog_record(item: CapturedFile, run_id: str) -> dict[str, Any]:
    """The columns a listing entry contributes to its catalog row."""
    data = item_dict(item)
    return {
        "archive": item.archive,
        "archive_path": item.archive_path,
        "domain": item.domain,
        "url": item.url,
        "path": item.path,
        "expected_size": item.expected_size,
        "digest_algorithm": item.checksum.get("algorithm"),
        "digest_expected": item.checksum.get("expected"),
        "digest_source": item.checksum.get("source"),
        "format": item.format,
        "spider": item.spider,
        "capture_version": __version__,
        "last_run": run_id,
        "file_metadata": item.metadata or None,
        "item": data,
    }


class RegisterPipeline(CaptureStage):
    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        self._inflight: set[tuple[str, str]] = set()
        on_item_left(crawler, self._left)

    def _left(self, item: Any) -> None:
        if isinstance(item, CapturedFile) and work_of(item).holds_inflight_key:
            work_of(item).holds_inflight_key = False
            self._inflight.discard((item.archive, item.archive_path))

    def _exists(self, rel: str, size: int | None) -> bool:
        try:
            st = os.stat(self.ctx.data.final(rel))
        except (OSError, ValueError):
            return False
        return size is None or st.st_size == size

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, CapturedFile):
            return item
        if self.config.diff:
            return await self._plan(item)
        key = (item.archive, item.archive_path)
        ctx = self.ctx
        work = work_of(item)
        # With a shared frontier, files discovered here only pass through to be queued (the
        # frontier's own set de-duplicates them); only files the frontier hands us are captured.
        queue_only = ctx.frontier is not None and work.frontier_entry is None
        if not queue_only:
            if key in self._inflight:
                self.inc("dropped/duplicate_in_flight")
                work.frontier_keep = True  # never acknowledge a frontier entry we did not do
                raise DropItem(
                    f"{item.archive}:{item.archive_path} is already being captured",
                    log_level="DEBUG",
                )
            self._inflight.add(key)
            work.holds_inflight_key = True
        try:
            exists: Callable[[str, int | None], bool] | None = None if ctx.remote else self._exists
            reg = await ctx.writer.run_grouped(
                ctx.catalog.register_each, (catalog_record(item, ctx.run_id), exists)
            )
        except BaseException:
            if work.holds_inflight_key:
                work.holds_inflight_key = False
                self._inflight.discard(key)
            raise
        work.file_id, work.decision, work.previous = reg.file_id, reg.decision, reg.previous
        prev = reg.previous or {}
        self.inc(f"register/{reg.decision}")
        if ctx.changes is not None:
            ctx.changes.listed(
                item, Decision(reg.decision, reg.changed), reg.previous, redriven=work.redriven
            )
        if reg.decision == "duplicate":
            self.inc("dropped/duplicate_in_run")
            raise DropItem(
                f"{item.archive}:{item.archive_path} already settled in this run", log_level="DEBUG"
            )
        if reg.decision == "unchanged":
            fill_from_previous(item, prev)
            item.status = "unchanged"
        elif reg.decision == "conditional":
            work.conditional = {
                k: v
                for k, v in (
                    ("etag", prev.get("etag")),
                    ("last_modified", prev.get("last_modified")),
                )
                if v
            }
        if item.status == "discovered" and item.expected_size is not None:
            self.inc("register/expected_bytes", item.expected_size)
        return item

    async def _plan(self, item: CapturedFile) -> CapturedFile:
        """A diff: the same decision, read-only (no row is written; capture/diff.py)."""
        ctx, work = self.ctx, work_of(item)
        exists: Callable[[str, int | None], bool] | None = None if ctx.remote else self._exists
        planned = await ctx.writer.run_grouped(
            ctx.catalog.plan, (catalog_record(item, ctx.run_id), exists)
        )
        work.decision, work.previous = planned.decision.kind, planned.previous
        self.inc(f"register/{planned.decision.kind}")
        assert ctx.changes is not None
        if not ctx.changes.listed(item, planned.decision, planned.previous):
            self.inc("dropped/listed_twice")
            raise DropItem(f"{item.archive}:{item.archive_path} listed twice", log_level="INFO")
        if planned.decision.kind == "unchanged":
            fill_from_previous(item, planned.previous or {})
            item.status = "unchanged"
        elif item.expected_size is not None:
            self.inc("register/expected_bytes", item.expected_size)
        return item


def fill_from_previous(item: CapturedFile, prev: dict[str, Any]) -> None:
    """Describe an unchanged file by the stored copy the catalog already holds."""
    item.size = prev.get("size")
    item.sha256 = prev.get("sha256")
    item.path = prev.get("path") or item.path
    item.stored = (
        {
            "codec": prev["codec"],
            "path": codecs.located(prev)[0],
            "size": prev.get("stored_size"),
            "sha256": prev.get("stored_sha256"),
        }
        if prev.get("codec") and prev.get("path")
        else None
    )
    item.format = item.format or prev.get("format")
    item.content_type = prev.get("content_type")
    item.retrieved_at = prev.get("retrieved_at")
    item.http = {
        "etag": prev.get("etag"),
        "last_modified": prev.get("last_modified"),
        "final_url": prev.get("final_url"),
    }
    item.checksum.update({"actual": prev.get("digest_actual"), "verified": prev.get("verified")})
    if prev.get("quality"):
        item.quality = prev["quality"]
