"""De-duplication record: which stored file's bytes a file shares (``files.copy_of``) and how
(``files.copy_method``: hardlink, reflink or s3-copy), so bytes saved are one query and a
later pass (``capture storage dedup``) can tell linked copies from separate ones; kept versions
are looked up by content too (``ix_file_versions_sha256``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("copy_of", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("copy_method", sa.String(length=16), nullable=True))
        batch_op.create_index("ix_files_copy_of", ["copy_of"], unique=False)
    with op.batch_alter_table("file_versions", schema=None) as batch_op:
        batch_op.create_index("ix_file_versions_sha256", ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("file_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_file_versions_sha256")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_index("ix_files_copy_of")
        batch_op.drop_column("copy_method")
        batch_op.drop_column("copy_of")
