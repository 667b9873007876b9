"""evaluation comparisons: the stored result of a compare_evaluations job

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

# Alembic's layout: every migration repeats this header and the shape of its table definitions; each is
# written once and never edited, so nothing is factored out of them.
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluation_comparisons",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("evaluation_a_id", sa.String(length=32), nullable=False),
        sa.Column("evaluation_b_id", sa.String(length=32), nullable=False),
        sa.Column("dataset_id", sa.String(length=32), nullable=False),
        sa.Column("n_boot", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("rows", sa.JSON(), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["evaluation_a_id"], ["evaluations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["evaluation_b_id"], ["evaluations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("evaluation_comparisons") as batch:
        batch.create_index(
            "ix_evaluation_comparisons_pair",
            ["evaluation_a_id", "evaluation_b_id", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("evaluation_comparisons") as batch:
        batch.drop_index("ix_evaluation_comparisons_pair")
    op.drop_table("evaluation_comparisons")
