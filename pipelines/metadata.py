"""Stage 7: record the file's final state, provenance and transfer events in the catalog.

Runs last, so a row only says ``stored`` once the file is published; the item then goes on to
the feeds (``-O out.jsonl``, ``FEEDS``).

The converse holds too: no file stays published whose row does not say ``stored``. When the
catalog cannot record a just-published file (the disk holding the catalog is full), the
publication is rolled back (the file is removed, or the version it replaced is put back) and
the row stays ``discovered``, so the resume fetches it again; the disk-full guard of
:mod:`pipelines.base` then stops the crawl.
"""

from __future__ import annotations

from typing import Any

from scrapy import Spider

from capture import safefs
from capture.catalog.derive import target_of
from capture.catalog.store import Finish
from capture.items import CapturedFile, item_dict
from capture.outcomes import is_disk_full
from capture.status import FINAL, FileStatus
from capture.validation import item_errors
from capture.work import work_of
from pipelines.base import CaptureStage


class MetadataPipeline(CaptureStage):
    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, CapturedFile):
            return item
        work = work_of(item)
        if item.status not in FINAL:
            # A stage left the item undecided: that is a bug, never a silent success.
            item.status = FileStatus.FAILED
            item.error = item.error or "internal error: no stage settled this file"
        data = item_dict(item)
        changes = self.ctx.changes
        if changes is not None and work.decision == "conditional":
            changes.settled(item, work.previous, item.http)
        if self.config.diff:  # a diff writes no file row (capture/diff.py)
            self.inc(f"status/{item.status}")
            return item
        # The catalog state is the file's own; "unchanged" is only this run's observation of a
        # stored file, recorded as the run's outcome event.
        values: dict[str, Any] = {
            "state": FileStatus.STORED if item.status == FileStatus.UNCHANGED else item.status,
            "last_run": item.run_id,
            "item": data,
            "error": item.error,
        }
        if item.status != "unchanged":
            values.update(
                size=item.size,
                sha256=item.sha256,
                digest_actual=item.checksum.get("actual"),
                verified=item.checksum.get("verified"),
                format=item.format,
                content_type=item.content_type,
                etag=item.http.get("etag"),
                last_modified=item.http.get("last_modified"),
                final_url=item.http.get("final_url"),
                retrieved_at=item.retrieved_at,
                quality=_quality_record(item, work.quality),
                file_metadata=item.metadata or None,
                target=target_of(item.metadata),
                grade=(item.quality or {}).get("grade"),
                score=(item.quality or {}).get("score"),
            )
        if item.citation:
            # Only when the archive published one this time: a file whose citation is read from
            # its own bytes (netCDF attributes) keeps it through unchanged rounds.
            values.update(citation=item.citation, citation_doi=item.citation.get("doi"))
        if item.status == "stored":
            # Published just now at the store's default place (local hot, S3 Standard).
            values.update(tier=None, location=None)
        version = None
        stored_path = (item.stored or {}).get("path") or item.path
        if item.status == "stored" and work.version is not None:
            values["version"] = work.version
            # New bytes: linked to identical stored ones (store stage), or the file's own.
            values["copy_of"], values["copy_method"] = work.copy_of, work.copy_method
            # New bytes, verified as they streamed: no fixity audit has read them yet.
            values["fixity"] = values["verified_at"] = None
        if item.status == "stored":
            values.update(stored_columns(item.stored))
        if item.status == "stored" and work.version is not None and not work.same_content:
            version = {
                "version": work.version,
                "sha256": item.sha256,
                "size": item.size,
                "etag": item.http.get("etag"),
                "last_modified": item.http.get("last_modified"),
                "retrieved_at": item.retrieved_at,
                "run_id": item.run_id,
                "stored_at": stored_path,
                **stored_columns(item.stored),
            }
        if work.quarantine_path:
            values["error"] = f"{item.error} [quarantined at {work.quarantine_path}]"
        if work.file_id is not None:
            ctx = self.ctx
            outcome = {
                "kind": "outcome",
                "status": item.status,
                "size": item.size,
                "sha256": item.sha256,
                "error": item.error,
            }
            try:
                await ctx.writer.run_grouped(
                    self._record_group,
                    Finish(
                        file_id=work.file_id,
                        values=values,
                        events=[*work.events, outcome],
                        run_id=ctx.run_id,
                        added_bytes=item.bytes_transferred,
                        report=work.quality.to_dict() if work.quality is not None else None,
                        version=version,
                        superseded=work.superseded,
                        restored=(
                            {"version": work.version, "stored_at": stored_path}
                            if item.status == "stored" and work.same_content
                            else None
                        ),
                        sync=work.sync_later,
                        sync_data=work.sync_data_later,
                    ),
                )
            except Exception as exc:
                if is_disk_full(exc) and item.status == "stored" and work.published:
                    await self.unpublish(item)
                raise
        self.inc(f"status/{item.status}")
        errors = item_errors(data)
        if errors:
            self.inc("invalid_final_item")
            self.logger.error("Item for %s violates the schema: %s", item.url, "; ".join(errors))
        return item

    def _record_group(self, conn: Any, ops: list[Finish]) -> list[None]:
        """On the catalog's writer thread: make the group's published files durable (the data
        of any not yet synced, then each of their directories once), then record the whole
        group in the catalog, in that order: a row says ``stored`` only for bytes already
        durable, and a kill before the commit leaves the group ``discovered`` for the resume to
        fetch again."""
        names = [op.sync for op in ops if op.sync]
        if names:
            data = [op.sync for op in ops if op.sync and op.sync_data]
            safefs.sync_files(data, self.ctx.data.root, self.ctx.io.executor, names=names)
        return self.ctx.catalog.finish_many(conn, ops)

    async def unpublish(self, item: CapturedFile) -> None:
        """Take back a publication the catalog could not record (see the module docstring)."""
        previous = (work_of(item).superseded or {}).get("stored_at")
        where = (item.stored or {}).get("path") or item.path
        restored = await self.ctx.io.run(self.ctx.store.unpublish, where, previous)
        if restored is None:
            return  # a remote store: the row stays discovered and the resume overwrites it
        self.inc("disk_full/unpublished")
        self.logger.info(
            "Rolled back %s: the catalog could not record it (%s); it is fetched again on resume",
            item.path,
            "previous version restored" if restored else "file removed",
        )


def stored_columns(stored: dict[str, Any] | None) -> dict[str, Any]:
    """The catalog's columns for how the bytes are stored (all NULL: as fetched)."""
    stored = stored or {}
    return {
        "codec": stored.get("codec"),
        "stored_size": stored.get("size"),
        "stored_sha256": stored.get("sha256"),
    }


def _quality_record(item: CapturedFile, report: Any) -> dict[str, Any] | None:
    """The catalog's quality summary: the item's summary plus scorer and check counts."""
    if item.quality is None:
        return None
    record = dict(item.quality)
    if report is not None:
        record.update(
            scorer=report.scorer,
            weighted_score=report.weighted_score,
            gated=report.gated,
            checks=len(report.checks),
            thresholds={"quality": report.quality_threshold, "nasa_grade": report.nasa_threshold},
        )
    return record
