"""Initial catalog schema: files, events, quality checks, versions, parameters, links, runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 06:07:12.711106
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("archive", sa.String(length=64), nullable=False),
        sa.Column("archive_path", sa.Text(), nullable=False),
        sa.Column("domain", sa.String(length=32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("expected_size", sa.BigInteger(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("digest_algorithm", sa.String(length=16), nullable=True),
        sa.Column("digest_expected", sa.String(length=128), nullable=True),
        sa.Column("digest_actual", sa.String(length=128), nullable=True),
        sa.Column("digest_source", sa.Text(), nullable=True),
        sa.Column("verified", sa.Boolean(), nullable=True),
        sa.Column("format", sa.String(length=32), nullable=True),
        sa.Column("content_type", sa.Text(), nullable=True),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("final_url", sa.Text(), nullable=True),
        sa.Column("spider", sa.String(length=64), nullable=True),
        sa.Column("capture_version", sa.String(length=32), nullable=True),
        sa.Column("first_run", sa.String(length=96), nullable=True),
        sa.Column("last_run", sa.String(length=96), nullable=True),
        sa.Column("first_seen_at", sa.String(length=40), nullable=True),
        sa.Column("retrieved_at", sa.String(length=40), nullable=True),
        sa.Column("updated_at", sa.String(length=40), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("resumes", sa.Integer(), nullable=False),
        sa.Column("bytes_transferred", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("quality", sa.JSON(), nullable=True),
        sa.Column("file_metadata", sa.JSON(), nullable=True),
        sa.Column("item", sa.JSON(), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(length=16), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("archive", "archive_path", name="uq_files_archive_path"),
    )
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.create_index("ix_files_grade", ["grade", "score"], unique=False)
        batch_op.create_index("ix_files_path", ["path"], unique=False)
        batch_op.create_index("ix_files_search", ["domain", "state", "format"], unique=False)
        batch_op.create_index("ix_files_sha256", ["sha256"], unique=False)
        batch_op.create_index("ix_files_state", ["archive", "state", "id"], unique=False)
        batch_op.create_index("ix_files_target", ["target"], unique=False)
        batch_op.create_index("ix_files_url", ["url"], unique=False)

    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(length=96), nullable=False),
        sa.Column("spider", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.String(length=40), nullable=True),
        sa.Column("finished_at", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("capture_version", sa.String(length=32), nullable=True),
        sa.Column("git_commit", sa.String(length=64), nullable=True),
        sa.Column("hostname", sa.Text(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "spider"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=96), nullable=True),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_file", ["file_id"], unique=False)

    op.create_table(
        "file_params",
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"], ondelete="CASCADE"),
        sa.UniqueConstraint("file_id", "name", name="uq_file_params"),
    )
    with op.batch_alter_table("file_params", schema=None) as batch_op:
        batch_op.create_index("ix_file_params", ["name", "value"], unique=False)

    op.create_table(
        "file_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("retrieved_at", sa.String(length=40), nullable=True),
        sa.Column("run_id", sa.String(length=96), nullable=True),
        sa.Column("stored_at", sa.Text(), nullable=True),
        sa.Column("superseded_at", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("file_id", "version", name="uq_file_versions"),
    )
    op.create_table(
        "links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("source_file_id", sa.Integer(), nullable=False),
        sa.Column("source_key", sa.String(length=256), nullable=False),
        sa.Column("target_file_id", sa.Integer(), nullable=False),
        sa.Column("target_key", sa.String(length=256), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("run_id", sa.String(length=96), nullable=True),
        sa.Column("created_at", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["source_file_id"], ["files.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["target_file_id"], ["files.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "kind", "source_file_id", "source_key", "target_file_id", "target_key", name="uq_links"
        ),
    )
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.create_index("ix_links_source", ["source_file_id"], unique=False)
        batch_op.create_index("ix_links_target", ["target_file_id"], unique=False)

    op.create_table(
        "quality_checks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=96), nullable=True),
        sa.Column("scored_at", sa.String(length=40), nullable=False),
        sa.Column("check_id", sa.String(length=64), nullable=False),
        sa.Column("tier", sa.String(length=24), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("credit", sa.Float(), nullable=True),
        sa.Column("contribution", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("tool", sa.String(length=64), nullable=True),
        sa.Column("tool_version", sa.String(length=128), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("quality_checks", schema=None) as batch_op:
        batch_op.create_index("ix_quality_checks_file", ["file_id", "run_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("quality_checks", schema=None) as batch_op:
        batch_op.drop_index("ix_quality_checks_file")

    op.drop_table("quality_checks")
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_index("ix_links_target")
        batch_op.drop_index("ix_links_source")

    op.drop_table("links")
    op.drop_table("file_versions")
    with op.batch_alter_table("file_params", schema=None) as batch_op:
        batch_op.drop_index("ix_file_params")

    op.drop_table("file_params")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_file")

    op.drop_table("events")
    op.drop_table("runs")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_index("ix_files_url")
        batch_op.drop_index("ix_files_target")
        batch_op.drop_index("ix_files_state")
        batch_op.drop_index("ix_files_sha256")
        batch_op.drop_index("ix_files_search")
        batch_op.drop_index("ix_files_path")
        batch_op.drop_index("ix_files_grade")

    op.drop_table("files")
