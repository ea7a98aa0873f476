"""Catalog behaviour (runs against SQLite by default; CAPTURE_TEST_CATALOG_URL selects another)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from capture.catalog import Catalog, CatalogWriter, catalog_url_for, migrate
from capture.catalog.schema import metadata
from tests.services import postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    """The same suite runs on both backends (PostgreSQL skips where no server runs)."""
    if request.param == "sqlite":
        cat = Catalog(catalog_url_for(tmp_path))
        yield cat
        cat.close()
        return
    with postgres_database() as url:
        cat = Catalog(url)
        yield cat
        cat.close()


def rec(path: str, run: str = "r1", **kw: Any) -> dict[str, Any]:
    return {
        "archive": "arc",
        "archive_path": path,
        "domain": "genomics",
        "url": f"http://h/{path}",
        "path": f"genomics/arc/{path}",
        "last_run": run,
        "item": {"archive_path": path},
        **kw,
    }


def run(catalog: Catalog, fn: Any, *args: Any) -> Any:
    with catalog.engine.begin() as conn:
        return fn(conn, *args)


def test_register_inserts_once_and_resumes_unfinished(catalog: Catalog) -> None:
    regs = run(catalog, catalog.register, [rec("a"), rec("b")])
    assert [r.decision for r in regs] == ["new", "new"]
    again = run(catalog, catalog.register, [rec("a", run="r2"), rec("c", run="r2")])
    assert [r.decision for r in again] == ["resume", "new"]
    assert again[0].file_id == regs[0].file_id
    assert run(catalog, catalog.counts) == {"discovered": 3}
    unfinished = run(catalog, catalog.unfinished, "arc", 0, 10)
    assert [item["archive_path"] for _, item in unfinished] == ["a", "b", "c"]


def test_register_decisions_for_stored_files(catalog: Catalog) -> None:
    (reg,) = run(
        catalog,
        catalog.register,
        [rec("a", digest_algorithm="md5", digest_expected="aa", expected_size=5)],
    )
    run(catalog, catalog.finish, reg.file_id, {"state": "stored", "size": 5, "sha256": "s"})
    same = rec("a", run="r2", digest_algorithm="md5", digest_expected="aa", expected_size=5)
    assert run(catalog, catalog.register, [same])[0].decision == "unchanged"
    # Same run seeing it again (re-drive + re-listing) is a duplicate, not a second capture.
    assert run(catalog, catalog.register, [same])[0].decision == "duplicate"
    changed = rec("a", run="r3", digest_algorithm="md5", digest_expected="bb", expected_size=5)
    assert run(catalog, catalog.register, [changed])[0].decision == "changed"
    missing = rec("a", run="r4", digest_algorithm="md5", digest_expected="bb")
    decision = run(catalog, catalog.register, [missing], lambda path, size: False)[0].decision
    assert decision == "resume"  # "changed" set it back to discovered


def test_conditional_when_only_validators_are_known(catalog: Catalog) -> None:
    (reg,) = run(catalog, catalog.register, [rec("v")])
    run(catalog, catalog.finish, reg.file_id, {"state": "stored", "size": 3, "etag": '"e"'})
    assert run(catalog, catalog.register, [rec("v", run="r2")])[0].decision == "conditional"


def test_finish_accumulates_attempts_and_events(catalog: Catalog) -> None:
    (reg,) = run(catalog, catalog.register, [rec("e")])
    events = [
        {"kind": "attempt", "status": 200},
        {"kind": "resume", "offset": 5},
        {"kind": "attempt", "status": 206},
    ]
    run(catalog, catalog.finish, reg.file_id, {"state": "stored"}, events, "r1", 10)
    row = run(catalog, catalog.get, "arc", "e")
    assert (row["attempts"], row["resumes"], row["bytes_transferred"]) == (2, 1, 10)
    assert [e["kind"] for e in run(catalog, catalog.events_for, reg.file_id)] == [
        "attempt",
        "resume",
        "attempt",
    ]


def test_writer_groups_operations_and_isolates_failures(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    fired: list[tuple[Any, bool, Any]] = []
    # Collect results straight from the writer thread (no reactor runs in this unit test).
    monkeypatch.setattr(CatalogWriter, "_resolve", staticmethod(fired.extend))
    writer = CatalogWriter(catalog)

    def boom(conn: Any) -> None:
        raise ValueError("bad record")

    for i in range(20):
        writer.submit(catalog.register, [rec(f"g{i}")])
    writer.submit(boom)
    writer.close()
    oks = [ok for _, ok, _ in fired]
    assert oks.count(True) == 20 and oks.count(False) == 1
    assert isinstance(next(v for _, ok, v in fired if not ok), ValueError)
    assert run(catalog, catalog.counts) == {"discovered": 20}


def test_sqlite_registration_splits_rows_at_the_variable_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group of new files goes in as multi-row INSERTs, each within the connection's bound
    parameter limit (here about two rows a statement); already-known rows are left alone."""
    from capture.catalog import driver

    monkeypatch.setattr(driver, "variable_limit", lambda conn: 60)
    cat = Catalog(catalog_url_for(tmp_path))
    try:
        first = run(cat, cat.register, [rec(f"f{i}") for i in range(3)])
        regs = run(cat, cat.register, [rec(f"f{i}") for i in range(31)])
        assert [r.decision for r in regs] == ["resume"] * 3 + ["new"] * 28
        assert [r.file_id for r in regs[:3]] == [r.file_id for r in first]
        assert len({r.file_id for r in regs}) == 31
        assert run(cat, cat.counts) == {"discovered": 31}
    finally:
        cat.close()


