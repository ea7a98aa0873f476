"""In-process tests of the pipeline stages: a real crawler, no ``scrapy crawl`` subprocess.

Each test gets a :class:`UnitCrawl`: a crawler made by Scrapy's own
``scrapy.utils.test.get_crawler`` with capture's settings (``capture.settings``), its data
root and catalog in ``tmp_path``, and its engine open (spider opened, never started), so the
stages a test builds with ``from_crawler`` see what they see in a crawl: the shared
``CrawlServices``, the downloader with capture's streaming handler and middlewares, the
signals. No stage is listed in ``ITEM_PIPELINES``: a test drives exactly the stages it names.

The reactor: capture's stages await Twisted Deferreds and asyncio futures alike, as under
``scrapy crawl``, so they need Scrapy's asyncio reactor. No pytest plugin for Twisted is
installed; this module installs that reactor once per process, when pytest collects
``tests/unit`` (before any test runs, so nothing can have installed another one), and
:meth:`UnitCrawl.run` runs a coroutine to completion on the reactor's asyncio loop. The
reactor is marked running (so its thread pool and ``callWhenRunning`` work as in a crawl)
and stopped at the end of the session.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from scrapy import Spider, signals
from scrapy.exceptions import DropItem
from scrapy.utils.reactor import (
    install_reactor,
    is_asyncio_reactor_installed,
    is_reactor_installed,
)

ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
if not is_reactor_installed():
    install_reactor(ASYNCIO_REACTOR)
elif not is_asyncio_reactor_installed():  # pragma: no cover - a test imported the reactor early
    raise RuntimeError("tests/unit need Scrapy's asyncio reactor, another one is installed")

# After the reactor: these import Twisted modules that would install the default one.
from scrapy.utils.test import get_crawler  # noqa: E402

import capture.settings  # noqa: E402
from capture.context import CrawlServices  # noqa: E402
from capture.items import CapturedFile  # noqa: E402
from pipelines.checksum import ChecksumPipeline  # noqa: E402
from pipelines.download import DownloadPipeline  # noqa: E402
from pipelines.metadata import MetadataPipeline  # noqa: E402
from pipelines.register import RegisterPipeline  # noqa: E402
from pipelines.store import StorePipeline  # noqa: E402
from pipelines.validate import SchemaValidationPipeline  # noqa: E402
from tests.crawl import catalog_rows  # noqa: E402

T = TypeVar("T")
ARCHIVE = "unit"
DOMAIN = "astronomy"
#: A file's way through a crawl without quality scoring (capture/settings.py ITEM_PIPELINES).
CAPTURE_CHAIN = (
    RegisterPipeline,
    DownloadPipeline,
    ChecksumPipeline,
    StorePipeline,
    MetadataPipeline,
)
_RUNS = itertools.count(1)


class UnitSpider(Spider):
    """A spider with no archive hosts: the host guard lets the test server's 127.0.0.1 in."""

    name = ARCHIVE


def capture_settings(data_dir: Path, **overrides: Any) -> dict[str, Any]:
    """capture/settings.py as a crawl sees it, on ``data_dir``, no pipelines listed."""
    values = {k: getattr(capture.settings, k) for k in dir(capture.settings) if k.isupper()}
    values.update(
        CAPTURE_DATA_DIR=str(data_dir),
        CAPTURE_CATALOG_URL="",
        CAPTURE_STORE="",
        CAPTURE_FRONTIER_URL="",
        CAPTURE_BACKOFF_TIME_SCALE=0,  # never sleep for real in a retry backoff
        ITEM_PIPELINES={},
        LOG_LEVEL="INFO",
    )
    values.update(overrides)
    return values


