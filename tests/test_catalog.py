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
    assert migrate.current(catalog.engine) == migrate.head() == "0002"
    with catalog.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    cfg = migrate.config()
    with catalog.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    assert migrate.current(catalog.engine) == "0001"
    migrate.upgrade(catalog.engine)
    assert migrate.current(catalog.engine) == "0002"
    with catalog.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
