"""a version of what deadlines are computed from (policy overrides, holiday schedules), bumped by triggers
on every change, so that workers may cache those inputs and reload them only when the version moves

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TABLES = ("policy_overrides", "holiday_years", "holiday_days")


def upgrade() -> None:
    op.create_table(
        "deadline_inputs_version",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.CheckConstraint("id = 1", name="deadline_inputs_version_one_row"),
    )
    op.execute("INSERT INTO deadline_inputs_version (id, version) VALUES (1, 1)")
    op.execute(
        """
        CREATE FUNCTION bump_deadline_inputs_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE deadline_inputs_version SET version = version + 1 WHERE id = 1;
            RETURN NULL;
        END $$
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_bump_deadline_inputs AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION bump_deadline_inputs_version()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_bump_deadline_inputs ON {table}")
    op.execute("DROP FUNCTION bump_deadline_inputs_version()")
    op.drop_table("deadline_inputs_version")
