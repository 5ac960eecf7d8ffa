"""Workflow history of long cases, measured: the Temporal history events a case makes per simulated year,
and how many years a run lasts before it continues as new.

Two long cases, each on a time-skipping Temporal test server of its own (years pass in seconds) with the
real worker (worker/client.py build_worker: real activities, a throwaway embedded PostgreSQL migrated and
seeded like the tests):

- a key-child follow-up (key_child_followup): the committee records a contact a few days before each is
  due (every 3 months, counted from the day it happened) and a home visit when one is due within 60 days
  (every 6 months), for `--years`;
- a certification (certification) carried to 在保 (in support), then reviewed once a year, for `--years`.

Cases are opened through the app's own start (api/cases/service.py start_case) and acted on through the
same Update the API sends (service.send), dated on the server's clock. Prints, per case, the history events
over all runs, events per simulated year and simulated years per continue-as-new.

    .venv/bin/python -m bench.history [--years 10]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.testing import WorkflowEnvironment

from api.cases import service
from api.children.schemas import ChildIn, GuardianIn
from api.children.service import register_child
from api.principal import Principal, load_principal
from db.embedded import embedded_server, ensure_database
from db.migrate import upgrade
from db.models import Agency
from db.seed import make_id_number, seed_demo, seed_regions
from db.session import make_engine, make_session_factory, transaction
from domain.deadlines import local_date, start_of_local_day
from domain.ids import workflow_id
from domain.messages import ActionRequest, CaseState
from domain.processes import get_process
from domain.processes.certification import CERTIFICATION_MATERIALS, month_after
from worker.binaries import temporal_test_server
from worker.client import build_worker
from worker.codec import PayloadKeys, data_converter
from workflows.base import DEFAULT_HISTORY_LIMIT, MIN_HISTORY_LIMIT

LUZHOU = "140403"
# The SDK core warns that the test server lacks a capability nothing here uses; errors only.
QUIET = Runtime(
    telemetry=TelemetryConfig(logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR")))
)
YEAR = timedelta(days=365.2425)


@dataclass
class Figures:
    case: str
    process: str
    years: float
    events: int
    runs: int
    actions: int
    run_years: list[float]  # how long each run that continued as new lasted, in simulated years

    def line(self) -> str:
        if self.run_years:
            per = f"{sum(self.run_years) / len(self.run_years):5.2f} years per continue-as-new"
        else:  # none within the years run: say when the limit would be reached at this rate, marked so
            limit = max(get_process(self.process).history_limit or DEFAULT_HISTORY_LIMIT, MIN_HISTORY_LIMIT)
            at_rate = limit / (self.events / self.years)
            per = f"no continue-as-new (limit {limit} events: ~{at_rate:.0f} years at this rate)"
        return (
            f"history {self.case:<34} {self.events / self.years:7.0f} events/year   {per}   "
            f"({self.events} events in {self.runs} runs over {self.years:.1f} simulated years, {self.actions} actions)"
        )


class Case:
    """One case on the time-skipping server, driven as the API drives it, dated on the server's clock."""

    def __init__(self, env: WorkflowEnvironment, sf: async_sessionmaker[AsyncSession], task_queue: str) -> None:
        self.env, self.sf, self.tq = env, sf, task_queue
        self.no = self.process = ""
        self.actions = 0
        self.opened_at: datetime | None = None

    @property
    def client(self) -> Client:
        return self.env.client

    async def today(self) -> date:
        return local_date(await self.env.get_current_time())

    async def sleep_until(self, at: datetime) -> None:
        now = await self.env.get_current_time()
        if at > now:
            await self.env.sleep(at - now)

    async def open(self, p: Principal, process: str, step: str, child_id: int, facts: dict[str, Any]) -> None:
        async with self.sf() as s:
            started = await service.start_case(
                session=s,
                client=self.client,
                task_queue=self.tq,
                principal=p,
                data=service.StartCaseIn(process=process, start_step=step, child_id=child_id, facts=facts),
            )
        self.no, self.process, self.opened_at = started.case_no, process, await self.env.get_current_time()

    async def view(self) -> CaseState:
        return await self.client.get_workflow_handle(workflow_id(self.no)).query("view", result_type=CaseState)

    async def act(self, p: Principal, step: str, action: str, payload: dict[str, Any]) -> None:
        req = ActionRequest(request_id=uuid.uuid4().hex, actor=p.actor(), action=action, step=step, payload=payload)
        result = await service.send(self.client, self.no, req, wait_seconds=60)
        if result.error_code:
            raise RuntimeError(f"{self.no} {action}: {result.error_code} {result.error_message}")
        self.actions += 1

    async def figures(self, label: str) -> Figures:
        chain: list[WorkflowHistory] = []
        run_id = (await self.client.get_workflow_handle(workflow_id(self.no)).describe()).run_id
        while run_id:
            history = await self.client.get_workflow_handle(workflow_id(self.no), run_id=run_id).fetch_history()
            chain.insert(0, history)
            run_id = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
        run_years = []
        for run in chain[:-1]:
            first, last = run.events[0], run.events[-1]
            assert last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
            run_years.append((last.event_time.ToDatetime() - first.event_time.ToDatetime()) / YEAR)
        assert self.opened_at is not None
        years = (await self.env.get_current_time() - self.opened_at) / YEAR
        return Figures(
            label, self.process, years, sum(len(h.events) for h in chain), len(chain), self.actions, run_years
        )


def at_ten(day: date) -> datetime:
    """10 in the morning of `day`, Shanghai time: when the clerk enters what happened."""
    return start_of_local_day(day) + timedelta(hours=10)


