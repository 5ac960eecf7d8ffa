"""Benchmark of the write paths (case starts and actions) against the bare engine, in the same run.

Starts a throwaway embedded PostgreSQL (migrated and seeded like the tests), a Temporal dev server, the web
app (`referrals web`) and W application workers (`referrals worker`) as separate processes, and beside
them W bare workers (bench/bare.py: a no-op workflow whose Update answers at once). Then, in rounds that
interleave the bare side and the application so that a noisy machine hits both alike, it measures:

- starts per second at concurrency C: `POST /api/v1/cases` answered with its first step, against the bare
  engine's update-with-start of a no-op workflow (one round trip, the fewest the engine allows);
- one action at a time and actions at concurrency C: `POST /api/v1/cases/{no}/actions`, against a trivial
  Update on a running no-op workflow.

Between the two, the floor (bench/floor.py): the bare workflow behind what the design asks of every start and
action (an HTTP request with its token checked, one durable row written before the Update answers), with
none of the application's own work. floor/bare is what the design itself costs; app/floor what the
application adds.

Each line printed is one goal of issue 13 with the bare figure, the application's, their ratio and
whether the goal is met; then, per goal, the CPU each part of the system spent per operation on each side
(bench/cpu.py), which says what holds the application back. Nothing is hard-coded: every figure is
measured in this run.

    .venv/bin/python -m bench.engine [--workers 1,2,4] [--concurrency 10,50] [--action-concurrency 20]
                                     [--rounds 3] [--starts 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import select
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.security import new_token, token_hash
from bench.bare import BareWorkflow
from bench.cpu import Parts, child_with, postmaster
from cli.main import WEB_RUNNING, WORKER_RUNNING
from db.embedded import embedded_server, ensure_database
from db.migrate import upgrade
from db.models import ApiToken, Child, User
from db.seed import seed_demo, seed_regions
from db.session import make_engine, make_session_factory, transaction
from domain.deadlines import local_date
from worker.binaries import temporal_cli

ROOT = Path(__file__).resolve().parents[1]
CLERK = "luzhou-vc1"  # a village committee clerk: guardianship cases start at her admonition


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Round:
    """One side's figures for one round of one measurement."""

    seconds: float
    latencies: list[float]
    complete: int  # answers that carried what was asked (a start answered with its first step)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)


@dataclass
class Measure:
    name: str
    goal: str
    bare: list[Round] = field(default_factory=list)
    floor: list[Round] = field(default_factory=list)
    app: list[Round] = field(default_factory=list)
    # CPU seconds each part of the system spent during each side's rounds (bench/cpu.py).
    bare_cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    floor_cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    app_cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))


async def timed(n: int, concurrency: int, one: Callable[[int], Awaitable[bool]]) -> Round:
    """Runs `one(i)` for i < n with at most `concurrency` at a time; `one` says if its answer was complete."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    complete = 0

    async def run(i: int) -> None:
        nonlocal complete
        async with gate:
            t = time.perf_counter()
            ok = await one(i)
            latencies.append(time.perf_counter() - t)
            complete += ok

    t0 = time.perf_counter()
    await asyncio.gather(*(run(i) for i in range(n)))
    return Round(time.perf_counter() - t0, latencies, complete)


async def sampled(
    cpu: Parts, into: dict[str, float], n: int, concurrency: int, one: Callable[[int], Awaitable[bool]]
) -> Round:
    """`timed`, adding the CPU each part spent meanwhile to `into`."""
    before = cpu.now()
    measured = await timed(n, concurrency, one)
    for part, seconds in cpu.now().items():
        into[part] += seconds - before[part]
    return measured


def cpu_line(m: Measure) -> str:
    """Where each side's CPU went, per operation: which part of the path holds the application back."""

    def side(rounds: list[Round], spent: dict[str, float]) -> str:
        n = sum(len(r.latencies) for r in rounds)
        per = {part: seconds * 1000 / n for part, seconds in spent.items()}
        parts = ", ".join(f"{part} {ms:.1f}" for part, ms in per.items() if ms >= 0.05)
        return f"{sum(per.values()):6.1f} ms ({parts})"

    return (
        f"{m.name:<40} CPU per operation: app {side(m.app, m.app_cpu)}; floor {side(m.floor, m.floor_cpu)};"
        f" bare {side(m.bare, m.bare_cpu)}"
    )


