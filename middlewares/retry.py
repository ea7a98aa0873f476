"""Retries with exponential backoff, jitter and ``Retry-After`` (Scrapy retries immediately).

* Delay before retry *n*: ``min(MAX, BASE * 2**(n-1))`` times a random factor in
  ``[1 - JITTER, 1 + JITTER]``; on 429/503 a ``Retry-After`` (seconds or HTTP date, capped at
  ``CAPTURE_RETRY_AFTER_MAX``) is honoured: we never come back sooner than the server asked.
* A streamed transfer interrupted *after making progress* resumes from its partial file; such
  retries do not count against ``RETRY_TIMES`` (up to ``CAPTURE_RETRY_PROGRESS_TIMES``), so a
  100 GB file on a flaky link is not given up after three dropped connections. Progress means
  the durable resume offset moved past the best one reached before (a high-water mark kept in
  ``request.meta``), not bytes received: a server that sends the same 600 of 1,000 bytes from
  byte 0 every time makes no progress, and a drip feed cut for being too slow never counts as
  progress either; both use up ``RETRY_TIMES``.
* After Ctrl-C no new attempt starts and backoff waits end at once; a listing or API request
  that fails because the crawl is stopping goes back to the scheduler (so JOBDIR keeps it for
  the resume) instead of failing.
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
from scrapy.http.request import NO_CALLBACK
from scrapy.settings import BaseSettings
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.response import response_status_message
from twisted.internet import task

from capture.config import CaptureSettings, config_of
from capture.context import CrawlServices
from capture.replicas import REPLICA_KEY, REPLICAS_KEY, TRIED_KEY
from capture.transfer import EVENTS_KEY, META_KEY
from capture.transfer.errors import (
    LocalStorageError,
    TransferAborted,
    TransferInterrupted,
    TransferTooSlow,
)

logger = logging.getLogger(__name__)
DELAY_KEY = "capture_retry_delay"
PROGRESS_KEY = "capture_progress_retries"
#: The best durable resume offset any attempt of this request reached (bytes).
HIGH_WATER_KEY = "capture_resume_high_water"
#: Backoff sleeps are taken in steps this long, so a Ctrl-C ends them within a step.
SLEEP_STEP = 0.5


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
    def __init__(self, settings: BaseSettings, config: CaptureSettings | None = None):
        super().__init__(settings)
        c = config or CaptureSettings.from_settings(settings)
        self.base = c.retry_backoff_base
        self.max_delay = c.retry_backoff_max
        self.jitter = min(1.0, max(0.0, c.retry_jitter))
        self.retry_after_max = c.retry_after_max
        self.progress_times = c.retry_progress_times
        self.time_scale = c.backoff_time_scale
        self.rng = random.Random()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffRetryMiddleware:
        o = cls(crawler.settings, config_of(crawler))
        o.crawler = crawler
        return o

    # -- delays ----------------------------------------------------------------------------
    def backoff(self, attempt: int) -> float:
        """Jittered exponential delay before retry number ``attempt`` (1-based)."""
        nominal = min(self.max_delay, self.base * (2 ** max(0, attempt - 1)))
        factor = self.rng.uniform(1.0 - self.jitter, 1.0 + self.jitter)
        delay: float = min(self.max_delay, nominal * factor)
        return delay

    def _schedule(
        self, new: Request, delay: float, reason: str, retry_after: float | None = None
    ) -> Request:
        new.meta[DELAY_KEY] = delay
        stats = self.crawler.stats
        stats.max_value("capture/retry/delay_max", round(delay, 3))
        # Seconds, fractional: Scrapy's stats add any number; only its annotation says int.
        stats.inc_value("capture/retry/delay_total", round(delay, 3))  # type: ignore[arg-type]
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
        if REPLICA_KEY in new.meta:
            event["replica"] = new.meta[REPLICA_KEY]
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
            await self._sleep(delay * self.time_scale)
        return None

    async def _sleep(self, seconds: float) -> None:
        """Wait out a backoff in short steps; after Ctrl-C stop waiting and abort the attempt."""
        from twisted.internet import reactor

        while seconds > 0:
            if self.stopping():
                raise TransferAborted("the crawl is stopping: retry not attempted")
            step = min(seconds, SLEEP_STEP)
            await maybe_deferred_to_future(task.deferLater(reactor, step))
            seconds -= step

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Request | Response:
        if request.meta.get("dont_retry", False):
            return response
        reason = response_status_message(response.status)
        if response.status not in self.retry_http_codes:
            if response.status >= 400 and REPLICAS_KEY in request.meta:
                # A mirror without the file (404) or refusing it: the next replica, once each.
                switched = self._failover(request, None, reason, untried_only=True)
                if switched is not None:
                    return self._schedule(switched, 0.0, reason)
            return response
        new = self._retry(request, reason)
        if REPLICAS_KEY in request.meta:
            switched = self._failover(request, new, reason)
            if switched is not None:
                return self._schedule(switched, self._switch_delay(request, switched), reason)
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
        if self.stopping():
            # Ctrl-C: a file resumes on the next run (its catalog row); a listing or API
            # request goes back to the scheduler so JOBDIR keeps it.
            return self._requeue(request)
        if request.meta.get("dont_retry", False) or isinstance(exception, LocalStorageError):
            return None
        reason = f"{type(exception).__name__}: {exception}"
        if self._made_progress(request, exception):
            done = request.meta.get(PROGRESS_KEY, 0)
            if done < self.progress_times:
                new = request.copy()
                new.meta[PROGRESS_KEY] = done + 1
                new.meta[HIGH_WATER_KEY] = exception.offset  # type: ignore[attr-defined]
                new.dont_filter = True
                self.crawler.stats.inc_value("capture/retry/resumed_after_progress")
                switched = self._failover_after_progress(request, new, exception, reason)
                if switched is not None:
                    return switched
                return self._schedule(new, self.backoff(1), f"{reason} (resuming)")
        if not isinstance(exception, self.exceptions_to_retry):
            return None
        retried = self._retry(request, exception)
        if REPLICAS_KEY in request.meta:
            switched = self._failover(request, retried, reason)
            if switched is not None:
                if isinstance(exception, TransferInterrupted):
                    switched.meta[HIGH_WATER_KEY] = 0  # another server: progress starts anew
                return self._schedule(switched, self._switch_delay(request, switched), reason)
        if retried is None:
            return None
        if isinstance(exception, TransferInterrupted):
            best = max(request.meta.get(HIGH_WATER_KEY, 0), exception.offset)
            retried.meta[HIGH_WATER_KEY] = best
        return self._schedule(
            retried,
            self.backoff(retried.meta.get("retry_times", 1)),
            f"{type(exception).__name__}: {exception}",
        )

    # -- replicas (capture/replicas.py) ------------------------------------------------------
    def _failover(
        self, request: Request, retried: Request | None, reason: str, *, untried_only: bool = False
    ) -> Request | None:
        """The next attempt of a file with replicas, on the next replica (None: no other one,
        or retries exhausted and every replica tried). The failed replica is counted (and
        demoted after CAPTURE_REPLICA_DEMOTE_AFTER failures in a row)."""
        current = str(request.meta.get(REPLICA_KEY) or "")
        tried = list(request.meta.get(TRIED_KEY) or [current])
        board = CrawlServices.of(self.crawler).replicas
        board.failed(current, reason)
        nxt = board.next(request.meta[REPLICAS_KEY], current, tried)
        if nxt is None or (nxt["name"] in tried and (untried_only or retried is None)):
            return None
        base = retried if retried is not None else request
        new = base.replace(url=nxt["url"], dont_filter=True)
        new.meta[REPLICA_KEY] = nxt["name"]
        new.meta[TRIED_KEY] = [*tried, nxt["name"]] if nxt["name"] not in tried else tried
        stats = self.crawler.stats
        stats.inc_value(f"capture/replica/failover/{current}")
        logger.info(
            "Replica %s failed for %s (%s); next: %s", current, request.url, reason, nxt["name"]
        )
        return new

    def _failover_after_progress(
        self, request: Request, new: Request, exception: Exception, reason: str
    ) -> Request | None:
        """A cut transfer that made progress: another replica may continue it only when the
        file's identity (publisher digest + size) binds the partial bytes; without one it
        resumes where it is (a switch would start over from byte 0)."""
        if REPLICAS_KEY not in request.meta:
            return None
        spec = request.meta.get(META_KEY)
        if not (isinstance(spec, dict) and spec.get("identity")):
            return None
        switched = self._failover(request, new, reason)
        if switched is None:
            return None
        switched.meta[HIGH_WATER_KEY] = 0
        return self._schedule(switched, 0.0, f"{reason} (resuming on {switched.meta[REPLICA_KEY]})")

    def _switch_delay(self, request: Request, switched: Request) -> float:
        """No wait before a replica not tried yet (another server); backoff when cycling."""
        tried = request.meta.get(TRIED_KEY) or []
        if switched.meta[REPLICA_KEY] not in tried:
            return 0.0
        return self.backoff(switched.meta.get("retry_times", 1))

    @staticmethod
    def _made_progress(request: Request, exception: Exception) -> bool:
        """The durable resume offset passed the best one reached before (see module doc)."""
        if not isinstance(exception, TransferInterrupted) or isinstance(exception, TransferTooSlow):
            return False
        return exception.progress > 0 and exception.offset > request.meta.get(HIGH_WATER_KEY, 0)

    def _requeue(self, request: Request) -> Request | None:
        """A spider's in-memory request cut by the shutdown, back to the scheduler.

        Only requests the persistent dupefilter would drop on resume (``dont_filter`` False);
        the copy bypasses the filter once. File transfers (``NO_CALLBACK``) and streamed
        listings are re-driven by the next run itself.
        """
        if request.callback is NO_CALLBACK or META_KEY in request.meta or request.dont_filter:
            return None
        self.crawler.stats.inc_value("capture/retry/requeued_on_shutdown")
        return request.replace(dont_filter=True)
