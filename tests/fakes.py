"""Workflow tests without PostgreSQL: the real case workflows on the time-skipping test server, with the
activities they call (workflows/activity_names.py) faked by name and keeping their state in memory, as
in temporalio's samples (`@activity.defn(name="...")` beside the real implementation).

`Fakes` holds a small directory of agencies (AgencyRef), the events the workflows recorded, the policy
overrides and the holiday schedules in force; deadlines are computed with the real pure functions
(domain/deadlines.py, domain/policy.py). `FakeCase` drives one case through the same Update the API
sends (api.cases.service.send) and reads back the workflow's own view (the `view` Query) and its events.
A process's tests build their requests with tests.support.form, as the live tests do.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.runtime import Runtime
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.outbound import UNDELIVERED_AFTER, seconds, start_delivery
from api.cases.service import send
from domain.care_periods import CarePeriod, default_care_periods
from domain.deadlines import compute_deadlines, local_date
from domain.enums import AgencyType, Role
from domain.errors import DomainError
from domain.ids import case_number, workflow_id
from domain.messages import (
    ActionRequest,
    ActionResult,
    Actor,
    AgencyQuery,
    AgencyRef,
    CaseInput,
    CaseResult,
    CaseStart,
    CaseState,
    ChildRef,
    DeadlineAnswer,
    DeadlineRequest,
    DeliveryOrder,
    EventRecord,
    EventWithStep,
    FollowOnRequest,
    NotificationSpec,
    OpenCasesQuery,
    OutboundRequest,
    RecordedWithStep,
    StepInputs,
    StepInputsRequest,
    StepState,
)
from domain.policy import Allowance, PolicyDefault, PolicyOverride, Unit, resolve_policy
from domain.process import Process, clean_payload
from domain.processes import get_process, policy_default
from domain.regions import CITY_CODE
from domain.timing import fill_step
from domain.workdays import WorkCalendar, YearSchedule
from tests.codec_keys import CONVERTER
from tests.support import on_server_day
from worker.binaries import temporal_test_server
from worker.client import SANDBOX
from worker.registry import ALL_WORKFLOWS
from workflows import activity_names as names
from workflows.calendar_update import PROVISIONAL_CASES

T = AgencyType
LUZHOU = "140403"  # 潞州区, the county of the cases below
SHANGDANG = "140404"  # 上党区, where children move to


def _a(id: int, name: str, t: AgencyType, region: str, township: str | None = None) -> AgencyRef:
    return AgencyRef(id=id, name=name, agency_type=t, region_code=region, township=township)


# A small deployment: the first agency of a type in a region is its default (resolve_agency's choice).
AGENCIES: dict[str, AgencyRef] = {
    "vc1": _a(1, "城北社区居委会", T.village_committee, LUZHOU, "东街街道"),
    "vc2": _a(2, "南庄村委会", T.village_committee, LUZHOU, "西街街道"),
    "town-east": _a(3, "东街街道办事处", T.township, LUZHOU, "东街街道"),
    "town-west": _a(4, "西街街道办事处", T.township, LUZHOU, "西街街道"),
    "civil": _a(5, "潞州区民政局", T.civil_affairs, LUZHOU),
    "police": _a(6, "潞州区公安局", T.police, LUZHOU),
    "procuratorate": _a(7, "潞州区人民检察院", T.procuratorate, LUZHOU),
    "court": _a(8, "潞州区人民法院", T.court, LUZHOU),
    "wf": _a(9, "潞州区妇联", T.womens_federation, LUZHOU),
    "edu": _a(10, "潞州区教育局", T.education_bureau, LUZHOU),
    "school1": _a(11, "潞州区实验小学", T.school, LUZHOU, "东街街道"),
    "school2": _a(12, "潞州区西街小学", T.school, LUZHOU, "西街街道"),
    "hospital": _a(13, "潞州区人民医院", T.hospital, LUZHOU),
    "station": _a(14, "潞州区家庭教育指导站", T.education_bureau, LUZHOU),  # not the county's default bureau
    "sd-vc": _a(21, "韩店村委会", T.village_committee, SHANGDANG, "韩店街道"),
    "sd-edu": _a(22, "上党区教育局", T.education_bureau, SHANGDANG),
    "sd-town": _a(23, "韩店街道办事处", T.township, SHANGDANG, "韩店街道"),
    "sd-school": _a(24, "上党区韩店小学", T.school, SHANGDANG, "韩店街道"),
    "counsel": _a(41, "潞州区心理辅导中心", T.counselling_center, LUZHOU),
    "hospital2": _a(42, "长治市精神卫生中心", T.hospital, LUZHOU),
    "plc": _a(43, "中共潞州区委政法委员会", T.political_legal_committee, LUZHOU),
    "youth": _a(44, "共青团潞州区委员会", T.youth_league, LUZHOU),
    "counsel2": _a(45, "潞州区青少年心理服务站", T.counselling_center, LUZHOU),
    "sd-civil": _a(25, "上党区民政局", T.civil_affairs, SHANGDANG),
    "dpf": _a(26, "潞州区残疾人联合会", T.disabled_persons_federation, LUZHOU),
    "sd-dpf": _a(27, "上党区残疾人联合会", T.disabled_persons_federation, SHANGDANG),
    "city-civil": _a(31, "长治市民政局", T.civil_affairs, CITY_CODE),
    "city-police": _a(32, "长治市公安局", T.police, CITY_CODE),
    "city-edu": _a(33, "长治市教育局", T.education_bureau, CITY_CODE),
}
BY_ID: dict[int, str] = {a.id: key for key, a in AGENCIES.items()}


# Processes of the tests only (tests/sample_process.py), beside the registry's.
TEST_PROCESSES: dict[str, Process] = {}


def definition(name: str) -> Process:
    return TEST_PROCESSES.get(name) or get_process(name)


def default_of(key: str) -> PolicyDefault:
    """A policy's default: a test process's own, else the registry's."""
    own = {p.key: p for proc in TEST_PROCESSES.values() for p in proc.policies}
    return own.get(key) or policy_default(key)


