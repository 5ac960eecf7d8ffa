from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.testing import WorkflowEnvironment

from tests.codec_keys import CONVERTER
from tests.conftest import Db, quiet_runtime
from tests.fakes import FakeEnv, start_fake_env
from worker.binaries import temporal_test_server
from worker.client import build_worker


@dataclass
class Wf:
    env: WorkflowEnvironment
    client: Client
    tq: str
    db: Db


@pytest.fixture
async def wf(ts_env: WorkflowEnvironment, db: Db) -> AsyncIterator[Wf]:
    """A worker on a unique task queue, writing to this test's database, on the time-skipping server."""
    tq = f"tq-{uuid.uuid4().hex[:8]}"
    async with build_worker(ts_env.client, tq, db.sf):
        yield Wf(ts_env, ts_env.client, tq, db)


@pytest.fixture(scope="session")
def quiet() -> Runtime:
    """One SDK runtime (errors-only logging) for all the per-test servers below."""
    return quiet_runtime()


@pytest.fixture
async def fresh_wf(db: Db, quiet: Runtime) -> AsyncIterator[Wf]:
    """Like `wf`, on a time-skipping server of its own (about 0.1 s to start), so that its clock starts at
    real time whatever other tests skipped: a test that sleeps months must not age the demo children or
    push the next test's deadlines into a year the calendar does not know."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=CONVERTER, test_server_existing_path=temporal_test_server(), runtime=quiet
    )
    try:
        tq = f"tq-{uuid.uuid4().hex[:8]}"
        async with build_worker(env.client, tq, db.sf):
            yield Wf(env, env.client, tq, db)
    finally:
        await env.shutdown()


@pytest.fixture
async def fake_env(quiet: Runtime) -> AsyncIterator[FakeEnv]:
    """The real workflows with in-memory fake activities (tests/fakes.py) on a time-skipping server of
    their own: no database, each test's clock starting at real time."""
    async with start_fake_env(quiet) as env:
        yield env
