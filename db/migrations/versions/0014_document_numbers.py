"""documents get a number (文号) counted per issuing agency, kind of document and year, the issuing agency and
the content snapshot frozen at issue; agencies get the short name the number starts with

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 01:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty: derived from the agency's name and county (domain/documents.py) until an admin sets one.
    op.add_column("agencies", sa.Column("short_name", sa.String(16), nullable=True))
    op.create_table(
        "document_counters",
        sa.Column("agency_id", sa.Integer, sa.ForeignKey("agencies.id"), primary_key=True),
        sa.Column("word", sa.String(16), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("last", sa.Integer, nullable=False),
    )
    op.add_column("documents", sa.Column("issuer_agency_id", sa.Integer, sa.ForeignKey("agencies.id"), nullable=True))
    op.add_column("documents", sa.Column("number", sa.String(64), nullable=True))
    op.add_column("documents", sa.Column("snapshot", JSONB, nullable=True))
    op.create_index(
        "uq_documents_issuer_number",
        "documents",
        ["issuer_agency_id", "number"],
        unique=True,
        postgresql_where=sa.text("number IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_documents_issuer_number", table_name="documents")
    op.drop_column("documents", "snapshot")
    op.drop_column("documents", "number")
    op.drop_column("documents", "issuer_agency_id")
    op.drop_table("document_counters")
    op.drop_column("agencies", "short_name")
