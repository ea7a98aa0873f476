"""Retries with exponential backoff, jitter and ``Retry-After`` (Scrapy retries immediately).

* Delay before retry *n*: ``min(MAX, BASE * 2**(n-1))`` times a random factor in
  ``[1 - JITTER, 1 + JITTER]``; on 429/503 a ``Retry-After`` (seconds or HTTP date, capped at
  ``CAPTURE_RETRY_AFTER_MAX``) is honoured: we never come back sooner than the server asked.
* A streamed transfer interrupted *after making progress* resumes from its partial file; such
  retries do not count against ``RETRY_TIMES`` (up to ``CAPTURE_RETRY_PROGRESS_TIMES``), so a
  100 GB file on a flaky link is not given up after three dropped connections.
* The wait happens in the request's own ``process_request`` (non-blocking, via the reactor
  clock); ``CAPTURE_BACKOFF_TIME_SCALE`` scales real sleeps (tests use ~0) while the nominal
  delays are still computed, logged, counted and recorded in the file's transfer events.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Response
from scrapy.settings import BaseSettings
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.response import response_status_message
from twisted.internet import task

from capture.transfer import EVENTS_KEY
from capture.transfer.errors import LocalStorageError, TransferInterrupted

logger = logging.getLogger(__name__)
DELAY_KEY = "capture_retry_delay"
PROGRESS_KEY = "capture_progress_retries"


def parse_retry_after(value: str | bytes | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), else None."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class BackoffRetryMiddleware(RetryMiddleware):
    def __init__(self, settings: BaseSettings):
        super().__init__(settings)
        self.base = settings.getfloat("CAPTURE_RETRY_BACKOFF_BASE", 1.0)
        self.max_delay = settings.getfloat("CAPTURE_RETRY_BACKOFF_MAX", 300.0)
        self.jitter = min(1.0, max(0.0, settings.getfloat("CAPTURE_RETRY_JITTER", 0.5)))
        self.retry_after_max = settings.getfloat("CAPTURE_RETRY_AFTER_MAX", 3600.0)
        self.progress_times = settings.getint("CAPTURE_RETRY_PROGRESS_TIMES", 100)
        self.time_scale = settings.getfloat("CAPTURE_BACKOFF_TIME_SCALE", 1.0)
        self.rng = random.Random()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffRetryMiddleware:
        o = cls(crawler.settings)
        o.crawler = crawler
        return o

    # -- delays ----------------------------------------------------------------------------
    def backoff(self, attempt: int) -> float:
        """Jittered exponential delay before retry number ``attempt`` (1-based)."""
        nominal = min(self.max_delay, self.base * (2 ** max(0, attempt - 1)))
        factor = self.rng.uniform(1.0 - self.jitter, 1.0 + self.jitter)
        return min(self.max_delay, nominal * factor)

    def _schedule(
        self, new: Request, delay: float, reason: str, retry_after: float | None = None
    ) -> Request:
        new.meta[DELAY_KEY] = delay
        stats = self.crawler.stats
        stats.max_value("capture/retry/delay_max", round(delay, 3))
        stats.inc_value("capture/retry/delay_total", round(delay, 3))
        if retry_after is not None:
            stats.inc_value("capture/retry/retry_after_honoured")
        event: dict[str, Any] = {
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "kind": "retry",
            "reason": reason,
            "delay": round(delay, 3),
        }
        if retry_after is not None:
            event["retry_after"] = retry_after
        events = new.meta.get(EVENTS_KEY)
        if isinstance(events, list):
            events.append(event)
        logger.info("Retrying %s in %.1fs (%s)", new.url, delay, reason)
        return new

    def stopping(self) -> bool:
        """The crawl started and is now stopping (Ctrl-C): no new attempt should begin."""
        try:
            started = self.crawler.engine is not None
        except RuntimeError:  # Scrapy 2.19: not set before the crawl starts
            return False
        return started and not self.crawler.crawling

    # -- hooks -----------------------------------------------------------------------------
    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        delay = request.meta.pop(DELAY_KEY, None)
        if delay:
            from twisted.internet import reactor

            await maybe_deferred_to_future(task.deferLater(reactor, delay * self.time_scale))
        return None

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Request | Response:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        reason = response_status_message(response.status)
        new = self._retry(request, reason)
        if new is None:
            return response
        delay = self.backoff(new.meta.get("retry_times", 1))
        retry_after = None
        if response.status in (429, 503):
            retry_after = parse_retry_after(response.headers.get(b"Retry-After"))
            if retry_after is not None:
                retry_after = min(retry_after, self.retry_after_max)
                delay = max(delay, retry_after)
        return self._schedule(new, delay, reason, retry_after)

    def process_exception(
        self, request: Request, exception: Exception, spider: Spider | None = None
    ) -> Request | Response | None:
        if request.meta.get("dont_retry", False) or isinstance(exception, LocalStorageError):
            return None
        if self.stopping():
            return None  # stopping (Ctrl-C): the file resumes on the next run, not now
        if isinstance(exception, TransferInterrupted) and exception.progress > 0:
            done = request.meta.get(PROGRESS_KEY, 0)
            if done < self.progress_times:
                new = request.copy()
                new.meta[PROGRESS_KEY] = done + 1
                new.dont_filter = True
                self.crawler.stats.inc_value("capture/retry/resumed_after_progress")
                return self._schedule(
                    new, self.backoff(1), f"{type(exception).__name__}: {exception} (resuming)"
                )
        if not isinstance(exception, self.exceptions_to_retry):
            return None
        new = self._retry(request, exception)
        if new is None:
            return None
        return self._schedule(
            new,
            self.backoff(new.meta.get("retry_times", 1)),
            f"{type(exception).__name__}: {exception}",
        )
