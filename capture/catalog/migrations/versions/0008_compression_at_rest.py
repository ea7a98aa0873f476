"""Compression at rest: how each stored file (and kept older version) is encoded, and the size
and sha256 of the stored object, beside the archive's own ``size`` and ``sha256``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLES = ("files", "file_versions")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("codec", sa.String(length=16), nullable=True))
            batch_op.add_column(sa.Column("stored_size", sa.BigInteger(), nullable=True))
            batch_op.add_column(sa.Column("stored_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("stored_sha256")
            batch_op.drop_column("stored_size")
            batch_op.drop_column("codec")
