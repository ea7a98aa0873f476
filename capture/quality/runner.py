"""Run scorers off the reactor, sized to the file.

Mode ``process`` (the default) routes each file:

- **inline**: a file of at most ``inline_max_bytes`` whose scorer is inline-safe
  (:data:`capture.quality.registry.INLINE_SAFE`: pure Python, no third-party C reader, no
  decompression, work linear in the size), or with no content scorer at all (any size), is
  scored in the crawl process, on a daemon thread of its own (never the reactor's, never the
  IO pool's: a stuck scorer must not hold a transfer's thread, nor block shutdown). Small files
  cost no process hand-off and no worker memory.
- **isolated**: everything else (FITS, netCDF/HDF5, VOTable, compressed files, plugins, big
  files) goes to a worker process, so a scorer crashing inside a C library on a hostile file,
  or hanging, cannot take the crawl down. Workers start when a file needs one, import only
  that format's readers, and stop after ``idle_seconds`` without work. One file per worker at
  a time: a crash or a hang is that file's, and only that file is blamed.

Both paths keep the time limits: each file has a budget (``CAPTURE_QUALITY_TIME_BUDGET``) that
scorers honour by sampling big files, and a hard deadline of ``budget x hard_factor + grace``
counted from when the file's scoring starts. Past it, the file gets an ``error`` outcome
(quarantine): a hung worker is killed; an inline thread cannot be killed, so it is abandoned
(it ends when its scorer returns) and, while it runs, every file goes to worker processes.
Inline-safe scorers on files this small take well under a second, so that is a last resort.

Modes ``thread`` (every file on the crawl's IO threads, no deadline) and ``inline`` (on the
caller's thread) skip isolation altogether.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import queue
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any, Protocol, cast

from twisted.internet.interfaces import IReactorFromThreads

from capture.quality.model import CheckResult, Outcome, QualityReport, Severity, Tier
from capture.quality.registry import INLINE_SAFE, inline_safe, plugin_key
from capture.quality.score import MESSAGE_MAX, score_file
from capture.quality.scorers.base import ScoreContext
from capture.settings import CAPTURE_NASA_GRADE_THRESHOLD as NASA_GRADE_THRESHOLD
from capture.settings import CAPTURE_QUALITY_THRESHOLD as QUALITY_THRESHOLD

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("!Q")
# The worker: the parent's import path, then capture.quality.score.serve (not ``-m``, not
# multiprocessing: no re-import of the crawl's __main__, no fork server, no resource tracker).
_BOOT = (
    "import sys, json; sys.path[:] = json.loads(sys.argv[1]); "
    "from capture.quality.score import serve; serve(int(sys.argv[2]))"
)


def report_from_dict(data: dict[str, Any]) -> QualityReport:
    thresholds = data.get("thresholds", {})
    return QualityReport(
        scorer=data["scorer"],
        checks=[CheckResult.from_dict(c) for c in data["checks"]],
        quality_threshold=thresholds.get("quality", QUALITY_THRESHOLD),
        nasa_threshold=thresholds.get("nasa_grade", NASA_GRADE_THRESHOLD),
        unexamined=data.get("unexamined"),
    )


def error_report(ctx: ScoreContext, message: str, quality: float, nasa: float) -> QualityReport:
    """A scorer that died or hung on this file: the file itself brought a reader down (or
    kept it busy past every limit), so it is a container gate failure."""
    report = QualityReport(scorer="error", quality_threshold=quality, nasa_threshold=nasa)
    report.checks.append(
        CheckResult(
            "scorer.process", Tier.CONTAINER, Severity.HIGH, Outcome.FAIL, message, tool="capture"
        )
    )
    return report


def _hung(ctx: ScoreContext, deadline: float, quality: float, nasa: float) -> QualityReport:
    return error_report(
        ctx, f"scorer did not finish within {deadline:.0f}s (hung on this file)", quality, nasa
    )


class _Crashed(Exception):
    """The worker process died (or broke the protocol) while scoring."""


class _Hung(Exception):
    """The worker process did not answer before the deadline."""


class _Worker:
    """One scorer process: pickled requests on its stdin, JSON reports on its stdout."""

    def __init__(self, memory_limit: int):
        env = dict(os.environ)
        # Scorers do no linear algebra: one BLAS thread, not one per core, per worker.
        env.setdefault("OPENBLAS_NUM_THREADS", "1")
        env.setdefault("OMP_NUM_THREADS", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT, json.dumps(sys.path), str(memory_limit)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            close_fds=True,
            env=env,
        )
        self.idle_since = time.monotonic()

    def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        data = pickle.dumps(request)
        view = memoryview(_HEADER.pack(len(data)) + data)
        try:
            assert self.proc.stdin is not None
            while view:  # an idle worker reads at once; the request is a few KB
                view = view[os.write(self.proc.stdin.fileno(), view) :]
        except OSError as exc:  # BrokenPipeError: it died between files
            raise _Crashed from exc
        (size,) = _HEADER.unpack(self._read(_HEADER.size, deadline))
        if size > MESSAGE_MAX:
            raise _Crashed
        try:
            reply: dict[str, Any] = json.loads(self._read(size, deadline))
        except ValueError as exc:
            raise _Crashed from exc
        return reply

    def _read(self, size: int, deadline: float) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        poller = select.poll()  # not select(): a crawl may hold more than 1024 descriptors
        poller.register(fd, select.POLLIN)
        buf = bytearray()
        while len(buf) < size:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                raise _Hung
            chunk = os.read(fd, size - len(buf))
            if not chunk:
                raise _Crashed
            buf += chunk
        return bytes(buf)

    def exit_status(self) -> str:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "still running"
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"

    def stop(self) -> None:
        """Close its stdin (it exits at once when idle); kill it if it does not."""
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
        self._close_pipes()

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass


class _InlineJob:
    def __init__(self, fn: Callable[[], QualityReport | None]):
        self.fn = fn
        self.future: Future[QualityReport | None] = Future()
        self.started: float | None = None
        self.thread: _InlineThread | None = None  # the one that runs it


class _InlineThread:
    """A daemon thread scoring inline files one at a time, in submission order. Retired (after
    a file overran its deadline on it), it leaves once that file's scorer returns."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[_InlineJob | None] = queue.SimpleQueue()
        self.retired = False
        self.thread = threading.Thread(target=self._loop, name="capture-quality", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.retired:
            job = self.jobs.get()
            if job is None:
                return
            job.thread, job.started = self, time.monotonic()
            if not job.future.set_running_or_notify_cancel():
                continue
            try:
                job.future.set_result(job.fn())
            except BaseException as exc:  # delivered to the waiting side as a scorer failure
                job.future.set_exception(exc)


class QualityRunner:
    def __init__(
        self,
        *,
        mode: str = "process",
        workers: int = 1,
        hard_factor: float = 3.0,
        grace: float = 10.0,
        io: Any = None,
        memory_limit: int = 0,
        inline_max_bytes: int = 1024 * 1024,
        idle_seconds: float = 30.0,
        inline_formats: Collection[str | None] = INLINE_SAFE,
    ):
        if mode not in ("process", "thread", "inline"):
            raise ValueError(f"CAPTURE_QUALITY_MODE must be process|thread|inline, not {mode!r}")
        self.mode = mode
        self.workers = max(1, workers)
        self.hard_factor = hard_factor
        self.grace = grace
        self.io = io
        #: Address-space cap per worker process (bytes, 0: none): a damaged header that makes
        #: a C reader allocate gigabytes fails that read (and quarantines the file) instead of
        #: exhausting the machine.
        self.memory_limit = memory_limit
        #: Files up to this size (bytes) of an inline-safe format are scored in this process
        #: (0: never).
        self.inline_max_bytes = inline_max_bytes
        #: A worker process without work this long (seconds) exits (0: workers stay).
        self.idle_seconds = idle_seconds
        self.inline_formats = frozenset(inline_formats)
        self._cond = threading.Condition()
        self._live: list[_Worker] = []  # running worker processes, busy or idle
        self._idle: list[_Worker] = []
        self._reaper: threading.Thread | None = None
        self._waiters: ThreadPoolExecutor | None = None  # threads that wait on workers
        self._inline: _InlineThread | None = None
        self._abandoned: list[_InlineThread] = []
        #: Files scored in this process, by worker processes, and worker processes started.
        self.inline_files = 0
        self.isolated_files = 0
        self.workers_started = 0

    @property
    def live_workers(self) -> int:
        """Worker processes running now (busy or idle)."""
        with self._cond:
            return len(self._live)

    @property
    def worker_pids(self) -> list[int]:
        with self._cond:
            return [w.proc.pid for w in self._live]

    def close(self) -> None:
        """Stop every worker process and the in-process thread (a later file starts new
        ones)."""
        with self._cond:
            workers, self._live, self._idle = self._live, [], []
            waiters, self._waiters = self._waiters, None
            inline, self._inline = self._inline, None
            self._cond.notify_all()
        for worker in workers:
            worker.kill()
        if waiters is not None:
            waiters.shutdown(wait=False, cancel_futures=True)
        if inline is not None:
            inline.jobs.put(None)  # it leaves after the files already queued

    def deadline(self, ctx: ScoreContext) -> float:
        return ctx.budget_seconds * self.hard_factor + self.grace

    # -- scoring ---------------------------------------------------------------------------
    def score(self, ctx: ScoreContext, quality: float, nasa: float) -> Deferred[QualityReport]:
        """Score on the reactor's behalf: the Deferred fires on the reactor thread."""
        from twisted.internet.defer import Deferred

        if self.mode == "inline":
            d: Deferred[QualityReport] = Deferred()
            d.callback(score_file(ctx, quality, nasa))
            return d
        if self.mode == "thread":
            assert self.io is not None
            threaded: Deferred[QualityReport] = self.io.defer(score_file, ctx, quality, nasa)
            return threaded
        if self._may_inline(ctx):
            return self._inline_deferred(ctx, quality, nasa)
        return self._isolated_deferred(ctx, quality, nasa)

    def score_sync(self, ctx: ScoreContext, quality: float, nasa: float) -> QualityReport:
        """Blocking variant for command-line tools (rescore, reports): same routing, limits
        and isolation."""
        if self.mode != "process":
            return score_file(ctx, quality, nasa)
        if self._may_inline(ctx):
            job = self._submit_inline(ctx, quality, nasa)
            deadline = self.deadline(ctx)
            while True:
                try:
                    report = job.future.result(timeout=self._remaining(job, deadline))
                    break
                except FutureTimeout:
                    if self._remaining(job, deadline) > 0:
                        continue  # it waited behind another file: its own clock runs now
                    self._abandon(job, ctx, deadline)
                    return _hung(ctx, deadline, quality, nasa)
                except Exception as exc:
                    return _failed(ctx, exc, quality, nasa)
            if report is not None:
                return report
        return self._isolated(ctx, quality, nasa)

    # -- inline ------------------------------------------------------------------------------
    def _may_inline(self, ctx: ScoreContext) -> bool:
        """What can be told without reading the file (the rest is decided on the thread)."""
        if self.inline_max_bytes <= 0:
            return False
        key = plugin_key(ctx)
        if key is not None and key not in self.inline_formats:
            return False
        with self._cond:
            self._abandoned = [t for t in self._abandoned if t.thread.is_alive()]
            return not self._abandoned

    def _score_here(self, ctx: ScoreContext, quality: float, nasa: float) -> QualityReport | None:
        """On the inline thread: the report, or None when the file must go to a worker."""
        if not inline_safe(ctx, self.inline_formats, self.inline_max_bytes):
            return None
        # A fresh context: the budget runs from now, as in a worker.
        report = score_file(replace(ctx), quality, nasa)
        self.inline_files += 1
        return report

    def _submit_inline(self, ctx: ScoreContext, quality: float, nasa: float) -> _InlineJob:
        job = _InlineJob(lambda: self._score_here(ctx, quality, nasa))
        with self._cond:
            if self._inline is None:
                self._inline = _InlineThread()
            self._inline.jobs.put(job)
        return job

    @staticmethod
    def _remaining(job: _InlineJob, deadline: float) -> float:
        started = job.started
        return deadline if started is None else started + deadline - time.monotonic()

    def _abandon(self, job: _InlineJob, ctx: ScoreContext, deadline: float) -> None:
        """The inline thread overran the deadline on ``job``: leave it to finish on its own,
        hand its queue to a new thread, and isolate every file while it still runs."""
        with self._cond:
            stuck = job.thread
            if stuck is None or stuck.retired or job.future.done():
                return
            logger.warning(
                "Scoring %s in-process exceeded %.0fs: abandoning its thread; files go to "
                "worker processes until it returns",
                ctx.name,
                deadline,
            )
            stuck.retired = True
            self._abandoned.append(stuck)
            if self._inline is not stuck:
                return
            self._inline = fresh = _InlineThread()
        while True:
            try:
                queued = stuck.jobs.get_nowait()
            except queue.Empty:
                break
            if queued is not None:
                fresh.jobs.put(queued)
        stuck.jobs.put(None)  # in case it finished meanwhile and waits for work

    def _inline_deferred(
        self, ctx: ScoreContext, quality: float, nasa: float
    ) -> Deferred[QualityReport]:
        from twisted.internet.defer import Deferred

        result: Deferred[QualityReport] = Deferred()
        job = self._submit_inline(ctx, quality, nasa)
        deadline = self.deadline(ctx)
        call_later, call_from_thread = _reactor_calls()

        def watch() -> None:
            if result.called or job.future.done():
                return
            left = self._remaining(job, deadline)
            if left > 0:  # queued behind another file, or still within its time
                timer[0] = call_later(left, watch)
                return
            self._abandon(job, ctx, deadline)
            result.callback(_hung(ctx, deadline, quality, nasa))

        def settle(fut: Future[QualityReport | None]) -> None:
            timer[0].cancel()
            if result.called:
                return
            try:
                report = fut.result()
            except Exception as exc:
                result.callback(_failed(ctx, exc, quality, nasa))
                return
            if report is None:
                self._isolated_deferred(ctx, quality, nasa).chainDeferred(result)
            else:
                result.callback(report)

        timer = [call_later(deadline, watch)]
        job.future.add_done_callback(lambda fut: call_from_thread(settle, fut))
        return result

    # -- isolated ----------------------------------------------------------------------------
    def _isolated_deferred(
        self, ctx: ScoreContext, quality: float, nasa: float
    ) -> Deferred[QualityReport]:
        from twisted.internet import reactor
        from twisted.internet.defer import Deferred

        result: Deferred[QualityReport] = Deferred()
        with self._cond:
            if self._waiters is None:
                self._waiters = ThreadPoolExecutor(self.workers, "capture-quality-wait")
            waiters = self._waiters
        future = waiters.submit(self._isolated, ctx, quality, nasa)

        def settle(fut: Future[QualityReport]) -> None:
            try:
                report = fut.result()
            except BaseException as exc:  # cancelled by close(), or a bug of ours
                report = _failed(ctx, exc, quality, nasa)
            result.callback(report)

        future.add_done_callback(
            lambda fut: cast(IReactorFromThreads, reactor).callFromThread(settle, fut)
        )
        return result

    def _isolated(self, ctx: ScoreContext, quality: float, nasa: float) -> QualityReport:
        """Blocking: score in a worker process (waiting for a free one); never raises."""
        try:
            return self._in_worker(ctx, quality, nasa)
        except Exception as exc:  # no worker could be started (out of processes, memory)
            logger.error("No scorer process for %s: %s", ctx.name, exc)
            return _failed(ctx, exc, quality, nasa)

    def _in_worker(self, ctx: ScoreContext, quality: float, nasa: float) -> QualityReport:
        deadline = self.deadline(ctx)
        request = {"ctx": asdict(ctx), "quality": quality, "nasa": nasa}
        worker = self._acquire()
        try:
            reply = worker.call(request, deadline)
            if reply.get("restart"):  # it holds another format family's readers
                self._discard(worker, kill=False)
                worker = self._acquire(fresh=True)
                reply = worker.call(request, deadline)
        except _Hung:
            logger.warning("Scoring %s exceeded %.0fs: killing its process", ctx.name, deadline)
            self._discard(worker)
            return _hung(ctx, deadline, quality, nasa)
        except _Crashed:
            status = worker.exit_status()
            self._discard(worker)
            logger.warning("Scorer process crashed on %s (%s)", ctx.name, status)
            return error_report(
                ctx, f"scorer process crashed on this file ({status})", quality, nasa
            )
        except BaseException:
            self._discard(worker)
            raise
        if reply.pop("retire", False):
            self._discard(worker, kill=False)
            with self._cond:
                self.isolated_files += 1
        else:
            self._release(worker)
        if "error" in reply:
            return error_report(ctx, f"scorer failed: {reply['error']}", quality, nasa)
        return report_from_dict(reply)

    # -- worker processes --------------------------------------------------------------------
    def _acquire(self, fresh: bool = False) -> _Worker:
        """An idle worker (the most recently used: the others may idle out), or a new one
        while fewer than ``workers`` run; ``fresh``: a new one, in place of an idle one if
        need be."""
        victim = None
        with self._cond:
            while True:
                if self._idle and not fresh:
                    return self._idle.pop()
                if fresh and self._idle and len(self._live) >= self.workers:
                    victim = self._idle.pop(0)
                    self._live.remove(victim)
                if len(self._live) < self.workers:
                    worker = _Worker(self.memory_limit)
                    self._live.append(worker)
                    self.workers_started += 1
                    break
                self._cond.wait()
        if victim is not None:
            victim.stop()
        return worker

    def _release(self, worker: _Worker) -> None:
        """Back among the idle workers (the reaper stops it after ``idle_seconds``)."""
        with self._cond:
            self.isolated_files += 1
            closed = worker not in self._live  # close() ran meanwhile
            if not closed:
                worker.idle_since = time.monotonic()
                self._idle.append(worker)
                self._cond.notify_all()
                if self.idle_seconds > 0 and self._reaper is None:
                    self._reaper = threading.Thread(
                        target=self._reap, name="capture-quality-reaper", daemon=True
                    )
                    self._reaper.start()
        if closed:
            worker.stop()

    def _discard(self, worker: _Worker, kill: bool = True) -> None:
        if kill:
            worker.kill()
        else:
            worker.stop()
        with self._cond:
            if worker in self._live:
                self._live.remove(worker)
            self._cond.notify_all()

    def _reap(self) -> None:
        """Stop workers idle for ``idle_seconds``; ends when none is left."""
        while True:
            with self._cond:
                now = time.monotonic()
                expired = [w for w in self._idle if now - w.idle_since >= self.idle_seconds]
                for worker in expired:
                    self._idle.remove(worker)
                    self._live.remove(worker)
                if not expired:
                    if not self._live:
                        self._reaper = None
                        return
                    waits = [w.idle_since + self.idle_seconds - now for w in self._idle]
                    self._cond.wait(min(waits) if waits else None)
                    continue
            for worker in expired:
                logger.debug("Stopping a scorer process idle for %.0fs", self.idle_seconds)
                worker.stop()


def _failed(ctx: ScoreContext, exc: BaseException, quality: float, nasa: float) -> QualityReport:
    return error_report(ctx, f"scorer failed: {type(exc).__name__}: {exc}", quality, nasa)


class _Cancellable(Protocol):
    def cancel(self) -> Any: ...


def _reactor_calls() -> tuple[
    Callable[[float, Callable[[], None]], _Cancellable], Callable[..., None]
]:
    """``call_later(delay, fn)`` (returns something to ``cancel()``; cancelling twice or after
    it ran is harmless) and ``call_from_thread(fn, *args)`` on the reactor thread. Under the
    asyncio reactor they go to its loop directly: Twisted's ``callFromThread`` schedules a
    ``callLater(0)`` from the loop (two hops), and its timers re-arm the loop's own; per small
    file scored in-process that was one of each, plus a timer cancelled."""
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        from twisted.internet import reactor

        def later(delay: float, fn: Callable[[], None]) -> _Cancellable:
            call = reactor.callLater(delay, fn)
            return _TwistedTimer(call)

        return later, cast(IReactorFromThreads, reactor).callFromThread
    soon: Callable[..., Any] = loop.call_soon_threadsafe
    return loop.call_later, soon


class _TwistedTimer:
    __slots__ = ("call",)

    def __init__(self, call: Any):
        self.call = call

    def cancel(self) -> None:
        if self.call.active():
            self.call.cancel()
