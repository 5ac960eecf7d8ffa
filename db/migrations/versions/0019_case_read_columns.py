"""cases get what lists and visibility read without touching steps and parties: the earliest open step's
due time (next_due_at) and the case's parties as arrays (party_agency_ids; party_scopes, one
"agency_type@region_code" a party), each with an index; backfilled from case_steps and case_parties

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# A frozen copy of db/case_reads.py BACKFILL_SQL as it was at this revision.
BACKFILL_SQL = """
UPDATE cases c SET next_due_at = s.due
FROM (SELECT case_id, min(due_at) AS due FROM case_steps GROUP BY case_id) s
WHERE s.case_id = c.id;
UPDATE cases c SET party_agency_ids = p.ids, party_scopes = p.scopes
FROM (
    SELECT cp.case_id,
           array_agg(DISTINCT cp.agency_id ORDER BY cp.agency_id) AS ids,
           array_agg(DISTINCT a.agency_type || '@' || a.region_code) AS scopes
    FROM case_parties cp JOIN agencies a ON a.id = cp.agency_id
    GROUP BY cp.case_id
) p
WHERE p.case_id = c.id;
"""


def upgrade() -> None:
    op.add_column("cases", sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "cases", sa.Column("party_agency_ids", ARRAY(sa.Integer), nullable=False, server_default=sa.text("'{}'"))
    )
    op.add_column("cases", sa.Column("party_scopes", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'")))
    op.execute(BACKFILL_SQL)
    # The case list's order (soonest due first, then the newest): page 1 is read off this index.
    op.create_index("ix_cases_next_due", "cases", [sa.text("next_due_at"), sa.text("opened_at DESC"), "id"])
    # A period's report reads the process's open cases and those closed since the period began (a BitmapOr
    # of these two), not every case the process ever had.
    op.create_index("ix_cases_open_process", "cases", ["process"], postgresql_where=sa.text("status = 'open'"))
    op.create_index("ix_cases_process_closed_at", "cases", ["process", "closed_at"])
    op.create_index("ix_cases_party_agency_ids", "cases", ["party_agency_ids"], postgresql_using="gin")
    op.create_index("ix_cases_party_scopes", "cases", ["party_scopes"], postgresql_using="gin")


def downgrade() -> None:
    op.drop_index("ix_cases_party_scopes", table_name="cases")
    op.drop_index("ix_cases_party_agency_ids", table_name="cases")
    op.drop_index("ix_cases_process_closed_at", table_name="cases")
    op.drop_index("ix_cases_open_process", table_name="cases")
    op.drop_index("ix_cases_next_due", table_name="cases")
    op.drop_column("cases", "party_scopes")
    op.drop_column("cases", "party_agency_ids")
    op.drop_column("cases", "next_due_at")
