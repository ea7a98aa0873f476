"""Fixity audit: when each stored file (and kept older version) was last re-read and hashed by
``capture verify``, and what it found, so audits are incremental (least recently verified
first) like ``git annex fsck --incremental``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verified_at", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("fixity", sa.String(length=16), nullable=True))
        batch_op.create_index("ix_files_verified", ["state", "verified_at"], unique=False)
    with op.batch_alter_table("file_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verified_at", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("fixity", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("file_versions", schema=None) as batch_op:
        batch_op.drop_column("fixity")
        batch_op.drop_column("verified_at")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_index("ix_files_verified")
        batch_op.drop_column("fixity")
        batch_op.drop_column("verified_at")
