"""Storage tiers and the rules that recommend one per file (``capture storage plan``).

A file's *rule* is decided in SQL, from columns the catalog already holds, so a plan over a
million rows is one aggregate scan (no row reaches Python):

====================  =======================================================  =========
rule                  condition (first match wins)                             level
====================  =======================================================  =========
``small``             size < ``CAPTURE_TIER_MIN_BYTES`` (128 KiB)              0 hot
``recent``            idle < ``CAPTURE_TIER_WARM_AFTER_DAYS`` (30)             0 hot
``idle_warm``         idle < ``CAPTURE_TIER_COLD_AFTER_DAYS`` (90)             1 warm
``idle_cold``         idle < ``CAPTURE_TIER_ARCHIVE_AFTER_DAYS`` (180)         2 cold
``idle_reproducible`` reproducible from the archive (or a declared 2nd copy)   3 archive
``idle_only_copy``    otherwise: our copy may be the only one left             2 cold
====================  =======================================================  =========

*idle* counts from the last recorded access (``files.last_accessed_at``), else from when the
file was retrieved. *Reproducible*: stored (not retracted), with the publisher's digest (a
re-fetch can be verified) and named by a listing within ``CAPTURE_TIER_LISTED_WITHIN_DAYS``.
A retracted file, or one no listing has named lately, is never sent to a tier that needs hours
to restore (Deep Archive) unless ``CAPTURE_TIER_SECOND_COPY`` declares another copy.

A level maps to the store's tiers: S3 has one class per level (Standard, Standard-IA, Glacier
Instant Retrieval, Deep Archive); the local store has ``hot`` (the data root, levels 0-1) and
``cold`` (``CAPTURE_COLD_DIR``, levels 2-3). Prices are ``CAPTURE_TIER_PRICES`` ($/GiB-month);
the estimate includes S3's minimum billable size (128 KiB for IA and Glacier IR) and Deep
Archive's 40 KiB per-object index (32 KiB at its rate, 8 KiB at Standard's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, or_, select, true

from capture.catalog.schema import files
from capture.config import CaptureSettings
from capture.status import HELD, FileStatus

GIB = 1024**3
KIB = 1024
#: S3's minimum billable object size for Standard-IA and Glacier Instant Retrieval.
MIN_BILLABLE = 128 * KIB


@dataclass(frozen=True)
class Tier:
    """One place a file's bytes can be, with how S3 bills it."""

    name: str
    level: int
    #: Readable at once (False: an explicit restore first, hours).
    instant: bool = True
    #: Objects smaller than this are billed as this size.
    min_billable: int = 0
    #: Extra bytes billed per object at this tier's rate, and at Standard's rate.
    overhead: int = 0
    overhead_standard: int = 0


S3_TIERS: tuple[Tier, ...] = (
    Tier("STANDARD", 0),
    Tier("STANDARD_IA", 1, min_billable=MIN_BILLABLE),
    Tier("GLACIER_IR", 2, min_billable=MIN_BILLABLE),
    Tier("DEEP_ARCHIVE", 3, instant=False, overhead=32 * KIB, overhead_standard=8 * KIB),
)
LOCAL_TIERS: tuple[Tier, ...] = (Tier("hot", 0), Tier("cold", 2))
#: S3 classes whose objects need ``restore_object`` before a read or a copy.
NEEDS_RESTORE = frozenset({"GLACIER", "DEEP_ARCHIVE"})

#: Rule -> level (see the module docstring), in the order the SQL CASE tests them.
RULES: dict[str, int] = {
    "small": 0,
    "recent": 0,
    "idle_warm": 1,
    "idle_cold": 2,
    "idle_reproducible": 3,
    "idle_only_copy": 2,
}


