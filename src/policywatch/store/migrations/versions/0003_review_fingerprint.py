"""What a review decision saw: the verdict's fingerprint and the ignore
patterns a noise decision added.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reviews") as batch:
        batch.add_column(sa.Column("verdict_fingerprint", sa.String(64), nullable=True))
        batch.add_column(sa.Column("ignore_patterns", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reviews") as batch:
        batch.drop_column("ignore_patterns")
        batch.drop_column("verdict_fingerprint")
