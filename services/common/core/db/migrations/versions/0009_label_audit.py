"""dataset_images.box_fidelity: the label-safety audit's lowest box fidelity per image (NULL: not audited)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dataset_images") as batch:
        batch.add_column(sa.Column("box_fidelity", sa.Float(), nullable=True))
    op.create_index("ix_dataset_images_box_fidelity", "dataset_images", ["dataset_id", "box_fidelity"])


def downgrade() -> None:
    op.drop_index("ix_dataset_images_box_fidelity", table_name="dataset_images")
    with op.batch_alter_table("dataset_images") as batch:
        batch.drop_column("box_fidelity")
