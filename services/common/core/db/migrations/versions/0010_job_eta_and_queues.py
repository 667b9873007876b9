"""jobs.eta_s: seconds a running job still needs, from its rate so far (null when not countable); and
unfinished jobs move to the queues by latency class (translator.interactive, translator.batch, ...)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


# Each kind's queue in this version (a fixed copy: a migration never reads the live contracts).
QUEUES = {
    "translate": ("translator", "translator.interactive"),
    "translate_dataset": ("translator", "translator.batch"),
    "compose_dataset": ("translator", "translator.batch"),
    "train_translator": ("translator", "translator.training"),
    "detect": ("detector", "detector.interactive"),
    "train_detector": ("detector", "detector.training"),
}


def _move(old_new: dict[str, tuple[str, str]], reverse: bool) -> None:
    """Unfinished jobs follow their kind to its queue, so the new workers' sweepers re-send them there
    (their messages in the old queues are skipped by the conditional claim)."""
    jobs = sa.table("jobs", sa.column("kind", sa.String), sa.column("queue", sa.String), sa.column("status"))
    for kind, (old, new) in old_new.items():
        src, dst = (new, old) if reverse else (old, new)
        op.execute(
            jobs.update()
            .where(jobs.c.kind == kind, jobs.c.queue == src, jobs.c.status.in_(("queued", "running")))
            .values(queue=dst)
        )


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("eta_s", sa.Float(), nullable=True))
    _move(QUEUES, reverse=False)


def downgrade() -> None:
    _move(QUEUES, reverse=True)
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("eta_s")
