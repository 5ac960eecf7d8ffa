"""The async engine and session factory (SQLAlchemy 2, psycopg 3)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

# A connection back in the pool for longer than this is pinged before it is lent again. One in steady use
# is not: under load every checkout would otherwise pay a round trip, and a connection that broke while
# in use (PostgreSQL restarted) fails its statement, which invalidates it and every other pooled
# connection (SQLAlchemy's disconnect handling), so the next checkout connects afresh.
PING_AFTER_IDLE = 1.0
_RETURNED = "returned_at"


def async_url(url: str) -> str:
    """Accepts postgresql:// or postgres:// URLs and selects the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, **kw: Any) -> AsyncEngine:
    # hide_parameters: an error (logged, or failing an activity) must not quote the facts a statement carried.
    engine = create_async_engine(async_url(url), hide_parameters=True, **kw)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: AsyncEngine) -> None:
    dialect = engine.sync_engine.dialect
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkout")
    def ping(dbapi_conn: DBAPIConnection, entry: ConnectionPoolEntry, proxy: PoolProxiedConnection) -> None:
        returned = entry.info.get(_RETURNED)
        if returned is not None and time.monotonic() - returned < PING_AFTER_IDLE:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except Exception as e:
            # The pool drops this connection and lends a new one (SQLAlchemy's checkout protocol).
            raise exc.DisconnectionError() from e

    @event.listens_for(pool, "checkin")
    def returned(dbapi_conn: DBAPIConnection | None, entry: ConnectionPoolEntry) -> None:
        entry.info[_RETURNED] = time.monotonic()


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with factory() as session, session.begin():
        yield session


def engine_of(bind: async_sessionmaker[AsyncSession] | AsyncSession | AsyncEngine) -> AsyncEngine:
    if isinstance(bind, AsyncEngine):
        return bind
    if isinstance(bind, AsyncSession):
        assert isinstance(bind.bind, AsyncEngine), "a session bound to an engine"
        return bind.bind
    engine = bind.kw["bind"]
    assert isinstance(engine, AsyncEngine), "a session factory bound to an engine"
    return engine


@asynccontextmanager
async def autocommit(
    bind: async_sessionmaker[AsyncSession] | AsyncSession | AsyncEngine,
) -> AsyncIterator[AsyncConnection]:
    """A connection whose every statement is its own transaction: for reads and single writes, which then
    cost no BEGIN and no COMMIT or ROLLBACK round trip."""
    async with engine_of(bind).connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")
