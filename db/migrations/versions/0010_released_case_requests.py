"""a reserved case number whose workflow was never started is released (worker/reconciler.py)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 00:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("case_requests", sa.Column("released_at", sa.DateTime(timezone=True), nullable=True))
    # The reconciler looks only at reservations not released yet.
    op.create_index(
        "ix_case_requests_unreleased",
        "case_requests",
        ["created_at"],
        postgresql_where=sa.text("released_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_case_requests_unreleased", table_name="case_requests")
    op.drop_column("case_requests", "released_at")
