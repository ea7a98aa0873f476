"""Storage tiers in process: the plan's rules and totals on a synthetic catalog (SQLite and
PostgreSQL), local moves to a cold root and back (bytes identical, catalog resolves, events),
access recording, and what a crawl's decision engine makes of a file in another tier."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from capture.catalog import Catalog, catalog_url_for
from capture.catalog.access import record_access
from capture.catalog.decide import decide
from capture.catalog.schema import events, files
from capture.config import CaptureSettings
from capture.export import bag
from capture.export.records import records
from capture.paths import DataRoot
from capture.storage.movers import LocalMover, TierError
from capture.storage.plan import make_plan
from capture.storage.tiering import apply, find, locate, restore
from capture.storage.tiers import GIB, KIB, MIN_BILLABLE, Policy
from tests.services import postgres_database

NOW = datetime(2026, 12, 1, tzinfo=UTC)
MIB = 1024 * 1024


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat(timespec="seconds")


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    if request.param == "sqlite":
        cat = Catalog(catalog_url_for(tmp_path))
        yield cat
        cat.close()
        return
    with postgres_database() as url:
        cat = Catalog(url)
        yield cat
        cat.close()


def row(name: str, **kw: Any) -> dict[str, Any]:
    """A stored file retrieved 400 days ago, listed yesterday, with an md5 from the archive."""
    base = {
        "archive": "arc",
        "archive_path": name,
        "domain": "genomics",
        "url": f"http://h/{name}",
        "path": f"genomics/arc/{name}",
        "state": "stored",
        "size": 10 * MIB,
        "sha256": "0" * 64,
        "digest_algorithm": "md5",
        "digest_expected": "1" * 32,
        "retrieved_at": ago(400),
        "first_seen_at": ago(400),
        "last_seen_at": ago(1),
        "last_accessed_at": None,  # every row has every key: executemany takes the first's
        "item": {},
    }
    return {**base, **kw}


#: name -> (row overrides, rule, local tier, S3 class)
CASES: dict[str, tuple[dict[str, Any], str, str, str]] = {
    "small": ({"size": 4 * KIB}, "small", "hot", "STANDARD"),
    "new": ({"retrieved_at": ago(5)}, "recent", "hot", "STANDARD"),
    "read_lately": ({"last_accessed_at": ago(10)}, "recent", "hot", "STANDARD"),
    "idle45": ({"retrieved_at": ago(45)}, "idle_warm", "hot", "STANDARD_IA"),
    "idle120": ({"last_accessed_at": ago(120)}, "idle_cold", "cold", "GLACIER_IR"),
    "idle200": ({"retrieved_at": ago(200)}, "idle_reproducible", "cold", "DEEP_ARCHIVE"),
    "retracted": ({"state": "retracted"}, "idle_only_copy", "cold", "GLACIER_IR"),
    "no_digest": ({"digest_expected": None}, "idle_only_copy", "cold", "GLACIER_IR"),
    "unlisted": ({"last_seen_at": ago(100)}, "idle_only_copy", "cold", "GLACIER_IR"),
}


def fill(catalog: Catalog) -> None:
    with catalog.engine.begin() as conn:
        conn.execute(insert(files), [row(n, **kw) for n, (kw, *_) in CASES.items()])
        conn.execute(insert(files), [row("bad", state="quarantined")])  # never tiered


def policy(remote: bool, **kw: Any) -> Policy:
    return Policy.from_config(CaptureSettings.from_settings(kw), remote=remote, now=NOW)


@pytest.mark.parametrize("remote", [False, True])
def test_plan_rules_tiers_and_totals(catalog: Catalog, remote: bool) -> None:
    fill(catalog)
    pol = policy(remote)
    plan = make_plan(catalog, pol, store="test")
    doc = plan.to_dict()
    expected_rules: dict[str, int] = {}
    expected_tiers: dict[str, list[int]] = {}
    for kw, rule, local, s3 in CASES.values():
        size = kw.get("size", 10 * MIB)
        expected_rules[rule] = expected_rules.get(rule, 0) + 1
        t = expected_tiers.setdefault(s3 if remote else local, [0, 0])
        t[0] += 1
        t[1] += size
    assert {k: v["files"] for k, v in doc["rules"].items() if v["files"]} == expected_rules
    got = {t["tier"]: [t["plan"]["files"], t["plan"]["bytes"]] for t in doc["tiers"]}
    assert {k: v for k, v in got.items() if v[0]} == expected_tiers
    # Everything is in the default tier now; the quarantined file is not counted anywhere.
    assert doc["total"]["now"]["files"] == len(CASES)
    assert doc["tiers"][0]["now"]["files"] == len(CASES)
    moved = sum(v[0] for k, v in expected_tiers.items() if k not in ("hot", "STANDARD"))
    assert doc["apply_moves"]["files"] == moved and doc["restore_candidates"]["files"] == 0
    # $/month: price x bytes / GiB, Deep Archive with its 40 KiB per object.
    prices = CaptureSettings.from_settings().tier_prices
    if remote:
        deep = next(t for t in doc["tiers"] if t["tier"] == "DEEP_ARCHIVE")["plan"]
        usd = (prices["DEEP_ARCHIVE"] * (10 * MIB + 32 * KIB) + prices["STANDARD"] * 8 * KIB) / GIB
        assert deep["usd_month"] == round(usd, 2)
    hot_now = doc["total"]["now"]["usd_month"]
    total_bytes = sum(kw.get("size", 10 * MIB) for kw, *_ in CASES.values())
    assert hot_now == round(prices["STANDARD" if remote else "hot"] * total_bytes / GIB, 2)


def test_second_copy_lets_every_idle_file_go_to_deep_archive(catalog: Catalog) -> None:
    fill(catalog)
    doc = make_plan(catalog, policy(True, CAPTURE_TIER_SECOND_COPY=True), store="t").to_dict()
    assert doc["rules"]["idle_only_copy"]["files"] == 0
    assert doc["rules"]["idle_reproducible"]["files"] == 4


def test_minimum_billable_size_is_in_the_estimate(catalog: Catalog) -> None:
    """Below 128 KiB, Standard-IA bills 128 KiB: moving small files there costs more."""
    with catalog.engine.begin() as conn:
        conn.execute(
            insert(files), [row(f"s{i}", size=KIB, retrieved_at=ago(45)) for i in range(8)]
        )
    pol = policy(True, CAPTURE_TIER_MIN_BYTES=0)
    doc = make_plan(catalog, pol, store="t").to_dict()
    ia = next(t for t in doc["tiers"] if t["tier"] == "STANDARD_IA")["plan"]
    assert ia["files"] == 8 and ia["bytes"] == 8 * KIB
    prices = pol.prices
    assert pol.usd_month(pol.tier("STANDARD_IA"), 8, 8 * KIB, 8 * MIN_BILLABLE) == pytest.approx(
        prices["STANDARD_IA"] * 8 * MIN_BILLABLE / GIB
    )
    assert pol.usd_month(pol.tier("STANDARD_IA"), 8, 8 * KIB, 8 * MIN_BILLABLE) > pol.usd_month(
        pol.tier("STANDARD"), 8, 8 * KIB, 8 * MIN_BILLABLE
    )


def test_scope_by_archive_and_domain(catalog: Catalog) -> None:
    fill(catalog)
    with catalog.engine.begin() as conn:
        conn.execute(insert(files), [row("x", archive="other", domain="astronomy")])
    pol = policy(False)
    assert make_plan(catalog, pol, store="t", archives=["other"]).total_now.files == 1
    assert make_plan(catalog, pol, store="t", domains=["genomics"]).total_now.files == len(CASES)


# -- local cold root ---------------------------------------------------------------------------


def stored_files(catalog: Catalog, root: Path, n: int, days: float = 200) -> dict[str, bytes]:
    """``n`` real files in the data root, cataloged as stored ``days`` ago."""
    out = {}
    rows = []
    for i in range(n):
        body = os.urandom(200 * KIB + i)
        r = row(f"f{i}.vcf.gz", size=len(body), sha256=hashlib.sha256(body).hexdigest())
        r["retrieved_at"] = r["first_seen_at"] = ago(days)
        (root / r["path"]).parent.mkdir(parents=True, exist_ok=True)
        (root / r["path"]).write_bytes(body)
        out[r["path"]] = body
        rows.append(r)
    with catalog.engine.begin() as conn:
        conn.execute(insert(files), rows)
    return out


def all_rows(catalog: Catalog) -> list[dict[str, Any]]:
    with catalog.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(files).order_by(files.c.id)).mappings()]


def test_apply_moves_to_cold_root_and_restore_brings_back(catalog: Catalog, tmp_path: Path) -> None:
    data = DataRoot.at(tmp_path / "data")
    cold = tmp_path / "cold"
    bodies = stored_files(catalog, data.root, 3)
    pol = policy(False)
    mover = LocalMover(data, cold)

    dry = apply(catalog, pol, mover, dry_run=True)
    assert dry.moved["cold"].files == 3 and not any(cold.rglob("*.gz"))
    assert {r["tier"] for r in all_rows(catalog)} == {None}

    report = apply(catalog, pol, mover, limit=2, run_id="t1")
    assert report.moved["cold"].files == 2 and not report.failed
    rows = all_rows(catalog)
    moved = [r for r in rows if r["tier"] == "cold"]
    assert len(moved) == 2
    for r in moved:
        where = locate(r, data.root)
        assert isinstance(where, Path) and where.is_relative_to(cold)
        assert where.read_bytes() == bodies[r["path"]]  # byte-identical
        assert hashlib.sha256(where.read_bytes()).hexdigest() == r["sha256"]
        assert not (data.root / r["path"]).exists()  # the hot copy went
        assert not list(where.parent.glob("*.tier-tmp"))
    with catalog.engine.connect() as conn:
        evs = [dict(e) for e in conn.execute(select(events)).mappings()]
    assert [e["kind"] for e in evs] == ["tiered", "tiered"]
    assert evs[0]["detail"]["to"] == "cold" and evs[0]["run_id"] == "t1"

    # The rest, then nothing left to move.
    assert apply(catalog, pol, mover).moved["cold"].files == 1
    assert apply(catalog, pol, mover).files == 0

    # BagIt export reads a cold file from where the catalog says it is.
    recs = list(records(catalog, [r["id"] for r in all_rows(catalog)]))
    out = bag.write(recs, data.root, tmp_path / "bag")
    for path, body in bodies.items():
        assert (out / "data" / path).read_bytes() == body

    # Restore one file by sha256: back in the data root, verified, catalog hot again.
    target = all_rows(catalog)[0]
    found = find(catalog, target["sha256"], data.root)
    assert [r["id"] for r in found] == [target["id"]]
    results = restore(catalog, pol, mover, found, run_id="r1")
    assert results[0]["state"] == "restored"
    back = next(r for r in all_rows(catalog) if r["id"] == target["id"])
    assert back["tier"] is None and back["location"] is None and back["last_accessed_at"]
    assert (data.root / back["path"]).read_bytes() == bodies[back["path"]]
    assert not Path(target["location"]).exists()
    # Just accessed: the plan keeps it hot (no immediate re-archiving).
    assert apply(catalog, pol, mover, dry_run=True).files == 0
    assert restore(catalog, pol, mover, find(catalog, back["path"], data.root))[0]["state"] == (
        "already_hot"
    )


def test_a_damaged_hot_copy_is_not_moved(catalog: Catalog, tmp_path: Path) -> None:
    data = DataRoot.at(tmp_path / "data")
    bodies = stored_files(catalog, data.root, 1)
    path = next(iter(bodies))
    raw = bytearray(bodies[path])
    raw[1000] ^= 0xFF
    (data.root / path).write_bytes(bytes(raw))
    report = apply(catalog, policy(False), LocalMover(data, tmp_path / "cold"))
    assert report.files == 0 and "does not match the catalog" in report.failed[0]["error"]
    assert all_rows(catalog)[0]["tier"] is None and (data.root / path).exists()
    assert not any((tmp_path / "cold").rglob("*.gz*"))


def test_no_cold_root_configured_fails_clearly(catalog: Catalog, tmp_path: Path) -> None:
    data = DataRoot.at(tmp_path / "data")
    stored_files(catalog, data.root, 1)
    report = apply(catalog, policy(False), LocalMover(data, None))
    assert "CAPTURE_COLD_DIR" in report.failed[0]["error"]
    with pytest.raises(TierError):
        LocalMover(data, None).move(all_rows(catalog)[0], policy(False).tier("cold"))


def test_a_planted_symlink_in_the_cold_root_is_refused(catalog: Catalog, tmp_path: Path) -> None:
    data = DataRoot.at(tmp_path / "data")
    cold = tmp_path / "cold"
    outside = tmp_path / "outside"
    outside.mkdir()
    stored_files(catalog, data.root, 1)
    (cold / "genomics").mkdir(parents=True)
    (cold / "genomics" / "arc").symlink_to(outside)
    report = apply(catalog, policy(False), LocalMover(data, cold))
    assert report.files == 0 and "symlink" in report.failed[0]["error"]
    assert not any(outside.iterdir())


def test_record_access_and_readers(catalog: Catalog) -> None:
    fill(catalog)
    ids = [r["id"] for r in all_rows(catalog)][:3]
    assert record_access(catalog, ids, at=ago(0)) == 3
    assert [r["last_accessed_at"] for r in all_rows(catalog)][:4] == [ago(0)] * 3 + [None]


def test_a_file_in_another_tier_is_held_for_the_decision_engine() -> None:
    """A crawl must not re-fetch a file because its bytes moved to the cold root."""
    prev = row("a", id=1, tier="cold", location="/cold/genomics/arc/a")
    listed = {"digest_algorithm": "md5", "digest_expected": "1" * 32, "expected_size": 10 * MIB}
    assert decide(prev, listed, lambda path, size: False).kind == "unchanged"
    assert decide({**prev, "location": None}, listed, lambda p, s: False).kind == "refetch"
