"""notifications for one user, and read state per user

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 20:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notifications", sa.Column("user_id", sa.Integer(), nullable=True))
    op.create_foreign_key("notifications_user_id_fkey", "notifications", "users", ["user_id"], ["id"])
    op.create_index(op.f("ix_notifications_user_id"), "notifications", ["user_id"], unique=False)
    op.drop_constraint("notifications_case_id_seq_agency_id_role_kind_key", "notifications", type_="unique")
    op.create_unique_constraint(
        "uq_notifications_recipient",
        "notifications",
        ["case_id", "seq", "agency_id", "user_id", "role", "kind"],
        postgresql_nulls_not_distinct=True,
    )
    op.create_table(
        "notification_reads",
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["notification_id"], ["notifications.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("notification_id", "user_id"),
    )
    op.create_index(op.f("ix_notification_reads_user_id"), "notification_reads", ["user_id"], unique=False)
    # The old single read_at could not say who read an agency-wide notification; nothing ever set it.
    op.drop_column("notifications", "read_at")


def downgrade() -> None:
    op.add_column("notifications", sa.Column("read_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_index(op.f("ix_notification_reads_user_id"), table_name="notification_reads")
    op.drop_table("notification_reads")
    op.drop_constraint("uq_notifications_recipient", "notifications", type_="unique")
    op.execute("DELETE FROM notifications WHERE user_id IS NOT NULL")
    op.create_unique_constraint(
        "notifications_case_id_seq_agency_id_role_kind_key",
        "notifications",
        ["case_id", "seq", "agency_id", "role", "kind"],
    )
    op.drop_index(op.f("ix_notifications_user_id"), table_name="notifications")
    op.drop_constraint("notifications_user_id_fkey", "notifications", type_="foreignkey")
    op.drop_column("notifications", "user_id")