def test_concurrent_registration_never_duplicates(catalog: Catalog) -> None:
    """Several crawler processes registering the same listing at once (threads here, each
    with its own connection and transaction) end with one row per file and no error."""
    from concurrent.futures import ThreadPoolExecutor

    def worker(n: int) -> list[str]:
        records = [rec(f"shared/{i}", run=f"w{n}") for i in range(200)]
        with catalog.engine.begin() as conn:
            return [r.decision for r in catalog.register(conn, records)]

    with ThreadPoolExecutor(4) as pool:
        decisions = [d for ds in pool.map(worker, range(4)) for d in ds]
    assert len(decisions) == 800 and set(decisions) <= {"new", "resume"}
    assert decisions.count("new") == 200
    assert run(catalog, catalog.counts) == {"discovered": 200}


def test_migrations_reach_exactly_the_declared_schema(catalog: Catalog) -> None:
    """Alembic's head equals the tables and indexes the code declares (no drift on either
    backend), and a catalog at revision 0001 is upgraded in place to head."""
    assert migrate.current(catalog.engine) == migrate.head() == "0008"
    with catalog.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    cfg = migrate.config()
    with catalog.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    assert migrate.current(catalog.engine) == "0001"
    migrate.upgrade(catalog.engine)
    assert migrate.current(catalog.engine) == "0008"
    with catalog.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_grouped_calls_merge_into_one_call_and_isolate_failures(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Grouped calls queued together become one ``*_many`` call; a group that fails is
    replayed one call at a time, so only the bad call fails."""
    fired: list[tuple[Any, bool, Any]] = []
    monkeypatch.setattr(CatalogWriter, "_resolve", staticmethod(fired.extend))
    writer = CatalogWriter(catalog, group_wait=0.2)
    seen: list[int] = []

    def many(conn: Any, args: list[int]) -> list[int]:
        seen.append(len(args))
        if 13 in args:
            raise ValueError("bad call 13")
        return [a * 2 for a in args]

    for i in range(20):
        writer.submit_grouped(many, i)
    writer.close()
    assert seen[0] == 20  # all 20 in one merged call, then 20 replays alone
    assert sorted(v for _, ok, v in fired if ok) == sorted(i * 2 for i in range(20) if i != 13)
    failed = [v for _, ok, v in fired if not ok]
    assert len(failed) == 1 and "13" in str(failed[0])
    assert writer.groups >= 1 and writer.grouped_calls >= 20


def test_register_each_equals_register(catalog: Catalog, tmp_path: Path) -> None:
    """The grouped registration decides exactly as one call per file would, including a
    file repeated inside one group (the repeat sees the first registration)."""
    calls = [(rec(p), None) for p in ("a", "b", "a", "c")]
    regs = run(catalog, catalog.register_each, calls)
    assert [r.decision for r in regs] == ["new", "new", "resume", "new"]
    assert regs[0].file_id == regs[2].file_id
    assert run(catalog, catalog.counts) == {"discovered": 3}


def test_register_each_batches_calls_sharing_a_bound_method_check(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline passes ``self._exists``, a new bound-method object per item: equal checks
    still share one :meth:`Catalog.register` call (one query for the whole group)."""

    class Owner:
        def exists(self, rel: str, size: int | None) -> bool:
            return False

    owner, batches = Owner(), []
    register = catalog.register

    def counting(conn: Any, records: list[dict[str, Any]], exists: Any = None) -> Any:
        batches.append(len(records))
        return register(conn, records, exists)

    monkeypatch.setattr(catalog, "register", counting)
    calls = [(rec(f"f{i}"), owner.exists) for i in range(10)]
    regs = run(catalog, catalog.register_each, calls)
    assert [r.decision for r in regs] == ["new"] * 10
    assert batches == [10]


def test_finish_many_records_what_finish_does(catalog: Catalog) -> None:
    """One grouped finish writes the same rows as finish + record_quality + record_version."""
    from capture.catalog.store import Finish

    regs = run(catalog, catalog.register, [rec("one"), rec("two")])
    events = [{"kind": "attempt", "status": 200}, {"kind": "outcome", "status": "stored"}]
    report = {
        "checks": [
            {"check_id": "c1", "tier": "t", "severity": "low", "weight": 1, "outcome": "pass"}
        ]
    }
    values = {"state": "stored", "size": 5, "sha256": "ab" * 32, "file_metadata": {"x": 1.5}}
    version = {"version": 1, "sha256": "ab" * 32, "size": 5, "run_id": "r1", "stored_at": "p"}
    with catalog.engine.begin() as conn:
        catalog.finish(conn, regs[0].file_id, values, events, "r1", 5)
        catalog.record_quality(conn, regs[0].file_id, "r1", report)
        catalog.record_version(conn, regs[0].file_id, version)
    op = Finish(regs[1].file_id, values, events, "r1", 5, report, version)
    assert run(catalog, catalog.finish_many, [op]) == [None]

    def shape(file_id: int) -> tuple[Any, ...]:
        row = run(catalog, catalog.get, "arc", "one" if file_id == regs[0].file_id else "two")
        keep = ("state", "size", "sha256", "attempts", "resumes", "bytes_transferred")
        with catalog.engine.connect() as conn:
            params = conn.exec_driver_sql(
                f"select name, value from file_params where file_id = {file_id}"
            ).fetchall()
            checks = conn.exec_driver_sql(
                f"select check_id, outcome from quality_checks where file_id = {file_id}"
            ).fetchall()
        return (
            tuple(row[k] for k in keep),
            [e["kind"] for e in run(catalog, catalog.events_for, file_id)],
            sorted(params),
            checks,
            [(v["version"], v["sha256"]) for v in run(catalog, catalog.history, file_id)],
        )

    assert shape(regs[0].file_id) == shape(regs[1].file_id)
    assert shape(regs[1].file_id)[0][0] == "stored"


def test_find_copies_answers_each_call(catalog: Catalog) -> None:
    regs = run(catalog, catalog.register, [rec("x"), rec("y")])
    run(catalog, catalog.finish, regs[0].file_id, {"state": "stored", "sha256": "s1", "size": 3})
    found = run(
        catalog,
        catalog.find_copies,
        [("s1", 3, regs[1].file_id), ("s1", 3, regs[0].file_id), ("s1", 4, None), ("s2", 3, None)],
    )
    assert found[0] == {
        "id": regs[0].file_id,
        "path": "genomics/arc/x",
        "size": 3,
        "sha256": "s1",
        "version": None,
        **dict.fromkeys(("codec", "stored_size", "stored_sha256")),
    }
    assert found[1:] == [None, None, None]


def test_migrate_head_constant_is_alembics_head() -> None:
    """A catalog at ``HEAD`` is opened without Alembic; the constant must follow migrations."""
    assert migrate.head() == migrate.HEAD


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_fresh_catalog_shortcut_equals_every_migration(backend: str, tmp_path: Path) -> None:
    """A new catalog is created from the declared schema and stamped, without Alembic; running
    every migration on an empty database gives the same schema and the same stamp, so later
    migrations apply to both alike."""
    from contextlib import nullcontext

    from sqlalchemy import create_engine, inspect

    def database(name: str) -> Any:
        if backend == "sqlite":
            (tmp_path / name).mkdir()
            return nullcontext(catalog_url_for(tmp_path / name))
        return postgres_database()

    with database("a") as url_a, database("b") as url_b:
        shortcut = Catalog(url_a)
        engine = create_engine(url_b)
        cfg = migrate.config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        try:
            for eng in (shortcut.engine, engine):
                assert migrate.current(eng) == migrate.HEAD
                with eng.connect() as conn:
                    assert compare_metadata(MigrationContext.configure(conn), metadata) == []
            a, b = inspect(shortcut.engine), inspect(engine)
            assert sorted(a.get_table_names()) == sorted(b.get_table_names())
            for table in b.get_table_names():
                cols_a = {c["name"]: str(c["type"]) for c in a.get_columns(table)}
                cols_b = {c["name"]: str(c["type"]) for c in b.get_columns(table)}
                assert cols_a == cols_b, table
                idx_a = sorted((i["name"], tuple(i["column_names"])) for i in a.get_indexes(table))
                idx_b = sorted((i["name"], tuple(i["column_names"])) for i in b.get_indexes(table))
                assert idx_a == idx_b, table
        finally:
            shortcut.close()
            engine.dispose()


def test_plan_decides_like_register_and_writes_nothing(catalog: Catalog) -> None:
    """The diff's read-only plan, then an update's retraction, on both backends."""
    md5 = {"digest_algorithm": "md5", "expected_size": 10}
    (a, b, c) = run(
        catalog,
        catalog.register,
        [rec(p, **md5, digest_expected=p * 32) for p in ("a", "b", "c")],
    )
    for reg in (a, b, c):
        run(catalog, catalog.finish, reg.file_id, {"state": "stored", "size": 10})
    snapshot = run(catalog, lambda conn: conn.exec_driver_sql("select * from files").all())
    listing = [
        rec("a", run="r2", **md5, digest_expected="a" * 32),
        rec("b", run="r2", **{**md5, "expected_size": 12}, digest_expected="e" * 32),
        rec("d", run="r2", **md5, digest_expected="d" * 32),
    ]
    planned = run(catalog, catalog.plan, [(r, None) for r in listing])
    assert [(p.decision.kind, p.decision.changed) for p in planned] == [
        ("unchanged", ()),
        ("changed", ("size", "digest")),
        ("new", ()),
    ]
    assert run(catalog, lambda conn: conn.exec_driver_sql("select * from files").all()) == snapshot
    # The real registration decides the same.
    assert [r.decision for r in run(catalog, catalog.register, listing)] == [
        "unchanged",
        "changed",
        "new",
    ]
    rows = run(catalog, catalog.listed_rows, "arc")
    gone = [r for r in rows if r["archive_path"] == "c"]
    assert run(catalog, catalog.retract, gone, "r2") == 1
    assert run(catalog, catalog.retract, gone, "r3") == 0  # already retracted: left alone
    assert "c" not in {r["archive_path"] for r in run(catalog, catalog.listed_rows, "arc")}
    row = run(catalog, catalog.get, "arc", "c")
    assert row["state"] == "retracted" and row["last_seen_at"]
    (event,) = [e for e in run(catalog, catalog.events_for, row["id"]) if e["kind"] == "retracted"]
    assert event["detail"]["last_seen_at"] == row["last_seen_at"]
    assert run(catalog, catalog.current_version, row["id"]) is None


def test_sqlite_fast_executemany_writes_what_sqlalchemy_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """register's and finish_many's SQLite paths (rows as tuples to the driver) and
    SQLAlchemy's executemany leave byte-identical tables, JSON values (None, nesting,
    unicode), booleans and column defaults included."""
    import capture.catalog.store as store
    from capture.catalog import driver
    from capture.catalog.store import Finish

    monkeypatch.setattr(store, "utcnow", lambda: "2026-12-03T00:00:00.000+00:00")
    report = {
        "checks": [
            {
                "check_id": f"c{i}",
                "tier": "content",
                "severity": "low",
                "weight": i,
                "outcome": "pass" if i % 2 else "fail",
                "message": "ünïcode ✓",
                "evidence": {"rows": i, "none": None},
            }
            for i in range(4)
        ]
    }

    def ops(regs: list[Any]) -> list[Finish]:
        out = []
        for n, reg in enumerate(regs):
            values = {
                "state": "stored",
                "size": 100 + n,
                "sha256": f"{n:064x}",
                "verified": bool(n % 2),
                "quality": {"score": 0.5 + n / 10, "reasons": ["a", "ü"]},
                "file_metadata": {"x": 1.5, "nested": {"k": [1, None]}} if n else None,
                "score": 0.25 * n,
            }
            events = [
                {"at": "2026-12-03T00:00:01.000+00:00", "kind": "attempt", "status": 200},
                {"at": "2026-12-03T00:00:02.000+00:00", "kind": "outcome", "detail": None},
            ]
            version = {"version": 1, "sha256": f"{n:064x}", "size": 100 + n, "run_id": "r1"}
            out.append(Finish(reg.file_id, values, events, "r1", 100 + n, report, version))
        return out

    def tables(fast: bool, where: Path) -> dict[str, list[tuple[Any, ...]]]:
        if not fast:
            monkeypatch.setattr(driver, "raw", lambda conn: False)
        cat = Catalog(catalog_url_for(where))
        try:
            item = {"ü": None, "nested": [1, {"x": None}]}
            regs = run(cat, cat.register, [rec(f"p{i}", item={**item, "i": i}) for i in range(5)])
            run(cat, cat.finish_many, ops(regs))
            with cat.engine.connect() as conn:
                return {
                    t: conn.exec_driver_sql(f"select * from {t} order by rowid").fetchall()
                    for t in ("files", "events", "quality_checks", "file_params", "file_versions")
                }
        finally:
            cat.close()
            monkeypatch.undo()
            monkeypatch.setattr(store, "utcnow", lambda: "2026-12-03T00:00:00.000+00:00")

    fast = tables(True, tmp_path / "fast")
    taken = {shape[0] for shape, entry in driver.RAW_MANY.items() if entry is not None}
    taken |= {shape[0] for shape, entry in driver.RAW_INSERT.items() if entry is not None}
    # No silent fallback to SQLAlchemy's per-row path.
    assert {
        "files",
        "files:new",
        "events",
        "quality_checks",
        "file_params",
        "file_versions",
    } <= taken
    slow = tables(False, tmp_path / "slow")
    assert fast == slow
    assert len(fast["quality_checks"]) == 20 and len(fast["events"]) == 10
    assert any(row for row in fast["file_params"])  # the metadata params were written too


def test_a_group_s_results_fire_one_per_event_loop_turn() -> None:
    """Fired together, a group's files resumed their pipelines in one turn of the loop, with
    no socket read between them; one per turn, the loop polls its sockets in between."""
    import asyncio

    from twisted.internet.defer import Deferred

    from capture.catalog.writer import _fire_in_turns

    async def main() -> None:
        ds: list[Deferred[int]] = [Deferred() for _ in range(3)]
        failed: list[BaseException] = []
        ds[2].addErrback(lambda f: failed.append(f.value))
        _fire_in_turns([(ds[0], True, 0), (ds[1], True, 1), (ds[2], False, ValueError("x"))])()
        assert [d.called for d in ds] == [True, False, False]
        await asyncio.sleep(0)
        assert [d.called for d in ds] == [True, True, False]
        await asyncio.sleep(0)
        assert all(d.called for d in ds) and isinstance(failed[0], ValueError)

    asyncio.run(main())


def test_run_grouped_answers_through_the_running_loop(catalog: Catalog) -> None:
    """Under an asyncio loop, ``run_grouped``/``run`` wait on futures of that loop, settled
    from the writer thread: results and errors arrive, a caller that was cancelled is skipped
    without disturbing the others of its group."""
    import asyncio

    writer = CatalogWriter(catalog, group_wait=0.05)

    def many(conn: Any, args: list[int]) -> list[int]:
        if 13 in args:
            raise ValueError("bad call 13")
        return [a * 2 for a in args]

    async def main() -> None:
        doomed = asyncio.ensure_future(writer.run_grouped(many, 7))
        calls = [asyncio.ensure_future(writer.run_grouped(many, i)) for i in (1, 2, 13)]
        await asyncio.sleep(0)
        doomed.cancel()
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert results[:2] == [2, 4] and isinstance(results[2], ValueError)
        assert doomed.cancelled()
        regs = await writer.run(catalog.register, [rec("loop/a")])
        assert [r.decision for r in regs] == ["new"]

    try:
        asyncio.run(main())
    finally:
        writer.close()
    assert run(catalog, catalog.counts) == {"discovered": 1}
