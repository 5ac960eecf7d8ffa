"""Worker memory with many open cases, measured: the resident set (RSS) of one `referrals worker` process
while real cases are opened through the whole system, and after each of them is read and acted on.

Starts a throwaway embedded PostgreSQL (migrated and seeded), a Temporal dev server, the web app and one
application worker (separate processes, as bench/engine.py does), then opens `--cases` guardianship cases
through `POST /api/v1/cases` (each answered with its first step, so the worker has run it), sampling the
worker's RSS at 0, 10 %, 50 % and 100 % of them (0, 1k, 5k, 10k at the default 10,000), then after reading
every case once (`GET /api/v1/cases/{no}`: the live `view` Query of each workflow) and after `--actions`
actions (record_admonition, one Update each). One line a point.

    .venv/bin/python -m bench.rss [--cases 10000] [--actions 1000] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from bench.engine import Processes, free_port, make_fixture
from cli.main import WEB_RUNNING, WORKER_RUNNING
from db.embedded import embedded_server, ensure_database
from domain.deadlines import local_date
from worker.binaries import temporal_cli


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def rss_mb(pid: int) -> float:
    """The process's resident set (VmRSS, Linux /proc) and its children's, should it fork helpers."""
    kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            kb = int(line.split()[1])
    return kb / 1024 + sum(rss_mb(c) for c in _children(pid))


class Cases:
    """Opens, reads and acts on the clerk's cases through the web app, `concurrency` at a time."""

    def __init__(self, http: httpx.AsyncClient, token: str, children: list[int], concurrency: int) -> None:
        self.http, self.children = http, children
        self.headers = {"Authorization": f"Bearer {token}"}
        self.gate = asyncio.Semaphore(concurrency)
        self.today = local_date(datetime.now(UTC)).isoformat()
        self.opened: list[tuple[str, int]] = []  # (case number, first step's seq)

    async def _open(self, i: int) -> None:
        body = {
            "process": "guardianship",
            "start_step": "admonition",
            "child_id": self.children[i % len(self.children)],
            "facts": {"facts": "儿童长期独自在家，监护人外出务工未委托照护", "occurred_on": self.today},
        }
        async with self.gate:
            r = await self.http.post(
                "/api/v1/cases", json=body, headers={**self.headers, "Idempotency-Key": uuid.uuid4().hex}
            )
            r.raise_for_status()
            case = r.json()
            while not case.get("steps"):  # answered before its first step: wait until the worker has run it
                await asyncio.sleep(0.5)
                again = await self.http.get(f"/api/v1/cases/{case['case_no']}", headers=self.headers)
                case = again.json() if again.status_code == 200 else case
        self.opened.append((case["case_no"], case["steps"][0]["step_seq"]))

    async def open_until(self, n: int) -> None:
        await asyncio.gather(*(self._open(i) for i in range(len(self.opened), n)))

    async def _read(self, case_no: str) -> bool:
        async with self.gate:
            r = await self.http.get(f"/api/v1/cases/{case_no}", headers=self.headers)
            r.raise_for_status()
            return bool(r.json().get("live"))

    async def read_all(self) -> int:
        """Reads every case; returns how many were answered by the live workflow (not the projection)."""
        return sum(await asyncio.gather(*(self._read(no) for no, _ in self.opened)))

    async def _act(self, case_no: str, seq: int) -> None:
        body = {
            "step": "admonition",
            "step_seq": seq,
            "action": "record_admonition",
            "payload": {"done_on": self.today, "content": "已上门劝诫，监护人表示改正"},
        }
        async with self.gate:
            r = await self.http.post(f"/api/v1/cases/{case_no}/actions", json=body, headers=self.headers)
            r.raise_for_status()

    async def act_on(self, n: int) -> None:
        await asyncio.gather(*(self._act(no, seq) for no, seq in self.opened[:n]))


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="referrals-bench-rss-"))
    server = embedded_server(tmp / "pg")
    temporal = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(), dev_server_log_level="error", ui=False
    )
    procs = None
    try:
        url = ensure_database(server.get_uri(), "referrals_bench_rss")
        token, children = await make_fixture(url)
        port = free_port()
        env = {
            **os.environ,
            "REFERRALS_ENVIRONMENT": "dev",
            "DATABASE_URL": url,
            "TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
            "REFERRALS_TASK_QUEUE": "bench-rss",
            "REFERRALS_PORT": str(port),
            "REFERRALS_VAR_DIR": str(tmp / "var"),
            "SECRET_KEY": uuid.uuid4().hex * 2,
        }
        procs = Processes(env, tmp)
        procs.spawn("web", ["-m", "cli.main", "web"], WEB_RUNNING)
        worker = procs.spawn("worker", ["-m", "cli.main", "worker"], WORKER_RUNNING)
        print(
            f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores; one worker process (pid {worker.pid})"
        )

        def point(what: str, t0: float) -> None:
            print(
                f"worker RSS {what:<36} {rss_mb(worker.pid):7.1f} MB   ({time.perf_counter() - t0:6.1f} s)", flush=True
            )

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            cases = Cases(http, token, children, args.concurrency)
            t0 = time.perf_counter()
            point("with 0 open cases", t0)
            for n in sorted({args.cases // 10, args.cases // 2, args.cases} - {0}):
                await cases.open_until(n)
                point(f"with {n} open cases", t0)
            live = await cases.read_all()
            point(f"after reading all {len(cases.opened)} ({live} live)", t0)
            acted = min(args.actions, len(cases.opened))
            await cases.act_on(acted)
            point(f"after {acted} actions", t0)
    finally:
        if procs is not None:
            procs.stop()
        await temporal.shutdown()
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="open cases to reach (default 10000)")
    parser.add_argument("--actions", type=int, default=1_000, help="actions after reading them all (default 1000)")
    parser.add_argument("--concurrency", type=int, default=20, help="requests in flight at a time (default 20)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
