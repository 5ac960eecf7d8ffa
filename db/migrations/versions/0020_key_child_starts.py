"""key_child_starts: the follow-ups a registry apply owes its flagged key children, written in the apply's
transaction and marked done once started, so that a crash between the commit and the starts loses none
(the worker's reconciler starts any left waiting)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 04:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "key_child_starts",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("import_id", sa.Integer, sa.ForeignKey("registry_imports.id", ondelete="CASCADE"), nullable=False),
        sa.Column("process", sa.String(32), nullable=False),
        sa.Column("child_id", sa.Integer, sa.ForeignKey("children.id"), nullable=False),
        sa.Column("facts", JSONB, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("done_at", TS, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("case_no", sa.String(32), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.UniqueConstraint("import_id", "process", "child_id", name="uq_key_child_starts_import_process_child"),
    )
    op.create_index("ix_key_child_starts_child_id", "key_child_starts", ["child_id"])
    op.create_index(
        "ix_key_child_starts_waiting", "key_child_starts", ["created_at"], postgresql_where=sa.text("done_at IS NULL")
    )


def downgrade() -> None:
    op.drop_table("key_child_starts")
