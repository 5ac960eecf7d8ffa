"""Helpers for tests: principals from the demo users, starting and acting through the services, and
reading the projection and timeline back."""

from __future__ import annotations

import asyncio
import json
import os
import time as _time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from api.cases import service
from api.principal import Principal, agency_ref, load_principal
from db.models import (
    Agency,
    Case,
    CaseParty,
    CaseStep,
    Child,
    Document,
    Notification,
    PolicyOverrideRow,
    TimelineEvent,
)
from domain.deadlines import local_date, start_of_local_day
from domain.errors import DomainError
from domain.messages import ActionRequest, ActionResult, AgencyRef, CaseResult
from tests.conftest import Db


async def who(db: Db, username: str, channel: str = "api") -> Principal:
    async with db.sf() as s:
        p = await load_principal(s, username, channel=channel)
    assert p is not None, username
    return p


async def child_id(db: Db, name: str) -> int:
    async with db.sf() as s:
        return (await s.execute(select(Child.id).where(Child.name == name))).scalar_one()


async def start(
    db: Db,
    client: Client,
    task_queue: str,
    username: str,
    *,
    child: str = "王小明",
    step: str = "admonition",
    facts: dict[str, Any] | None = None,
    key: str | None = None,
    history_limit: int | None = None,
) -> str:
    p = await who(db, username)
    facts = {
        "facts": "监护人长期外出，儿童独自在家",
        "occurred_on": today_iso(),  # today in Shanghai: the first step's clock starts now
        **(facts or {}),
    }
    async with db.sf() as s:
        started = await service.start_case(
            session=s,
            client=client,
            task_queue=task_queue,
            principal=p,
            data=service.StartCaseIn(
                process="guardianship", start_step=step, child_id=await child_id(db, child), facts=facts
            ),
            idempotency_key=key,
            history_limit=history_limit,
        )
    return started.case_no


async def act(
    db: Db,
    client: Client,
    case_no: str,
    username: str,
    action: str,
    payload: dict[str, Any] | None = None,
    *,
    step: str | None = "",
    step_seq: int | None = None,
) -> ActionResult:
    """Acts on the open step that offers `action` (or on `step` when given; None = a case action)."""
    p = await who(db, username)
    if step == "":
        steps = await open_steps(db, case_no)
        step = next(iter(steps.values())).step if len(steps) == 1 else None
        if step is None:
            raise AssertionError("several steps are open: name the step")
    async with db.sf() as s:
        return await service.act(
            session=s,
            client=client,
            principal=p,
            case_no=case_no,
            data=service.ActIn(
                request_id=uuid.uuid4().hex, action=action, step=step, step_seq=step_seq, payload=payload or {}
            ),
        )


async def supervise(
    db: Db, client: Client, case_no: str, username: str, kind: str, step: str, **kw: Any
) -> ActionResult:
    p = await who(db, username)
    async with db.sf() as s:
        return await service.supervise(
            session=s, client=client, principal=p, case_no=case_no, data=service.SuperviseIn(kind=kind, step=step, **kw)
        )


async def case_row(db: Db, case_no: str) -> Case:
    async with db.sf() as s:
        return (await s.execute(select(Case).where(Case.case_no == case_no))).scalar_one()


async def open_steps(db: Db, case_no: str) -> dict[str, CaseStep]:
    async with db.sf() as s:
        rows = (await s.execute(select(CaseStep).join(Case).where(Case.case_no == case_no))).scalars()
        return {r.track: r for r in rows}


async def timeline(db: Db, case_no: str) -> list[TimelineEvent]:
    async with db.sf() as s:
        return list(
            (
                await s.execute(
                    select(TimelineEvent).join(Case).where(Case.case_no == case_no).order_by(TimelineEvent.seq)
                )
            ).scalars()
        )


async def notifications(db: Db, case_no: str) -> list[Notification]:
    async with db.sf() as s:
        return list(
            (
                await s.execute(
                    select(Notification).join(Case).where(Case.case_no == case_no).order_by(Notification.id)
                )
            ).scalars()
        )