async def followup(case: Case, civil: Principal, committee: Principal, child_id: int, years: float) -> Figures:
    await case.open(
        civil,
        "key_child_followup",
        "contact",
        child_id,
        {"categories": ["hardship", "guardian_missing"], "known": "父母在外务工"},
    )
    until = await case.today() + timedelta(days=round(years * 365.2425))
    while True:
        steps = (await case.view()).steps
        happened = local_date(steps["main"].deadlines.due_at) - timedelta(days=5)
        if happened + timedelta(days=2) >= until:
            break
        await case.sleep_until(at_ten(happened + timedelta(days=2)))
        contact = {"done_on": happened.isoformat(), "kind": "phone", "content": "电话联系监护人，儿童近况良好"}
        await case.act(committee, "contact", "record_contact", contact)
        visit = (await case.view()).steps.get("visit")
        if visit and visit.deadlines and local_date(visit.deadlines.due_at) - happened <= timedelta(days=60):
            await case.act(
                committee,
                "home_visit",
                "record_visit",
                {"done_on": happened.isoformat(), "findings": "入户走访，家中有人照料"},
            )
    await case.sleep_until(at_ten(until))
    return await case.figures("key-child follow-up")


async def certification(
    case: Case, residence: Principal, verifier: Principal, decider: Principal, child_id: int, years: float
) -> Figures:
    async with case.sf() as s:
        township = (await s.execute(select(Agency.id).where(Agency.code == "shangdang-town1"))).scalar_one()
    facts = {
        "kind": "orphan",
        "origin_region": "140404",
        "origin_township_id": township,
        "applicant": "祖母",
        "situation": "父母双亡，随祖母生活",
    }
    await case.open(residence, "certification", "residence_intake", child_id, facts)
    await case.act(residence, "residence_intake", "forward", {f.name: True for f in CERTIFICATION_MATERIALS})
    await case.act(verifier, "origin_verification", "give_opinion", {"verified_by": "both", "opinion": "approve"})
    await case.act(decider, "origin_decision", "approve", {"allowance_from": month_after(await case.today())})
    await case.act(residence, "notify_applicant", "notified", {"done_on": (await case.today()).isoformat()})
    assert "in_support" in [s.step for s in (await case.view()).steps.values()], "not in support"
    until = await case.env.get_current_time() + years * YEAR
    while True:
        due = (await case.view()).steps["main"].deadlines.due_at
        review = due - timedelta(days=30)
        if review >= until:
            break
        await case.sleep_until(review)
        await case.act(decider, "in_support", "record_review", {"done_on": (await case.today()).isoformat()})
    await case.sleep_until(until)
    return await case.figures("certification in support")


async def child(sf: async_sessionmaker[AsyncSession], p: Principal, n: int, born: date) -> int:
    """A child born `born`, living in 城北社区 (潞州区), registered as a clerk registers one."""
    async with transaction(sf) as s:
        committee = (await s.execute(select(Agency.id).where(Agency.code == "luzhou-vc1"))).scalar_one()
        registered = await register_child(
            session=s,
            principal=p,
            data=ChildIn(
                name=f"历年儿童{n}",
                id_number=make_id_number(LUZHOU, born, 900 + n),
                origin_region=LUZHOU,
                residence_region=LUZHOU,
                residence_committee_id=committee,
                address="东街街道城北社区",
                guardians=[GuardianIn(name="祖母", relation="祖母", phone="13900000000")],
            ),
        )
        await s.flush()
        return registered.id


async def one_case(url: str, drive: Any) -> Figures:
    """Runs `drive(case, principals)` on a time-skipping server of its own, its clock starting now."""
    keys = PayloadKeys.parse("bench:" + base64.b64encode(os.urandom(32)).decode())
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(keys), test_server_existing_path=temporal_test_server(), runtime=QUIET
    )
    engine = make_engine(url)
    sf = make_session_factory(engine)
    try:
        async with build_worker(env.client, f"bench-history-{uuid.uuid4().hex[:6]}", sf) as worker:
            async with sf() as s:
                names = ("luzhou-civil", "luzhou-vc1", "luzhou-town1", "shangdang-town1", "shangdang-civil")
                ps = {n: await load_principal(s, n, channel="api") for n in names}
            return await drive(Case(env, sf, worker.task_queue), ps)
    finally:
        await engine.dispose()
        await env.shutdown()


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="referrals-bench-history-"))
    server = embedded_server(tmp / "pg")
    try:
        url = ensure_database(server.get_uri(), "referrals_bench_history")
        upgrade(url)
        engine = make_engine(url)
        sf = make_session_factory(engine)
        async with transaction(sf) as s:
            await seed_regions(s)
            await seed_demo(s)
        async with sf() as s:
            civil = await load_principal(s, "luzhou-civil", channel="api")
        # Born a year ago: neither case ends at its age limit within the years simulated.
        born = local_date(datetime.now(UTC)) - timedelta(days=366)
        kids = [await child(sf, civil, n, born) for n in (1, 2)]
        await engine.dispose()
        print(
            f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; time-skipping server, real worker, {args.years} simulated years"
        )
        t0 = time.perf_counter()
        f = await one_case(url, lambda c, ps: followup(c, ps["luzhou-civil"], ps["luzhou-vc1"], kids[0], args.years))
        print(f.line() + f"   [{time.perf_counter() - t0:.0f} s]", flush=True)
        t0 = time.perf_counter()
        f = await one_case(
            url,
            lambda c, ps: certification(
                c, ps["luzhou-town1"], ps["shangdang-town1"], ps["shangdang-civil"], kids[1], args.years
            ),
        )
        print(f.line() + f"   [{time.perf_counter() - t0:.0f} s]", flush=True)
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=float, default=10, help="simulated years of each case (default 10)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
