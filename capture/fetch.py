"""Fetch one item's file through Scrapy's downloader (middlewares and slots apply) into its
``.part`` file. Shared by the download stage and the checksum stage's re-transfer."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http.request import NO_CALLBACK

from capture.budget import Budget
from capture.concurrency import TransferLimiter
from capture.items import CapturedFile
from capture.outcomes import is_disk_full
from capture.replicas import REPLICA_KEY, REPLICAS_KEY, TRIED_KEY, identity
from capture.transfer import EVENTS_KEY, META_KEY, StreamSpec, TransferAborted, TransferResult
from capture.transfer.engine import WRITE_AFTER_KEY, StreamedResponse
from capture.transfer.errors import ArchiveUnreachable, BudgetExceeded, UnsafeLocalPath
from capture.waiters import wait
from capture.work import work_of

if TYPE_CHECKING:
    from capture.context import CrawlServices

logger = logging.getLogger(__name__)


@dataclass
class FetchOutcome:
    transfer: TransferResult | None = None
    error: str | None = None
    http_status: int | None = None
    aborted: bool = False
    # Set when the run's download/storage budget refused or cut this transfer.
    budget: str | None = None
    # Set when the archive's circuit is open (never reached): the file stays discovered.
    unreachable: str | None = None
    # Set when the data root is full: the crawl stops as disk_full, the file stays discovered.
    disk_full: str | None = None


class Fetcher:
    """Fetches files for every stage of one crawl (one per crawl, on its services), so the
    download stage and the checksum stage's re-transfer share one transfer limiter and one
    budget."""

    def __init__(self, crawler: Crawler, ctx: CrawlServices):
        self.crawler = crawler
        self.ctx = ctx
        self._budget: Budget | None = None
        self._budget_known = False
        self.limiter = TransferLimiter(crawler)

    @property
    def current_budget(self) -> Budget | None:
        return self._budget

    async def budget(self) -> Budget | None:
        """The run's budget, looked up (and the catalog's stored bytes read, on the catalog's
        thread) on the first transfer; None when no limit is set."""
        if not self._budget_known:
            ctx, config = self.ctx, self.ctx.config
            limits = config.max_download_bytes or config.max_storage_bytes
            stored_now = await ctx.writer.run(ctx.catalog.stored_bytes) if limits else 0
            self._budget = Budget.shared(config, f"crawler-{id(self.crawler)}", stored_now)
            self._budget_known = True
        return self._budget

    def request_for(
        self,
        item: CapturedFile,
        *,
        fresh: bool = False,
        budget_key: str | None = None,
        avoid: Sequence[str] = (),
    ) -> Request:
        """The file's request; with replicas, on the best one (``avoid``: replicas that served
        a copy that did not verify go behind the others)."""
        work = work_of(item)
        url, replicas = item.url, None
        if item.replicas:
            replicas = self.ctx.replicas.order(item.replicas, avoid)
            url = replicas[0]["url"]
        algorithm = item.checksum.get("algorithm")
        algorithms = [algorithm] if algorithm and algorithm != "sha256" else []
        if item.url.startswith("s3://") and "md5" not in algorithms:
            # What a single-part S3 ETag can be checked against (checksum stage).
            algorithms.append("md5")
        spec = StreamSpec(
            part=self.ctx.store.part_location(item.path),
            algorithms=algorithms,
            fresh=fresh,
            expected_size=item.expected_size,
            conditional=None if fresh else work.conditional,
            budget_key=budget_key,
            clean=work.decision == "new" and not fresh and work.transfer is None,
            size_estimate=_size_estimate(item),
            # A re-transfer after a mismatch never splices replicas (fresh: no identity).
            identity=None if fresh or not replicas else identity(item.checksum, item.expected_size),
        )
        meta = {
            META_KEY: spec.to_meta(),
            EVENTS_KEY: work.events,
            "dont_cache": True,
            # A file body never sets or needs session cookies here (credentials are headers or
            # form fields, capture/credentials.py); skipping the cookie jar saves its per-request
            # domain matching on every file.
            "dont_merge_cookies": True,
            # We await the body's write ourselves (see _fetch): a small one may be written
            # after the response returns, freeing the connection for the next file.
            WRITE_AFTER_KEY: True,
            "capture_archive": item.archive,
        }
        if replicas:
            meta[REPLICAS_KEY] = replicas
            meta[REPLICA_KEY] = replicas[0]["name"]
            meta[TRIED_KEY] = [replicas[0]["name"]]
        how = item.fetch or {}
        return Request(
            url,
            method=how.get("method", "GET"),
            body=how.get("body"),
            headers=how.get("headers"),
            meta=meta,
            dont_filter=True,
            priority=item.priority,
            callback=NO_CALLBACK,
        )

    async def fetch(
        self, item: CapturedFile, *, fresh: bool = False, avoid: Sequence[str] = ()
    ) -> FetchOutcome:
        budget = await self.budget()
        admission = budget.admit(item.expected_size) if budget is not None else None
        if admission is not None and not admission.ok:
            return FetchOutcome(aborted=True, budget=admission.reason)
        metered = admission.budget_key if admission is not None and admission.metered else None
        outcome = await self._fetch(item, fresh, metered, avoid)
        if budget is not None and admission is not None:
            received = outcome.transfer.bytes_transferred if outcome.transfer else 0
            stored = outcome.transfer.size if outcome.transfer else 0
            budget.settle(admission, received, stored)
            if outcome.budget:
                budget.exhaust(outcome.budget)
        return outcome

    async def _download(self, request: Request) -> Any:
        """``engine.download_async``, unless the archive's circuit opened while this transfer
        waited for its slot: then the engine is closing, and Scrapy 2.19 fires its closing
        Deferred twice (AlreadyCalledError, a hung close) if a download starts after the last
        in-flight one ended. Nor after Ctrl-C: the file resumes on the next run."""
        reason = self.crawler.stats.get_value("capture/unreachable_reason")
        if reason:
            raise ArchiveUnreachable(f"archive unreachable: {reason}")
        if not self.crawler.crawling:  # Ctrl-C while this transfer waited: do not start it
            raise TransferAborted("the crawl is stopping")
        engine = self.crawler.engine
        assert engine is not None
        return await engine.download_async(request)

    async def _fetch(
        self, item: CapturedFile, fresh: bool, budget_key: str | None, avoid: Sequence[str]
    ) -> FetchOutcome:
        request = self.request_for(item, fresh=fresh, budget_key=budget_key, avoid=avoid)
        try:
            response = await self.limiter.run(request, lambda: self._download(request))
            written = getattr(response, "written", None)
            if written is not None:  # outside the transfer slot: the next file is on its way
                digests = await wait(written)
                if digests and isinstance(response, StreamedResponse) and response.transfer:
                    response.transfer.digests = digests  # taken by the IO thread that wrote
        except BudgetExceeded as exc:
            return FetchOutcome(aborted=True, budget=str(exc))
        except TransferAborted:
            return FetchOutcome(aborted=True)
        except ArchiveUnreachable as exc:
            return FetchOutcome(aborted=True, unreachable=str(exc))
        except IgnoreRequest as exc:
            return FetchOutcome(error=f"refused: {exc}")
        except UnsafeLocalPath as exc:
            self.crawler.stats.inc_value("capture/transfer/unsafe_path")
            return FetchOutcome(error=str(exc))
        except Exception as exc:
            if is_disk_full(exc):
                return FetchOutcome(aborted=True, disk_full=f"{type(exc).__name__}: {exc}")
            if not self.crawler.crawling:
                return FetchOutcome(aborted=True)
            return FetchOutcome(error=f"{type(exc).__name__}: {exc}")
        if isinstance(response, StreamedResponse) and response.transfer is not None:
            transfer = response.transfer
            transfer.final_url = response.url
            served_by = (response.request.meta if response.request else {}).get(REPLICA_KEY)
            if served_by:
                self.ctx.replicas.succeeded(served_by)
            return FetchOutcome(transfer=transfer, http_status=transfer.status)
        return FetchOutcome(
            error=f"HTTP {response.status} from {response.url}", http_status=response.status
        )


def _size_estimate(item: CapturedFile) -> int | None:
    """A listing's human-rounded size (spiders/listing.py): bounds an endless body generously,
    never fails a file by itself."""
    value = item.metadata.get("listing_size_estimate")
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