class Processes:
    """The application's web app and workers and the bare workers, each its own OS process."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.procs: list[subprocess.Popen] = []

    def spawn(self, name: str, args: list[str], ready: str) -> subprocess.Popen:
        log = self.logs / f"{name}.log"
        out = open(log, "w")
        proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        deadline = time.monotonic() + 90
        while ready not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        return proc

    def stop(self, procs: list[subprocess.Popen] | None = None) -> None:
        for p in procs if procs is not None else list(self.procs):
            p.terminate()
        for p in procs if procs is not None else list(self.procs):
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
            self.procs.remove(p)


async def make_fixture(url: str) -> tuple[str, list[int]]:
    """A bearer token for the clerk, and the children of her committee to open cases for."""
    upgrade(url)
    engine = make_engine(url)
    sf = make_session_factory(engine)
    async with transaction(sf) as s:
        await seed_regions(s)
        await seed_demo(s)
    token = new_token()
    async with transaction(sf) as s:
        user = (await s.execute(select(User).where(User.username == CLERK))).scalar_one()
        s.add(ApiToken(token_hash=token_hash(token), name="bench", agency_id=user.agency_id, user_id=user.id))
        children = list(
            (await s.execute(select(Child.id).where(Child.residence_committee_id == user.agency_id))).scalars()
        )
    await engine.dispose()
    return token, children


class Sides:
    """The two sides of every measurement: the bare engine and the application, same machine, same run."""

    def __init__(
        self,
        client: Client,
        bare_queue: str,
        http: httpx.AsyncClient,
        floor_http: httpx.AsyncClient,
        token: str,
        children: list[int],
    ):
        self.client, self.bare_queue, self.http, self.children = client, bare_queue, http, children
        self.floor_http = floor_http
        self.headers = {"Authorization": f"Bearer {token}"}
        self.today = local_date(datetime.now(UTC)).isoformat()

    async def bare_start(self, _: int) -> bool:
        op = WithStartWorkflowOperation(
            BareWorkflow.run,
            id=f"bare-{uuid.uuid4().hex}",
            task_queue=self.bare_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        return (
            await self.client.execute_update_with_start_workflow(BareWorkflow.act, 1, start_workflow_operation=op) == 1
        )

    async def floor_start(self, _: int) -> bool:
        r = await self.floor_http.post("/start", headers=self.headers)
        r.raise_for_status()
        return r.json()["seq"] == 1

    async def floor_targets(self, n: int) -> list[str]:
        out = []
        for _ in range(n):
            r = await self.floor_http.post("/start", headers=self.headers)
            r.raise_for_status()
            out.append(r.json()["workflow_id"])
        return out

    def floor_act(self, ids: list[str]) -> Callable[[int], Awaitable[bool]]:
        async def one(i: int) -> bool:
            r = await self.floor_http.post(f"/act/{ids[i]}", headers=self.headers)
            r.raise_for_status()
            return r.json()["seq"] == 2

        return one

    async def _start(self, i: int) -> dict:
        body = {
            "process": "guardianship",
            "start_step": "admonition",
            "child_id": self.children[i % len(self.children)],
            "facts": {"facts": "儿童长期独自在家，监护人外出务工未委托照护", "occurred_on": self.today},
        }
        r = await self.http.post(
            "/api/v1/cases", json=body, headers={**self.headers, "Idempotency-Key": uuid.uuid4().hex}
        )
        r.raise_for_status()
        return r.json()

    async def app_start(self, i: int) -> bool:
        return bool((await self._start(i)).get("steps"))

    async def bare_targets(self, n: int) -> list[str]:
        ids = [f"bare-{uuid.uuid4().hex}" for _ in range(n)]
        for wid in ids:
            await self.client.start_workflow(BareWorkflow.run, id=wid, task_queue=self.bare_queue)
        return ids

    async def app_targets(self, n: int) -> list[tuple[str, int]]:
        """Cases at their first step, with the step's number, made before the clock starts."""
        out = []
        for i in range(n):
            case = await self._start(i)
            while not case.get("steps"):  # answered before its first step (a loaded worker): read it again
                await asyncio.sleep(0.5)
                r = await self.http.get(f"/api/v1/cases/{case['case_no']}", headers=self.headers)
                case = r.json() if r.status_code == 200 else case
            out.append((case["case_no"], case["steps"][0]["step_seq"]))
        return out

    def bare_act(self, ids: list[str]) -> Callable[[int], Awaitable[bool]]:
        async def one(i: int) -> bool:
            return await self.client.get_workflow_handle(ids[i]).execute_update(BareWorkflow.act, 1) >= 1

        return one

    def app_act(self, cases: list[tuple[str, int]]) -> Callable[[int], Awaitable[bool]]:
        async def one(i: int) -> bool:
            case_no, seq = cases[i]
            body = {
                "step": "admonition",
                "step_seq": seq,
                "action": "record_admonition",
                "payload": {"done_on": self.today, "content": "已上门劝诫，监护人表示改正"},
            }
            r = await self.http.post(f"/api/v1/cases/{case_no}/actions", json=body, headers=self.headers)
            r.raise_for_status()
            return r.json()["steps"][0]["step"] == "admonition_followup"

        return one


