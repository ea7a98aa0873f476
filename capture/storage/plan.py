"""``capture storage plan``: the recommended tier of every held file, as totals per tier.

The catalog answers with one aggregate per (current tier, rule) (:func:`capture.storage.tiers.
grouped`); everything here works on those few rows, so the plan's cost does not grow with the
number of files beyond the database's own scan.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from capture.catalog import Catalog
from capture.catalog.store import utcnow
from capture.storage.tiers import RULES, Policy, Tier, grouped, scope


@dataclass
class Totals:
    files: int = 0
    bytes: int = 0
    usd_month: float = 0.0

    def add(self, files: int, size: int, usd: float) -> None:
        self.files += files
        self.bytes += size
        self.usd_month += usd

    def to_dict(self) -> dict[str, Any]:
        return {"files": self.files, "bytes": self.bytes, "usd_month": round(self.usd_month, 2)}


@dataclass
class StoragePlan:
    store: str
    policy: Policy
    generated_at: str = field(default_factory=utcnow)
    seconds: float = 0.0
    #: Per tier: where files are now, and where the rules would put them.
    now: dict[str, Totals] = field(default_factory=dict)
    plan: dict[str, Totals] = field(default_factory=dict)
    #: Per rule: files, bytes and the tier it leads to.
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Recommended colder than now (``capture storage apply`` moves them).
    down: Totals = field(default_factory=Totals)
    #: Recommended warmer than now: restores are explicit (``capture storage restore``).
    up: Totals = field(default_factory=Totals)

    @property
    def total_now(self) -> Totals:
        return _sum(self.now.values())

    @property
    def total_plan(self) -> Totals:
        return _sum(self.plan.values())

    def to_dict(self) -> dict[str, Any]:
        names = [t.name for t in self.policy.tiers] + sorted(
            set(self.now) - {t.name for t in self.policy.tiers}
        )
        return {
            "store": self.store,
            "generated_at": self.generated_at,
            "seconds": round(self.seconds, 3),
            "rules_in_force": self.policy.rules_doc(),
            "tiers": [
                {
                    "tier": name,
                    "now": self.now.get(name, Totals()).to_dict(),
                    "plan": self.plan.get(name, Totals()).to_dict(),
                }
                for name in names
            ],
            "total": {"now": self.total_now.to_dict(), "plan": self.total_plan.to_dict()},
            "rules": self.rules,
            "apply_moves": self.down.to_dict(),
            "restore_candidates": self.up.to_dict(),
        }


def _sum(items: Any) -> Totals:
    out = Totals()
    for t in items:
        out.add(t.files, t.bytes, t.usd_month)
    return out


def make_plan(
    catalog: Catalog,
    policy: Policy,
    *,
    store: str,
    archives: Sequence[str] = (),
    domains: Sequence[str] = (),
) -> StoragePlan:
    """Recommend a tier for every held file in scope; totals, cost, and what would move."""
    started = time.perf_counter()
    out = StoragePlan(store=store, policy=policy)
    for rule in RULES:
        out.rules[rule] = {"files": 0, "bytes": 0, "tier": policy.for_rule(rule).name}
    with catalog.engine.connect() as conn:
        rows = conn.execute(grouped(policy, scope(archives, domains))).all()
    for cur_name, rule, count, size, padded in rows:
        count, size, padded = int(count), int(size), int(padded)
        current = _known(policy, cur_name)
        target = policy.for_rule(rule)
        out.now.setdefault(cur_name, Totals()).add(
            count, size, policy.usd_month(current, count, size, padded)
        )
        out.plan.setdefault(target.name, Totals()).add(
            count, size, policy.usd_month(target, count, size, padded)
        )
        out.rules[rule]["files"] += count
        out.rules[rule]["bytes"] += size
        if target.level > current.level:
            out.down.add(count, size, 0.0)
        elif target.level < current.level:
            out.up.add(count, size, 0.0)
    out.seconds = time.perf_counter() - started
    return out


def _known(policy: Policy, name: str) -> Tier:
    """The tier the catalog names; one this store does not have (a catalog moved between
    stores, or S3 GLACIER set outside capture) counts at its level, priced 0."""
    try:
        return policy.tier(name)
    except KeyError:
        return Tier(name, 3 if name in ("GLACIER", "DEEP_ARCHIVE") else 0)
