"""Run health monitors on Scrapy stats (the idea of spidermon, without the dependency).

Checked every ``CAPTURE_MONITOR_INTERVAL`` seconds during a crawl and once when it closes:

* error rate: failed files / settled files above ``CAPTURE_MONITOR_MAX_ERROR_RATE``;
* quarantine rate above ``CAPTURE_MONITOR_MAX_QUARANTINE_RATE``;
* zero-progress stall: no byte, item or response for ``CAPTURE_MONITOR_STALL_SECONDS``;
* a budget stop (the crawl ended because the run's budget ran out);
* a disk-full stop (the data root or the catalog's disk filled up: ``disk_full``).

Each alert is logged at ERROR, counted in stats (``capture/monitor/...``) and sent to the
configured notification channels: a webhook (``CAPTURE_NOTIFY_WEBHOOK``, JSON POST) and/or
e-mail (``CAPTURE_NOTIFY_EMAIL`` through Scrapy's ``MAIL_*`` settings). Rates are only judged
once ``CAPTURE_MONITOR_MIN_FILES`` files have settled.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from time import monotonic
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from twisted.internet import task, threads

from capture.outcomes import DISK_FULL

logger = logging.getLogger(__name__)
STATUSES = ("stored", "quarantined", "failed", "unchanged", "planned")


class CaptureHealthMonitor:
    def __init__(self, crawler: Crawler):
        s = crawler.settings
        self.crawler = crawler
        self.interval = s.getfloat("CAPTURE_MONITOR_INTERVAL", 60.0)
        self.max_error_rate = s.getfloat("CAPTURE_MONITOR_MAX_ERROR_RATE", 0.2)
        self.max_quarantine_rate = s.getfloat("CAPTURE_MONITOR_MAX_QUARANTINE_RATE", 0.2)
        self.stall_seconds = s.getfloat("CAPTURE_MONITOR_STALL_SECONDS", 900.0)
        self.min_files = s.getint("CAPTURE_MONITOR_MIN_FILES", 10)
        self.webhook = s.get("CAPTURE_NOTIFY_WEBHOOK") or None
        self.email = s.get("CAPTURE_NOTIFY_EMAIL") or None
        self.alerted: set[str] = set()
        self._progress: tuple[Any, ...] = ()
        self._progress_at = monotonic()
        self._loop: task.LoopingCall | None = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CaptureHealthMonitor:
        return cls(crawler)

    def spider_opened(self, spider: Spider) -> None:
        self._loop = task.LoopingCall(self.check)
        self._loop.start(self.interval, now=False)

    def spider_closed(self, spider: Spider, reason: str) -> Any:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self.check(final=True)
        if reason == "budget_exhausted":
            why = self.crawler.stats.get_value("capture/budget/stop_reason") or reason
            self.alert("budget_stop", f"{spider.name} stopped by the run budget: {why}")
        elif reason == DISK_FULL:
            why = self.crawler.stats.get_value("capture/disk_full/reason") or reason
            self.alert(DISK_FULL, f"{spider.name} stopped, disk full: {why}")
        return self._pending

    _pending: Any = None

    # -- checks ----------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        stats = self.crawler.stats
        return {s: int(stats.get_value(f"capture/status/{s}", 0) or 0) for s in STATUSES}

    def check(self, final: bool = False) -> None:
        counts = self.counts()
        settled = counts["stored"] + counts["quarantined"] + counts["failed"]
        if settled >= self.min_files:
            error_rate = counts["failed"] / settled
            if error_rate > self.max_error_rate:
                self.alert(
                    "error_rate",
                    f"{counts['failed']} of {settled} files failed "
                    f"({error_rate:.0%} > {self.max_error_rate:.0%})",
                )
            q_rate = counts["quarantined"] / settled
            if q_rate > self.max_quarantine_rate:
                self.alert(
                    "quarantine_rate",
                    f"{counts['quarantined']} of {settled} files "
                    f"quarantined ({q_rate:.0%} > {self.max_quarantine_rate:.0%})",
                )
        stats = self.crawler.stats
        progress = (
            stats.get_value("capture/transfer/bytes", 0),
            stats.get_value("item_scraped_count", 0),
            stats.get_value("item_dropped_count", 0),
            stats.get_value("response_received_count", 0),
        )
        now = monotonic()
        if progress != self._progress:
            self._progress, self._progress_at = progress, now
        elif not final and now - self._progress_at > self.stall_seconds:
            self.alert(
                "stall",
                f"no progress for {now - self._progress_at:.0f}s (no bytes, items or responses)",
            )

    # -- alerts ----------------------------------------------------------------------------
    def alert(self, kind: str, message: str) -> None:
        if kind in self.alerted:
            return
        self.alerted.add(kind)
        spider = self.crawler.spider.name if self.crawler.spider else "?"
        stats = self.crawler.stats
        stats.inc_value("capture/monitor/alerts")
        stats.set_value(f"capture/monitor/{kind}", message)
        logger.error("Health monitor [%s] %s: %s", spider, kind, message)
        payload = {
            "spider": spider,
            "kind": kind,
            "message": message,
            "run_id": self.crawler.settings.get("CAPTURE_RUN_ID")
            or getattr(self.crawler.spider, "run_id", None),
            "counts": self.counts(),
        }
        if self.webhook:
            self._pending = threads.deferToThread(post_json, self.webhook, payload)
            self._pending.addErrback(
                lambda f: logger.warning("Webhook failed: %s", f.getErrorMessage())
            )
        if self.email:
            from scrapy.mail import MailSender

            mailer = MailSender.from_crawler(self.crawler)
            mailer.send(
                to=[self.email],
                subject=f"[capture] {spider}: {kind}",
                body=json.dumps(payload, indent=2),
            )


def post_json(url: str, payload: dict[str, Any], timeout: float = 10.0) -> int:
    data = json.dumps(payload).encode()
    req = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        status: int = resp.status
        return status