def ratio_line(m: Measure, *, higher_is_better: bool, goal: float) -> str:
    """The goal's line: both sides' medians over the rounds, the ratio, and MET or NOT MET (a start goal
    also needs every start answered with its first step)."""
    incomplete = sum(len(r.latencies) - r.complete for r in m.app)
    if higher_is_better:
        bare, floor, app = (statistics.median(r.rate for r in rounds) for rounds in (m.bare, m.floor, m.app))
        ratio = app / bare
        figures = (
            f"bare {bare:6.1f}/s  floor {floor:6.1f}/s  app {app:6.1f}/s  app/bare {ratio:5.2f}"
            f"  (floor/bare {floor / bare:4.2f}, app/floor {app / floor:4.2f})"
        )
        met = ratio >= goal and not incomplete
    else:
        bare, floor, app = (statistics.median(r.p50 for r in rounds) * 1000 for rounds in (m.bare, m.floor, m.app))
        ratio = app / bare
        figures = (
            f"bare p50 {bare:5.1f} ms  floor p50 {floor:5.1f} ms  app p50 {app:5.1f} ms  app/bare {ratio:5.2f}×"
            f"  (floor/bare {floor / bare:4.2f}×, app/floor {app / floor:4.2f}×)"
        )
        met = ratio <= goal
    extra = f"  ({incomplete} answered without what was asked)" if incomplete else ""
    return f"{m.name:<40} {figures}   goal {m.goal}: {'MET' if met else 'NOT MET'}{extra}"


STARTS_GOAL = 0.5  # app/bare starts per second, at least
ACTIONS_GOAL = 1.5  # app/bare p50 of an action, at most


