"""The bare engine: a no-op workflow with an Update that answers at once, and its worker. It is what a start
and an action would cost if the application added nothing to Temporal, measured beside the application in
the same run by bench/engine.py.

    python -m bench.bare <temporal address> <task queue>     (a worker, until SIGTERM)
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker


@workflow.defn(name="BenchBare")
class BareWorkflow:
    def __init__(self) -> None:
        self.updates = 0
        self.done = False

    @workflow.run
    async def run(self) -> int:
        # A timer, as every case step has its deadline: the bare side pays for one too.
        await workflow.wait_condition(lambda: self.done, timeout=timedelta(days=30))
        return self.updates

    @workflow.update
    async def act(self, n: int) -> int:
        self.updates += n
        return self.updates


async def serve(address: str, task_queue: str) -> None:
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=task_queue, workflows=[BareWorkflow]):
        print("bare worker running", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2]))
