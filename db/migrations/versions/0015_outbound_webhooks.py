"""the outbound channel: each agency's webhook to the city's message gateway (URL and the secret of its HMAC
signature), and the delivery log, one row per notification sent out; the city's care periods (关爱期:
中高考、寒暑假), in which follow-up comes more often

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agency_webhooks",
        sa.Column("agency_id", sa.Integer, sa.ForeignKey("agencies.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("url", sa.String(512), nullable=False),
        sa.Column("secret", sa.String(256), nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.create_table(
        "outbound_deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "notification_id",
            sa.Integer,
            sa.ForeignKey("notifications.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,  # once per notification, however often the activity is retried
        ),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("agency_id", sa.Integer, sa.ForeignKey("agencies.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),  # pending | delivered
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(256), nullable=True),
        sa.Column("body", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "care_periods",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("ends_on", sa.Date, nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("set_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("care_periods")
    op.drop_table("outbound_deliveries")
    op.drop_table("agency_webhooks")
