"""Base spiders.

:class:`CaptureSpider` gives every archive spider the common contract:

* ``-a base_url=scheme://host[:port]`` (http, https or ftp) points the spider at a mirror of
  the archive's origin
  (the spider appends the archive's real paths), which is also how tests use emulators;
* requests and listing entries may only go to the archive's hosts (``archive_hosts``);
* on start, files the catalog knows as discovered-but-unfinished (e.g. after a SIGKILL) are
  re-driven first, then discovery continues (``discover()``, implemented by each archive).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Self
from urllib.parse import quote, urlsplit

import scrapy
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider
from scrapy_spider_metadata import Args
from twisted.internet.defer import Deferred

from capture.config import CaptureSettings, config_of
from capture.context import CrawlServices
from capture.hosts import host_allowed, netloc_entry
from capture.itemleft import on_item_left
from capture.items import DOMAINS, CapturedFile
from capture.replicas import ORIGIN, Replica, ReplicaConfigError, host_entry, parse_entries
from capture.transfer import META_KEY, StreamSpec
from capture.transfer.engine import StreamedResponse
from capture.transfer.errors import ArchiveUnreachable, TransferAborted
from capture.work import work_of
from spiders.params import CaptureParams, SpiderArgumentError, parse_params

__all__ = ["CaptureParams", "CaptureSpider", "SpiderArgumentError"]

logger = logging.getLogger(__name__)
#: Characters kept as they are when a path is put in a URL.
URL_SAFE = "/:@!$&()*+,;=-._~"


class CaptureSpider(Args[CaptureParams], scrapy.Spider):
    """Base of every archive spider. Each archive is declared once, on its spider class:
    domain, publisher, formats, the mission's default scope and the arguments
    (``Args[Params]``); :mod:`capture.archives` and :mod:`capture.domains` are built from
    these declarations through Scrapy's spider loader."""

    #: Archive id used in paths and the catalog; defaults to the spider name (set per instance).
    archive: str = ""
    #: One of :data:`capture.items.DOMAINS`.
    domain: ClassVar[str] = ""
    #: ``{"name": ..., "url": ...}``: who publishes the archive (reports, DataCite, RO-Crate).
    publisher: ClassVar[dict[str, str]] = {}
    #: Formats the archive serves (``capture.formats`` names).
    formats: ClassVar[tuple[str, ...]] = ()
    #: One line: what a run with no arguments captures (the mission's first-round scope).
    scope: ClassVar[str] = ""
    #: The archive's real origin, e.g. ``https://ftp.1000genomes.ebi.ac.uk``.
    default_base_url: ClassVar[str] = ""
    #: Other hosts that belong to the archive (e.g. its download CDN).
    extra_hosts: ClassVar[tuple[str, ...]] = ()
    #: The archive's open cloud replica (``-a replica=cloud``): its public S3 bucket, read
    #: anonymously (capture/transfer/s3.py); None where the archive has none.
    cloud_bucket: ClassVar[str | None] = None
    #: The archive's official mirrors (capture/replicas.py), by name: the URL prefix a file's
    #: archive path below :attr:`replica_root` is appended to. Used when CAPTURE_REPLICAS
    #: names them (or says ``all``).
    mirrors: ClassVar[dict[str, str]] = {}
    #: The part of an archive path that a mirror's URL prefix stands for (e.g. ``vol1/ftp/``).
    replica_root: ClassVar[str] = ""
    #: ``{"env": ..., "header": ..., "template": ...}`` for archives that take a token.
    credentials: ClassVar[dict[str, Any] | None] = None
    #: What scrapy-spider-metadata reports (title, description); set per class below.
    metadata: ClassVar[dict[str, Any]]

    def __init__(self, *args: Any, **kwargs: Any):
        # Args.__init__ would raise pydantic's multi-line error; parse_params gives one line.
        name = kwargs.pop("name", None) or getattr(self, "name", type(self).__name__)
        self.args = parse_params(name, self.param_model(), kwargs)
        scrapy.Spider.__init__(self, name)
        if not self.domain or self.domain not in DOMAINS:
            raise SpiderArgumentError(f"{type(self).__name__}.domain must be one of {DOMAINS}")
        self.archive = type(self).archive or self.name
        base_url = self.args.base_url
        base = (base_url or self.default_base_url).rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https", "ftp") or not parts.hostname or parts.username:
            raise SpiderArgumentError(
                f"{name}: base_url must look like scheme://host[:port], got {base_url!r}"
            )
        self.base_url = base
        #: Set (with the reason) when the defaults leave nothing to capture by design (e.g. an
        #: archive with no confirmed public location): the crawl closes as ``skipped``.
        self.skip_reason: str | None = None
        self._redriven: set[int] = set()
        self._room: Deferred[None] | None = None
        self._closing_watch = False

    # -- declarations ----------------------------------------------------------------------
    @classmethod
    def param_model(cls) -> type[CaptureParams]:
        from scrapy_spider_metadata._utils import get_generic_param

        model: type[CaptureParams] = get_generic_param(cls, Args) or CaptureParams
        return model

    @classmethod
    def check_args(cls, args: dict[str, Any]) -> None:
        """Raise :class:`SpiderArgumentError` if ``args`` would not start this spider (the
        same checks the crawl makes, without a crawler: ``scrapy crawl`` and ``capture run``
        call it before anything starts)."""
        cls(**args)

    @classmethod
    def declaration(cls) -> dict[str, Any]:
        """What the archive is, for catalogs, reports and the README's spider table."""
        return {
            "spider": cls.name,
            "archive": cls.archive or cls.name,
            "domain": cls.domain,
            "publisher": dict(cls.publisher) or {"name": cls.name, "url": cls.default_base_url},
            "formats": list(cls.formats),
            "scope": cls.scope,
            "default_base_url": cls.default_base_url,
        }

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # scrapy-spider-metadata reads ``metadata`` (title, description, param_schema).
        cls.metadata = {
            "title": (cls.publisher or {}).get("name", getattr(cls, "name", cls.__name__)),
            "description": cls.scope,
            "domain": cls.domain,
        }

    # -- scope -----------------------------------------------------------------------------
    #: Arguments that change where the spider reads, not what it lists.
    SCOPE_NEUTRAL: ClassVar[frozenset[str]] = frozenset({"base_url", "render_js", "job"})

    def covers(self, archive_path: str) -> bool | None:
        """Whether a complete discovery with these arguments lists ``archive_path`` if the
        archive still has it (None: cannot tell). Files of the archive it covers but did not
        list are gone upstream (capture/diff.py). Here: every path with the default scope,
        None with any scoping argument; spiders that can tell precisely override it."""
        defaults = self.param_model().model_validate({}).model_dump()
        given = self.args.model_dump()
        narrowed = any(given[k] != defaults[k] for k in given if k not in self.SCOPE_NEUTRAL)
        return None if narrowed else True

    # -- hosts and URLs --------------------------------------------------------------------
    @property
    def archive_hosts(self) -> list[str]:
        return [netloc_entry(self.base_url), *self.extra_hosts]

    @property
    def allowed_hosts(self) -> list[str]:
        hosts = [*self.archive_hosts, *(host_entry(r.url) for r in self.replicas if r.url)]
        if self.cloud_bucket and self.replica == "cloud":
            hosts.append(f"s3://{self.cloud_bucket}")
        return hosts

    @property
    def replicas(self) -> list[Replica]:
        """The mirrors CAPTURE_REPLICAS asks for, in its order, ``origin`` included (empty:
        files come from their own URL only)."""
        cached: list[Replica] | None = self.__dict__.get("_replicas")
        if cached is None:
            crawler = getattr(self, "crawler", None)
            if crawler is None:
                return []
            cached = self.__dict__["_replicas"] = self.replicas_for(config_of(crawler))
        return cached

    @classmethod
    def replicas_for(cls, config: CaptureSettings) -> list[Replica]:
        """The replicas ``config`` asks for; :class:`SpiderArgumentError` (one line) for a
        name the archive does not declare or a bad URL (checked before the crawl starts)."""
        try:
            return parse_entries(config.replicas, cls.mirrors)
        except ReplicaConfigError as exc:
            raise SpiderArgumentError(f"{cls.name}: {exc}") from None

    def replica_path(self, item: CapturedFile, replica: Replica) -> str | None:
        """The file's path under ``replica``'s URL prefix (None: the replica cannot serve it):
        the archive path below :attr:`replica_root`."""
        root = self.replica_root
        if not root or not item.archive_path.startswith(root):
            return None
        return item.archive_path[len(root) :]

    def attach_replicas(self, item: CapturedFile) -> CapturedFile:
        """Give ``item`` its replicas (``[{"name", "url"}]``, configured order) when more than
        one can serve it; the item's URL stays the origin's."""
        candidates: list[dict[str, str]] = []
        for replica in self.replicas:
            if replica.name == ORIGIN:
                candidates.append({"name": ORIGIN, "url": item.url})
                continue
            rel = self.replica_path(item, replica)
            if rel is not None:
                url = replica.url.rstrip("/") + "/" + quote(rel.lstrip("/"), safe=URL_SAFE)
                candidates.append({"name": replica.name, "url": url})
        item.replicas = candidates if len(candidates) > 1 else None
        return item

    @property
    def replica(self) -> str:
        """Where file bodies come from: ``origin`` (the archive) or ``cloud`` (its bucket)."""
        return str(getattr(self.args, "replica", "origin"))

    def cloud_url(self, key: str) -> str:
        """``s3://<cloud_bucket>/<key>`` (the key percent-encoded as a URL path)."""
        if not self.cloud_bucket:
            raise ValueError(f"{self.name} has no cloud replica")
        return f"s3://{self.cloud_bucket}/{quote(key.lstrip('/'), safe='/!$&()*+,;=-._~@:')}"

    def on_archive_host(self, url: str, *also: str) -> bool:
        """Whether ``url`` is on the archive: the configured origin (a mirror given as
        ``base_url`` is the archive's origin for the crawl, including the absolute URLs it
        rewrites to itself), the archive's other hosts, or ``also``."""
        return host_allowed(url, [*self.archive_hosts, *also])

    def archive_url(self, path: str) -> str:
        """URL of an archive path on the configured origin (path is percent-encoded)."""
        return f"{self.base_url}/{quote(path.lstrip('/'), safe='/:@!$&()*+,;=-._~')}"

    def new_file(self, url: str, archive_path: str, **fields: Any) -> CapturedFile:
        item = CapturedFile(
            archive=self.archive,
            domain=self.domain,
            url=url,
            archive_path=archive_path,
            spider=self.name,
            **fields,
        )
        return self.attach_replicas(item) if self.replicas else item

    @property
    def ctx(self) -> CrawlServices:
        return CrawlServices.of(self.crawler)

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
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        on_item_left(crawler, spider._item_left)
        return spider

    async def start(self) -> AsyncIterator[Any]:
        if self.skip_reason:
            logger.warning("%s: skipped: %s", self.name, self.skip_reason)
            self.crawler.stats.set_value("capture/skipped_reason", self.skip_reason)
            raise CloseSpider("skipped")
        if not self.ctx.config.diff:  # a diff compares the listing only, and fetches nothing
            async for item in self.redrive():
                yield item
        async for output in self.discover():
            if not self.crawler.crawling:
                return
            yield output
        if self.ctx.frontier is not None:
            async for item in self.consume_frontier():
                yield item

    async def discover(self) -> AsyncIterator[Any]:
        """Yield listing requests (and/or items). Implemented by each archive spider."""
        raise NotImplementedError
        yield  # pragma: no cover

    async def redrive(self) -> AsyncIterator[CapturedFile]:
        """Unfinished files from earlier runs (including hard-killed ones), a page at a time."""
        ctx = self.ctx
        limit = ctx.config.max_items_in_flight
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
        work_of(item).redriven = True
        return item

    # -- shared frontier (capture.frontier) -------------------------------------------------
    async def consume_frontier(self) -> AsyncIterator[CapturedFile]:
        """Take files from the shared frontier until it is drained everywhere: nothing left to
        deliver, nothing in flight on any worker, and nothing being discovered here."""
        from twisted.internet import task

        from capture.work import work_of

        frontier = self.ctx.frontier
        assert frontier is not None  # start() consumes the frontier only when there is one
        config = self.ctx.config
        # Take only what this worker can work on now, so the others get their share.
        limit = config.frontier_prefetch or 2 * self.crawler.settings.getint(
            "CONCURRENT_REQUESTS_PER_DOMAIN"
        )
        exit_after = config.frontier_idle_exit
        beat = max(0.5, config.frontier_claim_idle / 3)
        entries: dict[int, str] = {}  # item id -> frontier entry, while in flight here
        self._frontier_entries = entries

        async def heartbeat() -> None:
            await frontier.heartbeat(list(entries.values()))

        from scrapy.utils.defer import deferred_from_coro

        loop = task.LoopingCall(lambda: deferred_from_coro(heartbeat()))
        loop.start(beat, now=False)
        idle_since: float | None = None
        try:
            while self.crawler.crawling:
                if len(self._redriven) >= limit:
                    await self._wait_for_room()
                    continue
                batch = await frontier.take(min(32, limit - len(self._redriven)))
                if batch:
                    idle_since = None
                    for entry_id, data in batch:
                        item = self._item_from_catalog(data)
                        if item is None:
                            await frontier.ack(entry_id)
                            continue
                        work_of(item).frontier_entry = entry_id
                        self._redriven.add(id(item))
                        entries[id(item)] = entry_id
                        self.crawler.stats.inc_value("capture/frontier/taken")
                        yield item
                    continue
                lag, pending = await frontier.outstanding()
                now = self._now()
                if lag == 0 and pending == 0 and not self._redriven and self._locally_idle():
                    idle_since = idle_since or now
                    if now - idle_since >= exit_after:
                        break
                else:
                    idle_since = None
                await self._sleep(min(1.0, max(0.1, exit_after / 10)))
        finally:
            if loop.running:
                loop.stop()

    def _locally_idle(self) -> bool:
        """Nothing is being discovered or processed in this process (no listing request queued
        or downloading, no callback output in the scraper)."""
        engine = self.crawler.engine
        if engine is None:
            return True
        scheduler = engine.scheduler
        pending = scheduler.has_pending_requests() if scheduler is not None else False
        slot = engine.scraper.slot
        idle = slot is None or slot.is_idle()  # no slot: the scraper holds nothing
        return not engine.downloader.active and idle and not pending

    async def _wait_for_room(self) -> None:
        from scrapy.utils.defer import maybe_deferred_to_future

        self._room = Deferred()
        await maybe_deferred_to_future(self._room)

    @staticmethod
    def _now() -> float:
        import time

        return time.monotonic()

    @staticmethod
    async def _sleep(seconds: float) -> None:
        from scrapy.utils.defer import maybe_deferred_to_future
        from twisted.internet import reactor, task

        await maybe_deferred_to_future(task.deferLater(reactor, seconds))

    def _item_left(self, item: Any) -> None:
        self._recheck_closing()
        entries = getattr(self, "_frontier_entries", None)
        if entries is not None:
            entries.pop(id(item), None)
        if id(item) in self._redriven:
            self._redriven.discard(id(item))
            if self._room is not None and not self._room.called:
                room, self._room = self._room, None
                room.callback(None)

    def _recheck_closing(self) -> None:
        """Work around a Scrapy 2.19 bug: an item from ``start()`` that leaves the pipelines
        while the spider is closing never calls ``Scraper._check_if_closing``, so the close
        (budget stop, unreachable archive, Ctrl-C) waits forever once the last such item is
        done. Once an item leaves during the close, the check is repeated every 0.2 s until
        the scraper's slot has closed (an item's own bookkeeping may end a few turns after its
        signal)."""
        engine = self.crawler.engine
        scraper = getattr(engine, "scraper", None)
        slot = getattr(scraper, "slot", None)
        if scraper is None or slot is None or getattr(slot, "closing", None) is None:
            return
        if self._closing_watch:
            return
        self._closing_watch = True
        from twisted.internet import reactor

        def check() -> None:
            current = scraper.slot
            if current is None or current.closing is None or current.closing.called:
                return
            scraper._check_if_closing()
            reactor.callLater(0.2, check)

        reactor.callLater(0, check)

    # -- errors ----------------------------------------------------------------------------
    def listing_failed(self, failure: Any) -> None:
        request = getattr(failure, "request", None)
        if failure.check(ArchiveUnreachable):
            return  # said once by the circuit breaker; the crawl is closing as unreachable
        if failure.check(TransferAborted):
            return  # Ctrl-C: the listing is asked again when the crawl resumes
        self.crawler.stats.inc_value(f"{self.archive}/listing_failed")
        logger.error("Listing %s failed: %s", getattr(request, "url", "?"), self._why(failure))

    @staticmethod
    def _why(failure: Any) -> str:
        """What the archive answered, not only Scrapy's "Ignoring non-200 response"."""
        response = getattr(failure.value, "response", None)
        if response is None:
            return str(failure.getErrorMessage())
        why = f"HTTP {response.status}"
        ftp = response.headers.get("X-FTP-Reply")
        if ftp:
            text = response.body[:200].decode("utf-8", "replace").strip()
            why += f" (FTP reply {ftp.decode()}: {text})"
        return why

    @staticmethod
    def streamed_path(response: Any) -> str:
        if not isinstance(response, StreamedResponse) or response.transfer is None:
            raise TypeError(f"expected a streamed listing response, got {type(response).__name__}")
        return response.transfer.part