@dataclass(frozen=True)
class Policy:
    """The rules' thresholds and the store's tiers, at one moment ``now``."""

    tiers: tuple[Tier, ...]
    prices: Mapping[str, float]
    warm_days: int = 30
    cold_days: int = 90
    archive_days: int = 180
    min_bytes: int = 128 * KIB
    listed_days: int = 90
    second_copy: bool = False
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def from_config(
        cls, config: CaptureSettings, *, remote: bool, now: datetime | None = None
    ) -> Policy:
        return cls(
            tiers=S3_TIERS if remote else LOCAL_TIERS,
            prices=dict(config.tier_prices),
            warm_days=config.tier_warm_after_days,
            cold_days=config.tier_cold_after_days,
            archive_days=config.tier_archive_after_days,
            min_bytes=config.tier_min_bytes,
            listed_days=config.tier_listed_within_days,
            second_copy=config.tier_second_copy,
            now=now or datetime.now(UTC),
        )

    @property
    def default(self) -> Tier:
        """Where a file is when the catalog names no tier (``files.tier`` NULL)."""
        return self.tiers[0]

    def tier(self, name: str) -> Tier:
        for t in self.tiers:
            if t.name == name:
                return t
        known = ", ".join(t.name for t in self.tiers)
        raise KeyError(f"unknown tier {name!r} for this store (tiers: {known})")

    def for_level(self, level: int) -> Tier:
        """The coldest tier of the store at or below ``level``."""
        return [t for t in self.tiers if t.level <= level][-1]

    def for_rule(self, rule: str) -> Tier:
        return self.for_level(RULES[rule])

    def rules_into(self, tier: Tier) -> list[str]:
        return [r for r in RULES if self.for_rule(r) == tier]

    def _cut(self, days: int) -> str:
        return (self.now - timedelta(days=days)).isoformat(timespec="seconds")

    # -- SQL -------------------------------------------------------------------------------
    def rule_sql(self) -> ColumnElement[str]:
        """The CASE expression naming each row's rule (timestamps are ISO-8601 UTC strings,
        which compare in time order)."""
        idle = func.coalesce(files.c.last_accessed_at, files.c.retrieved_at, files.c.first_seen_at)
        reproducible: ColumnElement[bool] = (
            true()
            if self.second_copy
            else and_(
                files.c.state == FileStatus.STORED,
                files.c.digest_expected.is_not(None),
                files.c.digest_expected != "",
                files.c.last_seen_at >= self._cut(self.listed_days),
            )
        )
        return case(
            (or_(files.c.size.is_(None), files.c.size < self.min_bytes), "small"),
            (or_(idle.is_(None), idle >= self._cut(self.warm_days)), "recent"),
            (idle >= self._cut(self.cold_days), "idle_warm"),
            (idle >= self._cut(self.archive_days), "idle_cold"),
            (reproducible, "idle_reproducible"),
            else_="idle_only_copy",
        )

    def current_sql(self) -> ColumnElement[str]:
        return func.coalesce(files.c.tier, self.default.name)

    def usd_month(self, tier: Tier, count: int, size: int, padded: int) -> float:
        """Monthly storage cost of ``count`` files of ``size`` bytes (``padded``: the same
        with each file counted as at least :data:`MIN_BILLABLE`) in ``tier``."""
        billed = padded if tier.min_billable else size
        usd = self.prices.get(tier.name, 0.0) * (billed + tier.overhead * count) / GIB
        if tier.overhead_standard:
            usd += self.prices.get("STANDARD", 0.0) * tier.overhead_standard * count / GIB
        return usd

    def rules_doc(self) -> dict[str, Any]:
        """The thresholds in force (printed with every plan)."""
        return {
            "warm_after_days": self.warm_days,
            "cold_after_days": self.cold_days,
            "archive_after_days": self.archive_days,
            "min_bytes": self.min_bytes,
            "listed_within_days": self.listed_days,
            "second_copy": self.second_copy,
            "prices_usd_per_gib_month": {t.name: self.prices.get(t.name, 0.0) for t in self.tiers},
        }


def scope(archives: Sequence[str] = (), domains: Sequence[str] = ()) -> ColumnElement[bool]:
    """The files tiering looks at: held (stored or retracted), optionally some archives or
    domains. Quarantined files are not tiered (they wait for a person). Files stored
    compressed (``codec``, capture/storage/compress.py) are not tiered yet: the movers verify
    and move the bytes at ``path`` against the original's sha256, and theirs are at
    ``path``.zst with their own digest."""
    cond: ColumnElement[bool] = and_(
        files.c.state.in_([s.value for s in HELD]), files.c.codec.is_(None)
    )
    if archives:
        cond = and_(cond, files.c.archive.in_(list(archives)))
    if domains:
        cond = and_(cond, files.c.domain.in_(list(domains)))
    return cond


def colder_than(policy: Policy, target: Tier) -> ColumnElement[bool]:
    """Rows whose current tier is warmer than ``target`` (what apply may move down)."""
    warmer = [t.name for t in policy.tiers if t.level < target.level]
    if not warmer:
        return false()
    return policy.current_sql().in_(warmer)


def grouped(policy: Policy, where: ColumnElement[bool]) -> Any:
    """One aggregate per (current tier, rule): files, bytes, bytes padded to the minimum
    billable size. The rule is computed in a subquery and grouped by its column (PostgreSQL
    cannot match a CASE with bound parameters between SELECT and GROUP BY)."""
    size = func.coalesce(files.c.size, 0)
    inner = (
        select(
            policy.current_sql().label("cur_tier"),
            policy.rule_sql().label("rule_name"),
            size.label("nbytes"),
            case((size < MIN_BILLABLE, MIN_BILLABLE), else_=size).label("padded"),
        )
        .where(where)
        .subquery()
    )
    return select(
        inner.c.cur_tier,
        inner.c.rule_name,
        func.count().label("files"),
        func.coalesce(func.sum(inner.c.nbytes), 0).label("bytes"),
        func.coalesce(func.sum(inner.c.padded), 0).label("padded"),
    ).group_by(inner.c.cur_tier, inner.c.rule_name)
