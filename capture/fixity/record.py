"""What an audit writes to the catalog, in short transactions (one per batch of findings).

Every audited location gets its ``verified_at`` and ``fixity`` and a ``fixity`` event. Published
bytes that are no longer what was captured are never repaired here; they leave the published
tree so nothing (dedup, exports, the next crawl's "unchanged" decision) takes them for good:

* corrupt or wrong size: moved to ``quarantine/`` with a ``.reason.json`` (evidence); the row
  becomes ``quarantined`` with an error starting ``fixity:``;
* missing: the row becomes ``failed`` with an error starting ``fixity:``.

Either way ``capture failures`` lists it (cause ``fixity``), the next crawl that lists it or
``capture retry --failed`` / ``capture verify --requeue`` fetches it again, and that capture is
a new version of the file. Kept older versions are only marked (they cannot be re-fetched).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.engine import Connection

from capture.catalog.schema import events, file_versions, files
from capture.fixity.check import Finding
from capture.fixity.expect import Expectation
from capture.fixity.results import Result
from capture.fixity.targets import FILE, Target
from capture.status import FileStatus

EVENT = "fixity"


@dataclass
class Verdict:
    """One audited location: what was expected, what was found, where lost bytes went."""

    target: Target
    expectation: Expectation
    finding: Finding
    at: str
    quarantined_at: str | None = None

    @property
    def result(self) -> Result:
        return self.finding.result

    @property
    def lost(self) -> bool:
        """The published bytes are gone from the published tree (missing, or moved aside)."""
        return self.result is Result.MISSING or self.quarantined_at is not None

    def error(self) -> str:
        """The row's error for a lost file (``fixity:`` is what the failures report keys on)."""
        where = f" [quarantined at {self.quarantined_at}]" if self.quarantined_at else ""
        return f"fixity: {self.result.value}: {self.finding.message}{where}"


def record(conn: Connection, verdicts: Iterable[Verdict], audit_id: str) -> None:
    """Write a batch of verdicts (one transaction: the caller's)."""
    rows: list[dict[str, Any]] = []
    for v in verdicts:
        t = v.target
        detail = {"location": t.location, "kind": t.kind, **v.finding.detail(v.expectation)}
        if t.version is not None:
            detail["version"] = t.version
        if v.quarantined_at:
            detail["quarantined_at"] = v.quarantined_at
        rows.append(
            {"file_id": t.file_id, "run_id": audit_id, "at": v.at, "kind": EVENT, "detail": detail}
        )
        marks = {"verified_at": v.at, "fixity": v.result.value}
        if t.kind != FILE:
            conn.execute(update(file_versions).where(file_versions.c.id == t.id).values(**marks))
            continue
        if v.lost:
            state = FileStatus.FAILED if v.result is Result.MISSING else FileStatus.QUARANTINED
            marks |= {"state": state.value, "error": v.error(), "updated_at": v.at}
            # The version's bytes left the published tree: its row no longer says where they are.
            conn.execute(
                update(file_versions)
                .where(
                    file_versions.c.file_id == t.id,
                    file_versions.c.superseded_at.is_(None),
                )
                .values(superseded_at=v.at, stored_at=None)
            )
        conn.execute(
            update(files)
            .where(
                files.c.id == t.id,
                files.c.state == FileStatus.STORED.value,
                files.c.sha256 == t.sha256,  # a crawl may have stored new content since
            )
            .values(**marks)
        )
    if rows:
        conn.execute(insert(events), rows)
