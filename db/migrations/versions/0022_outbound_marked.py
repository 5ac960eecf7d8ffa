"""outbound_deliveries.marked_at: when an event's delivery workflow found the delivery failing and still
undelivered past the policy outbound_undelivered_after (its case then shows on the stalled list)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbound_deliveries", sa.Column("marked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("outbound_deliveries", "marked_at")