def today_iso() -> str:
    from domain.deadlines import local_date

    return local_date(datetime.now(UTC)).isoformat()


# ---------------------------------------------------------------------------- workflow tests (time-skipping)
# Added for tests/workflow and tests/replay. The helpers above are unchanged.

SHANGHAI = ZoneInfo("Asia/Shanghai")
HISTORIES = Path(__file__).parent / "histories"
SAVE_HISTORIES = os.environ.get("REFERRALS_SAVE_HISTORIES") == "1"


def sh(y: int, m: int, d: int, hh: int = 23, mm: int = 59, ss: int = 59) -> datetime:
    """A moment in Asia/Shanghai (by default the end of that local day, where day deadlines fall)."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=SHANGHAI)


def local(at: datetime) -> datetime:
    return at.astimezone(SHANGHAI)


# The name the workflow tests use.
open_case = start


async def wait_for(fn: Callable[[], Awaitable[Any]], *, what: str = "condition", within: float = 15.0) -> Any:
    """Polls `fn` until it returns something truthy (the worker writes after a timer fires)."""
    deadline = _time.monotonic() + within
    while True:
        value = await fn()
        if value:
            return value
        if _time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value {value!r}")
        await asyncio.sleep(0.05)


async def wait_seq(db: Db, case_no: str, seq: int) -> list[TimelineEvent]:
    """The timeline once it holds event `seq`."""

    async def check() -> list[TimelineEvent] | None:
        events = await timeline(db, case_no)
        return events if events and events[-1].seq >= seq else None

    return await wait_for(check, what=f"{case_no} event {seq}")


async def settle(db: Db, case_no: str, quiet: float = 0.3) -> list[TimelineEvent]:
    """The timeline once no new event has arrived for `quiet` seconds of real time."""
    events = await timeline(db, case_no)
    while True:
        await asyncio.sleep(quiet)
        again = await timeline(db, case_no)
        if len(again) == len(events):
            return again
        events = again


async def sleep_until(env: WorkflowEnvironment, at: datetime) -> None:
    """Skips the test server's clock to `at` (no-op when it is already later)."""
    now = await env.get_current_time()
    if at > now:
        await env.sleep(at - now)


def on_server_day(payload: dict[str, Any], today: date) -> dict[str, Any]:
    """tests.support.form() dates a form "today" by the wall clock; on the time-skipping server, whose clock
    runs ahead, today is the server's: a date naming the wall clock's today names the server's."""
    wall = today_iso()
    return {k: today.isoformat() if v == wall else v for k, v in payload.items()}


WINDOWS = ("guardianship.monitoring_window", "dropout.consolidation_window")


@asynccontextmanager
async def visits_any_day(db: Db, county: str = "140403") -> AsyncIterator[None]:
    """A test on the real clock cannot wait for a scheduled visit's window: the county opens its windows
    from 120 days before the date (a policy override) while the block runs."""
    since = datetime.now(UTC) - timedelta(days=1)
    async with db.sf() as s, s.begin():
        for key in WINDOWS:
            s.add(PolicyOverrideRow(key=key, region_code=county, value="120d", effective_from=since))
    try:
        yield
    finally:
        async with db.sf() as s, s.begin():
            await s.execute(
                delete(PolicyOverrideRow).where(
                    PolicyOverrideRow.key.in_(WINDOWS), PolicyOverrideRow.region_code == county
                )
            )


async def server_today(env: WorkflowEnvironment) -> date:
    return local(await env.get_current_time()).date()


async def agency(db: Db, code: str) -> Agency:
    async with db.sf() as s:
        return (await s.execute(select(Agency).where(Agency.code == code))).scalar_one()


async def agency_id(db: Db, code: str) -> int:
    return (await agency(db, code)).id


async def agency_codes(db: Db) -> dict[int, str]:
    async with db.sf() as s:
        return dict((await s.execute(select(Agency.id, Agency.code))).all())


async def step_row(db: Db, case_no: str, track: str = "main") -> CaseStep:
    steps = await open_steps(db, case_no)
    assert track in steps, f"no open {track} step: {sorted(steps)}"
    return steps[track]


