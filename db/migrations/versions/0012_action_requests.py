"""an action's request id kept with a hash of what it asked, so that a reused id with another request is
refused

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 00:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "action_requests",
        sa.Column("case_no", sa.String(32), primary_key=True),
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("action_requests")