class UnitCrawl:
    """One crawl (one run id) of :class:`UnitSpider` on a data root, driven stage by stage."""

    def __init__(self, loop: asyncio.AbstractEventLoop, data_dir: Path, **settings: Any):
        self.loop = loop
        self.data_dir = data_dir
        settings.setdefault("CAPTURE_RUN_ID", f"unit_run{next(_RUNS)}")
        self.crawler = get_crawler(UnitSpider, capture_settings(data_dir, **settings))
        self.closed: list[str] = []  # spider_closed reasons
        self.crawler.signals.connect(self._spider_closed, signal=signals.spider_closed)
        self._stages: dict[type, Any] = {}
        crawler = self.crawler
        crawler.spider = crawler._create_spider()
        crawler.engine = crawler._create_engine()
        crawler.crawling = True
        self.run(crawler.engine.open_spider_async())

    def _spider_closed(self, spider: Spider, reason: str) -> None:
        self.closed.append(reason)

    # -- driving ---------------------------------------------------------------------------
    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run ``coro`` to completion on the reactor's loop (Deferreds, threads, sockets)."""
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def settle(self, seconds: float = 0.05) -> None:
        """Let callbacks scheduled for later (a closing spider) run."""
        self.run(asyncio.sleep(seconds))

    @property
    def ctx(self) -> CrawlServices:
        return CrawlServices.of(self.crawler)

    @property
    def stats(self) -> dict[str, Any]:
        return self.crawler.stats.get_stats()

    def stage(self, cls: type[T]) -> T:
        """The crawl's instance of a stage, built once with ``from_crawler`` as Scrapy does."""
        if cls not in self._stages:
            self._stages[cls] = cls.from_crawler(self.crawler)  # type: ignore[attr-defined]
        return self._stages[cls]

    def listed(
        self,
        archive_path: str,
        url: str,
        *,
        size: int | None = None,
        md5: str | None = None,
        modified: str | None = None,
    ) -> CapturedFile:
        """A listing entry as a spider emits it, through stage 1 (run id, path, format)."""
        item = CapturedFile(
            archive=ARCHIVE,
            domain=DOMAIN,
            url=url,
            archive_path=archive_path,
            spider=ARCHIVE,
            expected_size=size,
        )
        if md5:
            item.expect_digest("md5", md5, "listing")
        if modified:
            item.metadata["listing_modified"] = modified
        return self.through(item, SchemaValidationPipeline, leave=False)

    def through(self, item: Any, *stages: type, leave: bool = True) -> Any:
        """``item`` through ``stages`` in order, as the scraper runs them. ``leave``: then
        signal that it left the pipelines (scraped or dropped), which ends its in-flight
        bookkeeping (register's key, the disk reservation) as in a crawl."""
        spider = self.crawler.spider
        try:
            for cls in stages:
                item = self.run(self.stage(cls).process_item(item, spider))
        except DropItem as exc:
            if leave:
                self._send(signals.item_dropped, item=item, exception=exc, response=None)
            raise
        if leave:
            self.leave(item)
        return item

    def leave(self, item: Any) -> None:
        """Signal that ``item`` was scraped (left the pipelines), as the scraper does."""
        self._send(signals.item_scraped, item=item, response=None)

    def capture(self, item: CapturedFile) -> CapturedFile:
        """A listed file through register, download, checksum, store and metadata."""
        return self.through(item, *CAPTURE_CHAIN)

    def finish(self, item: CapturedFile) -> CapturedFile:
        """A registered file through the rest of :data:`CAPTURE_CHAIN`."""
        return self.through(item, *CAPTURE_CHAIN[1:])

    def _send(self, signal: object, **kwargs: Any) -> None:
        self.crawler.signals.send_catch_log(signal, spider=self.crawler.spider, **kwargs)

    # -- reading back ----------------------------------------------------------------------
    def rows(self, archive_path: str | None = None) -> list[dict[str, Any]]:
        if archive_path is None:
            return catalog_rows(self.data_dir, "select * from files order by id")
        return catalog_rows(
            self.data_dir, "select * from files where archive_path = ?", archive_path
        )

    def row(self, archive_path: str) -> dict[str, Any]:
        (row,) = self.rows(archive_path)
        return row

    def versions(self, archive_path: str) -> list[dict[str, Any]]:
        return catalog_rows(
            self.data_dir,
            "select v.* from file_versions v join files f on f.id = v.file_id "
            "where f.archive_path = ? order by v.version",
            archive_path,
        )

    def outcomes(self, archive_path: str) -> list[str]:
        """The statuses of the file's ``outcome`` events, one per settled capture."""
        rows = catalog_rows(
            self.data_dir,
            "select e.detail from events e join files f on f.id = e.file_id "
            "where f.archive_path = ? and e.kind = 'outcome' order by e.id",
            archive_path,
        )
        return [json.loads(r["detail"])["status"] for r in rows]

    def final(self, item: CapturedFile) -> Path:
        return Path(self.ctx.data.final(item.path))

    def part(self, item: CapturedFile) -> Path:
        return Path(self.ctx.data.partial(item.path))

    # -- the end ---------------------------------------------------------------------------
    def close(self, reason: str = "finished") -> None:
        """Close the spider (extensions close the run and release the catalog), once."""
        engine = self.crawler.engine
        if engine.spider is not None:
            self.run(engine.close_spider_async(reason=reason))
        self.crawler.crawling = False
        self.ctx.io.stop()


@pytest.fixture(scope="session")
def reactor_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """The asyncio loop under the installed reactor, the reactor marked running."""
    from twisted.internet import reactor

    reactor.startRunning(installSignalHandlers=False)  # type: ignore[attr-defined]
    loop: asyncio.AbstractEventLoop = reactor._asyncioEventloop  # type: ignore[attr-defined]
    yield loop
    reactor.stop()  # type: ignore[attr-defined]
    loop.run_forever()  # until the reactor's shutdown triggers ran (its thread pool joined)


@pytest.fixture
def new_crawl(
    reactor_loop: asyncio.AbstractEventLoop, data_dir: Path
) -> Iterator[Callable[..., UnitCrawl]]:
    """Open crawls on one data root, each a new run (close the previous one first); every
    crawl still open is closed after the test."""
    opened: list[UnitCrawl] = []

    def open_crawl(**settings: Any) -> UnitCrawl:
        crawl = UnitCrawl(reactor_loop, data_dir, **settings)
        opened.append(crawl)
        return crawl

    yield open_crawl
    for crawl in opened:
        crawl.close()


@pytest.fixture
def crawl(new_crawl: Callable[..., UnitCrawl]) -> UnitCrawl:
    return new_crawl()
