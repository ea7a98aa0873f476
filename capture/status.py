"""The statuses a captured file can have, and the subsets the system reasons about.

One definition for items, the catalog, the stats (``capture/status/<status>``), the health
monitors, live progress, reports and the CLI, so a new status cannot be counted in one place
and forgotten in another. ``FileStatus`` is a ``StrEnum``: its members *are* the strings the
catalog column, the feeds and the JSON schema hold (``capture/schemas/captured_file.schema.json``
keeps the same list; ``tests/test_status.py`` holds the two equal), so no migration and no
conversion at any boundary.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class FileStatus(StrEnum):
    #: Listed by a spider, not settled yet: the only state the resume re-drives.
    DISCOVERED = "discovered"
    #: Published in the store, its bytes verified.
    STORED = "stored"
    #: This run found the stored copy still current. A run's observation only: the catalog
    #: row keeps ``stored`` and the run's outcome event says ``unchanged``.
    UNCHANGED = "unchanged"
    #: Downloaded but failed verification or quality checks; kept under ``quarantine/``.
    QUARANTINED = "quarantined"
    #: Could not be fetched or stored.
    FAILED = "failed"
    #: Counted by a dry run (planning), not downloaded.
    PLANNED = "planned"
    #: Gone upstream: a complete discovery of an update round no longer lists it. A catalog
    #: state only (set by the update round, never by a stage); the bytes and versions are kept.
    RETRACTED = "retracted"


#: Catalog states no pipeline stage gives an item (set after the crawl by the update round).
CATALOG_ONLY: frozenset[FileStatus] = frozenset({FileStatus.RETRACTED})
# Declaration order is the order reports, progress and counts list the final statuses in.
FINAL_ORDER: tuple[FileStatus, ...] = tuple(
    s for s in FileStatus if s is not FileStatus.DISCOVERED and s not in CATALOG_ONLY
)
#: Every state an item leaves the pipelines with.
FINAL: frozenset[FileStatus] = frozenset(FINAL_ORDER)
#: Catalog states the resume re-drives when a spider starts.
UNFINISHED: frozenset[FileStatus] = frozenset({FileStatus.DISCOVERED})
#: States a catalog row can hold (``unchanged`` is recorded as ``stored``).
CATALOG_STATES: tuple[FileStatus, ...] = tuple(
    s for s in FileStatus if s is not FileStatus.UNCHANGED
)
#: Files a later run tries again instead of comparing with what it holds.
RETRIED: frozenset[FileStatus] = frozenset(
    {FileStatus.FAILED, FileStatus.QUARANTINED, FileStatus.PLANNED}
)
#: Files whose published copy the data root holds: a new listing is compared with it.
HELD: frozenset[FileStatus] = frozenset({FileStatus.STORED, FileStatus.RETRACTED})
#: Files whose bytes the data root holds (the storage budget counts them).
ON_DISK: frozenset[FileStatus] = HELD | {FileStatus.QUARANTINED}
#: Files the failures report explains.
PROBLEMS: frozenset[FileStatus] = frozenset({FileStatus.FAILED, FileStatus.QUARANTINED})
#: Files this run transferred or tried to: the base of the monitors' error and quarantine
#: rates (unchanged and planned files cost no transfer, so they do not dilute the rates).
TRANSFERRED: frozenset[FileStatus] = frozenset(
    {FileStatus.STORED, FileStatus.QUARANTINED, FileStatus.FAILED}
)
#: Files the run looked at: the base of the run's download success rate.
ATTEMPTED: frozenset[FileStatus] = TRANSFERRED | {FileStatus.UNCHANGED}


def stat_key(status: str) -> str:
    """The Scrapy stats key counting files that settled as ``status``."""
    return f"capture/status/{status}"


def status_counts(stats: Mapping[str, Any]) -> dict[str, int]:
    """Files per final status from a crawl's stats, in ``FINAL_ORDER`` (zeros included)."""
    return {s.value: int(stats.get(stat_key(s), 0) or 0) for s in FINAL_ORDER}
