"""one word per concept: datasets.recipe -> lineage, composed datasets' format, job payloads of queued jobs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 11:00:00
"""

from __future__ import annotations

# Alembic's layout: every migration repeats this header and the shape of its table definitions; each is
# written once and never edited, so nothing is factored out of them.
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Payload fields renamed by the typed job contracts, per job kind: old name -> new name.
RENAMED_FIELDS = {
    "translate": ("recipe", "translation"),
    "translate_dataset": ("recipe", "translation"),
    "compose_dataset": ("recipe", "composition"),
}


def upgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.alter_column("recipe", new_column_name="lineage")
    op.execute("UPDATE datasets SET format = 'composition' WHERE format = 'recipe'")
    # Jobs not yet finished carry their payload in the old shape; the worker validates the new one.
    jobs = sa.table(
        "jobs",
        sa.column("id", sa.String),
        sa.column("kind", sa.String),
        sa.column("status", sa.String),
        sa.column("params", sa.JSON),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(jobs.c.id, jobs.c.kind, jobs.c.params).where(
            jobs.c.kind.in_(list(RENAMED_FIELDS)), jobs.c.status.in_(("queued", "running"))
        )
    )
    for job_id, kind, params in list(rows):
        old, new = RENAMED_FIELDS[kind]
        if isinstance(params, dict) and old in params and new not in params:
            params = {**params, new: params[old]}
            del params[old]
            bind.execute(sa.update(jobs).where(jobs.c.id == job_id).values(params=params))


def downgrade() -> None:
    op.execute("UPDATE datasets SET format = 'recipe' WHERE format = 'composition'")
    with op.batch_alter_table("datasets") as batch:
        batch.alter_column("lineage", new_column_name="recipe")
