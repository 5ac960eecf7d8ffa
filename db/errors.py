"""A database error named without its text: PostgreSQL's message and DETAIL quote the values a statement
carried ("Failing row contains (...)", "invalid input syntax for type integer: \"...\""), and those are
a case's facts or a person's data. The error's type and SQLSTATE say what went wrong."""

from __future__ import annotations

import psycopg
from sqlalchemy.exc import SQLAlchemyError, StatementError


def without_data(e: SQLAlchemyError | psycopg.Error) -> tuple[str, str | None]:
    """(the error's type, its SQLSTATE if the server gave one)."""
    orig = e.orig if isinstance(e, StatementError) and e.orig is not None else e
    return type(orig).__name__, getattr(orig, "sqlstate", None)


def summary(e: SQLAlchemyError | psycopg.Error) -> str:
    kind, sqlstate = without_data(e)
    return f"{kind} (SQLSTATE {sqlstate})" if sqlstate else kind
