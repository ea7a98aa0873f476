"""Scratch state an item carries between pipeline stages (never exported to feeds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from capture.items import CapturedFile
from capture.transfer.result import TransferResult

_ATTR = "_capture_work"


@dataclass
class Work:
    file_id: int | None = None
    decision: str | None = None
    previous: dict[str, Any] | None = None
    transfer: TransferResult | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    conditional: dict[str, str] | None = None
    retransfers: int = 0
    problems: list[str] = field(default_factory=list)
    quarantine_path: str | None = None
    # Set when the file (or its quarantine copy) has been moved out of the partial area.
    published: bool = False
    # The full quality report (capture.quality.model.QualityReport) when the file was scored.
    quality: Any = None
    # Shared-frontier entry this item came from (acknowledged when the item leaves the
    # pipelines), and whether to leave it pending for another worker (shutdown, budget).
    frontier_entry: str | None = None
    # The register stage marked this file as being captured by this process.
    holds_inflight_key: bool = False
    frontier_keep: bool = False
    # Content version published by this capture, and the version it superseded (if any).
    version: int | None = None
    # A published file whose directory entry (and, when ``sync_data_later``, data) is still to
    # be fsync'ed (group durability): the metadata stage syncs it with its catalog group,
    # before the commit.
    sync_later: str | None = None
    sync_data_later: bool = False
    superseded: dict[str, Any] | None = None
    # Re-driven from the catalog (an unfinished file), not named by this crawl's listing.
    redriven: bool = False
    # The published version this capture replaces or repeats (store stage), if any.
    same_content: bool = False
    # A copy from replicas that did not verify: its ranges and each range's sha256, compared
    # with the re-transfer's once that verifies (capture/replicas.py blame).
    suspect: tuple[list[dict[str, Any]], list[str]] | None = None
    # Published as a link to (or server-side copy of) this file's identical stored bytes, and
    # how (capture.storage.SAVES says which methods store them once).
    copy_of: int | None = None
    copy_method: str | None = None


def work_of(item: CapturedFile) -> Work:
    work = item.__dict__.get(_ATTR)
    if work is None:
        work = Work()
        item.__dict__[_ATTR] = work
    return work
