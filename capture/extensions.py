"""Run bookkeeping: a row in the catalog's ``runs`` table per crawl, closed with its stats.

A catalog on a full disk cannot take these rows: the crawl then stops as ``disk_full``
(:func:`capture.diskfull.stop_for_disk_full`) and the missing bookkeeping is one log line, never
a traceback; the crawl's own exit code and stats still say ``disk_full``.
"""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler

from capture import diff
from capture.__version__ import __version__
from capture.catalog.store import utcnow
from capture.context import CrawlServices, git_commit
from capture.diskfull import stop_for_disk_full
from capture.jobdir import set_aside_if_unreadable
from capture.logfiles import guard_log_files
from capture.outcomes import is_disk_full

logger = logging.getLogger(__name__)

# Settings recorded with each run (never anything that may hold a credential).
RECORDED_SETTINGS = (
    "CAPTURE_DATA_DIR",
    "CAPTURE_DRY_RUN",
    "CAPTURE_DIFF",
    "CAPTURE_UPDATE",
    "CONCURRENT_REQUESTS",
    "CONCURRENT_REQUESTS_PER_DOMAIN",
    "DOWNLOAD_DELAY",
    "JOBDIR",
    "RETRY_TIMES",
    "CAPTURE_STALL_TIMEOUT",
    "CAPTURE_CHECKPOINT_BYTES",
)


#: Scrapy loggers that log once per item or per download ("Scraped from", "Crawled").
PER_ITEM_LOGGERS = ("scrapy.core.scraper", "scrapy.core.engine")


def quiet_per_item_logs(level: Any) -> None:
    """Give Scrapy's per-item loggers the crawl's ``LOG_LEVEL``.

    Scrapy filters below ``LOG_LEVEL`` in its root handler, so a DEBUG "Scraped from" record is
    still built (and formatted for the item's repr) for every file, then thrown away: ~0.1 ms
    per file on a small-file crawl. Setting the level on the logger drops it before that.
    """
    if not level:
        return
    numeric = logging.getLevelName(level) if isinstance(level, str) else level
    if isinstance(numeric, int):
        for name in PER_ITEM_LOGGERS:
            logging.getLogger(name).setLevel(numeric)


class CaptureRunExtension:
    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        # Before the scheduler and SpiderState read it (when the spider opens).
        set_aside_if_unreadable(crawler.settings.get("JOBDIR"))
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CaptureRunExtension:
        return cls(crawler)

    async def spider_opened(self, spider: Spider) -> None:
        # A full disk: one line about the log file, not a traceback per log line. Here, not
        # in __init__: each crawler re-installs Scrapy's root handler with its own settings.
        guard_log_files()
        quiet_per_item_logs(self.crawler.settings.get("LOG_LEVEL"))
        ctx = CrawlServices.of(self.crawler)
        spider.run_id = ctx.run_id  # type: ignore[attr-defined]
        settings = {k: self.crawler.settings.get(k) for k in RECORDED_SETTINGS}
        run = {
            "run_id": ctx.run_id,
            "spider": spider.name,
            "started_at": utcnow(),
            "capture_version": __version__,
            "git_commit": git_commit(),
            "hostname": socket.gethostname(),
            "settings": json.loads(json.dumps(settings, default=str)),
        }
        try:
            await ctx.writer.run(ctx.catalog.start_run, run)
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            stop_for_disk_full(self.crawler, ctx.data.root, f"cannot record the run: {exc}")

    async def spider_closed(self, spider: Spider, reason: str) -> None:
        ctx = CrawlServices.of(self.crawler)
        interrupted = self.crawler.stats.get_value("capture/interrupted_by_shutdown")
        if interrupted:
            logger.warning(
                "%s: %d file(s) interrupted by the shutdown (%s); partial files are kept, "
                "the same command resumes them",
                spider.name,
                interrupted,
                reason,
            )
        if ctx.writer.grouped_calls:
            self.crawler.stats.set_value("capture/catalog/grouped_calls", ctx.writer.grouped_calls)
            self.crawler.stats.set_value("capture/catalog/groups", ctx.writer.groups)
        try:
            if ctx.changes is not None:
                await self._changes(ctx, spider, reason)
        except Exception as exc:  # the run is still recorded; the diff says it is missing
            logger.error("Changes of %s not recorded: %s", spider.name, exc)
            self.crawler.stats.set_value("capture/changes/error", str(exc))
        stats: dict[str, Any] = json.loads(json.dumps(self.crawler.stats.get_stats(), default=str))
        try:
            try:
                await ctx.writer.run(ctx.catalog.end_run, ctx.run_id, spider.name, reason, stats)
            except Exception as exc:
                if not is_disk_full(exc):
                    raise
                logger.warning(
                    "Run %s (%s) not closed in the catalog: its disk is full; the resume closes it",
                    ctx.run_id,
                    reason,
                )
            if ctx.frontier is not None:
                await ctx.frontier.close()
        finally:
            ctx.close()

    async def _changes(self, ctx: CrawlServices, spider: Spider, reason: str) -> None:
        """Close the archive's change record (capture/diff.py): files gone upstream, and in
        an update round their retraction; written under ``<root>/diffs/<run id>/``."""
        assert ctx.changes is not None
        archive = getattr(spider, "archive", None) or spider.name
        stats = self.crawler.stats
        covers = getattr(spider, "covers", None) or (lambda _path: None)

        def rows(after: int) -> list[dict[str, Any]]:  # on an IO thread: its own connection
            with ctx.catalog.engine.connect() as conn:
                return ctx.catalog.listed_rows(conn, archive, after)

        report = await ctx.io.run(
            ctx.changes.finish,
            archive,
            reason,
            stats.get_stats(),
            covers,
            rows,
            ctx.config.retract_max_fraction,
        )
        gone = report["files"]["gone"]
        report["retracted"] = 0
        if ctx.config.update and gone and report["gone_checked"] and not report["gone_held"]:
            report["retracted"] = await ctx.writer.run(ctx.catalog.retract, gone, ctx.run_id)
            logger.warning(
                "%s: %d file(s) gone upstream marked retracted", archive, report["retracted"]
            )
        elif gone and report["gone_held"]:
            logger.warning("%s: %s", archive, report["gone_why"])
        for key in ("new", "changed", "pending", "gone"):
            stats.set_value(f"capture/changes/{key}", len(report["files"][key]))
        stats.set_value("capture/changes/retracted", report["retracted"])
        report["run_id"] = ctx.run_id
        report["mode"] = "diff" if ctx.config.diff else "update"
        await ctx.io.run(diff.write, ctx.data.root, ctx.run_id, report)
