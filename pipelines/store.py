"""Stage 6: publish verified files atomically; move failed ones to quarantine with the reason.

A path the store refuses (a symlink planted anywhere below the data root, see
:mod:`capture.storage.local`) fails that one file with a one-line error, counted under
``capture/store/unsafe_path``; the crawl goes on with the others. Other errors (a full disk)
propagate to the stage guard of :mod:`pipelines.base`.
"""

from __future__ import annotations

import functools
from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler

from capture.items import CapturedFile
from capture.paths import UnsafePathError
from capture.status import HELD
from capture.storage import SAVES, Store
from capture.storage import codec as codecs
from capture.storage.compress import Encoded, ReconstructionError
from capture.work import work_of
from pipelines.base import CaptureStage
from pipelines.register import fill_from_previous


class StorePipeline(CaptureStage):
    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        self._store: Store | None = None
        self.keep_versions = self.config.keep_versions
        self.dedup = self.config.dedup

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = self.ctx.store
        return self._store

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, CapturedFile):
            return item
        work = work_of(item)
        transfer = work.transfer
        if transfer is None or work.published:
            return item
        try:
            await self._settle(item, work, transfer)
        except UnsafePathError as exc:
            self._refuse(item, exc)
            return item
        work.published = True
        return item

    def _refuse(self, item: CapturedFile, exc: UnsafePathError) -> None:
        """Fail one file whose destination is unsafe; its part file stays in ``.partial``."""
        was = f" (to be quarantined: {item.error})" if item.status == "quarantined" else ""
        item.status = "failed"
        item.error = f"{exc}{was}"
        self.inc("store/unsafe_path")
        self.logger.warning("Not storing %s: %s", item.url, item.error)

    async def _settle(self, item: CapturedFile, work: Any, transfer: Any) -> None:
        io = self.ctx.io
        if item.status == "quarantined":
            reason = {
                "archive": item.archive,
                "archive_path": item.archive_path,
                "url": item.url,
                "run_id": item.run_id,
                "reasons": work.problems or [item.error],
                "sha256": item.sha256,
                "size": item.size,
                "checksum": item.checksum,
                "quality": item.quality,
            }
            target = await io.run(
                functools.partial(
                    self.store.quarantine,
                    transfer.part,
                    item.path,
                    reason,
                    sync_data=not transfer.synced,
                )
            )
            work.quarantine_path = self.store.recorded(target)
        elif item.status == "discovered":
            prev = work.previous or {}
            held = prev.get("state") in HELD  # the row describes the published copy
            same = held and prev.get("sha256") and prev["sha256"] == item.sha256
            # A copy moved to another tier (files.location) is held there: same content, kept.
            tiered = bool(prev.get("location"))
            if same and (tiered or await io.run(self.store.exists, _location(prev, item))):
                await io.run(self.store.discard, transfer.part)
                fill_from_previous(item, prev)
                item.status = "unchanged"
            else:
                await self._publish(item, work, prev)
                item.status = "stored"

    def _linked(self, item: CapturedFile, work: Any, copy: dict[str, Any], method: str) -> None:
        """Record a publication by link or server-side copy: the event, the row's ``copy_of``
        (metadata stage) and the bytes saved (a local link or reflink; an S3 copy saves none)."""
        event = {"kind": "dedup", "linked_to": copy["path"], "file_id": copy["id"]}
        if copy.get("version") is not None:
            event["version"] = copy["version"]
        work.events.append({**event, "method": method, "size": item.size})
        work.copy_of, work.copy_method = copy["id"], method
        self.inc("dedup/linked")
        self.inc("dedup/bytes_saved" if method in SAVES else "dedup/bytes_copied", item.size or 0)

    async def _current_version(self, work: Any, prev: dict[str, Any]) -> dict[str, Any] | None:
        """The file's newest published version (None: never published). Asked only for files
        the catalog knew; a row from before version history counts as its own version."""
        if not prev or work.file_id is None:
            return None
        ctx = self.ctx
        current = await ctx.writer.run(ctx.catalog.current_version, work.file_id)
        if current is None and prev.get("state") in HELD and prev.get("sha256"):
            return {"version": prev.get("version") or 1, "sha256": prev["sha256"]}
        return current

    async def _publish(self, item: CapturedFile, work: Any, prev: dict[str, Any]) -> None:
        io, ctx = self.ctx.io, self.ctx
        transfer = work.transfer
        current = await self._current_version(work, prev)
        if current is None:
            work.version = 1
        elif current.get("sha256") == item.sha256:
            # The published content again (its copy was missing, or an earlier attempt was
            # quarantined): the same version, no new history entry.
            work.version, work.same_content = int(current["version"]), True
        else:
            # A changed file: the new content becomes a new version of the same record; the
            # old bytes move under versions/ (never overwritten), whatever the row's state.
            old_version = int(current["version"])
            work.version = old_version + 1
            stored_at = prev.get("location")  # old bytes in a colder tier stay where they are
            if self.keep_versions and not stored_at:
                stored_at = await io.run(self.store.retire, _location(prev, item), old_version)
            work.superseded = {"version": old_version, "stored_at": stored_at}
            self.inc("versions/new")
        if self.dedup and item.sha256 and item.size:
            call: tuple[str, int | None, int | None] = (item.sha256, item.size, work.file_id)
            copy = await ctx.writer.run_grouped(ctx.catalog.find_copies, call)
            codec = copy.get("codec") if copy else None
            source = codecs.located(copy)[0] if copy else None
            target = codecs.location(item.path, codec)
            if copy and source is not None and source != target:
                # A copy stored compressed is checked by its stored digest, and its stored form
                # becomes this file's too (same original, same level: the same bytes).
                size, sha256 = (
                    (copy["stored_size"], copy["stored_sha256"])
                    if codec
                    else (item.size, item.sha256)
                )
                link = functools.partial(self.store.link_copy, source, target, transfer.part)
                method = await io.run(link, size, sha256)
                if method:
                    if codec:
                        item.stored = _stored(codec, target, size, sha256)
                    self._linked(item, work, copy, method)
                    await self._drop_moved(prev, item)
                    return
                self.inc("dedup/declined")  # source gone or not the catalog's bytes
        digests = {
            k: v
            for k, v in (
                ("sha256", item.sha256),
                (item.checksum.get("algorithm") or "", item.checksum.get("actual")),
            )
            if k and v
        }
        # A file new to the catalog is published without a directory fsync: the metadata stage
        # syncs each directory of a batch once, before the catalog commit (its data was fsynced
        # as it was written; an encoded copy's data is synced with the batch too). Replacing a
        # stored version is made durable at once (the old bytes moved aside). Remote sinks
        # defer nothing.
        deferred = transfer.defer_dir and work.version == 1
        encoded = await self._compress(item, transfer.part)
        data_durable = transfer.synced and encoded is None
        part, rel = transfer.part, item.path
        if encoded is not None:
            rel = codecs.location(item.path, encoded.codec)
            part = encoded.part
            digests |= {"codec": encoded.codec, "stored-sha256": encoded.sha256}
            item.stored = _stored(encoded.codec, rel, encoded.size, encoded.sha256)
        final = await io.run(
            functools.partial(
                self.store.publish,
                part,
                rel,
                digests,
                durable=not deferred,
                sync_data=not data_durable and not deferred,
                journal=transfer.journaled,
            )
        )
        if encoded is not None:
            # Only now, with the encoded copy proven and published, do the fetched bytes go.
            await io.run(self.store.discard, transfer.part)
            self.inc("compress/encoded")
            self.inc("compress/bytes_saved", (item.size or 0) - encoded.size)
        await self._drop_moved(prev, item)
        if deferred:
            work.sync_later = str(final)
            work.sync_data_later = not data_durable

    async def _compress(self, item: CapturedFile, part: str) -> Encoded | None:
        """The file encoded at rest when ``CAPTURE_COMPRESS`` is on and a trial pays; None:
        publish the fetched bytes. A failed round trip (a codec bug, a disk returning other
        bytes) keeps the original: nothing is published that was not proven."""
        plan = self.ctx.compression
        if plan is None or not item.sha256 or item.size is None:
            return None
        try:
            encoded = await self.ctx.io.run(self.store.compress, part, item.size, item.sha256, plan)
        except ReconstructionError as exc:
            self.inc("compress/round_trip_failed")
            self.logger.error("Storing %s as fetched: %s", item.url, exc)
            return None
        if encoded is None:
            self.inc("compress/left_alone")
        return encoded

    async def _drop_moved(self, prev: dict[str, Any], item: CapturedFile) -> None:
        """The previous content stored under another name (it was compressed, this is not, or
        the reverse) and not kept as a version: remove it, or it would stay as an extra file."""
        if not prev.get("path") or prev.get("state") not in HELD:
            return
        old = codecs.located(prev)[0]
        new = (item.stored or {}).get("path") or item.path
        if old != new and not self.keep_versions:
            await self.ctx.io.run(self.store.unpublish, old, None)


def _location(prev: dict[str, Any], item: CapturedFile) -> str:
    """Where the catalog row ``prev`` says the file's bytes are stored now."""
    return codecs.located(prev)[0] if prev.get("path") else item.path


def _stored(codec: str, path: str, size: int, sha256: str) -> dict[str, Any]:
    return {"codec": codec, "path": path, "size": size, "sha256": sha256}
