"""``capture storage apply`` and ``capture storage restore``: move bytes, then say so.

Apply only moves files *down* (to the colder tier the plan recommends); a file recommended
warmer than it is waits for an explicit restore. Rows are read in pages by id (keyset), with
the plan's own SQL rule, so apply streams through a catalog of any size. For each file: the
mover copies and verifies, then one transaction records the tier, the location and a
``tiered`` event (only if nobody changed the row's tier meanwhile), then the mover drops the
old copy. Restore records ``restore_requested`` or ``restored`` and counts as an access.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import and_, insert, or_, select, update

from capture.catalog import Catalog
from capture.catalog.access import record_access_in
from capture.catalog.schema import events, files
from capture.catalog.store import utcnow
from capture.storage.movers import Moved, Restored, TierError
from capture.storage.plan import Totals
from capture.storage.tiers import Policy, Tier, colder_than, scope

PAGE = 500
SHA256 = re.compile(r"^[0-9a-f]{64}$")
COLUMNS = (
    files.c.id,
    files.c.archive,
    files.c.archive_path,
    files.c.path,
    files.c.size,
    files.c.sha256,
    files.c.tier,
    files.c.location,
)


class Mover(Protocol):
    def move(self, row: dict[str, Any], target: Tier) -> Moved: ...

    def release(self, row: dict[str, Any]) -> None: ...

    def restore(
        self, row: dict[str, Any], *, days: int = 7, speed: str = "Standard"
    ) -> Restored: ...

    def release_cold(self, row: dict[str, Any]) -> None: ...


@dataclass
class ApplyReport:
    dry_run: bool
    moved: dict[str, Totals] = field(default_factory=dict)
    failed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def files(self) -> int:
        return sum(t.files for t in self.moved.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "moved" if not self.dry_run else "would_move": {
                k: v.to_dict() for k, v in self.moved.items()
            },
            "failed": self.failed,
        }


def locate(row: dict[str, Any], root: Path) -> Path | str:
    """Where a catalog row's bytes are now: its recorded location (cold root, S3 object) or
    ``<data root>/<path>``. Readers use this, never ``root / path`` alone."""
    location = row.get("location")
    if location:
        return str(location) if "://" in location else Path(location)
    return root / str(row["path"])


def candidates(
    catalog: Catalog,
    policy: Policy,
    target: Tier,
    where: Any,
    limit: int | None,
) -> Any:
    """Pages of rows the rules send down to ``target``, in id order."""
    rules = policy.rules_into(target)
    if not rules:
        return
    after, left = 0, limit
    cond = and_(where, policy.rule_sql().in_(rules), colder_than(policy, target))
    while left is None or left > 0:
        size = PAGE if left is None else min(PAGE, left)
        q = select(*COLUMNS).where(cond, files.c.id > after).order_by(files.c.id).limit(size)
        with catalog.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(q).mappings()]
        if not rows:
            return
        yield rows
        after = rows[-1]["id"]
        if left is not None:
            left -= len(rows)


def apply(
    catalog: Catalog,
    policy: Policy,
    mover: Mover,
    *,
    tiers: Sequence[str] = (),
    limit: int | None = None,
    dry_run: bool = False,
    archives: Sequence[str] = (),
    domains: Sequence[str] = (),
    run_id: str | None = None,
    progress: Callable[[dict[str, Any], Tier, str | None], None] | None = None,
) -> ApplyReport:
    """Move every file (at most ``limit``) whose recommended tier is colder than its own,
    optionally only into ``tiers``."""
    for name in tiers:
        policy.tier(name)  # unknown names fail before anything moves
    report = ApplyReport(dry_run=dry_run)
    left = limit
    for target in policy.tiers[1:]:
        if tiers and target.name not in tiers:
            continue
        for page in candidates(catalog, policy, target, scope(archives, domains), left):
            for row in page:
                error = None if dry_run else _move_one(catalog, mover, row, target, run_id)
                if error is None:
                    report.moved.setdefault(target.name, Totals()).add(1, row["size"] or 0, 0.0)
                else:
                    report.failed.append({"path": row["path"], "tier": target.name, "error": error})
                if progress is not None:
                    progress(row, target, error)
            if left is not None:
                left -= len(page)
        if left is not None and left <= 0:
            break
    return report


def _move_one(
    catalog: Catalog, mover: Mover, row: dict[str, Any], target: Tier, run_id: str | None
) -> str | None:
    """Move one file; None on success, else why it stayed where it was."""
    try:
        moved = mover.move(row, target)
    except (TierError, OSError, ValueError) as exc:
        return str(exc)
    except Exception as exc:  # boto3's ClientError and friends: reported, never fatal
        return f"{type(exc).__name__}: {exc}"
    detail = {"from": row["tier"] or "default", "to": target.name, **moved.detail}
    if not _record(catalog, row, target.name, moved.location, "tiered", detail, run_id):
        return "the catalog row changed meanwhile: left for the next apply"
    try:
        mover.release(row)
    except OSError as exc:
        return f"moved, but the old copy could not be removed: {exc}"
    return None


def _record(
    catalog: Catalog,
    row: dict[str, Any],
    tier: str | None,
    location: str | None,
    kind: str,
    detail: dict[str, Any],
    run_id: str | None,
    *,
    accessed: bool = False,
) -> bool:
    """Set the row's tier and location if its tier is still what was read; add the event."""
    now = utcnow()
    with catalog.engine.begin() as conn:
        same = files.c.tier.is_(None) if row["tier"] is None else files.c.tier == row["tier"]
        res = conn.execute(
            update(files).where(files.c.id == row["id"], same).values(tier=tier, location=location)
        )
        if not res.rowcount:
            return False
        conn.execute(
            insert(events).values(
                file_id=row["id"], run_id=run_id, at=now, kind=kind, detail=detail
            )
        )
        if accessed:
            record_access_in(conn, [row["id"]], now)
    return True


