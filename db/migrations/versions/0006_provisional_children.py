"""children without an ID number: provisional records, estimated birth dates, merges

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 22:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "children", sa.Column("identity_status", sa.String(length=16), server_default="verified", nullable=False)
    )
    op.add_column("children", sa.Column("no_id_reason", sa.String(length=32), nullable=True))
    op.add_column("children", sa.Column("birth_date_estimated", sa.Boolean(), server_default="false", nullable=False))
    op.add_column("children", sa.Column("merged_into_id", sa.Integer(), nullable=True))
    op.add_column("children", sa.Column("merged_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("children", sa.Column("merged_by_user_id", sa.Integer(), nullable=True))
    op.create_foreign_key("children_merged_into_id_fkey", "children", "children", ["merged_into_id"], ["id"])
    op.create_foreign_key("children_merged_by_user_id_fkey", "children", "users", ["merged_by_user_id"], ["id"])
    op.create_index(op.f("ix_children_merged_into_id"), "children", ["merged_into_id"], unique=False)
    op.alter_column("children", "origin_region", existing_type=sa.String(length=6), nullable=True)
    # A record that somehow has no number is what a provisional one is now.
    op.execute("UPDATE children SET identity_status = 'provisional', no_id_reason = 'other' WHERE id_number IS NULL")
    op.drop_constraint("children_id_number_key", "children", type_="unique")
    op.create_index(
        "uq_children_id_number",
        "children",
        ["id_number"],
        unique=True,
        postgresql_where=sa.text("id_number IS NOT NULL"),
    )
    op.create_check_constraint(
        "ck_children_identity_id_number", "children", "(identity_status = 'verified') = (id_number IS NOT NULL)"
    )


def downgrade() -> None:
    op.drop_constraint("ck_children_identity_id_number", "children", type_="check")
    op.drop_index("uq_children_id_number", table_name="children")
    op.create_unique_constraint("children_id_number_key", "children", ["id_number"])
    op.alter_column("children", "origin_region", existing_type=sa.String(length=6), nullable=False)
    op.drop_index(op.f("ix_children_merged_into_id"), table_name="children")
    op.drop_constraint("children_merged_by_user_id_fkey", "children", type_="foreignkey")
    op.drop_constraint("children_merged_into_id_fkey", "children", type_="foreignkey")
    op.drop_column("children", "merged_by_user_id")
    op.drop_column("children", "merged_at")
    op.drop_column("children", "merged_into_id")
    op.drop_column("children", "birth_date_estimated")
    op.drop_column("children", "no_id_reason")
    op.drop_column("children", "identity_status")
