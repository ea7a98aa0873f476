"""What a job run off the reactor thread answers through: a Twisted Deferred, or an asyncio
future of the reactor's loop (under the asyncio reactor: no Deferred-to-future bridge for the
awaiting coroutine). Shared by the IO pool (capture/transfer/io.py) and the catalog writer."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from twisted.internet.defer import Deferred

T = TypeVar("T")

#: A result to come: an asyncio future of the reactor's loop, or a Deferred.
Waiter = asyncio.Future[T] | Deferred[T]


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The asyncio loop running this code (the asyncio reactor's), or None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def new_waiter() -> Waiter[Any]:
    """A future of the running loop, or a Deferred where no asyncio loop runs."""
    loop = running_loop()
    return loop.create_future() if loop is not None else Deferred()


def settle(waiter: Waiter[Any], ok: bool, value: Any) -> bool:
    """Deliver ``value`` (a result, or with ``ok`` False an exception) on the reactor thread;
    False when nobody waits any more (a future whose caller was cancelled)."""
    if isinstance(waiter, Deferred):
        if ok:
            waiter.callback(value)
        else:
            waiter.errback(value)
        return True
    if waiter.done():
        return False
    if ok:
        waiter.set_result(value)
    else:
        waiter.set_exception(value)
    return True


async def wait(waiter: Waiter[T]) -> T:
    """Await a waiter from a coroutine."""
    if isinstance(waiter, asyncio.Future):
        return await waiter
    from scrapy.utils.defer import maybe_deferred_to_future

    return await maybe_deferred_to_future(waiter)
