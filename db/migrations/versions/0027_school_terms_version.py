"""school terms count among what dates are counted from: a change to them bumps the same version as policy
overrides and holiday schedules (0013), so the web may keep them with the rest for its start checks

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-04 19:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TRIGGER school_terms_bump_deadline_inputs AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
        "ON school_terms FOR EACH STATEMENT EXECUTE FUNCTION bump_deadline_inputs_version()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER school_terms_bump_deadline_inputs ON school_terms")
