"""Files remember their last access, their storage tier and where their bytes live.

``capture storage plan`` recommends tiers from size, age, last access and reproducibility;
``capture storage apply`` moves bytes (S3 storage classes, a local cold root) and records the
tier and location here, so every reader finds the file wherever it went. Existing rows start
never accessed, in the store's default tier, at their usual place (all NULL).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_accessed_at", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("tier", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("location", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_column("location")
        batch_op.drop_column("tier")
        batch_op.drop_column("last_accessed_at")
