"""The IO pool (capture/transfer/io.py): results and errors reach the awaiting loop, a job whose
caller went away is skipped, threads are added only while none is idle, a stopped pool refuses
work, and the Executor face runs on the same threads."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from capture.transfer.io import IOPool


def test_run_returns_results_and_raises_errors_on_the_loop() -> None:
    pool = IOPool(4)

    def boom() -> None:
        raise ValueError("disk said no")

    async def main() -> None:
        assert await pool.run(lambda a, b=0: a + b, 2, b=3) == 5
        with pytest.raises(ValueError, match="disk said no"):
            await pool.run(boom)
        names = await asyncio.gather(*(pool.run(lambda: threading.current_thread().name)
                                       for _ in range(20)))  # fmt: skip
        assert all(n.startswith("capture-io_") for n in names)

    try:
        asyncio.run(main())
    finally:
        pool.stop()


def test_sequential_jobs_reuse_one_thread() -> None:
    """A thread is added only when none is idle: one file's jobs in turn stay on one thread
    (its buffers in one malloc arena)."""
    pool = IOPool(8)

    async def main() -> set[str]:
        names = set()
        for _ in range(30):
            names.add(await pool.run(lambda: threading.current_thread().name))
        return names

    try:
        assert asyncio.run(main()) == {"capture-io_0"}
        assert len(pool._threads) == 1
    finally:
        pool.stop()


def test_a_cancelled_caller_s_job_is_skipped_and_others_run() -> None:
    pool = IOPool(1)
    gate = threading.Event()
    ran: list[str] = []

    async def main() -> None:
        first = asyncio.ensure_future(pool.run(gate.wait, 5))
        await asyncio.sleep(0.05)  # the only thread is busy with ``first``
        doomed = asyncio.ensure_future(pool.run(ran.append, "doomed"))
        kept = asyncio.ensure_future(pool.run(ran.append, "kept"))
        await asyncio.sleep(0)
        doomed.cancel()
        gate.set()
        assert await first is True
        await kept
        with pytest.raises(asyncio.CancelledError):
            await doomed

    try:
        asyncio.run(main())
    finally:
        pool.stop()
    assert ran == ["kept"]


def test_defer_fires_a_deferred_on_the_loop_and_executor_shares_the_threads() -> None:
    from twisted.internet.defer import Deferred

    pool = IOPool(2)

    async def main() -> None:
        d: Deferred[int] = pool.defer(lambda: 7)
        got: list[int] = []
        d.addCallback(got.append)
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.01)
        assert got == [7]

    try:
        asyncio.run(main())
        names = list(pool.executor.map(lambda _: threading.current_thread().name, range(10)))
        assert set(names) <= {"capture-io_0", "capture-io_1"}
    finally:
        pool.stop()


def test_a_stopped_pool_refuses_work_and_its_threads_leave() -> None:
    pool = IOPool(3)

    async def main() -> None:
        await asyncio.gather(*(pool.run(time.sleep, 0.02) for _ in range(3)))

    asyncio.run(main())
    threads = list(pool._threads)
    pool.stop()
    for t in threads:
        t.join(5)
    assert not any(t.is_alive() for t in threads)
    with pytest.raises(RuntimeError, match="stopped"):
        pool.executor.submit(print)


def test_a_failed_write_after_marks_its_attempt_local_error() -> None:
    """``note_local_error`` on both kinds of waiter: the attempt says local_error when the
    write fails, and the error still reaches whoever awaits the waiter."""
    from twisted.internet.defer import Deferred

    from capture.transfer.engine import note_local_error
    from capture.waiters import wait

    pool = IOPool(1)

    def full() -> None:
        raise OSError(28, "No space left on device")

    async def main() -> None:
        ok: dict[str, str] = {"outcome": "complete"}
        note_local_error(pool.start(dict, a=1), ok)
        bad: dict[str, str] = {"outcome": "complete"}
        written = pool.start(full)
        note_local_error(written, bad)
        with pytest.raises(OSError, match="No space"):
            await wait(written)
        await asyncio.sleep(0)
        assert ok == {"outcome": "complete"} and bad == {"outcome": "local_error"}

    try:
        asyncio.run(main())
    finally:
        pool.stop()
    d: Deferred[None] = Deferred()
    attempt: dict[str, str] = {}
    note_local_error(d, attempt)
    d.addErrback(lambda f: None)
    d.errback(OSError("x"))
    assert attempt == {"outcome": "local_error"}
