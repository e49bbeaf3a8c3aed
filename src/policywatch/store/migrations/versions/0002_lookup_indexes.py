"""Indexes for the lookups retention and the integrity check make, and one
change per starting version.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_fetch_attempts_snapshot_id", "fetch_attempts", "snapshot_id"),
    ("ix_fetch_attempts_version_id", "fetch_attempts", "version_id"),
    ("ix_versions_text_id", "versions", "text_id"),
    ("ix_versions_snapshot_id", "versions", "snapshot_id"),
    ("ix_changes_source_id", "changes", "source_id"),
    ("ix_reviews_change_id", "reviews", "change_id"),
]


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])
    op.create_index(
        "ix_changes_from_version_id", "changes", ["from_version_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ix_changes_from_version_id", "changes")
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table)
