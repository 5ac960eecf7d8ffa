"""What the sweep of attachments no action names (api/attachments/sweep.py) reads: when an action last named
one (left alone a day, since the action's event may not be recorded yet), and whether a recorded event names
it (never looked at again), with an index on those still to decide

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("attachments", sa.Column("named_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("attachments", sa.Column("recorded", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_index(
        "ix_attachments_unrecorded",
        "attachments",
        [sa.text("coalesce(named_at, created_at)")],
        postgresql_where=sa.text("NOT recorded"),
    )


def downgrade() -> None:
    op.drop_index("ix_attachments_unrecorded", table_name="attachments")
    op.drop_column("attachments", "recorded")
    op.drop_column("attachments", "named_at")
