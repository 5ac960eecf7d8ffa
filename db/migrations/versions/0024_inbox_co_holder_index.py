"""我的待办 pages by keyset: an index on an agency's held steps in the inbox order (the due time, no deadline
last, then case and track), and a GIN index on the co-holders so that the steps an agency helps on (协办)
are found without reading every step

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-02 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The expression must be the one api/cases/lists.py INBOX_DUE renders, or the planner will not use it.
    op.create_index(
        "ix_case_steps_inbox",
        "case_steps",
        ["holder_agency_id", sa.text("coalesce(due_at, 'infinity'::timestamptz)"), "case_id", "track"],
    )
    op.create_index("ix_case_steps_co_holder_ids", "case_steps", ["co_holder_ids"], postgresql_using="gin")


def downgrade() -> None:
    op.drop_index("ix_case_steps_co_holder_ids", table_name="case_steps")
    op.drop_index("ix_case_steps_inbox", table_name="case_steps")
