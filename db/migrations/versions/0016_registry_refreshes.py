"""the six-monthly registry refresh of each county (registry_refreshes), whose notices are not about a case:
a notification names a case or a refresh

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_refreshes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("county", sa.String(6), sa.ForeignKey("regions.code"), nullable=False, index=True),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("workflow_id", sa.String(128), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level2_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level3_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalation_level", sa.Integer, nullable=False, server_default="0"),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by_agency_id", sa.Integer, sa.ForeignKey("agencies.id"), nullable=True),
        sa.Column("done_by_name", sa.String(128), nullable=True),
        sa.Column("import_ref", sa.String(64), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.UniqueConstraint("county", "period", name="uq_registry_refreshes_county_period"),
    )
    op.add_column(
        "notifications",
        sa.Column("refresh_id", sa.Integer, sa.ForeignKey("registry_refreshes.id", ondelete="CASCADE"), nullable=True),
    )
    op.alter_column("notifications", "case_id", nullable=True)
    op.drop_constraint("uq_notifications_recipient", "notifications", type_="unique")
    op.create_unique_constraint(
        "uq_notifications_recipient",
        "notifications",
        ["case_id", "refresh_id", "seq", "agency_id", "user_id", "role", "kind"],
        postgresql_nulls_not_distinct=True,
    )
    op.create_check_constraint(
        "ck_notifications_about_one", "notifications", "(case_id IS NULL) <> (refresh_id IS NULL)"
    )


def downgrade() -> None:
    op.drop_constraint("ck_notifications_about_one", "notifications", type_="check")
    op.execute("DELETE FROM notifications WHERE case_id IS NULL")
    op.drop_constraint("uq_notifications_recipient", "notifications", type_="unique")
    op.create_unique_constraint(
        "uq_notifications_recipient",
        "notifications",
        ["case_id", "seq", "agency_id", "user_id", "role", "kind"],
        postgresql_nulls_not_distinct=True,
    )
    op.alter_column("notifications", "case_id", nullable=False)
    op.drop_column("notifications", "refresh_id")
    op.drop_table("registry_refreshes")
