"""Common plumbing for the capture pipeline stages, and the disk-full guard they all share.

A full data root (ENOSPC/EDQUOT while writing a file, quarantining or publishing it, or
SQLITE_FULL from the catalog next to it) is not one file's failure: every later file would
fail the same way. So every stage's ``process_item`` is guarded: a disk-full error, or an item
that comes back ``failed`` because of one, closes the crawl with reason ``disk_full``
(:func:`capture.diskfull.stop_for_disk_full`) and drops the item, whose catalog row
stays ``discovered`` for the resume. Before a file is fetched, the free space is checked
against its listed size plus ``CAPTURE_MIN_FREE_BYTES``, so a certain ENOSPC becomes a clean
stop before it happens.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from capture.context import CrawlServices
from capture.diskfull import free_bytes, stop_for_disk_full
from capture.itemleft import on_item_left
from capture.items import CapturedFile
from capture.outcomes import is_disk_full
from capture.units import human_bytes
from capture.work import work_of

logger = logging.getLogger(__name__)
#: Seconds a free-space reading is reused, and how many CAPTURE_MIN_FREE_BYTES of headroom
#: make a fresh reading unnecessary.
FREE_SPACE_TTL = 0.5
FREE_SPACE_MARGIN = 4
#: Decisions (pipelines/register.py) that lead to a fetch; set before the download stage.
_FETCHED = frozenset({"new", "resume", "retry", "changed", "conditional", "refetch"})

ProcessItem = Callable[..., Coroutine[Any, Any, Any]]


class DiskRoom:
    """Bytes promised to files being fetched, so concurrent transfers are checked together.

    One per crawler; a file's reservation is its listed size minus what its part file already
    holds, and ends when the file leaves the pipelines (scraped, dropped or failed), whatever
    stage it leaves from. Bytes a transfer in flight has written are both gone from the free
    space and still in its reservation, so a refusal is re-checked with the reservations
    reduced by their part files (a few ``stat`` calls, only when space is short).
    """

    def __init__(self, crawler: Crawler):
        self.min_free = CrawlServices.of(crawler).config.min_free_bytes
        self.reserved: dict[int, tuple[str, int]] = {}  # id(item) -> (path, listed size)
        self.promised = 0  # sum of the reserved sizes
        self._free_at: tuple[float, int | None] | None = None  # (monotonic time, free bytes)
        on_item_left(crawler, self.release)

    @classmethod
    def for_crawler(cls, crawler: Crawler) -> DiskRoom:
        room = getattr(crawler, "_capture_disk_room", None)
        if room is None:
            room = crawler._capture_disk_room = cls(crawler)  # type: ignore[attr-defined]
        return room

    def release(self, item: Any) -> None:
        entry = self.reserved.pop(id(item), None)
        if entry is not None:
            self.promised -= entry[1]

    def shortfall(self, item: CapturedFile, ctx: CrawlServices) -> str | None:
        """Why ``item`` must not start (None: it fits); reserves its size when it fits."""
        if id(item) in self.reserved or self.min_free <= 0:
            return None
        free = self._free(ctx)
        if free is None:
            return None
        # A file new to the catalog has no part file worth counting (its sink starts clean).
        held = 0 if work_of(item).decision == "new" else _partial_size(ctx, item.path)
        need = max(0, (item.expected_size or 0) - held)
        promised = self.promised
        if free - promised - need < FREE_SPACE_MARGIN * self.min_free and self._free_age() > 0:
            free = self._free(ctx, fresh=True)  # close to the line: never decide on a stale read
            if free is None:
                return None
        if free - promised - need < self.min_free:
            promised = sum(
                max(0, due - _partial_size(ctx, path)) for path, due in self.reserved.values()
            )
        if free - promised - need < self.min_free:
            return (
                f"{human_bytes(free)} free, {human_bytes(promised)} still due to transfers in "
                f"flight, {item.archive_path} needs {human_bytes(need)} more, and "
                f"CAPTURE_MIN_FREE_BYTES keeps {human_bytes(self.min_free)} free"
            )
        self.reserved[id(item)] = (item.path, item.expected_size or 0)
        self.promised += item.expected_size or 0
        return None

    def _free(self, ctx: CrawlServices, *, fresh: bool = False) -> int | None:
        """Free bytes of the data root, read at most every ``FREE_SPACE_TTL`` seconds (a
        ``statvfs`` per file was a measurable share of a small-file crawl); files reserved
        since the read are counted in ``promised``, files finished since then are covered by
        the refresh near the limit and by ``CAPTURE_MIN_FREE_BYTES``."""
        now = time.monotonic()
        if fresh or self._free_at is None or now - self._free_at[0] > FREE_SPACE_TTL:
            self._free_at = (now, free_bytes(ctx.data.root))
        return self._free_at[1]

    def _free_age(self) -> float:
        return time.monotonic() - self._free_at[0] if self._free_at is not None else 0.0


def _partial_size(ctx: CrawlServices, rel: str) -> int:
    """Bytes of ``rel`` already in its ``.part`` file (a resume needs only the rest)."""
    try:
        return os.stat(ctx.data.partial(rel)).st_size
    except (OSError, ValueError):
        return 0


class CaptureStage:
    """A pipeline stage with the crawl's shared context (data root, catalog, IO pool).

    Subclasses' ``process_item`` is wrapped by :func:`_disk_guarded` (see the module
    docstring): no stage needs its own disk-full handling.
    """

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.settings = crawler.settings
        self.stats = crawler.stats
        self.logger = logging.getLogger(type(self).__module__)
        self.ctx = CrawlServices.of(crawler)
        self.config = self.ctx.config

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("process_item")
        if own is not None and not getattr(own, "_disk_guarded", False):
            cls.process_item = _disk_guarded(own)  # type: ignore[attr-defined]

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Any:
        return cls(crawler)

    def inc(self, key: str, n: int = 1) -> None:
        self.stats.inc_value(f"capture/{key}", n)

    # -- disk space ------------------------------------------------------------------------
    def check_room(self, item: Any) -> None:
        """Stop before fetching a file the data root has no room for (listed size known)."""
        if not isinstance(item, CapturedFile) or item.status != "discovered":
            return
        work = work_of(item)
        if work.transfer is not None or work.decision not in _FETCHED:
            return
        ctx = self.ctx
        if ctx.dry_run or ctx.remote:
            return
        if getattr(self.crawler, "_capture_disk_full", False):
            self.disk_full(item, "the crawl is stopping: the disk is full")
        why = DiskRoom.for_crawler(self.crawler).shortfall(item, ctx)
        if why is not None:
            self.inc("disk_full/refused_before_fetch")
            self.disk_full(item, f"not enough room before fetching: {why}")

    def disk_full(self, item: Any, detail: BaseException | str) -> NoReturn:
        """Stop the crawl for a full disk and drop ``item``: its row stays ``discovered``."""
        text = detail if isinstance(detail, str) else f"{type(detail).__name__}: {detail}"
        text = text.splitlines()[0] if text else "disk full"
        stop_for_disk_full(self.crawler, self.ctx.data.root, text)
        self.inc("disk_full/dropped")
        name = "item"
        if isinstance(item, CapturedFile):
            work_of(item).frontier_keep = True  # the file is not done: never acknowledge it
            name = f"{item.archive}:{item.archive_path}"
        raise DropItem(
            f"{name} not captured: the disk is full; it stays discovered for the resume",
            log_level="INFO",
        )


def _disk_guarded(process_item: ProcessItem) -> ProcessItem:
    """``process_item`` that turns disk-full errors and disk-full failures into a clean stop."""

    @functools.wraps(process_item)
    async def guarded(self: CaptureStage, item: Any, *args: Any, **kwargs: Any) -> Any:
        self.check_room(item)
        try:
            result = await process_item(self, item, *args, **kwargs)
        except DropItem:
            raise
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            self.disk_full(item, exc)
        if (
            isinstance(result, CapturedFile)
            and result.status == "failed"
            and is_disk_full(result.error)
        ):
            self.disk_full(result, result.error or "disk full")
        return result

    guarded._disk_guarded = True  # type: ignore[attr-defined]
    return guarded
