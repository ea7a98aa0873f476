"""Versioned schema migrations (Alembic), applied when a catalog is opened.

Several crawler processes may open a fresh PostgreSQL catalog at once; a transaction-level
advisory lock makes exactly one of them migrate while the others wait. SQLite serialises
writers itself (the migration runs in one write transaction).
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

LOCK_ID = 0x6361707475726531  # "capture1"


def config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "capture.catalog:migrations")
    return cfg


def head() -> str:
    return ScriptDirectory.from_config(config()).get_current_head() or ""


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    if current(engine) == head():
        return
    cfg = config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