def path(events: list[TimelineEvent]) -> list[tuple[str, str | None, str | None, str | None]]:
    """(kind, action, from step, to step) of each event: what the case page's timeline shows."""
    return [(e.kind, e.action, e.from_step, e.to_step) for e in events]


async def notes(db: Db, case_no: str, *, seq: int | None = None) -> list[tuple[int, str, str, str]]:
    """(seq, agency code, role, kind) of each notification of the case (of one event when `seq`)."""
    codes = await agency_codes(db)
    return [
        (n.seq, codes[n.agency_id], n.role, n.kind)
        for n in await notifications(db, case_no)
        if seq is None or n.seq == seq
    ]


async def documents(db: Db, case_no: str) -> list[Document]:
    async with db.sf() as s:
        return list(
            (
                await s.execute(select(Document).join(Case).where(Case.case_no == case_no).order_by(Document.seq))
            ).scalars()
        )


async def parties(db: Db, case_no: str) -> dict[str, tuple[str, int]]:
    """Agency code → (role, visible_from_seq)."""
    codes = await agency_codes(db)
    async with db.sf() as s:
        rows = (await s.execute(select(CaseParty).join(Case).where(Case.case_no == case_no))).scalars()
        return {codes[r.agency_id]: (r.role, r.visible_from_seq) for r in rows}


async def act_on(
    db: Db,
    client: Client,
    case_no: str,
    username: str,
    action: str,
    payload: dict[str, Any] | None = None,
    *,
    step: str | None,
    step_seq: int | None = None,
    request_id: str | None = None,
    **supervisor: Any,
) -> ActionResult:
    """Sends an action straight to the case's workflow, past the service's visibility check, so that a
    test reaches the workflow's own validator (the second line of defence). `supervisor` takes the
    ActionRequest fields supervisor, reason, extend_by and new_holder."""
    p = await who(db, username)
    req = ActionRequest(
        request_id=request_id or uuid.uuid4().hex,
        actor=p.actor(),
        action=action,
        step=step,
        step_seq=step_seq,
        payload=payload or {},
        **supervisor,
    )
    return await service.send(client, case_no, req)


async def agency_ref_of(db: Db, code: str) -> AgencyRef:
    return agency_ref(await agency(db, code))


async def snapshot(db: Db, case_no: str) -> tuple:
    """Everything a refused action must leave unchanged: the timeline, the open steps, the case row's
    state, the notifications and the documents."""
    events = [(e.seq, e.kind, e.action, e.from_step, e.to_step) for e in await timeline(db, case_no)]
    steps = sorted(
        (r.track, r.step, r.step_seq, r.holder_agency_id, r.due_at, r.escalation_level, json.dumps(r.counters))
        for r in (await open_steps(db, case_no)).values()
    )
    c = await case_row(db, case_no)
    return (
        events,
        steps,
        (c.status, c.outcome, c.main_step, c.last_seq),
        len(await notifications(db, case_no)),
        len(await documents(db, case_no)),
    )


async def save_history(client: Client, case_no: str, name: str) -> None:
    """With REFERRALS_SAVE_HISTORIES=1, writes the case's workflow history to
    tests/histories/guardianship-<name>.json for tests/replay (see tests/replay/test_replay.py)."""
    if not SAVE_HISTORIES:
        return
    history = await client.get_workflow_handle(f"case-{case_no}").fetch_history()
    HISTORIES.mkdir(exist_ok=True)
    # Compact JSON (WorkflowHistory.from_json reads it like to_json's indented output): half the size.
    text = json.dumps(history.to_json_dict(), separators=(",", ":"))
    (HISTORIES / f"guardianship-{name}.json").write_text(text + "\n", encoding="utf-8")


WEEK = timedelta(days=7)