async def measure(
    sides: Sides, cpu: Parts, rounds: int, starts: int, concurrency: list[int], action_concurrency: int, label: str
) -> list[str]:
    """Issue 13's engine goals with this many workers: starts at each concurrency, one action at a time,
    actions at `action_concurrency`; in rounds that interleave the bare side and the application."""
    start_goals = [Measure(f"{label}starts/s at concurrency {c}", f"app/bare ≥ {STARTS_GOAL}") for c in concurrency]
    one = Measure(f"{label}one action, sequential", f"≤ {ACTIONS_GOAL}×")
    many = Measure(f"{label}actions at concurrency {action_concurrency}", f"≤ {ACTIONS_GOAL}×")
    for _ in range(rounds):
        for c, m in zip(concurrency, start_goals, strict=True):
            m.bare.append(await sampled(cpu, m.bare_cpu, starts, c, sides.bare_start))
            m.floor.append(await sampled(cpu, m.floor_cpu, starts, c, sides.floor_start))
            m.app.append(await sampled(cpu, m.app_cpu, starts, c, sides.app_start))
        for m, n, c in ((one, 20, 1), (many, starts, action_concurrency)):
            ids, floors, cases = await sides.bare_targets(n), await sides.floor_targets(n), await sides.app_targets(n)
            m.bare.append(await sampled(cpu, m.bare_cpu, n, c, sides.bare_act(ids)))
            m.floor.append(await sampled(cpu, m.floor_cpu, n, c, sides.floor_act(floors)))
            m.app.append(await sampled(cpu, m.app_cpu, n, c, sides.app_act(cases)))
    measures = [*start_goals, one, many]
    return (
        [ratio_line(m, higher_is_better=True, goal=STARTS_GOAL) for m in start_goals]
        + [ratio_line(m, higher_is_better=False, goal=ACTIONS_GOAL) for m in (one, many)]
        + [cpu_line(m) for m in measures]
    )


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="referrals-bench-engine-"))
    server = embedded_server(tmp / "pg")
    temporal = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_cli(),
        dev_server_log_level="error",
        ui=False,
    )
    procs = None
    try:
        url = ensure_database(server.get_uri(), "referrals_bench_engine")
        token, children = await make_fixture(url)
        address = temporal.client.service_client.config.target_host
        port = free_port()
        env = {
            **os.environ,
            "REFERRALS_ENVIRONMENT": "dev",
            "DATABASE_URL": url,
            "TEMPORAL_ADDRESS": address,
            "REFERRALS_TASK_QUEUE": "bench-app",
            "REFERRALS_PORT": str(port),
            "REFERRALS_VAR_DIR": str(tmp / "var"),
            "SECRET_KEY": uuid.uuid4().hex * 2,
        }
        procs = Processes(env, tmp)
        web = procs.spawn("web", ["-m", "cli.main", "web"], WEB_RUNNING)
        floor_port, floor_args = free_port(), [url, address, "bench-floor"]
        floor_web = procs.spawn(
            "floor-web", ["-m", "bench.floor", "web", str(floor_port), *floor_args], "floor web running"
        )
        temporal_pid = child_with(os.getpid(), str(temporal_cli()))
        pg_pid = postmaster(tmp / "pg")
        when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        print(f"# {when}, {os.cpu_count()} cores; PostgreSQL embedded, one Temporal dev server")
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{floor_port}", timeout=60) as floor_http,
        ):
            sides = Sides(temporal.client, "bench-bare", http, floor_http, token, children)
            for workers in args.workers:
                started = (
                    [procs.spawn(f"worker{w}", ["-m", "cli.main", "worker"], WORKER_RUNNING) for w in range(workers)]
                    + [
                        procs.spawn(f"bare{w}", ["-m", "bench.bare", address, "bench-bare"], "bare worker running")
                        for w in range(workers)
                    ]
                    + [
                        procs.spawn(f"floor{w}", ["-m", "bench.floor", "worker", *floor_args], "floor worker running")
                        for w in range(workers)
                    ]
                )
                label = f"[{workers} worker{'s' if workers > 1 else ''}] "
                cpu = Parts()
                cpu.tree("web", web.pid)
                cpu.tree("worker", *(p.pid for p in started[:workers]))
                cpu.tree("bare worker", *(p.pid for p in started[workers : 2 * workers]))
                cpu.tree("floor web", floor_web.pid)
                cpu.tree("floor worker", *(p.pid for p in started[2 * workers :]))
                cpu.tree("Temporal", temporal_pid)
                cpu.tree("PostgreSQL", pg_pid)
                cpu.own("client", os.getpid())
                for line in await measure(
                    sides, cpu, args.rounds, args.starts, args.concurrency, args.action_concurrency, label
                ):
                    print(line, flush=True)
                procs.stop(started)
    finally:
        if procs is not None:
            procs.stop()
        await temporal.shutdown()
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,4", help="worker processes to measure with (default 1,2,4)")
    parser.add_argument("--concurrency", default="10,50", help="concurrency levels of the starts (default 10,50)")
    parser.add_argument("--action-concurrency", type=int, default=20, help="concurrent actions (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per measurement")
    parser.add_argument("--starts", type=int, default=60, help="starts (and concurrent actions) per round")
    args = parser.parse_args()
    args.workers = [int(w) for w in args.workers.split(",")]
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
