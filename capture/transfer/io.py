"""A crawler-scoped thread pool for blocking disk work (writes, hashing, fsync, renames).

Kept apart from the reactor's default pool, which Scrapy uses for DNS: a burst of fsyncs must
not delay name resolution, and vice versa.

Under Scrapy's asyncio reactor, :meth:`IOPool.run` hands work to a
:class:`concurrent.futures.ThreadPoolExecutor` and awaits it as an asyncio future: one
thread-safe wake-up per job. Twisted's ``deferToThreadPool`` route (a Deferred, a
``callFromThread``, then a Deferred-to-future bridge) cost about twice the reactor-thread time
per job, and a small-file crawl makes several jobs per file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar, cast

from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads

T = TypeVar("T")


class IOPool:
    def __init__(self, size: int):
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, size), thread_name_prefix="capture-io"
        )

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The threads themselves, for work that fans out (a batch of fsyncs)."""
        return self._executor

    def defer(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        """Run ``fn`` on the pool; a Deferred that fires on the reactor thread."""
        from twisted.internet import reactor

        d: Deferred[T] = Deferred()

        def fire(future: Future[T]) -> None:
            try:
                result = future.result()
            except BaseException as exc:  # handed to the Deferred's errbacks
                d.errback(exc)
            else:
                d.callback(result)

        future = self._executor.submit(fn, *args, **kwargs)
        future.add_done_callback(
            lambda f: cast(IReactorFromThreads, reactor).callFromThread(fire, f)
        )
        return d

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # not under the asyncio reactor
            return await maybe_deferred_to_future(self.defer(fn, *args, **kwargs))
        return await asyncio.wrap_future(self._executor.submit(fn, *args, **kwargs))

    def stop(self) -> None:
        self._executor.shutdown(wait=False)
