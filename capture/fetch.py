"""Fetch one item's file through Scrapy's downloader (middlewares and slots apply) into its
``.part`` file. Shared by the download stage and the checksum stage's re-transfer."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http.request import NO_CALLBACK

from capture.context import CaptureContext
from capture.items import CapturedFile
from capture.transfer import EVENTS_KEY, META_KEY, StreamSpec, TransferAborted, TransferResult
from capture.transfer.handler import StreamedResponse
from capture.work import work_of

logger = logging.getLogger(__name__)


@dataclass
class FetchOutcome:
    transfer: TransferResult | None = None
    error: str | None = None
    http_status: int | None = None
    aborted: bool = False


class Fetcher:
    def __init__(self, crawler: Crawler, ctx: CaptureContext):
        self.crawler = crawler
        self.ctx = ctx

    def request_for(self, item: CapturedFile, *, fresh: bool = False) -> Request:
        work = work_of(item)
        algorithm = item.checksum.get("algorithm")
        spec = StreamSpec(
            part=str(self.ctx.data.partial(item.path)),
            algorithms=[algorithm] if algorithm and algorithm != "sha256" else [],
            fresh=fresh,
            expected_size=item.expected_size,
            conditional=None if fresh else work.conditional,
        )
        meta = {
            META_KEY: spec.to_meta(),
            EVENTS_KEY: work.events,
            "dont_cache": True,
            "capture_archive": item.archive,
        }
        how = item.fetch or {}
        return Request(
            item.url,
            method=how.get("method", "GET"),
            body=how.get("body"),
            headers=how.get("headers"),
            meta=meta,
            dont_filter=True,
            priority=item.priority,
            callback=NO_CALLBACK,
        )

    async def fetch(self, item: CapturedFile, *, fresh: bool = False) -> FetchOutcome:
        request = self.request_for(item, fresh=fresh)
        engine = self.crawler.engine
        assert engine is not None
        try:
            response = await engine.download_async(request)
        except TransferAborted:
            return FetchOutcome(aborted=True)
        except IgnoreRequest as exc:
            return FetchOutcome(error=f"refused: {exc}")
        except Exception as exc:
            if not self.crawler.crawling:
                return FetchOutcome(aborted=True)
            return FetchOutcome(error=f"{type(exc).__name__}: {exc}")
        if isinstance(response, StreamedResponse) and response.transfer is not None:
            transfer = response.transfer
            transfer.final_url = response.url
            return FetchOutcome(transfer=transfer, http_status=transfer.status)
        return FetchOutcome(
            error=f"HTTP {response.status} from {response.url}", http_status=response.status
        )
