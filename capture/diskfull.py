"""The crawl's disk-full stop: a full data root is not one file's failure.

Every later file would fail the same way, so the first disk-full error (from a pipeline stage,
the catalog, or the run bookkeeping of :mod:`capture.extensions`) closes the crawl with reason
``disk_full`` once, with one ERROR line naming the data root and its free space; files not yet
stored stay ``discovered`` for the resume. The pipeline stages' guard and the pre-fetch space
check that call it are in ``pipelines/base.py``.
"""

from __future__ import annotations

import logging
import os
import shutil

from scrapy.crawler import Crawler

from capture.outcomes import DISK_FULL
from capture.units import human_bytes

logger = logging.getLogger(__name__)


def free_bytes(path: str | os.PathLike[str]) -> int | None:
    """Free bytes for an unprivileged writer on the filesystem holding ``path``."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def stop_for_disk_full(crawler: Crawler, root: str | os.PathLike[str], detail: str) -> None:
    """Close the crawl with reason ``disk_full`` (once): nothing new starts, transfers in
    flight suspend resumable, files already fetched still settle where the disk allows, and
    the catalog keeps every file not stored as ``discovered`` for the resume."""
    if getattr(crawler, "_capture_disk_full", False) or crawler.engine is None:
        return
    crawler._capture_disk_full = True  # type: ignore[attr-defined]
    free = free_bytes(root)
    shown = human_bytes(free) if free is not None else "unknown"
    crawler.stats.set_value("capture/disk_full/reason", f"data root {root} is full: {detail}")
    crawler.stats.set_value("capture/disk_full/free_bytes", free)
    logger.error(
        "Disk full: data root %s has %s free (%s); stopping the crawl (disk_full). Free some "
        "space and run the same command again: it resumes where it stopped.",
        root,
        shown,
        detail,
    )
    from scrapy.utils.defer import deferred_from_coro

    deferred_from_coro(_close_for_disk_full(crawler))


async def _close_for_disk_full(crawler: Crawler) -> None:
    """Close the spider as ``disk_full``, then stop the engine.

    ``crawler.crawling`` is the flag every capture layer reads as "stopping" (as after
    Ctrl-C): transfers waiting for a slot never start, so no download begins while the engine
    closes, and running ones suspend with their part files resumable instead of racing for the
    last free bytes. Scrapy's closed-spider callback (``Crawler.stop_async``) skips a crawler
    that is no longer crawling, so the engine is stopped here.
    """
    engine = crawler.engine
    assert engine is not None
    crawler.crawling = False
    await engine.close_spider_async(reason=DISK_FULL)
    if engine.running:
        await engine.stop_async()
