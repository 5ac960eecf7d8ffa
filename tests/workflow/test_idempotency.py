"""Idempotency: a start request retried with the same key names the same case; a retried activity
writes its timeline event once; a retried Update (same request id) returns the first result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from temporalio.testing import ActivityEnvironment

from activities.cases import CaseActivities
from api.cases import service
from db.models import Case, CaseRequest, CaseStep, Document, Notification, TimelineEvent
from domain.deadlines import StepDeadlines
from domain.enums import AgencyType, Role
from domain.errors import DomainError
from domain.messages import (
    Actor,
    CaseOpening,
    DocumentSpec,
    EventRecord,
    NotificationSpec,
    PartyGrant,
    StepState,
)
from tests import support as s
from tests.support import CaseDriver, form


async def count(db, model, *where) -> int:
    async with db.sf() as sess:
        return (await sess.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def start(w, username: str, key: str, **facts) -> service.Started:
    p = await s.who(w.db, username)
    data = service.StartCaseIn(
        process="guardianship",
        start_step="police_report",
        child_id=await s.child_id(w.db, "王小明"),
        facts={"facts": "学生身上有多处淤青", "occurred_on": s.today_iso(), **facts},
    )
    async with w.db.sf() as sess:
        return await service.start_case(
            session=sess, client=w.client, task_queue=w.tq, principal=p, data=data, idempotency_key=key
        )


async def test_the_same_start_request_twice_opens_one_case(fresh_wf):
    first = await start(fresh_wf, "luzhou-school1", "school-system-0001")
    again = await start(fresh_wf, "luzhou-school1", "school-system-0001")
    assert first.created is True and again.created is False
    assert again.case_no == first.case_no
    assert again.result is not None and again.result.steps[0].step == "police_report"
    events = await s.timeline(fresh_wf.db, first.case_no)
    assert [e.kind for e in events] == ["opened"]
    assert await count(fresh_wf.db, Case) == 1
    assert await count(fresh_wf.db, CaseRequest) == 1

    # The same key with a different request is a client error, not a second case.
    with pytest.raises(DomainError) as e:
        await start(fresh_wf, "luzhou-school1", "school-system-0001", facts="另一名学生")
    assert (e.value.code, e.value.message) == ("idempotency_conflict", "该幂等键已用于另一项不同的立案请求")
    assert await count(fresh_wf.db, Case) == 1

    # Keys belong to the agency that sent them: another reporter's same key is its own case.
    other = await start(fresh_wf, "luzhou-school2", "school-system-0001")
    assert other.created and other.case_no != first.case_no
    assert await count(fresh_wf.db, Case) == 2


async def test_a_start_retried_after_the_case_closed_names_the_closed_case(fresh_wf):
    w = fresh_wf
    key = "vc1-form-77"
    case_no = await s.open_case(w.db, w.client, w.tq, "luzhou-vc1", key=key)
    c = CaseDriver(w, case_no)
    await c.act("luzhou-vc1", "record_admonition", form("record_admonition"))
    await c.act("luzhou-vc1", "improved", form("improved"))
    for _ in range(2):
        await c.sleep_to_window()
        await c.act("luzhou-vc1", "record_visit", form("record_visit"))
    assert (await c.row()).status == "closed"
    assert await s.open_case(w.db, w.client, w.tq, "luzhou-vc1", key=key) == case_no
    assert await count(w.db, Case) == 1
    assert [e.kind for e in await c.events()].count("opened") == 1
    assert (await c.row()).status == "closed"  # not started again


def _actor(agency) -> Actor:
    return Actor(user_id=None, user_name="测试", agency=agency, role=Role.operator)


async def test_a_retried_record_event_writes_once(db):
    """The record_event activity, called twice with the same event (a retry after a lost reply), writes
    one timeline row, one set of notifications and one document, and says False the second time."""
    acts = CaseActivities(db.sf)
    env = ActivityEnvironment()
    vc = await s.agency_ref_of(db, "luzhou-vc1")
    now = datetime.now(UTC)
    deadlines = StepDeadlines(
        due_at=now + timedelta(days=3),
        level2_at=now + timedelta(days=5),
        level3_at=now + timedelta(days=6),
        allowance="3WD",
    )
    step = StepState(
        track="main",
        step="admonition",
        seq=1,
        opened_at=now,
        base=now,
        holder=vc,
        policy_key="guardianship.admonition",
        allowance="3WD",
        deadlines=deadlines,
    )
    opened = EventRecord(
        case_no="JH-2026-900001",
        seq=1,
        at=now,
        kind="opened",
        actor=_actor(vc),
        track="main",
        to_step="admonition",
        opening=CaseOpening(
            process="guardianship",
            child_id=await s.child_id(db, "王小明"),
            county="140403",
            starter=vc,
            facts={"facts": "测试"},
        ),
        set_steps=[step],
        parties=[PartyGrant(agency=vc, role="starter")],
        notifications=[NotificationSpec(agency_id=vc.id, kind="new_step", title="新的待办")],
        main_step="admonition",
    )
    assert await env.run(acts.record_event, opened) is True
    assert await env.run(acts.record_event, opened) is False

    escalated = EventRecord(
        case_no="JH-2026-900001",
        seq=2,
        at=now,
        kind="escalated",
        track="main",
        from_step="admonition",
        to_step="admonition",
        set_steps=[step.model_copy(update={"level": 2})],
        payload={"level": 2},
        notifications=[
            NotificationSpec(
                agency_type=AgencyType.police,
                region_code="140403",
                role=Role.supervisor,
                kind="escalated",
                title="逾期",
            )
        ],
        document=DocumentSpec(kind="note", title="测试文书"),
        main_step="admonition",
    )
    assert await env.run(acts.record_event, escalated) is True
    assert await env.run(acts.record_event, escalated) is False
    # A retry never overwrites what the first attempt wrote, even if its content differs.
    changed = escalated.model_copy(
        update={"payload": {"level": 3}, "set_steps": [step.model_copy(update={"level": 3})]}
    )
    assert await env.run(acts.record_event, changed) is False

    assert await count(db, Case) == 1
    assert [(e.seq, e.kind, e.payload) for e in await s.timeline(db, "JH-2026-900001")] == [
        (1, "opened", {}),
        (2, "escalated", {"level": 2}),
    ]
    assert await count(db, Notification) == 2
    assert await count(db, Document) == 1
    [row] = (await s.open_steps(db, "JH-2026-900001")).values()
    assert (row.step, row.escalation_level) == ("admonition", 2)
    assert (await s.case_row(db, "JH-2026-900001")).last_seq == 2
    assert await count(db, CaseStep) == 1 and await count(db, TimelineEvent) == 2


async def test_the_same_update_twice_returns_the_first_result(fresh_wf):
    c = await CaseDriver.open(fresh_wf, "luzhou-vc1")
    p = await s.who(c.db, "luzhou-vc1")

    async def send(request_id: str, action: str, payload: dict):
        async with c.db.sf() as sess:
            return await service.act(
                session=sess,
                client=fresh_wf.client,
                principal=p,
                case_no=c.no,
                data=service.ActIn(request_id=request_id, action=action, step="admonition", payload=payload),
            )

    first = await send("form-1", "record_admonition", form("record_admonition"))
    again = await send("form-1", "record_admonition", form("record_admonition"))
    assert again == first
    assert s.path(await c.events()) == [
        ("opened", None, None, "admonition"),
        ("action", "record_admonition", "admonition", "admonition_followup"),
    ]
    # Still the first answer after the case has moved on: the retry is not taken as a new, stale form.
    await c.act("luzhou-vc1", "improved", form("improved"))
    late = await send("form-1", "record_admonition", form("record_admonition"))
    assert late == first
    assert len(await c.events()) == 3

    # Supervisor actions are Updates too.
    urge = service.SuperviseIn(request_id="urge-1", kind="urge", step="monitoring", reason="请按期回访")
    sup = await s.who(c.db, "luzhou-civil-sup")  # civil affairs oversees the committees
    results = []
    for _ in range(2):
        async with c.db.sf() as sess:
            results.append(
                await service.supervise(session=sess, client=fresh_wf.client, principal=sup, case_no=c.no, data=urge)
            )
    assert results[0] == results[1]
    assert [e.kind for e in await c.events()].count("urged") == 1