def find(catalog: Catalog, key: str, root: Path) -> list[dict[str, Any]]:
    """The files a restore argument names: a sha256, a data-root path (relative or
    absolute), a cold-root location, or ``archive:archive_path``."""
    conds: list[Any] = []
    if SHA256.match(key.lower()):
        conds.append(files.c.sha256 == key.lower())
    path = Path(key)
    if path.is_absolute():
        conds.append(files.c.location == str(path))
        try:
            conds.append(files.c.path == str(path.relative_to(root)))
        except ValueError:
            pass
    else:
        conds.append(files.c.path == key)
        archive, _, archive_path = key.partition(":")
        if archive_path:
            conds.append(and_(files.c.archive == archive, files.c.archive_path == archive_path))
    with catalog.engine.connect() as conn:
        q = select(*COLUMNS, files.c.state).where(or_(*conds)).order_by(files.c.id)
        return [dict(r) for r in conn.execute(q).mappings()]


def restore(
    catalog: Catalog,
    policy: Policy,
    mover: Mover,
    rows: list[dict[str, Any]],
    *,
    days: int = 7,
    speed: str = "Standard",
    run_id: str | None = None,
) -> list[dict[str, Any]]:
    """Bring each file back to the store's default tier (explicit, one call per request)."""
    out = []
    for row in rows:
        result: dict[str, Any] = {"path": row["path"], "tier": row["tier"] or policy.default.name}
        if row["tier"] in (None, policy.default.name):
            result["state"] = "already_hot"
            with catalog.engine.begin() as conn:
                record_access_in(conn, [row["id"]])
            out.append(result)
            continue
        try:
            done = mover.restore(row, days=days, speed=speed)
        except Exception as exc:
            result.update(state="failed", error=f"{type(exc).__name__}: {exc}")
            out.append(result)
            continue
        result.update(state=done.state, **done.detail)
        if done.state == "restored":
            detail = {"from": row["tier"], "to": policy.default.name, **done.detail}
            if _record(catalog, row, None, None, "restored", detail, run_id, accessed=True):
                try:
                    mover.release_cold(row)
                except OSError as exc:
                    result["warning"] = f"the cold copy could not be removed: {exc}"
            else:
                result.update(state="failed", error="the catalog row changed meanwhile")
        elif done.state == "requested":
            with catalog.engine.begin() as conn:
                conn.execute(
                    insert(events).values(
                        file_id=row["id"],
                        run_id=run_id,
                        at=utcnow(),
                        kind="restore_requested",
                        detail=done.detail,
                    )
                )
                record_access_in(conn, [row["id"]])
        out.append(result)
    return out
