"""Shared fixtures: a real PostgreSQL (embedded, or REFERRALS_TEST_DATABASE_URL), one database per test
cloned from a migrated and seeded template, and the Temporal servers from the wheels."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from db.embedded import start_embedded, with_database
from db.migrate import upgrade
from db.seed import seed_demo, seed_regions
from db.session import make_engine, make_session_factory, transaction
from worker.binaries import temporal_cli, temporal_test_server

TEMPLATE = "referrals_template"


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    external = os.environ.get("REFERRALS_TEST_DATABASE_URL")
    if external:
        yield external
        return
    tmp = Path(tempfile.mkdtemp(prefix="referrals-test-pg-"))
    url = start_embedded(tmp / "data")
    yield url
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def template_db(pg_server_url: str) -> str:
    """A database migrated to head and seeded with the demo deployment, cloned for every test."""
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    url = with_database(pg_server_url, TEMPLATE)
    upgrade(url)

    async def seed() -> None:
        engine = make_engine(url)
        async with transaction(make_session_factory(engine)) as s:
            await seed_regions(s)
            await seed_demo(s)
        await engine.dispose()

    asyncio.run(seed())
    return TEMPLATE


@dataclass
class Db:
    url: str
    engine: AsyncEngine
    sf: async_sessionmaker[AsyncSession]


@pytest.fixture
async def db(pg_server_url: str, template_db: str) -> AsyncIterator[Db]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    url = with_database(pg_server_url, name)
    engine = make_engine(url)
    yield Db(url, engine, make_session_factory(engine))
    await engine.dispose()
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: months pass in milliseconds."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=temporal_test_server()
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal dev server (the real server, in memory), for API, page and end-to-end tests."""
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_cli(),
        dev_server_log_level="error",
        ui=False,
    )
    yield env
    await env.shutdown()
