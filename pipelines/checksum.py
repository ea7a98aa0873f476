"""Stage 4: verify size and every publisher digest; re-transfer once, then quarantine.

Globus semantics: on a mismatch the whole file is fetched again (from byte 0, no resume);
if it still does not verify it is quarantined with the reason. A file whose digest did not
verify is never reported ``stored`` or ``verified: true``.
"""

from __future__ import annotations

from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler

from capture.formats import looks_like_html_page, read_head
from capture.items import CapturedFile
from capture.transfer.result import TransferResult
from capture.work import work_of
from pipelines.base import CaptureStage
from pipelines.download import apply_outcome


def transport_problems(item: CapturedFile, transfer: TransferResult, head: bytes) -> list[str]:
    """Reasons the bytes we hold are not the publisher's file (empty list: none found)."""
    problems: list[str] = []
    if item.expected_size is not None and transfer.size != item.expected_size:
        problems.append(
            f"size mismatch: listing says {item.expected_size} bytes, received {transfer.size}"
        )
    algorithm, expected = item.checksum.get("algorithm"), item.checksum.get("expected")
    digest_ok = False
    if algorithm and expected:
        actual = transfer.digests.get(algorithm)
        if actual != expected:
            problems.append(
                f"{algorithm} mismatch: publisher ({item.checksum.get('source')}) "
                f"says {expected}, received {actual}"
            )
        else:
            digest_ok = True
    if not digest_ok and looks_like_html_page(item.archive_path, transfer.content_type, head):
        problems.append(
            f"server sent an HTML page (Content-Type {transfer.content_type!r}) "
            f"instead of {item.archive_path.rsplit('/', 1)[-1]}"
        )
    encoding = (transfer.content_encoding or "identity").lower()
    if encoding != "identity" and not digest_ok:
        problems.append(
            f"server applied Content-Encoding {transfer.content_encoding!r} "
            "although identity was requested"
        )
    return problems


class ChecksumPipeline(CaptureStage):
    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        self.max_retransfers = self.config.retransfer_on_mismatch

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, CapturedFile):
            return item
        work = work_of(item)
        while work.transfer is not None and item.status == "discovered":
            head = work.transfer.head
            if head is None:  # resumed: the body did not start at byte 0 in this process
                head = await self.ctx.io.run(read_head, work.transfer.part)
            problems = transport_problems(item, work.transfer, head)
            if not problems:
                if item.checksum.get("expected"):
                    item.checksum["verified"] = True
                    self.inc("checksum/verified")
                work.problems = []
                return item
            work.problems = problems
            if work.retransfers >= self.max_retransfers:
                item.status = "quarantined"
                item.error = "; ".join(problems)
                if item.checksum.get("expected"):
                    item.checksum["verified"] = False
                self.inc("checksum/quarantined")
                self.logger.warning("Quarantining %s: %s", item.url, item.error)
                return item
            work.retransfers += 1
            self.inc("checksum/retransfer")
            self.logger.info("Re-transferring %s from byte 0: %s", item.url, "; ".join(problems))
            await self.ctx.io.run(self.ctx.store.discard, work.transfer.part)
            work.transfer = None
            outcome = await self.ctx.fetcher.fetch(item, fresh=True)
            apply_outcome(self, item, outcome)
        return item
