"""A crawler-scoped thread pool for blocking disk work (writes, hashing, fsync, renames).

Kept apart from the reactor's default pool, which Scrapy uses for DNS: a burst of fsyncs must
not delay name resolution, and vice versa.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from scrapy.crawler import Crawler
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import threads
from twisted.internet.defer import Deferred
from twisted.python.threadpool import ThreadPool

T = TypeVar("T")
_ATTR = "_capture_io_pool"


class IOPool:
    def __init__(self, size: int):
        self._pool = ThreadPool(minthreads=0, maxthreads=max(1, size), name="capture-io")
        self._pool.start()

    @classmethod
    def for_crawler(cls, crawler: Crawler) -> IOPool:
        pool = getattr(crawler, _ATTR, None)
        if pool is None:
            pool = cls(crawler.settings.getint("CAPTURE_IO_THREADS", 8))
            setattr(crawler, _ATTR, pool)
            from scrapy import signals

            crawler.signals.connect(pool.stop, signal=signals.engine_stopped)
        return pool

    def defer(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        from twisted.internet import reactor

        return threads.deferToThreadPool(reactor, self._pool, fn, *args, **kwargs)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await maybe_deferred_to_future(self.defer(fn, *args, **kwargs))

    def stop(self) -> None:
        if self._pool.started:
            self._pool.stop()
