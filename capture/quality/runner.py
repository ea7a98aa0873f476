"""Run scorers off the reactor: in a process pool by default (a scorer crashing inside a C
library on a hostile file, or hanging, cannot take the crawl down), or in threads / inline.

Each file gets a time budget (``CAPTURE_QUALITY_TIME_BUDGET``) that scorers honour by sampling
big files; a worker still busy after ``budget x CAPTURE_QUALITY_HARD_TIMEOUT_FACTOR`` is killed
and the file gets an ``error`` outcome (quarantine). A crashed pool is replaced; files that
were in flight in it are retried once on the new pool, so only the culprit is blamed.
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from typing import Any

from twisted.internet.defer import Deferred

from capture.quality.model import CheckResult, Outcome, QualityReport, Severity, Tier
from capture.quality.score import score_file, score_file_dict
from capture.quality.scorers.base import ScoreContext

logger = logging.getLogger(__name__)


def report_from_dict(data: dict[str, Any]) -> QualityReport:
    thresholds = data.get("thresholds", {})
    return QualityReport(
        scorer=data["scorer"],
        checks=[CheckResult.from_dict(c) for c in data["checks"]],
        quality_threshold=thresholds.get("quality", 0.9),
        nasa_threshold=thresholds.get("nasa_grade", 0.92),
        unexamined=data.get("unexamined"),
    )


def error_report(ctx: ScoreContext, message: str, quality: float, nasa: float) -> QualityReport:
    """A scorer process that died or hung on this file: the file itself brought a reader down
    (crash isolation is the point of the worker), so it is a container gate failure."""
    report = QualityReport(scorer="error", quality_threshold=quality, nasa_threshold=nasa)
    report.checks.append(
        CheckResult(
            "scorer.process", Tier.CONTAINER, Severity.HIGH, Outcome.FAIL, message, tool="capture"
        )
    )
    return report


class QualityRunner:
    def __init__(
        self,
        *,
        mode: str = "process",
        workers: int = 2,
        hard_factor: float = 3.0,
        grace: float = 10.0,
        io: Any = None,
        memory_limit: int = 0,
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
        self._pool: ProcessPoolExecutor | None = None
        # At most one file per worker is handed to the pool, so a file's hard deadline starts
        # when a worker actually takes it, not while it waits behind others.
        from twisted.internet.defer import DeferredSemaphore

        self._slots = DeferredSemaphore(self.workers)

    # -- pool management -------------------------------------------------------------------
    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = self._new_pool(self.workers)
        return self._pool

    def _discard_pool(self, kill: bool) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if kill:
            _kill(pool)
        else:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._discard_pool(kill=True)

    # -- scoring ---------------------------------------------------------------------------
    def score(self, ctx: ScoreContext, quality: float, nasa: float) -> Deferred[QualityReport]:
        if self.mode == "inline":
            d: Deferred[QualityReport] = Deferred()
            d.callback(score_file(ctx, quality, nasa))
            return d
        if self.mode == "thread":
            assert self.io is not None
            return self.io.defer(score_file, ctx, quality, nasa)
        return self._slots.run(self._score_in_process, ctx, quality, nasa, 1)

    def score_sync(self, ctx: ScoreContext, quality: float, nasa: float) -> QualityReport:
        """Blocking variant for command-line tools (rescore, reports): same isolation."""
        if self.mode != "process":
            return score_file(ctx, quality, nasa)
        deadline = ctx.budget_seconds * self.hard_factor + self.grace
        for attempt in (1, 2):
            pool = self._executor() if attempt == 1 else self._new_pool(1)
            future = pool.submit(score_file_dict, asdict(ctx), quality, nasa)
            try:
                return report_from_dict(future.result(timeout=deadline))
            except TimeoutError:
                if attempt == 1:
                    self._discard_pool(kill=True)
                else:
                    _kill(pool)
                return error_report(
                    ctx,
                    f"scorer did not finish within {deadline:.0f}s (hung on this file)",
                    quality,
                    nasa,
                )
            except BrokenProcessPool:
                if attempt == 1:
                    self._discard_pool(kill=False)
                else:
                    _kill(pool)
                    return error_report(ctx, "scorer process crashed on this file", quality, nasa)
            finally:
                if attempt == 2:
                    _kill(pool)
        raise AssertionError("unreachable")

    def _new_pool(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=_warm_up,
            initargs=(self.memory_limit,),
        )

    def _score_in_process(
        self, ctx: ScoreContext, quality: float, nasa: float, attempt: int
    ) -> Deferred[QualityReport]:
        """Attempt 1 runs in the shared pool. When that pool breaks (a worker died) we cannot
        tell whose file killed it, so attempt 2 runs each affected file alone in a one-off
        process: the culprit is blamed, its neighbours are scored normally."""
        from twisted.internet import reactor

        result: Deferred[QualityReport] = Deferred()
        solo = attempt > 1
        pool = self._new_pool(1) if solo else self._executor()
        try:
            future: Future[dict[str, Any]] = pool.submit(
                score_file_dict, asdict(ctx), quality, nasa
            )
        except (BrokenProcessPool, RuntimeError):
            self._discard_pool(kill=True)
            pool = self._executor()
            future = pool.submit(score_file_dict, asdict(ctx), quality, nasa)
        deadline = ctx.budget_seconds * self.hard_factor + self.grace

        def release() -> None:
            if solo:
                _kill(pool)

        def on_timeout() -> None:
            if result.called:
                return
            logger.warning("Scoring %s exceeded %.0fs: killing its process", ctx.name, deadline)
            if solo:
                release()
            elif self._pool is pool:
                self._discard_pool(kill=True)
            result.callback(
                error_report(
                    ctx,
                    f"scorer did not finish within {deadline:.0f}s (hung on this file)",
                    quality,
                    nasa,
                )
            )

        timer = reactor.callLater(deadline, on_timeout)

        def done(fut: Future[dict[str, Any]]) -> None:
            reactor.callFromThread(settle, fut)

        def settle(fut: Future[dict[str, Any]]) -> None:
            if timer.active():
                timer.cancel()
            if result.called:
                return
            try:
                result.callback(report_from_dict(fut.result()))
            except BrokenProcessPool:
                if not solo and self._pool is pool:
                    self._discard_pool(kill=False)
                if not solo:
                    self._score_in_process(ctx, quality, nasa, attempt + 1).chainDeferred(result)
                else:
                    result.callback(
                        error_report(ctx, "scorer process crashed on this file", quality, nasa)
                    )
            except Exception as exc:
                result.callback(
                    error_report(ctx, f"scorer failed: {type(exc).__name__}: {exc}", quality, nasa)
                )
            finally:
                release()

        future.add_done_callback(done)
        return result


def _warm_up(memory_limit: int = 0) -> None:
    """Cap the worker's memory, then import the heavy readers once per worker, so no file's
    time budget pays for them."""
    import importlib

    if memory_limit > 0:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    for name in (
        "numpy",
        "astropy.io.fits",
        "astropy.io.votable",
        "netCDF4",
        "h5py",
        "capture.quality.registry",
    ):
        try:
            importlib.import_module(name)
        except Exception:  # a missing optional reader only disables its scorer
            pass


def _kill(pool: ProcessPoolExecutor) -> None:
    for proc in list(getattr(pool, "_processes", {}).values()):
        try:
            proc.kill()
        except Exception:
            pass
    pool.shutdown(wait=False, cancel_futures=True)
