"""The connection pool against a real PostgreSQL: a connection that sat in the pool is pinged before it is
lent again, so one PostgreSQL dropped meanwhile (a restart) is replaced unseen; one in steady use is not
pinged, and if it broke while in use its statement fails once and the pool connects afresh for the next.
The reads and single writes that need no transaction run without BEGIN and COMMIT (`autocommit`)."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from sqlalchemy import exc, text

from db import session as db_session
from db.session import autocommit, make_engine
from tests.conftest import Db


def drop_connections(db: Db) -> int:
    """What a PostgreSQL restart does to the pool: every other connection to the test database ends."""
    with psycopg.connect(db.url, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]


async def backend(engine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()


async def test_a_connection_dropped_while_idle_is_replaced_before_it_is_lent(db: Db, monkeypatch) -> None:
    monkeypatch.setattr(db_session, "PING_AFTER_IDLE", 0.2)
    engine = make_engine(db.url)
    try:
        first = await backend(engine)
        assert await backend(engine) == first  # the same connection, lent again without a ping
        assert drop_connections(db) >= 1
        await asyncio.sleep(0.3)
        assert await backend(engine) != first  # pinged, found dropped, replaced: no error reached the caller
    finally:
        await engine.dispose()


async def test_a_connection_dropped_in_steady_use_fails_once_then_the_pool_connects_afresh(db: Db, monkeypatch) -> None:
    monkeypatch.setattr(db_session, "PING_AFTER_IDLE", 3600.0)
    engine = make_engine(db.url)
    try:
        first = await backend(engine)
        assert drop_connections(db) >= 1
        with pytest.raises(exc.OperationalError):
            await backend(engine)
        assert await backend(engine) != first
    finally:
        await engine.dispose()


XACT_FROM_THIS_STATEMENT = "SELECT xact_start = query_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"


async def test_autocommit_statements_stand_alone(db: Db) -> None:
    async with autocommit(db.sf) as conn:
        await conn.execute(text("SELECT 1"))
        # No transaction was open before the statement: it is its own.
        assert (await conn.execute(text(XACT_FROM_THIS_STATEMENT))).scalar_one() is True
    async with db.sf() as s:  # the connection went back to the pool in its ordinary (transactional) mode
        await s.execute(text("SELECT 1"))
        assert (await s.execute(text(XACT_FROM_THIS_STATEMENT))).scalar_one() is False
