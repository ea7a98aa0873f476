"""Base spiders.

:class:`CaptureSpider` gives every archive spider the common contract:

* ``-a base_url=scheme://host[:port]`` points the spider at a mirror of the archive's origin
  (the spider appends the archive's real paths), which is also how tests use emulators;
* requests and listing entries may only go to the archive's hosts (``archive_hosts``);
* on start, files the catalog knows as discovered-but-unfinished (e.g. after a SIGKILL) are
  re-driven first, then discovery continues (``discover()``, implemented by each archive).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from twisted.internet.defer import Deferred

from capture.context import CaptureContext
from capture.hosts import netloc_entry
from capture.items import DOMAINS, CapturedFile
from capture.transfer import META_KEY, StreamSpec
from capture.transfer.handler import StreamedResponse

logger = logging.getLogger(__name__)


class SpiderArgumentError(ValueError):
    """A spider argument (``-a name=value``) is missing or malformed."""


class CaptureSpider(scrapy.Spider):
    #: Archive id used in paths and the catalog; defaults to the spider name.
    archive: ClassVar[str] = ""
    #: One of :data:`capture.items.DOMAINS`.
    domain: ClassVar[str] = ""
    #: The archive's real origin, e.g. ``https://ftp.1000genomes.ebi.ac.uk``.
    default_base_url: ClassVar[str] = ""
    #: Other hosts that belong to the archive (e.g. its download CDN).
    extra_hosts: ClassVar[tuple[str, ...]] = ()
    #: ``{"env": ..., "header": ..., "template": ...}`` for archives that take a token.
    credentials: ClassVar[dict[str, Any] | None] = None

    def __init__(self, *args: Any, base_url: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not self.domain or self.domain not in DOMAINS:
            raise SpiderArgumentError(f"{type(self).__name__}.domain must be one of {DOMAINS}")
        self.archive = type(self).archive or self.name
        base = (base_url or self.default_base_url).rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
            raise SpiderArgumentError(
                f"base_url must look like scheme://host[:port], got {base_url!r}"
            )
        self.base_url = base
        self._redriven: set[int] = set()
        self._room: Deferred[None] | None = None

    # -- hosts and URLs --------------------------------------------------------------------
    @property
    def archive_hosts(self) -> list[str]:
        return [netloc_entry(self.base_url), *self.extra_hosts]

    @property
    def allowed_hosts(self) -> list[str]:
        return self.archive_hosts

    def archive_url(self, path: str) -> str:
        """URL of an archive path on the configured origin (path is percent-encoded)."""
        return f"{self.base_url}/{quote(path.lstrip('/'), safe='/:@!$&()*+,;=-._~')}"

    def new_file(self, url: str, archive_path: str, **fields: Any) -> CapturedFile:
        return CapturedFile(
            archive=self.archive,
            domain=self.domain,
            url=url,
            archive_path=archive_path,
            spider=self.name,
            **fields,
        )

    @property
    def ctx(self) -> CaptureContext:
        return CaptureContext.for_crawler(self.crawler)

    def listing_request(self, url: str, name: str, callback: Any, **kwargs: Any) -> scrapy.Request:
        """A request whose (possibly huge) body is streamed to a private listing file instead
        of memory; the callback receives a :class:`StreamedResponse` with ``transfer.part``."""
        part = self.ctx.data.internal / "listings" / self.archive / name
        meta = {
            META_KEY: StreamSpec(part=str(part), fresh=True).to_meta(),
            "dont_cache": True,
            **kwargs.pop("meta", {}),
        }
        return scrapy.Request(
            url,
            callback=callback,
            meta=meta,
            dont_filter=True,
            errback=self.listing_failed,
            **kwargs,
        )

    # -- start: re-drive, then discover ----------------------------------------------------
    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> CaptureSpider:
        spider: CaptureSpider = super().from_crawler(crawler, *args, **kwargs)
        for sig in (signals.item_scraped, signals.item_dropped, signals.item_error):
            crawler.signals.connect(spider._item_left, signal=sig)
        return spider

    async def start(self) -> AsyncIterator[Any]:
        async for item in self.redrive():
            yield item
        async for output in self.discover():
            if not self.crawler.crawling:
                return
            yield output

    async def discover(self) -> AsyncIterator[Any]:
        """Yield listing requests (and/or items). Implemented by each archive spider."""
        raise NotImplementedError
        yield  # pragma: no cover

    async def redrive(self) -> AsyncIterator[CapturedFile]:
        """Unfinished files from earlier runs (including hard-killed ones), a page at a time."""
        ctx = self.ctx
        limit = self.crawler.settings.getint("CAPTURE_MAX_ITEMS_IN_FLIGHT", 256)
        after = 0
        total = 0
        while self.crawler.crawling:
            rows = await ctx.writer.run(ctx.catalog.unfinished, self.archive, after, limit)
            if not rows:
                break
            for file_id, data in rows:
                after = file_id
                item = self._item_from_catalog(data)
                if item is None:
                    continue
                while len(self._redriven) >= limit and self.crawler.crawling:
                    self._room = Deferred()
                    from scrapy.utils.defer import maybe_deferred_to_future

                    await maybe_deferred_to_future(self._room)
                self._redriven.add(id(item))
                total += 1
                yield item
        if total:
            logger.info(
                "Re-driven %d unfinished file(s) of %s from the catalog", total, self.archive
            )
            self.crawler.stats.inc_value("capture/redriven", total)

    def _item_from_catalog(self, data: dict[str, Any]) -> CapturedFile | None:
        fields = {k: v for k, v in data.items() if k in CapturedFile.__dataclass_fields__}
        try:
            item = CapturedFile(**fields)
        except TypeError as exc:
            logger.error("Cannot re-drive catalog record %r: %s", data.get("archive_path"), exc)
            return None
        item.status = "discovered"
        return item

    def _item_left(self, item: Any, **_: Any) -> None:
        if id(item) in self._redriven:
            self._redriven.discard(id(item))
            if self._room is not None and not self._room.called:
                room, self._room = self._room, None
                room.callback(None)

    # -- errors ----------------------------------------------------------------------------
    def listing_failed(self, failure: Any) -> None:
        request = getattr(failure, "request", None)
        self.crawler.stats.inc_value(f"{self.archive}/listing_failed")
        logger.error(
            "Listing %s failed: %s", getattr(request, "url", "?"), failure.getErrorMessage()
        )

    @staticmethod
    def streamed_path(response: Any) -> str:
        if not isinstance(response, StreamedResponse) or response.transfer is None:
            raise TypeError(f"expected a streamed listing response, got {type(response).__name__}")
        return response.transfer.part
