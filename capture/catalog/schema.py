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

metadata = MetaData()

# A file's ``state`` column holds a capture.status.FileStatus value (CATALOG_STATES).
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
    # When a listing last named the file (a retracted file keeps the date it was last seen).
    Column("last_seen_at", String(40)),
    Column("retrieved_at", String(40)),
    Column("updated_at", String(40)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("resumes", Integer, nullable=False, default=0),
    Column("bytes_transferred", BigInteger, nullable=False, default=0),
    Column("error", Text),
    Column("quality", JSON),
    Column("file_metadata", JSON),
    Column("item", JSON, nullable=False),
    # Normalised name of the astronomical target / organism the file is about (searchable).
    Column("target", String(128)),
    # Version number of the content currently published at `path` (1 for the first capture).
    Column("version", Integer, nullable=False, default=1),
    # Quality summary columns (the full report is in `quality` and quality_checks).
    Column("grade", String(16)),
    Column("score", Float),
    # The dataset citation the archive publishes for the file (capture/citation.py), and its
    # DOI on its own so "every file of this dataset" is one indexed query (migration 0003).
    Column("citation", JSON),
    Column("citation_doi", String(255)),
    # Fixity audit (capture verify): when the stored bytes were last re-read and hashed, and
    # what that found (capture.fixity.Result; NULL: never audited since they were stored).
    Column("verified_at", String(40)),
    Column("fixity", String(16)),
    # Storage tiering (capture/storage/tiers.py, migration 0006): when a reader last used the
    # file (exports, citations, restores: capture.catalog.access.record_access), the tier its
    # bytes are in (NULL: the store's default, local hot or S3 STANDARD; an S3 object keeps its
    # key in any class) and where they live when not at <data root>/<path> (the cold root).
    Column("last_accessed_at", String(40)),
    Column("tier", String(24)),
    Column("location", Text),
    # De-duplication (migration 0007): the file whose stored bytes this one shares (its id; the
    # shared location may be one of that file's kept versions) and how: "hardlink", "reflink"
    # (both store the bytes once) or "s3-copy" (a server-side copy, billed again). NULL: the
    # file holds its own bytes.
    Column("copy_of", Integer),
    Column("copy_method", String(16)),
    # Compression at rest (migration 0008): how the bytes at `path` are stored when not as
    # fetched (capture/storage/codec.py: "zstd" -> at `path`.zst; NULL: as fetched), and the
    # size and sha256 of the stored object. `size` and `sha256` stay the archive's bytes.
    Column("codec", String(16)),
    Column("stored_size", BigInteger),
    Column("stored_sha256", String(64)),
    UniqueConstraint("archive", "archive_path", name="uq_files_archive_path"),
)
Index("ix_files_state", files.c.archive, files.c.state, files.c.id)
Index("ix_files_sha256", files.c.sha256)
Index("ix_files_url", files.c.url)
Index("ix_files_path", files.c.path)
Index("ix_files_target", files.c.target)
Index("ix_files_search", files.c.domain, files.c.state, files.c.format)
Index("ix_files_grade", files.c.grade, files.c.score)
Index("ix_files_citation_doi", files.c.citation_doi)
# The audit's queue: stored files, least recently verified first (migration 0005).
Index("ix_files_verified", files.c.state, files.c.verified_at)
Index("ix_files_copy_of", files.c.copy_of)

# Every content version of a file ever published: a re-capture that finds a changed file
# appends a version; the old bytes are kept under <root>/versions/ (CAPTURE_KEEP_VERSIONS).
file_versions = Table(
    "file_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("file_id", Integer, ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("sha256", String(64)),
    Column("size", BigInteger),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("retrieved_at", String(40)),
    Column("run_id", String(96)),
    Column("stored_at", Text),  # where these bytes live now (relative to the data root)
    Column("superseded_at", String(40)),
    # Fixity audit of a kept older version (its bytes at stored_at), as on files.
    Column("verified_at", String(40)),
    Column("fixity", String(16)),
    # How the bytes at stored_at are encoded, as on files (migration 0008).
    Column("codec", String(16)),
    Column("stored_size", BigInteger),
    Column("stored_sha256", String(64)),
    UniqueConstraint("file_id", "version", name="uq_file_versions"),
)
# Kept versions are de-duplication sources: looked up by content (migration 0007).
Index("ix_file_versions_sha256", file_versions.c.sha256)

# Numeric parameters of files (Teff, logg, [Fe/H], time range...) for range searches.
file_params = Table(
    "file_params",
    metadata,
    Column("file_id", Integer, ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("value", Float, nullable=False),
    UniqueConstraint("file_id", "name", name="uq_file_params"),
)
# Covering (file_id included): range searches never read file_params rows (migration 0002).
Index("ix_file_params", file_params.c.name, file_params.c.value, file_params.c.file_id)

# Typed cross-domain edges with their evidence (computed after each run).
links = Table(
    "links",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(48), nullable=False),
    Column("source_file_id", Integer, ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
    Column("source_key", String(256), nullable=False, default=""),
    Column("target_file_id", Integer, ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
    Column("target_key", String(256), nullable=False, default=""),
    Column("score", Float),
    Column("evidence", JSON),
    Column("run_id", String(96)),
    Column("created_at", String(40)),
    UniqueConstraint(
        "kind", "source_file_id", "source_key", "target_file_id", "target_key", name="uq_links"
    ),
)
Index("ix_links_source", links.c.source_file_id)
Index("ix_links_target", links.c.target_file_id)

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