def agency(key: str) -> AgencyRef:
    return AGENCIES[key]


def op(key: str, user_id: int | None = None) -> Actor:
    """An operator of the agency `key` (user id 100 + the agency's id unless given)."""
    a = AGENCIES[key]
    return Actor(user_id=user_id or 100 + a.id, user_name=f"{a.name}经办人", agency=a, role=Role.operator)


def sup(key: str) -> Actor:
    """A supervisor of the agency `key` (user id 200 + the agency's id)."""
    a = AGENCIES[key]
    return Actor(user_id=200 + a.id, user_name=f"{a.name}督导", agency=a, role=Role.supervisor)


def child(born: date, county: str = LUZHOU, id: int = 1) -> ChildRef:
    return ChildRef(id=id, birth_date=born, residence_region=county, origin_region=county)


@dataclass
class Fakes:
    """The activities' in-memory world. Tests read `events` and change `overrides`, `schedules`, `inactive`."""

    agencies: dict[str, AgencyRef] = field(default_factory=lambda: dict(AGENCIES))
    events: list[EventRecord] = field(default_factory=list)
    overrides: list[PolicyOverride] = field(default_factory=list)
    schedules: dict[int, YearSchedule] = field(default_factory=dict)
    inactive: set[int] = field(default_factory=set)  # agency ids switched off
    follow_ons: dict[str, str] = field(default_factory=dict)  # origin case → linked case
    numbers: int = 0
    failures: list[str] = field(default_factory=list)  # what an activity could not do (it retries for ever)
    sent_out: list[OutboundRequest] = field(default_factory=list)  # the outbound channel's requests
    handed_over: list[OutboundRequest] = field(default_factory=list)  # deliveries handed to their workflows
    care_periods: list[CarePeriod] = field(default_factory=default_care_periods)  # the city's (or defaults)

    def calendar(self) -> WorkCalendar:
        return WorkCalendar(self.schedules)

    def next_case_no(self, code: str, county: str, at: datetime) -> str:
        self.numbers += 1
        return case_number(code, county, self.numbers, at)

    # ------------------------------------------------------------------ the activities, by name

    @activity.defn(name=names.RECORD_EVENT)
    async def record_event(self, ev: EventRecord) -> bool:
        if any(e.case_no == ev.case_no and e.seq == ev.seq for e in self.events):
            return False  # a retry: written once
        self.events.append(ev)
        return True

    @activity.defn(name=names.COMPUTE_DEADLINES)
    async def compute_deadlines(self, req: DeadlineRequest) -> DeadlineAnswer:
        if req.allowance:
            allowance = Allowance.parse(req.allowance)
        else:
            assert req.policy_key
            allowance = resolve_policy(default_of(req.policy_key), req.county, self.overrides, req.at)
        if allowance.unit == Unit.count:
            return DeadlineAnswer(allowance=str(allowance), deadlines=None)
        ladder = (Allowance.parse(req.ladder[0]), Allowance.parse(req.ladder[1])) if req.ladder else None
        return DeadlineAnswer(
            allowance=str(allowance), deadlines=compute_deadlines(req.base, allowance, self.calendar(), ladder=ladder)
        )

    @activity.defn(name=names.RESOLVE_AGENCY)
    async def resolve_agency(self, q: AgencyQuery) -> AgencyRef:
        """As activities/cases.py: the preferred agency if it fits, else one in the township, else the
        region's default (the first listed), else the city's."""
        for region in dict.fromkeys((q.region_code, CITY_CODE)):
            found = [
                a
                for a in self.agencies.values()
                if a.agency_type == q.agency_type and a.region_code == region and a.id not in self.inactive
            ]
            found.sort(key=lambda a: (a.id != q.prefer_id, (a.township or "") != (q.township or "")))
            if found:
                return found[0]
        self.failures.append(f"resolve_agency: no {q.agency_type.value} in {q.region_code}")
        raise ApplicationError(f"no active {q.agency_type.value} agency serves region {q.region_code}")

    @activity.defn(name=names.ACTIVE_AGENCIES)
    async def active_agencies(self, agencies: list[AgencyRef]) -> list[AgencyRef]:
        out = []
        for a in agencies:
            if a.id in self.inactive:
                a = await self.resolve_agency(
                    AgencyQuery(agency_type=a.agency_type, region_code=a.region_code, township=a.township)
                )
            out.append(a)
        return out

    @activity.defn(name=names.STEP_INPUTS)
    async def step_inputs(self, req: StepInputsRequest) -> StepInputs:
        """As activities/cases.py: the agencies still active, the deadline, the window's lead and the agencies
        looked up along with them, at once."""
        agencies = await self.active_agencies(req.agencies) if req.agencies else []
        answer = await self.compute_deadlines(req.deadline) if req.deadline else None
        window = None
        if req.window_key and req.deadline and answer and answer.deadlines:
            window = str(
                resolve_policy(default_of(req.window_key), req.deadline.county, self.overrides, req.deadline.at)
            )
        found = [await self.resolve_agency(q) for q in req.find]
        return StepInputs(agencies=agencies, deadline=answer, window=window, found=found)

    @activity.defn(name=names.RECORD_WITH_STEP)
    async def record_with_step(self, req: EventWithStep) -> RecordedWithStep:
        """As activities/cases.py: nothing written when one of the step's agencies is switched off (unless the
        event is written already: a retry); else the step's inputs filled in and the event written."""
        ev = req.event
        done = any(e.case_no == ev.case_no and e.seq == ev.seq for e in self.events)
        if not done and any(a.id in self.inactive for a in req.inputs.agencies):
            return RecordedWithStep(written=False)
        got = await self.step_inputs(req.inputs.model_copy(update={"agencies": []}))
        got.agencies = list(req.inputs.agencies)
        for step in ev.set_steps:
            if step.track == req.track and step.seq == ev.seq:
                fill_step(step, got)
        await self.record_event(ev)
        return RecordedWithStep(written=True, inputs=got)

    @activity.defn(name=names.OPEN_FOLLOW_ON)
    async def open_follow_on(self, req: FollowOnRequest) -> str:
        if req.origin_case_no not in self.follow_ons:
            code = definition(req.process).code
            self.follow_ons[req.origin_case_no] = self.next_case_no(code, req.county, datetime.now(UTC))
        return self.follow_ons[req.origin_case_no]

    @activity.defn(name=names.DELIVER_OUTBOUND)
    async def deliver_outbound(self, req: OutboundRequest) -> int:
        self.sent_out.append(req)
        return 0

    @activity.defn(name=names.HAND_OVER_OUTBOUND)
    async def hand_over_outbound(self, req: OutboundRequest) -> bool:
        """As activities/outbound.py: the real delivery workflow, started through the worker's client."""
        after = resolve_policy(default_of(UNDELIVERED_AFTER), LUZHOU, self.overrides, datetime.now(UTC))
        order = DeliveryOrder(case_no=req.case_no, seq=req.seq, undelivered_after_s=seconds(after))
        await start_delivery(activity.client(), activity.info().task_queue, order)
        self.handed_over.append(req)
        return True

    @activity.defn(name=names.MARK_UNDELIVERED)
    async def mark_undelivered(self, req: OutboundRequest) -> bool:
        return False  # the fake delivery never fails

    @activity.defn(name=names.CARE_PERIODS)
    async def care_periods_in_force(self) -> list[CarePeriod]:
        return list(self.care_periods)

    @activity.defn(name=PROVISIONAL_CASES)
    async def provisional_cases(self, year: int) -> list[str]:
        steps = self.open_steps()
        return sorted(
            no for no, open in steps.items() if any(s.deadlines and s.deadlines.provisional for s in open.values())
        )

    @activity.defn(name=names.OPEN_CASES_OF_CHILD)
    async def open_cases_of_child(self, q: OpenCasesQuery) -> list[str]:
        """As activities/cases.py, from the events recorded: opened for the child, not closed since."""
        opened = {
            e.case_no
            for e in self.events
            if e.opening and e.opening.child_id == q.child_id and e.opening.process in q.processes
        }
        closed = {e.case_no for e in self.events if e.closed_outcome}
        return sorted(opened - closed)

    def all(self) -> list:
        return [
            self.open_cases_of_child,
            self.record_event,
            self.record_with_step,
            self.compute_deadlines,
            self.resolve_agency,
            self.active_agencies,
            self.step_inputs,
            self.open_follow_on,
            self.provisional_cases,
            self.deliver_outbound,
            self.hand_over_outbound,
            self.mark_undelivered,
            self.care_periods_in_force,
        ]

    # ------------------------------------------------------------------ reading back

    def case_events(self, case_no: str) -> list[EventRecord]:
        return sorted((e for e in self.events if e.case_no == case_no), key=lambda e: e.seq)

    def open_steps(self) -> dict[str, dict[str, StepState]]:
        """The projection the events imply: case → track → step (what activities/cases.py would write)."""
        out: dict[str, dict[str, StepState]] = {}
        for ev in sorted(self.events, key=lambda e: (e.case_no, e.seq)):
            steps = out.setdefault(ev.case_no, {})
            if "*" in ev.end_tracks:
                steps.clear()
            for t in ev.end_tracks:
                steps.pop(t, None)
            for s in ev.set_steps:
                steps[s.track] = s
        return out


