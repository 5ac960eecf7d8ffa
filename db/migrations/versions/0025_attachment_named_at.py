"""When an action last named an attachment: the sweep of attachments no action names (api/attachments/sweep.py)
leaves alone one an action named lately, whose event may not be recorded yet

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


def downgrade() -> None:
    op.drop_column("attachments", "named_at")
