"""one case-number count per process, county and year, in place of the one sequence every process shared

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 22:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_counters",
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("county", sa.String(length=6), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code", "county", "year"),
    )
    op.create_table(
        "case_counter_base",
        sa.Column("id", sa.Boolean(), nullable=False),
        sa.Column("base", sa.Integer(), nullable=False),
        sa.CheckConstraint("id", name="case_counter_base_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO case_counter_base (id, base) VALUES (true, 0)")
    # Numbers already given keep their own shape (`<code>-2026-000123`), which no new number can take.
    op.execute("DROP SEQUENCE case_no_seq")


def downgrade() -> None:
    # The old sequence continues after the highest number it gave, so no old-style number is given twice.
    op.execute("CREATE SEQUENCE case_no_seq")
    op.execute(
        "SELECT setval('case_no_seq', max(split_part(case_no, '-', 3)::bigint)) FROM case_requests"
        " WHERE case_no ~ '^[A-Z]+-[0-9]{4}-[0-9]+$'"
    )
    op.drop_table("case_counter_base")
    op.drop_table("case_counters")
