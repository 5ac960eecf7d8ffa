"""Shared fixtures: a real PostgreSQL (embedded, or REFERRALS_TEST_DATABASE_URL), one database per test
cloned from a migrated and seeded template, and the Temporal servers from the wheels."""

from __future__ import annotations

import asyncio
import itertools
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
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.testing import WorkflowEnvironment

from db.embedded import embedded_server, with_database
from db.migrate import upgrade
from db.seed import seed_demo, seed_regions
from db.session import make_engine, make_session_factory, transaction
from domain import process as definitions
from tests.codec_keys import CONVERTER, TEST_PAYLOAD_KEYS
from worker.binaries import temporal_cli, temporal_test_server

# With pytest-xdist each worker process has its own servers; a database named per worker keeps two workers
# apart on a shared external server (REFERRALS_TEST_DATABASE_URL) too.
TEMPLATE = f"referrals_template_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"

# A workflow that moves a case where the action does not declare fails the test (domain/process.py).
definitions.STRICT_TRANSITIONS = True

# Fixtures that start (or need) PostgreSQL or the Temporal dev server; a test using any of them, directly
# or through another fixture, is `live`. Tests under tests/e2e run `referrals dev` itself.
LIVE_FIXTURES = frozenset({"pg_server_url", "template_db", "db", "dev_env", "live", "wf", "fresh_wf", "dev_wf"})
LIVE_FOLDERS = ("e2e",)
# Fixtures of workflow code run without a database: the time-skipping server, or fake activities.
WORKFLOW_FIXTURES = frozenset({"ts_env", "fake_env"})
WORKFLOW_FOLDERS = ("replay",)
SPEED_MARKERS = ("unit", "workflow", "live")


def speed_marker(item: pytest.Item) -> str:
    """live: PostgreSQL or the dev server; workflow: workflow code on the time-skipping server with fake
    activities, or replayed from saved histories; unit: everything else (pure Python)."""
    names = set(getattr(item, "fixturenames", ()))
    here = Path(__file__).parent
    folders = item.path.relative_to(here).parts[:-1] if item.path.is_relative_to(here) else ()
    if names & LIVE_FIXTURES or any(f in folders for f in LIVE_FOLDERS):
        return "live"
    if names & WORKFLOW_FIXTURES or any(f in folders for f in WORKFLOW_FOLDERS):
        return "workflow"
    return "unit"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test gets exactly one of the markers unit, workflow, live (`make test-fast` runs the first
    two); one set by hand wins."""
    for item in items:
        if not any(item.get_closest_marker(m) for m in SPEED_MARKERS):
            item.add_marker(speed_marker(item))


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    external = os.environ.get("REFERRALS_TEST_DATABASE_URL")
    if external:
        yield external
        return
    tmp = Path(tempfile.mkdtemp(prefix="referrals-test-pg-"))
    server = embedded_server(tmp / "data")
    yield server.get_uri()
    server.cleanup()  # stop it before its data directory goes
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


_databases = itertools.count(1)
BLOCK = 1000  # case numbers per count and test database


@pytest.fixture
async def db(pg_server_url: str, template_db: str) -> AsyncIterator[Db]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    url = with_database(pg_server_url, name)
    # Every test database numbers its cases from its own block (each count starts at base + 1, see
    # db.models.CaseCounterBase): the Temporal servers are shared by the whole session, and a workflow ID
    # (built from the case number) must not meet one of another test.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE case_counter_base SET base = %s", (next(_databases) * BLOCK,))
    engine = make_engine(url)
    yield Db(url, engine, make_session_factory(engine))
    await engine.dispose()
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def quiet_runtime() -> Runtime:
    """The SDK core warns that the test servers lack a capability the tests do not use; keep errors only."""
    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
        )
    )


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: months pass in milliseconds."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=CONVERTER,
        test_server_existing_path=temporal_test_server(),
        runtime=quiet_runtime(),
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal dev server (the real server, in memory), for API, page and end-to-end tests."""
    env = await WorkflowEnvironment.start_local(
        data_converter=CONVERTER,
        dev_server_existing_path=temporal_cli(),
        dev_server_log_level="error",
        ui=False,
        runtime=quiet_runtime(),
    )
    yield env
    await env.shutdown()


@dataclass
class Live:
    """The web app wired to a real Temporal dev server and a worker on a unique task queue."""

    app: object
    http: object  # httpx.AsyncClient bound to the app
    temporal: object  # temporalio Client
    task_queue: str
    db: Db


@pytest.fixture
async def live(dev_env: WorkflowEnvironment, db: Db) -> AsyncIterator[Live]:
    import httpx

    from config.settings import Settings
    from web.app import create_app
    from worker.client import build_worker

    tq = f"tq-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        environment="dev",
        database_url=db.url,
        task_queue=tq,
        secret_key="test-secret",
        secure_cookies=False,
        payload_keys=TEST_PAYLOAD_KEYS,
    )
    app = create_app(settings, client=dev_env.client, session_factory=db.sf)
    async with (
        build_worker(dev_env.client, tq, db.sf),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http,
    ):
        yield Live(app, http, dev_env.client, tq, db)


async def make_token(db: Db, username: str | None = None, *, agency_code: str | None = None) -> str:
    """A bearer token for a demo user, or for an integration bound to an agency."""
    from sqlalchemy import select

    from api.security import new_token, token_hash
    from db.models import Agency, ApiToken, User

    token = new_token()
    async with transaction(db.sf) as s:
        if username:
            user = (await s.execute(select(User).where(User.username == username))).scalar_one()
            s.add(
                ApiToken(
                    token_hash=token_hash(token), name=f"test:{username}", agency_id=user.agency_id, user_id=user.id
                )
            )
        else:
            agency = (await s.execute(select(Agency).where(Agency.code == agency_code))).scalar_one()
            s.add(ApiToken(token_hash=token_hash(token), name=f"integration:{agency_code}", agency_id=agency.id))
    return token
