from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.conftest import Db
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
