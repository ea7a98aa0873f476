"""Table definitions (SQLAlchemy Core): the one place that knows the catalog's shape."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = 1
metadata = MetaData()

# File states. Unfinished states are re-driven when a spider starts.
UNFINISHED = ("discovered", "downloading")
TERMINAL = ("stored", "quarantined", "failed", "unchanged", "planned")

files = Table(
    "files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("archive", String(64), nullable=False),
    Column("archive_path", Text, nullable=False),
    Column("domain", String(32), nullable=False),
    Column("url", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("expected_size", BigInteger),
    Column("size", BigInteger),
    Column("sha256", String(64)),
    Column("digest_algorithm", String(16)),
    Column("digest_expected", String(128)),
    Column("digest_actual", String(128)),
    Column("digest_source", Text),
    Column("verified", Boolean),
    Column("format", String(32)),
    Column("content_type", Text),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("final_url", Text),
    Column("spider", String(64)),
    Column("capture_version", String(32)),
    Column("first_run", String(96)),
    Column("last_run", String(96)),
    Column("first_seen_at", String(40)),
    Column("retrieved_at", String(40)),
    Column("updated_at", String(40)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("resumes", Integer, nullable=False, default=0),
    Column("bytes_transferred", BigInteger, nullable=False, default=0),
    Column("error", Text),
    Column("quality", JSON),
    Column("file_metadata", JSON),
    Column("item", JSON, nullable=False),
    UniqueConstraint("archive", "archive_path", name="uq_files_archive_path"),
)
Index("ix_files_state", files.c.archive, files.c.state, files.c.id)
Index("ix_files_sha256", files.c.sha256)
Index("ix_files_url", files.c.url)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("file_id", Integer, ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
    Column("run_id", String(96)),
    Column("at", String(40), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("detail", JSON),
)
Index("ix_events_file", events.c.file_id)

quality_checks = Table(
    "quality_checks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("file_id", Integer, ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
    Column("run_id", String(96)),
    Column("scored_at", String(40), nullable=False),
    Column("check_id", String(64), nullable=False),
    Column("tier", String(24), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("weight", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("credit", Float),
    Column("contribution", Float),
    Column("message", Text),
    Column("location", Text),
    Column("tool", String(64)),
    Column("tool_version", String(128)),
    Column("duration_ms", Float),
)
Index("ix_quality_checks_file", quality_checks.c.file_id, quality_checks.c.run_id)

runs = Table(
    "runs",
    metadata,
    # One row per crawler of a run: a `capture run` shares its run id across its spiders.
    Column("run_id", String(96), primary_key=True),
    Column("spider", String(64), primary_key=True),
    Column("started_at", String(40)),
    Column("finished_at", String(40)),
    Column("status", String(32)),
    Column("capture_version", String(32)),
    Column("git_commit", String(64)),
    Column("hostname", Text),
    Column("settings", JSON),
    Column("stats", JSON),
)

schema_info = Table(
    "schema_info",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
)
