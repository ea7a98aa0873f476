"""Versioned schema migrations (Alembic), applied when a catalog is opened.

Several crawler processes may open a fresh PostgreSQL catalog at once; a transaction-level
advisory lock makes exactly one of them migrate while the others wait. SQLite serialises
writers itself (the migration runs in one write transaction).
"""

from __future__ import annotations

import tempfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config

LOCK_ID = 0x6361707475726531  # "capture1"
#: The newest migration's revision (tests/test_catalog.py checks it is Alembic's head). A
#: catalog already at it is opened without importing Alembic (~0.15 s of every crawl's start).
HEAD = "0008"


def script_location() -> str:
    """The migrations directory. Alembic needs a real directory; inside a zipped egg (as
    scrapyd runs projects) the scripts are first extracted to a private temporary one."""
    here = Path(__file__).resolve().parent / "migrations"
    if here.is_dir():
        return str(here)
    global _EXTRACTED
    if _EXTRACTED is None:
        target = Path(tempfile.mkdtemp(prefix="capture-migrations-"))
        _copy_tree(resources.files("capture.catalog") / "migrations", target)
        _EXTRACTED = str(target)
    return _EXTRACTED


_EXTRACTED: str | None = None


def _copy_tree(source: Any, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.is_dir():
            if entry.name != "__pycache__":
                _copy_tree(entry, target / entry.name)
        elif entry.name.endswith((".py", ".mako")):
            (target / entry.name).write_bytes(entry.read_bytes())


def config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", script_location())
    return cfg


def head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config()).get_current_head() or ""


def current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _at_head(engine: Engine) -> bool:
    """Whether the catalog is already at :data:`HEAD` (one query, no Alembic)."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).fetchall()
    except SQLAlchemyError:
        return False  # a new database: no version table yet
    return [r[0] for r in rows] == [HEAD]


def _create_fresh(engine: Engine) -> bool:
    """An empty database gets the declared schema and is stamped at :data:`HEAD`, without
    Alembic (~0.12 s of a first crawl's start). Equivalent to running every migration:
    tests/test_catalog.py compares both with the declared schema. False: not empty."""
    from sqlalchemy import inspect

    from capture.catalog.schema import metadata

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})
        if inspect(conn).get_table_names():
            return False
        metadata.create_all(conn)
        conn.execute(
            text(
                "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            )
        )
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": HEAD})
    return True


def upgrade(engine: Engine, revision: str = "head") -> None:
    if revision == "head" and (_at_head(engine) or _create_fresh(engine)):
        return
    from alembic import command

    if current(engine) == head():
        return
    cfg = config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