class CaseDriver:
    """One case in a workflow test (`w` is the tests.workflow `Wf`): act as a demo user, read the
    projection back, skip time."""

    def __init__(self, w: Any, case_no: str) -> None:
        self.w = w
        self.db: Db = w.db
        self.no = case_no

    @classmethod
    async def open(cls, w: Any, username: str, **kw: Any) -> CaseDriver:
        return cls(w, await open_case(w.db, w.client, w.tq, username, **kw))

    async def act(self, username: str, action: str, payload: dict[str, Any] | None = None, **kw: Any) -> ActionResult:
        payload = on_server_day(payload or {}, await server_today(self.w.env))
        return await act(self.db, self.w.client, self.no, username, action, payload, **kw)

    async def act_on(
        self, username: str, action: str, payload: dict[str, Any] | None = None, **kw: Any
    ) -> ActionResult:
        payload = on_server_day(payload or {}, await server_today(self.w.env))
        return await act_on(self.db, self.w.client, self.no, username, action, payload, **kw)

    async def supervise(self, username: str, kind: str, step: str, **kw: Any) -> ActionResult:
        return await supervise(self.db, self.w.client, self.no, username, kind, step, **kw)

    async def step(self, track: str = "main") -> CaseStep:
        return await step_row(self.db, self.no, track)

    async def steps(self) -> dict[str, CaseStep]:
        return await open_steps(self.db, self.no)

    async def events(self) -> list[TimelineEvent]:
        return await timeline(self.db, self.no)

    async def path(self) -> list[tuple[str, str | None, str | None, str | None]]:
        return path(await self.events())

    async def notes(self, seq: int | None = None) -> list[tuple[int, str, str, str]]:
        return await notes(self.db, self.no, seq=seq)

    async def row(self) -> Case:
        return await case_row(self.db, self.no)

    async def parties(self) -> dict[str, tuple[str, int]]:
        return await parties(self.db, self.no)

    async def documents(self) -> list[Document]:
        return await documents(self.db, self.no)

    async def snapshot(self) -> tuple:
        return await snapshot(self.db, self.no)

    async def wait_seq(self, seq: int) -> list[TimelineEvent]:
        return await wait_seq(self.db, self.no, seq)

    async def sleep(self, delta: timedelta) -> None:
        await self.w.env.sleep(delta)

    async def sleep_until(self, at: datetime) -> None:
        await sleep_until(self.w.env, at)

    async def now(self) -> datetime:
        return await self.w.env.get_current_time()

    async def sleep_to_window(self, track: str = "main") -> None:
        """Until the open scheduled visit or check may be recorded: 7 days before its date (the window
        policies' default)."""
        due = local_date((await self.step(track)).due_at)
        await self.sleep_until(start_of_local_day(due - timedelta(days=7)))

    def handle(self) -> WorkflowHandle:
        return self.w.client.get_workflow_handle(f"case-{self.no}", result_type=CaseResult)

    async def save_history(self, name: str) -> None:
        await save_history(self.w.client, self.no, name)


def day_end(opened: datetime, days: int) -> datetime:
    """The end of the local day `days` calendar days after `opened` (where a "30 d" deadline falls)."""
    d = local(opened).date() + timedelta(days=days)
    return sh(d.year, d.month, d.day)


