"""Compact registry change sets: an item keeps its row's cells (template order, text[]) only while it still
has to be applied (new, candidate, a changed guardian phone), not the row's facts as JSONB on every item;
an import keeps the fingerprints of the children its change set was computed against (re-checked at
apply) and when its check last made progress (a check whose web process died shows failed).

Items checked before this revision lose their facts: the applied ones are shown through the child they
made or changed; the pending ones belong to imports without fingerprints, refused at apply as checked
before the re-check existed (the clerk imports the file again).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("registry_changes", sa.Column("cells", ARRAY(sa.Text), nullable=True))
    op.drop_column("registry_changes", "facts")
    op.add_column("registry_imports", sa.Column("checked_child_ids", ARRAY(sa.Integer), nullable=True))
    op.add_column("registry_imports", sa.Column("checked_fingerprints", ARRAY(sa.BigInteger), nullable=True))
    op.add_column("registry_imports", sa.Column("progress_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("registry_imports", "progress_at")
    op.drop_column("registry_imports", "checked_fingerprints")
    op.drop_column("registry_imports", "checked_child_ids")
    op.add_column("registry_changes", sa.Column("facts", JSONB, nullable=False, server_default="{}"))
    op.drop_column("registry_changes", "cells")
