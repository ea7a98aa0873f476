"""Per-crawl shared state: data root, catalog, IO pool and run id, built once per crawler."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler

from capture.catalog import Catalog, CatalogWriter, catalog_url_for
from capture.catalog.writer import GROUP_WAIT
from capture.paths import DataRoot
from capture.storage import Store, store_for
from capture.transfer.io import IOPool

logger = logging.getLogger(__name__)
_ATTR = "_capture_context"
RUN_ID_FILE = "capture_run_id"


def new_run_id(prefix: str) -> str:
    return f"{prefix}_{datetime.now(UTC).strftime('%Y%m%d_%H%M%S')}"


def resolve_run_id(crawler: Crawler, spider_name: str) -> str:
    """CAPTURE_RUN_ID if set; else the id stored in JOBDIR (a resumed job keeps its run id);
    else a new ``<spider>_<UTC time>``."""
    run_id = crawler.settings.get("CAPTURE_RUN_ID") or ""
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


@dataclass
class CaptureContext:
    data: DataRoot
    catalog: Catalog
    writer: CatalogWriter
    io: IOPool
    run_id: str
    spider_name: str
    dry_run: bool
    store: Store  # chosen by CAPTURE_STORE's scheme (capture.storage.store_for)
    frontier: Any = None  # capture.frontier.RedisFrontier when CAPTURE_FRONTIER_URL is set

    @property
    def remote(self) -> bool:
        return self.store.remote

    @classmethod
    def for_crawler(cls, crawler: Crawler) -> CaptureContext:
        ctx: CaptureContext | None = getattr(crawler, _ATTR, None)
        if ctx is not None:
            return ctx
        settings = crawler.settings
        data = DataRoot.at(settings.get("CAPTURE_DATA_DIR") or "./data")
        store = store_for(settings, data)  # a bad CAPTURE_STORE fails before the catalog opens
        catalog, writer = _shared_catalog(
            catalog_url_for(data.root, settings.get("CAPTURE_CATALOG_URL")),
            settings.getfloat("CAPTURE_CATALOG_GROUP_WAIT", GROUP_WAIT),
        )
        spider_name = (
            crawler.spider.name if crawler.spider else (crawler.spidercls.name or "capture")
        )
        ctx = cls(
            data=data,
            catalog=catalog,
            writer=writer,
            io=IOPool.for_crawler(crawler),
            run_id=resolve_run_id(crawler, spider_name),
            spider_name=spider_name,
            dry_run=settings.getbool("CAPTURE_DRY_RUN"),
            store=store,
        )
        frontier_url = settings.get("CAPTURE_FRONTIER_URL") or ""
        if frontier_url:
            from capture.frontier import RedisFrontier

            archive = getattr(crawler.spider, "archive", None) or spider_name
            ctx.frontier = RedisFrontier(
                frontier_url,
                settings.get("CAPTURE_FRONTIER_NAME") or f"{ctx.run_id}:{archive}",
                claim_idle=settings.getfloat("CAPTURE_FRONTIER_CLAIM_IDLE", 300.0),
            )
        setattr(crawler, _ATTR, ctx)
        logger.info(
            "capture run %s, data root %s, catalog %s",
            ctx.run_id,
            data.root,
            _redact_url(catalog.url),
        )
        return ctx

    def close(self) -> None:
        _release_catalog(self.catalog.url)


# Crawlers of one process (capture run) share one catalog and one writer thread per database:
# SQLite has a single writer anyway, and group commits work best with one queue.
_CATALOGS: dict[str, list] = {}


def _shared_catalog(url: str, group_wait: float = GROUP_WAIT) -> tuple[Catalog, CatalogWriter]:
    entry = _CATALOGS.get(url)
    if entry is None:
        catalog = Catalog(url)
        entry = _CATALOGS[url] = [catalog, CatalogWriter(catalog, group_wait), 0]
    entry[2] += 1
    return entry[0], entry[1]


def _release_catalog(url: str) -> None:
    entry = _CATALOGS.get(url)
    if entry is None:
        return
    entry[2] -= 1
    if entry[2] <= 0:
        del _CATALOGS[url]
        entry[1].close()
        entry[0].close()


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
