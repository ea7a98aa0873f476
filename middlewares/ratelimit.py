"""A hard, process-wide request-rate limit per archive (a token bucket, not a hope).

An archive that says "at most 3 requests per second" (KEGG) gets a bucket of capacity
``CAPTURE_RATE_LIMIT_BURST`` (default 1) refilled at ``rate`` tokens per second, shared by
every crawler in the process (``capture run`` runs several) and by retries and redirects,
because this middleware sits last before the download handler. With capacity 1 and a safety
margin on the rate, no window of one second can ever hold more than ``rate`` requests.
Waiting is non-blocking (the reactor clock), never ``time.sleep``.

A spider opts in with ``rate_limit = 3.0`` (requests per second) and optionally
``rate_limit_key`` (default: the archive name).
"""

from __future__ import annotations

import threading

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import task

from capture.config import config_of
from capture.ratelimit import TokenBucket

# Keep a margin below the published rate so clock jitter cannot produce rate+1 in a window.
SAFETY = 0.92

_BUCKETS: dict[str, TokenBucket] = {}
_REGISTRY_LOCK = threading.Lock()


def bucket_for(key: str, rate: float, capacity: float) -> TokenBucket:
    with _REGISTRY_LOCK:
        bucket = _BUCKETS.get(key)
        if bucket is None or bucket.rate != rate or bucket.capacity != max(1.0, capacity):
            bucket = _BUCKETS[key] = TokenBucket(rate, capacity)
        return bucket


class RateLimitMiddleware:
    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.burst = config_of(crawler).rate_limit_burst

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RateLimitMiddleware:
        return cls(crawler)

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        spider = self.crawler.spider
        rate = getattr(spider, "rate_limit", None)
        if not rate or request.meta.get("dont_rate_limit"):
            return None
        key = getattr(spider, "rate_limit_key", None) or getattr(spider, "archive", None)
        key = key or (spider.name if spider is not None else "")
        wait = bucket_for(key, float(rate) * SAFETY, self.burst).reserve()
        if wait > 0:
            from twisted.internet import reactor

            self.crawler.stats.inc_value("capture/ratelimit/waits")
            await maybe_deferred_to_future(task.deferLater(reactor, wait))
        return None
