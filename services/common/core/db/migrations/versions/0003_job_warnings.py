"""jobs.warnings: data problems a job met and went on past (or failed on, under strict)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 11:10:00
"""

from __future__ import annotations

# Alembic's layout: every migration repeats this header and the shape of its table definitions; each is
# written once and never edited, so nothing is factored out of them.
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("warnings", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("warnings")
