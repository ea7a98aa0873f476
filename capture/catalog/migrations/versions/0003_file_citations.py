"""Per-file dataset citations: ``files.citation`` (JSON) and ``files.citation_doi`` (indexed).

The citation is what the archive publishes for citing the data a file belongs to (a NOAA study
DOI, a PDS data set id, a netCDF ``repository_pid``...; capture/citation.py). Existing rows get
NULL: their archives' citations are filled in when the next round sees them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("citation", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("citation_doi", sa.String(length=255), nullable=True))
        batch_op.create_index("ix_files_citation_doi", ["citation_doi"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_index("ix_files_citation_doi")
        batch_op.drop_column("citation_doi")
        batch_op.drop_column("citation")
