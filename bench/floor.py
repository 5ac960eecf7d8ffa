"""The floor: the least a start or an action through this design must cost on top of the bare engine, with
none of the application's own work. It is the bare workflow behind what the design asks of every write
(architecture.md): an HTTP request whose bearer token is checked against the database, and one durable,
idempotent row written in PostgreSQL by a local activity before the Update answers (the timeline event). No
authorisation of the case, no request-id claim, no deadline, no projection, no audit.

bench/engine.py measures it beside the bare engine and the application, in the same rounds: floor/bare
says what the design itself costs, app/floor what the application adds to it.

    python -m bench.floor web <port> <database url> <temporal address> <task queue>
    python -m bench.floor worker <database url> <temporal address> <task queue>
"""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from sqlalchemy.ext.asyncio import AsyncEngine

    from api.security import token_hash
    from db.session import make_engine

TABLE = """
CREATE TABLE IF NOT EXISTS bench_floor_events (
    workflow_id text NOT NULL, seq integer NOT NULL, at timestamptz NOT NULL DEFAULT now(), body jsonb NOT NULL,
    PRIMARY KEY (workflow_id, seq)
)
"""
WRITE = (
    "INSERT INTO bench_floor_events (workflow_id, seq, body) VALUES (%(wid)s, %(seq)s, %(body)s::jsonb) "
    "ON CONFLICT DO NOTHING"
)
TOKEN = "SELECT agency_id, user_id FROM api_tokens WHERE token_hash = %(hash)s AND revoked_at IS NULL"


class Write(BaseModel):
    workflow_id: str
    seq: int
    body: str


class Writer:
    """The local activity: one row per workflow and seq, written once however often it is retried."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @activity.defn(name="floor_write")
    async def write(self, w: Write) -> bool:
        async with self.engine.begin() as conn:
            await conn.exec_driver_sql(WRITE, {"wid": w.workflow_id, "seq": w.seq, "body": w.body})
        return True


@workflow.defn(name="BenchFloor")
class FloorWorkflow:
    def __init__(self) -> None:
        self.seq = 0
        self.done = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.done, timeout=timedelta(days=30))
        return self.seq

    @workflow.update
    async def act(self, body: str) -> int:
        self.seq += 1
        await workflow.execute_local_activity(
            "floor_write",
            Write(workflow_id=workflow.info().workflow_id, seq=self.seq, body=body),
            start_to_close_timeout=timedelta(seconds=10),
        )
        return self.seq


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def worker(url: str, address: str, task_queue: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.exec_driver_sql(TABLE)
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    writer = Writer(engine)
    async with Worker(client, task_queue=task_queue, workflows=[FloorWorkflow], activities=[writer.write]):
        print("floor worker running", flush=True)
        await _until_stopped()
    await engine.dispose()


def app(engine: AsyncEngine, client: Client, task_queue: str):
    from fastapi import FastAPI, Header, HTTPException

    api = FastAPI()

    async def authorised(authorization: str | None) -> None:
        token = (authorization or "").removeprefix("Bearer ")
        async with engine.connect() as conn:
            found = (await conn.exec_driver_sql(TOKEN, {"hash": token_hash(token)})).first()
            await conn.rollback()
        if found is None:
            raise HTTPException(401)

    @api.post("/start")
    async def start(authorization: str | None = Header(None)) -> dict:
        await authorised(authorization)
        workflow_id = f"floor-{uuid.uuid4().hex}"
        op = WithStartWorkflowOperation(
            FloorWorkflow.run,
            id=workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        seq = await client.execute_update_with_start_workflow(FloorWorkflow.act, "{}", start_workflow_operation=op)
        return {"workflow_id": workflow_id, "seq": seq}

    @api.post("/act/{workflow_id}")
    async def act(workflow_id: str, authorization: str | None = Header(None)) -> dict:
        await authorised(authorization)
        handle = client.get_workflow_handle(workflow_id)
        seq = await handle.execute_update(FloorWorkflow.act, '{"action": "act"}', id=uuid.uuid4().hex)
        return {"seq": seq}

    return api


async def web(port: int, url: str, address: str, task_queue: str) -> None:
    import uvicorn

    engine = make_engine(url)
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    config = uvicorn.Config(
        app(engine, client, task_queue), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn has no event
        await asyncio.sleep(0.05)
    print("floor web running", flush=True)
    await _until_stopped()
    server.should_exit = True
    await task
    await engine.dispose()


if __name__ == "__main__":
    import uvloop

    match sys.argv[1:]:
        case ["web", port, url, address, queue]:
            uvloop.run(web(int(port), url, address, queue))
        case ["worker", url, address, queue]:
            uvloop.run(worker(url, address, queue))
        case _:
            sys.exit(__doc__)
