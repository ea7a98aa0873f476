"""The services one crawl's components share (:class:`CrawlServices`), and the run id."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.crawler import Crawler

from capture.catalog import Catalog, CatalogWriter, catalog_url_for
from capture.config import SERVICES_ATTR, CaptureSettings, config_of
from capture.diff import ChangeRecorder
from capture.fetch import Fetcher
from capture.liveness import Liveness
from capture.paths import DataRoot
from capture.replicas import ReplicaBoard
from capture.runids import new_run_id
from capture.storage import Store, store_for
from capture.storage.compress import Plan, plan_from
from capture.transfer.io import IOPool

if TYPE_CHECKING:
    from capture.budget import Budget
    from capture.frontier import RedisFrontier

logger = logging.getLogger(__name__)
_ATTR = SERVICES_ATTR
RUN_ID_FILE = "capture_run_id"


def resolve_run_id(crawler: Crawler, spider_name: str) -> str:
    """CAPTURE_RUN_ID if set; else the id stored in JOBDIR (a resumed job keeps its run id);
    else a new one (:func:`capture.runids.new_run_id`)."""
    run_id = config_of(crawler).run_id
    jobdir = crawler.settings.get("JOBDIR")
    stored = Path(jobdir) / RUN_ID_FILE if jobdir else None
    if not run_id and stored is not None and stored.exists():
        run_id = stored.read_text().strip()
    if not run_id:
        run_id = new_run_id(spider_name)
    if stored is not None:
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_text(run_id + "\n")
    return run_id


class ServicesMissing(AttributeError):
    """A crawler without capture's services (an AttributeError: ``inspect.getmembers``, which
    Scrapy runs over a spider to serialise its requests, reads every property and skips
    attribute errors)."""


class CrawlServices:
    """What the components of one crawl share, built once, before any of them, by this
    Scrapy extension (``EXTENSIONS`` in capture/settings.py): typed settings, data root,
    catalog and its writer thread, IO pool, store, shared frontier, fetcher (transfer
    limiter) and budget.

    Components receive it explicitly: ``CrawlServices.of(crawler)`` in their ``__init__`` or
    ``from_crawler``. Scrapy builds extensions after the spider and before the engine, so
    every pipeline, middleware and download handler finds it, and the frontier is named
    after the spider that runs.
    """

    def __init__(self, crawler: Crawler, config: CaptureSettings | None = None):
        self.crawler = crawler
        self.config = config = config or CaptureSettings.from_settings(crawler.settings)
        self.data = DataRoot.at(config.data_dir or "./data")
        # Chosen by CAPTURE_STORE's scheme; a bad one fails before the catalog opens.
        self.store: Store = store_for(config, self.data)
        #: Compression at rest (CAPTURE_COMPRESS; None: off), checked before anything starts.
        self.compression: Plan | None = plan_from(config)
        self.catalog, self.writer = _shared_catalog(
            catalog_url_for(self.data.root, config.catalog_url or None),
            config.catalog_group_wait,
        )
        self.spider_name = (
            crawler.spider.name if crawler.spider else (crawler.spidercls.name or "capture")
        )
        self.run_id = resolve_run_id(crawler, self.spider_name)
        self.dry_run = config.dry_run or config.diff
        #: What changed upstream (diff and update rounds only), see capture/diff.py.
        self.changes: ChangeRecorder | None = (
            ChangeRecorder(self.spider_name) if config.diff or config.update else None
        )
        self.io = IOPool(config.io_threads)
        self.liveness = Liveness()  # the archive's last sign of life (circuit breaker)
        self.frontier: RedisFrontier | None = None  # with CAPTURE_FRONTIER_URL
        if config.frontier_url:
            from capture.frontier import RedisFrontier

            archive = getattr(crawler.spider or crawler.spidercls, "archive", None)
            self.frontier = RedisFrontier(
                config.frontier_url,
                config.frontier_name or f"{self.run_id}:{archive or self.spider_name}",
                claim_idle=config.frontier_claim_idle,
            )
        #: Which mirrors of the archive failed, are demoted or served wrong bytes.
        self.replicas = ReplicaBoard(max(1, config.replica_demote_after))
        self.fetcher = Fetcher(crawler, self)
        crawler.signals.connect(self.io.stop, signal=signals.engine_stopped)
        logger.info(
            "capture run %s, data root %s, catalog %s",
            self.run_id,
            self.data.root,
            _redact_url(self.catalog.url),
        )

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlServices:
        services = cls(crawler)
        setattr(crawler, _ATTR, services)
        return services

    @staticmethod
    def of(crawler: Crawler) -> CrawlServices:
        """The crawl's services; a clear error where the extension is not enabled."""
        services: CrawlServices | None = getattr(crawler, _ATTR, None)
        if services is None:
            raise ServicesMissing(
                "capture's crawl services are not set up: enable the extension "
                f"{__name__}.CrawlServices in EXTENSIONS (capture/settings.py does)"
            )
        return services

    @property
    def budget(self) -> Budget | None:
        """The run's download/storage budget once the first transfer asked for it (None:
        no limits, or not yet asked); ``capture run`` reads it for the summary."""
        return self.fetcher.current_budget

    @property
    def remote(self) -> bool:
        return self.store.remote

    def close(self) -> None:
        _release_catalog(self.catalog.url)


@dataclass
class _SharedCatalog:
    catalog: Catalog
    writer: CatalogWriter
    users: int = 0


# Crawlers of one process (capture run) share one catalog and one writer thread per database:
# SQLite has a single writer anyway, and group commits work best with one queue. Private to
# this module: other code reaches the catalog through a crawl's services.
_CATALOGS: dict[str, _SharedCatalog] = {}


def _shared_catalog(url: str, group_wait: float) -> tuple[Catalog, CatalogWriter]:
    entry = _CATALOGS.get(url)
    if entry is None:
        catalog = Catalog(url)
        entry = _CATALOGS[url] = _SharedCatalog(catalog, CatalogWriter(catalog, group_wait))
    entry.users += 1
    return entry.catalog, entry.writer


def _release_catalog(url: str) -> None:
    entry = _CATALOGS.get(url)
    if entry is None:
        return
    entry.users -= 1
    if entry.users <= 0:
        del _CATALOGS[url]
        entry.writer.close()
        entry.catalog.close()


def _redact_url(url: str) -> str:
    """Never log catalog credentials (postgresql://user:secret@host/db)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def git_commit(start: str | os.PathLike[str] | None = None) -> str | None:
    """The capture checkout's commit, when running from a git work tree (else None)."""
    here = Path(start or Path(__file__).resolve().parent)
    for d in (here, *here.parents):
        head = d / ".git" / "HEAD"
        if head.is_file():
            ref = head.read_text().strip()
            if ref.startswith("ref: "):
                ref_path = d / ".git" / ref[5:]
                if ref_path.is_file():
                    return ref_path.read_text().strip()
                packed = d / ".git" / "packed-refs"
                if packed.is_file():
                    for line in packed.read_text().splitlines():
                        if line.endswith(ref[5:]):
                            return line.split()[0]
                return None
            return ref
    return None