def form(action: str, **over: Any) -> dict[str, Any]:
    """A complete, valid form for `action` (dates today), with `over` replacing or adding fields."""
    today = today_iso()
    forms: dict[str, dict[str, Any]] = {
        "record_admonition": {"done_on": today, "content": "已当面劝诫，监护人表示改正"},
        "report_serious": {"note": "儿童身上有新伤，情节严重"},
        "improved": {"done_on": today, "note": "监护人已回家照料"},
        "not_improved": {"done_on": today, "note": "监护人仍长期外出"},
        "accept": {"police_case_ref": "潞公受字〔2026〕101号"},
        "decide_reprimand": {"decision": "reprimand", "family_education_order": True, "note": "调查属实"},
        "open_criminal_case": {"criminal_case_ref": "潞公刑字〔2026〕7号", "note": "涉嫌虐待"},
        "no_violation": {"note": "经调查不构成违法"},
        "issue_reprimand": {"done_on": today, "content": "训诫监护人依法履行监护职责", "family_education_order": True},
        "record_session": {"done_on": today, "content": "亲子沟通指导", "guardian_attended": True},
        "report_noncompliance": {"note": "监护人两次未到场"},
        "reprimand_again": {"note": "再次训诫"},
        "penalise": {"penalty": "警告", "note": "拒不接受指导"},
        "issue_guidance_order": {"order_ref": "(2026)晋0403家指1号"},
        "record_visit": {"done_on": today, "finding": "clean"},
        "report_new_harm": {"note": "回访发现儿童再次受伤"},
        "place_temporary_guardianship": {"note": "儿童无人照料，需临时监护"},
        "accept_child": {"done_on": today, "placement": "市未成年人救助保护中心"},
        "record_reassessment": {"done_on": today, "assessment": "监护人暂不具备监护能力"},
        "return_home": {"done_on": today, "note": "监护人已具备监护能力"},
        "apply_revocation": {"note": "监护人严重损害儿童身心健康"},
        "support_suit": {"note": "检察院支持起诉"},
        "revoke": {"judgment_ref": "(2026)晋0403民特5号"},
        "reject_revocation": {"note": "证据不足"},
        "confirm_placement": {"done_on": today, "institution": "长治市儿童福利院"},
        "acknowledge_handover": {"note": "已接收"},
        "record_external_ack": {"done_on": today, "receiver": "新乡县某村民委员会"},
    }
    if action not in forms and action in DROPOUT_FORMS:  # the dropout actions (appended below)
        return {**DROPOUT_FORMS[action](today), **over}
    return {**forms[action], **over}


# ---------------------------------------------------------------------------- dropout return (劝返复学)
# Added for tests/workflow/test_dropout_*.py and tests/replay. Above, only form() gained its fallback to
# DROPOUT_FORMS (for actions it did not know); everything else is unchanged.

# form(action) for the dropout actions: each a complete, valid form with dates `today`. The actions both
# processes have (acknowledge_handover, record_external_ack) keep their entries above, which fit both.
DROPOUT_FORMS: dict[str, Callable[[str], dict[str, Any]]] = {
    "returned": lambda today: {"returned_on": today, "note": "学生已返校上课"},
    "not_returned": lambda today: {
        "contacted_on": today,
        "visited_on": today,
        "family_says": "家长称孩子不愿上学，要外出打工",
    },
    "moved_or_unknown": lambda today: {"known_destination": "", "note": "家中无人，邻居称已举家外出"},
    "record_attempt": lambda today: {
        "done_on": today,
        "kind": "home_visit",
        "who": "教育局、街道、社区干部",
        "result": "家长仍不同意返校",
    },
    "special_placement": lambda today: {"placement": "special_school", "done_on": today, "note": "经评估安置"},
    "refuses": lambda today: {"note": "多次入户劝返，家长拒不送学"},
    "issue_order": lambda today: {
        "done_on": today,
        "comply_by": (date.fromisoformat(today) + timedelta(days=15)).isoformat(),
        "content": "责令监护人于期限内送子女入学",
    },
    "not_complied": lambda today: {"note": "期满仍未送学"},
    "record_measure": lambda today: {
        "done_on": today,
        "measure": "administrative_penalty",
        "result": "已依法给予批评教育并处罚",
    },
    "exhausted": lambda today: {"note": "各项措施均已采取，学生仍未复学"},
    "sign_off": lambda today: {"note": "同意以未复学结案"},
    "reject_signoff": lambda today: {"note": "请申请法院强制执行后再报"},
    "hand_over": lambda today: {
        "destination_region": "140404",
        "destination_address": "上党区韩店街道某小区",
        "destination_school": "",
        "note": "随父母迁居上党区",
    },
    "request_police_assist": lambda today: {"note": "去向不明，请公安机关协助查找"},
    "located_here": lambda today: {"whereabouts": "西街街道南庄村亲戚家", "note": "已找到"},
    "record_attendance": lambda today: {"done_on": today, "attendance": "正常到校"},
    "dropped_again": lambda today: {"note": "再次连续无故缺课"},
}