@dataclass
class FakeEnv:
    env: WorkflowEnvironment
    client: Client
    tq: str
    fakes: Fakes


@asynccontextmanager
async def start_fake_env(runtime: Runtime | None = None, extra: Iterable[type] = ()) -> AsyncIterator[FakeEnv]:
    """A time-skipping server of its own (its clock starts at real time) and a worker running the real
    workflows (and `extra` ones of the tests) with the fake activities on a unique task queue."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=CONVERTER, test_server_existing_path=temporal_test_server(), runtime=runtime
    )
    try:
        fakes = Fakes()
        tq = f"fast-{uuid.uuid4().hex[:8]}"
        async with Worker(
            env.client,
            task_queue=tq,
            workflows=[*ALL_WORKFLOWS, *extra],
            activities=fakes.all(),
            workflow_runner=SANDBOX,
        ):
            yield FakeEnv(env, env.client, tq, fakes)
    finally:
        await env.shutdown()


Move = tuple[str, str | None, str | None, str | None]  # (kind, action, from step, to step)
# An answer takes milliseconds here; one that does not come is a stuck case (e.g. an agency missing).
WAIT_SECONDS = 5.0


class FakeCase:
    """One case: started as the API starts it, acted on through the Update the API sends."""

    def __init__(self, f: FakeEnv, case_no: str) -> None:
        self.f = f
        self.no = case_no

    @classmethod
    async def open(
        cls,
        f: FakeEnv,
        process: str,
        starter: Actor,
        step: str,
        facts: dict[str, Any],
        *,
        born: date = date(2016, 5, 1),
        village_committee: str | None = None,
        reported_at: datetime | None = None,
        history_limit: int | None = None,
        served_city: str = CITY_CODE,
    ) -> FakeCase:
        defined = definition(process)
        now = await f.env.get_current_time()
        case_no = f.fakes.next_case_no(defined.code, LUZHOU, now)
        start = CaseStart(
            case_no=case_no,
            process=process,
            start_step=step,
            child=child(born),
            county=LUZHOU,
            starter=starter,
            facts=clean_payload(defined.start_fields, facts, today=local_date(now)),
            village_committee=AGENCIES[village_committee] if village_committee else None,
            reported_at=reported_at,
            served_city=served_city,
        )
        handle = await f.client.start_workflow(
            process, CaseInput(start=start, history_limit=history_limit), id=workflow_id(case_no), task_queue=f.tq
        )
        await handle.execute_update("opened", result_type=ActionResult)
        return cls(f, case_no)

    async def today(self) -> date:
        """The local date on the time-skipping server's clock."""
        return local_date(await self.now())

    def of(self, case_no: str) -> FakeCase:
        """Another case of the same environment (a linked follow-on case)."""
        return FakeCase(self.f, case_no)

    # ------------------------------------------------------------------ acting

    async def act(
        self, actor: Actor, action: str, payload: dict[str, Any] | None = None, *, step: str | None = "", **kw: Any
    ) -> ActionResult:
        """`action` on the open step that offers it (or on `step`; None = a case action). `kw` takes the
        other ActionRequest fields (supervisor, reason, extend_by, new_holder, step_seq, request_id)."""
        if step == "":
            state = await self.view()
            offering = [s.step for s in state.steps.values() if definition(state.process).step(s.step).action(action)]
            assert len(offering) == 1, f"{action}: open steps {offering}"
            step = offering[0]
        req = ActionRequest(
            request_id=kw.pop("request_id", None) or uuid.uuid4().hex,
            actor=actor,
            action=action,
            step=step,
            payload=on_server_day(payload or {}, local_date(await self.now())),
            **kw,
        )
        try:
            return await send(self.f.client, self.no, req, wait_seconds=WAIT_SECONDS)
        except DomainError as e:
            if e.code == "unavailable":  # the case is stuck: say why rather than only that it is
                raise AssertionError(f"{self.no} did not answer {action}: {self.f.fakes.failures}") from None
            raise

    async def supervise(self, actor: Actor, kind: str, step: str, **kw: Any) -> ActionResult:
        return await self.act(actor, kind, step=step, supervisor=kind, **kw)

    # ------------------------------------------------------------------ reading back

    async def view(self) -> CaseState:
        state = await self.handle().query("view", result_type=CaseState)
        assert state is not None
        return state

    async def step(self, track: str = "main") -> StepState:
        steps = (await self.view()).steps
        assert track in steps, f"no open {track} step: {sorted(steps)}"
        return steps[track]

    def events(self) -> list[EventRecord]:
        return self.f.fakes.case_events(self.no)

    def path(self) -> list[Move]:
        """(kind, action, from step, to step) of each recorded event: what the timeline shows."""
        return [(e.kind, e.action, e.from_step, e.to_step) for e in self.events()]

    def told(self, seq: int | None = None) -> list[tuple[int, str, str]]:
        """(seq, whom, kind) of every notification: `whom` the agency's key, or "type@region:role" for
        an audience such as a level-2 escalation."""
        return [(e.seq, whom(n), n.kind) for e in self.events() if seq is None or e.seq == seq for n in e.notifications]

    async def history(self) -> list[str]:
        """The workflow history's events other than workflow tasks, by type name."""
        events = (await self.handle().fetch_history()).events
        return [
            n for n in (EventType.Name(e.event_type) for e in events) if not n.startswith("EVENT_TYPE_WORKFLOW_TASK_")
        ]

    def handle(self) -> WorkflowHandle:
        return self.f.client.get_workflow_handle(workflow_id(self.no), result_type=CaseResult)

    async def result(self) -> CaseResult:
        return await self.handle().result()

    async def now(self) -> datetime:
        return await self.f.env.get_current_time()

    async def sleep(self, delta: timedelta) -> None:
        await self.f.env.sleep(delta)

    async def sleep_until(self, at: datetime) -> None:
        now = await self.now()
        if at > now:
            await self.f.env.sleep(at - now)

    async def wait_seq(self, seq: int) -> list[EventRecord]:
        """The events once event `seq` is recorded: what a timer fired is written after the sleep returns."""
        return await self._wait(lambda events: bool(events) and events[-1].seq >= seq, f"event {seq}")

    async def wait_closed(self) -> list[EventRecord]:
        return await self._wait(lambda events: bool(events) and events[-1].closed_outcome is not None, "the close")

    async def _wait(
        self, done: Callable[[list[EventRecord]], bool], what: str, within: float = 5.0
    ) -> list[EventRecord]:
        # In real time: the server's clock moves only while a test sleeps (a handle's result() does not skip
        # time either, unlike one that start_workflow returned: wait for the close, then ask the result).
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            events = self.events()
            if done(events):
                return events
            await asyncio.sleep(0.01)
        raise AssertionError(f"{self.no}: {what} never came; last {self.path()[-1:]}")


def whom(n: NotificationSpec) -> str:
    if n.agency_id is not None:
        key = BY_ID[n.agency_id]
        return f"{key}#{n.user_id}" if n.user_id is not None else key
    role = f":{n.role.value}" if n.role else ""
    return f"{n.agency_type.value if n.agency_type else '*'}@{n.region_code or '*'}{role}"


def holders(steps: Iterable[StepState]) -> dict[str, tuple[str, str]]:
    """track → (step, holder key)."""
    return {s.track: (s.step, BY_ID[s.holder.id]) for s in steps}
