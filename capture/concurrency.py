"""Per-slot and global concurrency for file transfers, enforced by us.

Scrapy 2.19's ``Downloader._process_queue`` starts every queued request of a slot in one
burst: it schedules each download as a coroutine and only marks it as transferring once that
coroutine runs, so ``free_transfer_slots()`` never drops inside the loop. Requests that enter
the downloader together (as file transfers from item pipelines do) therefore all start at once
— we measured 18 concurrent requests against one host configured for 4. Archives must see the
politeness we promise, so file transfers wait here for a slot (``DOWNLOAD_SLOTS[slot]
["concurrency"]`` or ``CONCURRENT_REQUESTS_PER_DOMAIN``) and a global token
(``CONCURRENT_REQUESTS``) before they reach the downloader.

A slot is held for the transfer itself, not for what follows it: the download handler calls
``request.meta[TRANSFER_DONE_KEY]`` once a complete body is in hand, so the next file goes out
on the freed connection while Scrapy's response chain and the local write still run (in a
latency-bound crawl that chain was ~7 ms of every 50 ms round trip).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import DeferredSemaphore

from capture.transfer import TRANSFER_DONE_KEY

T = TypeVar("T")


async def _acquire(sem: DeferredSemaphore) -> None:
    """Take a token; without a reactor round trip when one is free (the common case)."""
    d = sem.acquire()
    if not d.called:
        await maybe_deferred_to_future(d)


class TransferLimiter:
    def __init__(self, crawler: Crawler):
        s = crawler.settings
        self.crawler = crawler
        self.per_domain = max(1, s.getint("CONCURRENT_REQUESTS_PER_DOMAIN"))
        self.slot_settings = s.getdict("DOWNLOAD_SLOTS")
        self.total = DeferredSemaphore(max(1, s.getint("CONCURRENT_REQUESTS")))
        self.slots: dict[str, DeferredSemaphore] = {}

    def slot_key(self, request: Request) -> str:
        engine = self.crawler.engine
        if engine is not None and hasattr(engine.downloader, "get_slot_key"):
            return engine.downloader.get_slot_key(request)
        return request.meta.get("download_slot") or request.url.split("/")[2]

    def _slot(self, key: str) -> DeferredSemaphore:
        sem = self.slots.get(key)
        if sem is None:
            conf = self.slot_settings.get(key, {})
            sem = self.slots[key] = DeferredSemaphore(
                max(1, int(conf.get("concurrency", self.per_domain)))
            )
        return sem

    async def run(self, request: Request, fn: Callable[[], Awaitable[T]]) -> T:
        slot = self._slot(self.slot_key(request))
        await _acquire(slot)
        try:
            await _acquire(self.total)
        except BaseException:
            slot.release()
            raise
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                self.total.release()
                slot.release()

        request.meta[TRANSFER_DONE_KEY] = release
        try:
            return await fn()
        finally:
            release()
