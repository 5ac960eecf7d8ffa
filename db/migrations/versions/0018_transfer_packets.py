"""transfer packets between deployments (certification's external mode): each one exported or imported, by
its id, so that a packet imported once is refused the second time

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transfer_packets",
        sa.Column("packet_id", sa.String(64), primary_key=True),
        sa.Column("direction", sa.String(8), nullable=False),  # out | in
        sa.Column("kind", sa.String(16), nullable=False),  # transfer | answer
        sa.Column("case_no", sa.String(32), nullable=False, index=True),  # the local case
        sa.Column("peer", sa.String(64), nullable=False),  # the other deployment
        sa.Column("agency_id", sa.Integer, sa.ForeignKey("agencies.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("transfer_packets")
