"""Files remember when a listing last named them (``files.last_seen_at``).

An update round marks a file gone upstream ``retracted`` and says when it was last seen;
``updated_at`` cannot say it (it also moves when a file is fetched or re-queued). Rows of
older catalogs start from ``updated_at``, the nearest upper bound they hold.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_seen_at", sa.String(length=40), nullable=True))
    op.execute("UPDATE files SET last_seen_at = updated_at WHERE last_seen_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_column("last_seen_at")
