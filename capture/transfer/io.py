"""A crawler-scoped thread pool for blocking disk work (writes, hashing, fsync, renames).

Kept apart from the reactor's default pool, which Scrapy uses for DNS: a burst of fsyncs must
not delay name resolution, and vice versa.

A small-file crawl makes two or three jobs per file, so a job's round trip is kept short: the
job goes on a ``SimpleQueue`` read by the pool's own threads, and its result comes back to the
reactor's asyncio loop with one ``call_soon_threadsafe``, settling an asyncio future
(:meth:`IOPool.run`) or a Deferred (:meth:`IOPool.defer`). A
:class:`concurrent.futures.ThreadPoolExecutor` job, awaited through ``asyncio.wrap_future``,
cost a ``Future`` with its condition variable, the executor's locks and idle semaphore, and two
chained futures with a loop callback each; Twisted's ``deferToThreadPool`` route (a Deferred, a
``callFromThread`` that schedules a ``callLater(0)``, a Deferred-to-future bridge) about twice
that. Without a running asyncio loop (another reactor, a blocking caller) results go through
``reactor.callFromThread`` as before.

:attr:`IOPool.executor` is the same threads behind the ``concurrent.futures.Executor`` API, for
work that fans out and is waited on by a thread, not the reactor: a batch of fsyncs, an S3 body
stream. (One set of threads: buffers allocated on a second set would spread over more malloc
arenas.)
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar, cast

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads

from capture.waiters import Waiter, new_waiter, running_loop, settle, wait

T = TypeVar("T")
_STOP = None


class IOPool:
    def __init__(self, size: int):
        self.size = max(1, size)
        self._jobs: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False
        #: Threads waiting for a job (approximate: read without the lock).
        self._idle = 0
        self.executor: Executor = _PoolExecutor(self)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the pool and await its result (or exception) on the caller's loop."""
        return await wait(self.start(fn, *args, **kwargs))

    def defer(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Deferred[T]:
        """Run ``fn`` on the pool; a Deferred that fires on the reactor thread."""
        d: Deferred[T] = Deferred()
        self._put((fn, args, kwargs, running_loop(), settle, d))
        return d

    def start(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Waiter[T]:
        """Run ``fn`` on the pool now, to be awaited later: an asyncio future of the running
        loop, or (under another reactor) a Deferred."""
        waiter: Waiter[T] = new_waiter()
        self._put((fn, args, kwargs, running_loop(), settle, waiter))
        return waiter

    def stop(self) -> None:
        """Let the threads leave once the jobs already queued are done; later jobs are refused."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = len(self._threads)
        for _ in range(threads):
            self._jobs.put(_STOP)

    # -- the threads -----------------------------------------------------------------------
    def _put(self, job: tuple[Any, ...]) -> None:
        if self._closed:
            raise RuntimeError("the IO pool is stopped: cannot run new jobs")
        self._jobs.put(job)
        if self._idle <= 0 and len(self._threads) < self.size:
            self._start_thread()

    def _start_thread(self) -> None:
        """One more thread, as ``ThreadPoolExecutor`` does, only while none is idle: a crawl
        of one big file keeps using the same thread or two, and its buffers the same malloc
        arenas (eight threads taking turns held eight arenas' worth of freed 8 MiB parts)."""
        with self._lock:
            if self._closed or len(self._threads) >= self.size:
                return
            # Daemon threads: a crawl awaits its writes before it ends; a job cut by the
            # interpreter's exit leaves a part file and a "discovered" row, which the resume
            # fetches again (nothing is recorded before its bytes are durable).
            thread = threading.Thread(
                target=self._work, name=f"capture-io_{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            self._idle += 1
        thread.start()

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            job = jobs.get()
            with self._lock:
                self._idle -= 1
            if job is _STOP:
                return
            self._run(*job)
            del job  # hold no reference to the job's data while idle

    def _run(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        loop: asyncio.AbstractEventLoop | None,
        settle: Callable[[Any, bool, Any], None],
        waiter: Any,
    ) -> None:
        skip = (isinstance(waiter, asyncio.Future) and waiter.cancelled()) or (
            isinstance(waiter, Future) and not waiter.set_running_or_notify_cancel()
        )  # its caller went away before the job started (as Future.cancel())
        if not skip:
            try:
                result, ok = fn(*args, **kwargs), True
            except BaseException as exc:  # delivered to the waiter
                result, ok = exc, False
        # Idle again before the caller hears back: its next job finds this thread waiting
        # instead of starting another.
        with self._lock:
            self._idle += 1
        if skip:
            return
        try:
            if settle is _settle_concurrent:  # waited on by a thread: no reactor hop
                settle(waiter, ok, result)
            elif loop is not None:
                loop.call_soon_threadsafe(settle, waiter, ok, result)
            else:
                from twisted.internet import reactor

                cast(IReactorFromThreads, reactor).callFromThread(settle, waiter, ok, result)
        except RuntimeError:  # the loop is closed: nobody is left to tell
            pass


def _settle_concurrent(f: Future[Any], ok: bool, value: Any) -> None:
    if ok:
        f.set_result(value)
    else:
        f.set_exception(value)


class _PoolExecutor(Executor):
    """The pool's threads behind ``Executor.submit``/``map`` (futures waited on by threads)."""

    def __init__(self, pool: IOPool):
        self._pool = pool

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        f: Future[T] = Future()
        self._pool._put((fn, args, kwargs, None, _settle_concurrent, f))
        return f

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.stop()
