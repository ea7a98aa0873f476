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
from capture.replicas import blame, range_digests
from capture.transfer.etag import multipart_parts, single_part_md5
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
    s3_problem = s3_etag_problem(transfer)
    if s3_problem:
        problems.append(s3_problem)
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


def s3_etag_problem(transfer: TransferResult) -> str | None:
    """A single-part S3 ETag is the MD5 of the object: bytes with another MD5 are not the
    object S3 holds. A multipart ETag (``...-N``) is no digest and is never compared
    (capture/transfer/etag.py); the publisher's digest stays the verification digest."""
    if not (transfer.final_url or "").startswith("s3://"):
        return None
    md5, actual = single_part_md5(transfer.etag), transfer.digests.get("md5")
    if md5 is None or actual is None or md5 == actual:
        return None
    return f"md5 mismatch: the S3 object's single-part ETag says {md5}, received {actual}"


def s3_etag_note(transfer: TransferResult) -> dict[str, Any] | None:
    """What the S3 ETag of a file from a cloud replica was used for (item metadata)."""
    if not (transfer.final_url or "").startswith("s3://") or not transfer.etag:
        return None
    parts = multipart_parts(transfer.etag)
    compared = single_part_md5(transfer.etag) is not None and "md5" in transfer.digests
    return {"etag": transfer.etag, "multipart_parts": parts, "compared_as_md5": compared}


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
            note = s3_etag_note(work.transfer)
            if note is not None:
                item.metadata["s3_etag"] = note
            if not problems:
                if item.checksum.get("expected"):
                    item.checksum["verified"] = True
                    self.inc("checksum/verified")
                work.problems = []
                if work.suspect is not None:
                    await self.blame_replicas(item)
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
            avoid = await self.suspect_replicas(item, work.transfer)
            await self.ctx.io.run(self.ctx.store.discard, work.transfer.part)
            work.transfer = None
            outcome = await self.ctx.fetcher.fetch(item, fresh=True, avoid=avoid)
            apply_outcome(self, item, outcome)
        return item

    # -- replicas (capture/replicas.py) ----------------------------------------------------
    async def suspect_replicas(self, item: CapturedFile, transfer: TransferResult) -> list[str]:
        """A copy from replicas failed verification: note each range's sha256 (the part is
        about to go) and return the replicas that served it, for the re-transfer to avoid.
        Nobody is blamed yet: the publisher's digest may be the wrong one."""
        ranges = transfer.ranges or []
        if not ranges or self.ctx.remote:
            return sorted({r["replica"] for r in ranges})
        digests = await self.ctx.io.run(range_digests, transfer.part, ranges)
        work_of(item).suspect = (ranges, digests)
        return sorted({r["replica"] for r in ranges})

    async def blame_replicas(self, item: CapturedFile) -> None:
        """The re-transfer verified: a replica whose range of the failed copy differs from the
        same range of this one served wrong bytes. It is reported (stats
        ``capture/replica_bad/<name>``, the item's ``metadata.replicas.bad``, a
        ``replica_bad`` event) and goes last for the rest of the crawl."""
        work = work_of(item)
        assert work.suspect is not None and work.transfer is not None
        ranges, bad_digests = work.suspect
        work.suspect = None
        good = await self.ctx.io.run(range_digests, work.transfer.part, ranges)
        culprits = blame(ranges, bad_digests, good)
        board = self.ctx.replicas
        note = item.metadata.setdefault("replicas", {})
        for name in culprits:
            spans = [
                {"from": r["from"], "to": r["to"], "url": r["url"]}
                for r, b, g in zip(ranges, bad_digests, good, strict=True)
                if r["replica"] == name and b != g
            ]
            first = board.mark_bad(name)
            self.inc(f"replica_bad/{name}")
            note.setdefault("bad", []).append({"replica": name, "ranges": spans})
            work.events.append(
                {"kind": "replica_bad", "replica": name, "ranges": spans, "first": first}
            )
            self.logger.warning(
                "Replica %s served wrong bytes of %s (%s); the file was fetched again from "
                "another replica and verified; %s goes last from now on",
                name,
                item.archive_path,
                ", ".join(f"bytes {s['from']}-{s['to'] - 1}" for s in spans),
                name,
            )
