"""Group commit: all catalog work of a crawl runs on one thread, many operations per transaction.

SQLite has one writer at a time anyway; funnelling writes through a single thread keeps the
reactor free and lets a burst of small operations (thousands of files finishing per second)
share one commit. If a grouped transaction fails, each operation is replayed alone so one bad
record cannot take its neighbours down with it, except when the database's disk is full
(SQLITE_FULL, ENOSPC): then every operation of the group fails with that error, since replaying
them alone would only fail again. Callers recognise it with
:func:`capture.outcomes.is_disk_full` and stop the crawl (``disk_full``).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet.defer import Deferred

from capture.catalog.store import Catalog
from capture.outcomes import is_disk_full

logger = logging.getLogger(__name__)
T = TypeVar("T")
_STOP = object()
MAX_GROUP = 512


class CatalogWriter:
    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="capture-catalog", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        """Run ``fn(conn, *args, **kwargs)`` inside a catalog transaction; fires with its result."""
        d: Deferred[T] = Deferred()
        self._queue.put((fn, args, kwargs, d))
        return d

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        from scrapy.utils.defer import maybe_deferred_to_future

        return await maybe_deferred_to_future(self.submit(fn, *args, **kwargs))

    def call_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """For use off the reactor (CLI, tests): run in the caller's thread, own transaction."""
        with self.catalog.engine.begin() as conn:
            return fn(conn, *args, **kwargs)

    def close(self, timeout: float = 60.0) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    # -- the writer thread -----------------------------------------------------------------
    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_GROUP:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            self._execute(batch)
            if stop:
                return

    def _execute(self, batch: list[tuple[Any, ...]]) -> None:
        results: list[tuple[Deferred[Any], bool, Any]] = []
        try:
            with self.catalog.engine.begin() as conn:
                for fn, args, kwargs, d in batch:
                    results.append((d, True, fn(conn, *args, **kwargs)))
        except Exception as exc:
            if len(batch) == 1 or is_disk_full(exc):
                self._resolve([(op[3], False, exc) for op in batch])
                return
            results = [self._alone(op) for op in batch]
        self._resolve(results)

    def _alone(self, op: tuple[Any, ...]) -> tuple[Deferred[Any], bool, Any]:
        fn, args, kwargs, d = op
        try:
            with self.catalog.engine.begin() as conn:
                return (d, True, fn(conn, *args, **kwargs))
        except Exception as exc:  # reported to the caller's errback
            logger.debug("catalog operation %s failed: %s", getattr(fn, "__name__", fn), exc)
            return (d, False, exc)

    @staticmethod
    def _resolve(results: list[tuple[Deferred[Any], bool, Any]]) -> None:
        from twisted.internet import reactor

        def fire() -> None:
            for d, ok, value in results:
                if ok:
                    d.callback(value)
                else:
                    d.errback(value)

        reactor.callFromThread(fire)
