"""notifications about a step are settled when the step is

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 23:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notifications", sa.Column("track", sa.String(length=16), nullable=True))
    op.add_column("notifications", sa.Column("step_seq", sa.Integer(), nullable=True))
    op.add_column("notifications", sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True))
    # Older notices do not name their step: those of a closed case are settled with it.
    op.execute(
        "UPDATE notifications n SET settled_at = c.closed_at FROM cases c"
        " WHERE c.id = n.case_id AND c.status = 'closed'"
        " AND n.kind IN ('new_step', 'overdue', 'escalated', 'urged')"
    )


def downgrade() -> None:
    op.drop_column("notifications", "settled_at")
    op.drop_column("notifications", "step_seq")
    op.drop_column("notifications", "track")
