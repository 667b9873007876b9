"""retention: image sets recorded as rows, jobs remember when their inputs were removed, children by parent

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

# Alembic's layout: every migration repeats this header and the shape of its table definitions; each is
# written once and never edited, so nothing is factored out of them.
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("inputs_removed_at", sa.DateTime(), nullable=True))
        batch.create_index("ix_jobs_parent_id", ["parent_id"], unique=False)
    op.create_table(
        "image_sets",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("image_sets") as batch:
        batch.create_index("ix_image_sets_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_table("image_sets")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_parent_id")
        batch.drop_column("inputs_removed_at")
