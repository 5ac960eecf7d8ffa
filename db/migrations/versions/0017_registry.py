"""the registry (台账): children carry what the agencies' lists say (township, school roll number, since when
they live here, last refreshed, key-child flags and per-field provenance); the imports, their change sets,
which source's list named which child, and the cases the registry proposes

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 03:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("children", sa.Column("township", sa.String(64), nullable=True))
    op.add_column("children", sa.Column("school_roll_no", sa.String(32), nullable=True))
    op.add_column("children", sa.Column("migrant_since", sa.Date, nullable=True))
    op.add_column("children", sa.Column("last_refreshed_at", TS, nullable=True))
    for name in ("key_flags", "provenance", "registry_facts"):
        op.add_column("children", sa.Column(name, JSONB, nullable=False, server_default="{}"))
    # The registry page filters key children by category: `key_flags ? 'disability'`.
    op.create_index("ix_children_key_flags", "children", ["key_flags"], postgresql_using="gin")
    op.create_table(
        "registry_imports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(24), nullable=False),
        sa.Column("county", sa.String(6), sa.ForeignKey("regions.code"), nullable=False),
        sa.Column("agency_id", sa.Integer, sa.ForeignKey("agencies.id"), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("filename", sa.String(128), nullable=False, server_default=""),
        sa.Column("file_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rows_total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rows_checked", sa.Integer, nullable=False, server_default="0"),
        sa.Column("problems", JSONB, nullable=False, server_default="[]"),
        sa.Column("seen_child_ids", ARRAY(sa.Integer), nullable=False, server_default="{}"),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("checked_at", TS, nullable=True),
        sa.Column("applied_at", TS, nullable=True),
        sa.Column("check_ms", sa.Integer, nullable=True),
    )
    op.create_index("ix_registry_imports_source_county", "registry_imports", ["source", "county", "file_hash"])
    op.create_table(
        "registry_changes",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("import_id", sa.Integer, sa.ForeignKey("registry_imports.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("row_no", sa.Integer, nullable=True),
        sa.Column("child_id", sa.Integer, sa.ForeignKey("children.id"), nullable=True, index=True),
        sa.Column("facts", JSONB, nullable=False, server_default="{}"),
        sa.Column("diff", JSONB, nullable=False, server_default="{}"),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("decided_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
    )
    op.create_index("ix_registry_changes_import_kind", "registry_changes", ["import_id", "kind", "id"])
    op.create_table(
        "child_sources",
        sa.Column("child_id", sa.Integer, sa.ForeignKey("children.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("source", sa.String(24), primary_key=True),
        sa.Column("county", sa.String(6), primary_key=True),
        sa.Column("first_import_id", sa.Integer, sa.ForeignKey("registry_imports.id"), nullable=False),
        sa.Column("last_import_id", sa.Integer, sa.ForeignKey("registry_imports.id"), nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("left_at", TS, nullable=True),
    )
    op.create_index(
        "ix_child_sources_present", "child_sources", ["source", "county"], postgresql_where=sa.text("left_at IS NULL")
    )
    op.create_table(
        "registry_proposals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("process", sa.String(32), nullable=False),
        sa.Column("child_id", sa.Integer, sa.ForeignKey("children.id"), nullable=False, index=True),
        sa.Column("county", sa.String(6), nullable=False),
        sa.Column("change_id", sa.BigInteger, sa.ForeignKey("registry_changes.id"), nullable=False),
        sa.Column("facts", JSONB, nullable=False, server_default="{}"),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("decided_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("case_no", sa.String(32), nullable=True),
        sa.UniqueConstraint("change_id", "process"),
    )
    op.create_index("ix_registry_proposals_open", "registry_proposals", ["county", "status"])


def downgrade() -> None:
    op.drop_table("registry_proposals")
    op.drop_table("child_sources")
    op.drop_table("registry_changes")
    op.drop_table("registry_imports")
    op.drop_index("ix_children_key_flags", table_name="children")
    for name in (
        "registry_facts",
        "provenance",
        "key_flags",
        "last_refreshed_at",
        "migrant_since",
        "school_roll_no",
        "township",
    ):
        op.drop_column("children", name)
