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

Staged transfers: where the lean client's wire gate holds the real bound (the handler says so
with :meth:`TransferLimiter.gate_on_wire`) and nothing spaces requests in time (no download
delay, AutoThrottle or rate limit for the slot), each slot lets twice its concurrency through
here. The extra requests pass Scrapy's downloader and middlewares and wait at the gate with
their bytes ready, so a file's end puts the next request on the wire in the same call
(capture/transfer/lean.py). The archive still sees at most its concurrency at once: the gate
counts exchanges on the wire, per origin and in all (``CONCURRENT_REQUESTS``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import DeferredSemaphore

from capture.config import config_of
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
        self.total_limit = max(1, s.getint("CONCURRENT_REQUESTS"))
        # Keyed by staged or not: staged requests have twice the tokens, the gate the bound.
        self._totals: dict[bool, DeferredSemaphore] = {}
        self.slots: dict[tuple[str, bool], DeferredSemaphore] = {}
        self._staged: dict[str, bool] = {}
        self.gated = False  # the download handler's wire gate bounds exchanges on the wire

    def gate_on_wire(self) -> None:
        """Called by the download handler whose client gates the wire (before any transfer):
        slots without spacing in time may then stage requests (see the module docstring)."""
        self.gated = not self.slots and config_of(self.crawler).stage_transfers

    def total(self, staged: bool) -> DeferredSemaphore:
        sem = self._totals.get(staged)
        if sem is None:
            sem = self._totals[staged] = DeferredSemaphore(self.total_limit * (1 + staged))
        return sem

    def concurrency(self, key: str) -> int:
        """The slot's own bound: exchanges with it on the wire at once."""
        conf = self.slot_settings.get(key, {})
        return max(1, int(conf.get("concurrency", self.per_domain)))

    def staged(self, key: str) -> bool:
        """Whether requests to this slot may wait at the wire gate: the gate is on and no
        delay, AutoThrottle or rate limit spaces them (a staged request would go out the
        moment a connection frees, however soon after the last one)."""
        got = self._staged.get(key)
        if got is None:
            s, spider = self.crawler.settings, self.crawler.spider
            conf = self.slot_settings.get(key, {})
            delay = conf.get("delay", getattr(spider, "download_delay", None))
            if delay is None:
                delay = s.getfloat("DOWNLOAD_DELAY")
            got = self._staged[key] = (
                self.gated
                and not float(delay)
                and not s.getbool("AUTOTHROTTLE_ENABLED")
                and not getattr(spider, "rate_limit", None)
            )
        return got

    def slot_key(self, request: Request) -> str:
        engine = self.crawler.engine
        if engine is not None and hasattr(engine.downloader, "get_slot_key"):
            return engine.downloader.get_slot_key(request)
        return request.meta.get("download_slot") or request.url.split("/")[2]

    def _slot(self, key: str, staged: bool) -> DeferredSemaphore:
        sem = self.slots.get((key, staged))
        if sem is None:
            n = self.concurrency(key)
            sem = self.slots[(key, staged)] = DeferredSemaphore(2 * n if staged else n)
        return sem

    async def run(self, request: Request, fn: Callable[[], Awaitable[T]]) -> T:
        key = self.slot_key(request)
        # Only http(s) reaches the gate; an FTP or S3 transfer of the same host keeps the
        # plain bound (a host reached over both in one crawl: N over each).
        staged = request.url.startswith(("http://", "https://")) and self.staged(key)
        slot, total = self._slot(key, staged), self.total(staged)
        await _acquire(slot)
        try:
            await _acquire(total)
        except BaseException:
            slot.release()
            raise
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                total.release()
                slot.release()

        request.meta[TRANSFER_DONE_KEY] = release
        try:
            return await fn()
        finally:
            release()