def school_days_back(end: date, n: int) -> date:
    """The day from which there are exactly `n` school days up to `end` (both counted; `end` a school day
    or not)."""
    from domain.processes.dropout import school_days_between

    start = end
    while school_days_between(start, end) < n:
        start -= timedelta(days=1)
    return start


def dropout_facts(**over: Any) -> dict[str, Any]:
    """A valid start form: absent for the last 10 school days up to today."""
    today = date.fromisoformat(today_iso())
    return {
        "class_name": "四年级二班",
        "absent_from": school_days_back(today, 10).isoformat(),
        "absent_to": today.isoformat(),
        "known": "连续两周未到校，电话无人接听",
        **over,
    }


async def start_dropout(
    db: Db,
    client: Client,
    task_queue: str,
    username: str,
    *,
    child: str = "王小明",
    facts: dict[str, Any] | None = None,
    key: str | None = None,
    history_limit: int | None = None,
) -> str:
    """Starts a dropout case through the service (api.cases.service.start_case), at school contact."""
    p = await who(db, username)
    async with db.sf() as s:
        started = await service.start_case(
            session=s,
            client=client,
            task_queue=task_queue,
            principal=p,
            data=service.StartCaseIn(
                process="dropout_return",
                start_step="school_contact",
                child_id=await child_id(db, child),
                facts=dropout_facts(**(facts or {})),
            ),
            idempotency_key=key,
            history_limit=history_limit,
        )
    return started.case_no


async def save_history_as(client: Client, case_no: str, stem: str) -> None:
    """Like save_history, to tests/histories/<stem>.json (e.g. "dropout-returned")."""
    if not SAVE_HISTORIES:
        return
    history = await client.get_workflow_handle(f"case-{case_no}").fetch_history()
    HISTORIES.mkdir(exist_ok=True)
    text = json.dumps(history.to_json_dict(), separators=(",", ":"))
    (HISTORIES / f"{stem}.json").write_text(text + "\n", encoding="utf-8")


class DropoutDriver(CaseDriver):
    """A dropout case (started by a school unless told otherwise); histories saved as dropout-<name>."""

    @classmethod
    async def open(cls, w: Any, username: str = "luzhou-school1", **kw: Any) -> DropoutDriver:
        return cls(w, await start_dropout(w.db, w.client, w.tq, username, **kw))

    async def save_history(self, name: str) -> None:
        await save_history_as(self.w.client, self.no, f"dropout-{name}")

    async def summary(self) -> dict[str, Any]:
        return dict((await self.row()).summary or {})


async def case_history(c: CaseDriver) -> list[str]:
    """The workflow history's events other than workflow tasks, by type name."""
    return [
        EventType.Name(e.event_type)
        for e in (await c.handle().fetch_history()).events
        if not EventType.Name(e.event_type).startswith("EVENT_TYPE_WORKFLOW_TASK_")
    ]


async def settled(c: CaseDriver, within: float = 20.0) -> None:
    """Until the workflow runs no activity: a notification sent out without waiting (an hour-level
    step's outbound delivery) lands in the history later, and is not the refused action's doing."""
    deadline = _time.monotonic() + within
    while (await c.handle().describe()).raw_description.pending_activities:
        assert _time.monotonic() < deadline, "the workflow's activities did not finish"
        await asyncio.sleep(0.05)


async def refused(c: CaseDriver, code: str, message: str | None, attempt: Awaitable[Any]) -> DomainError:
    """Runs `attempt`, expects a DomainError with `code` (and `message`), and checks that the case is
    exactly as it was: the projection (timeline, steps, notifications, documents) and the workflow
    history. Refused by the service or by the Update's validator, no Update, activity or timer reached
    the history. (The test server records the workflow task that ran the validator; a real server drops
    it.)"""
    await settled(c)
    snap = await c.snapshot()
    history = await case_history(c)
    with pytest.raises(DomainError) as e:
        await attempt
    assert e.value.code == code, (e.value.code, e.value.message)
    if message is not None:
        assert e.value.message == message
    assert await c.snapshot() == snap
    assert await case_history(c) == history
    return e.value
