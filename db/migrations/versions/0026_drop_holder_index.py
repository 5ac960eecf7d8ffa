"""The index on case_steps.holder_agency_id alone is dropped: ix_case_steps_inbox (0024) begins with that
column and serves every lookup by it, so the single one only cost a write per projected step

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03 16:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_case_steps_holder_agency_id", table_name="case_steps")


def downgrade() -> None:
    op.create_index("ix_case_steps_holder_agency_id", "case_steps", ["holder_agency_id"])
