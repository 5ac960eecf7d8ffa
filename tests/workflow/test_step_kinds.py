"""The step kinds of the shared machinery, each under time-skipping with fake activities (tests/fakes.py),
through the small test-only process of tests/sample_process.py: a step held outside this deployment,
a transition fired by a deadline, months and years and "from the next month", an escalation audience
per step, a linked case of another process, an end that depends on a condition, and Action.to as a
contract."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from temporalio.runtime import Runtime

from api.cases.service import send
from domain.deadlines import birthday, date_after, end_of_local_day, local_date, start_of_local_day
from domain.errors import DomainError
from domain.messages import ActionRequest
from domain.policy import Allowance
from domain.workdays import WorkCalendar
from tests.codec_keys import CONVERTER
from tests.fakes import TEST_PROCESSES, FakeCase, FakeEnv, agency, op, start_fake_env
from tests.sample_process import SAMPLE, SampleWorkflow

CAL = WorkCalendar()
TOWN = "town-east"


@pytest.fixture
async def sample_env(quiet: Runtime) -> AsyncIterator[FakeEnv]:
    TEST_PROCESSES[SAMPLE.name] = SAMPLE
    try:
        async with start_fake_env(quiet, extra=[SampleWorkflow]) as env:
            yield env
    finally:
        TEST_PROCESSES.pop(SAMPLE.name, None)


async def open_sample(f: FakeEnv, **kw) -> FakeCase:
    return await FakeCase.open(f, SAMPLE.name, op(TOWN), "intake", {"facts": "申请认定"}, **kw)


async def to_support(c: FakeCase) -> None:
    await c.act(op(TOWN), "forward", {"origin": "河南省郑州市金水区民政局"})
    await c.act(
        op(TOWN),
        "record_origin_decision",
        {"received_on": local_date(await c.now()).isoformat(), "answer_from": "金水区民政局", "decision": "approve"},
    )


# ---------------------------------------------------------------------------- a transition fired by a deadline


async def test_an_applicants_lapsed_supplement_withdraws_the_application(sample_env: FakeEnv) -> None:
    c = await open_sample(sample_env)
    await c.act(op(TOWN), "request_supplement", {"items": "户口簿复印件"})
    step = await c.step()
    assert (step.step, step.allowance) == ("supplement", "30d")
    assert step.deadlines.due_at == end_of_local_day(local_date(step.opened_at) + timedelta(days=30))
    # Nobody can take the system's action by hand.
    with pytest.raises(DomainError) as refused:
        await c.act(op(TOWN), "lapse")
    assert refused.value.code == "action_not_allowed" and "系统自动" in refused.value.message

    await c.sleep_until(step.deadlines.due_at + timedelta(seconds=1))
    events = await c.wait_closed()
    last = events[-1]
    assert (last.action, last.from_step, last.to_step, last.closed_outcome) == (
        "lapse",
        "supplement",
        "@close",
        "withdrawn",
    )
    assert last.actor is not None and last.actor.user_id is None and "期限届满" in last.actor.user_name
    assert last.at >= step.deadlines.due_at
    assert all(e.kind != "escalated" for e in events)  # the deadline withdrew it; nobody was told of a delay


async def test_a_supplement_in_time_goes_back_to_intake(sample_env: FakeEnv) -> None:
    c = await open_sample(sample_env)
    await c.act(op(TOWN), "request_supplement", {"items": "户口簿复印件"})
    await c.sleep(timedelta(days=29))
    await c.act(op(TOWN), "supplemented")
    assert (await c.step()).step == "intake"
    await c.sleep(timedelta(days=5))
    assert not (await c.view()).closed


# ---------------------------------------------------------------------------- a step held outside the deployment


async def test_a_step_held_outside_escalates_to_local_coordinators_and_a_clerk_records_the_answer(
    sample_env: FakeEnv,
) -> None:
    c = await open_sample(sample_env)
    await c.act(op(TOWN), "forward", {"origin": "河南省郑州市金水区民政局"})
    step = await c.step()
    assert step.step == "origin_review"
    assert step.external is not None and step.external.name == "河南省郑州市金水区民政局"
    assert step.holder.id == agency(TOWN).id  # the clerk here records its answer
    assert step.deadlines.due_at == end_of_local_day(CAL.add_working_days(local_date(step.opened_at), 15)[0])
    opened = c.events()[-1]
    assert [(n.agency_id, n.title) for n in opened.notifications] == [
        (agency(TOWN).id, "新的待办：户籍地审核（等待河南省郑州市金水区民政局答复）")
    ]

    d = step.deadlines
    await c.sleep_until(d.level3_at + timedelta(seconds=1))
    events = await c.wait_seq(opened.seq + 3)
    told = [
        (e.payload["level"], n.agency_id, n.agency_type, n.region_code, n.role)
        for e in events[-3:]
        for n in e.notifications
    ]
    assert told == [
        (1, agency(TOWN).id, None, None, None),
        (2, None, "civil_affairs", "140403", "supervisor"),
        (3, None, "civil_affairs", "140400", "supervisor"),
    ]
    # Each level fired at its time (a timer fires within moments of it).
    for e, at in zip(events[-3:], (d.due_at, d.level2_at, d.level3_at), strict=True):
        assert timedelta(0) <= e.at - at < timedelta(seconds=1)

    await c.act(
        op(TOWN),
        "record_origin_decision",
        {
            "doc_no": "金民认〔2027〕3号",
            "received_on": local_date(await c.now()).isoformat(),
            "answer_from": "金水区民政局",
            "decision": "reject",
        },
    )
    last = (await c.wait_closed())[-1]
    assert last.closed_outcome == "rejected" and last.payload["doc_no"] == "金民认〔2027〕3号"


# ---------------------------------------------------------------------------- months, years, next month, audience


async def test_support_from_next_month_and_a_yearly_review_with_its_own_audience(sample_env: FakeEnv) -> None:
    c = await open_sample(sample_env)
    await to_support(c)
    state = await c.view()
    step = state.steps["main"]
    approved_on = local_date(step.opened_at)
    first = date_after(approved_on, Allowance.parse("1M@start"))
    assert state.summary["allowance_from"] == first.isoformat()
    assert first.day == 1 and first > approved_on and (first - approved_on).days <= 31
    # A yearly review: due a calendar year on (28 February for a 29 February), at the end of the day.
    assert step.allowance == "1y"
    assert step.deadlines.due_at == end_of_local_day(date_after(approved_on, Allowance.parse("1y")))
    due = step.deadlines
    # Level 2 at half a year past the deadline, level 3 at a full year.
    assert due.level2_at == end_of_local_day(date_after(local_date(due.due_at), Allowance.parse("6M")))
    assert due.level3_at == end_of_local_day(date_after(local_date(due.due_at), Allowance.parse("1y")))

    before = c.events()[-1].seq
    await c.sleep_until(due.level3_at + timedelta(seconds=1))
    events = await c.wait_seq(before + 3)
    audience = [(n.agency_type, n.region_code, n.township, n.role) for e in events[-3:] for n in e.notifications]
    assert audience == [
        ("township", "140403", "东街街道", "supervisor"),  # the township's child supervisor
        ("civil_affairs", "140403", None, "supervisor"),
        ("political_legal_committee", "140403", None, "supervisor"),
    ]
    assert [e.note for e in events[-3:]] == [
        "逾期1级，已报乡镇（街道）儿童督导员",
        "逾期未办，已报县级督导",
        "逾期3级，已报县级政法委",
    ]


async def test_a_review_reopens_the_yearly_clock(sample_env: FakeEnv) -> None:
    c = await open_sample(sample_env)
    await to_support(c)
    await c.sleep(timedelta(days=300))
    await c.act(op("vc1"), "record_review")
    step = await c.step()
    assert step.deadlines.due_at == end_of_local_day(date_after(local_date(await c.now()), Allowance.parse("1y")))
    assert step.level == 0


# ---------------------------------------------------------------------------- a linked case of another process


async def test_a_review_opens_a_linked_guardianship_case(sample_env: FakeEnv) -> None:
    c = await open_sample(sample_env)
    await to_support(c)
    await c.act(op("vc1"), "refer_guardianship", {"note": "监护人长期外出"})
    linked_no = c.events()[-1].payload["linked_case"]
    assert linked_no.startswith("JH-")
    g = c.of(linked_no)
    await g.wait_seq(1)
    opened = g.events()[0]
    assert opened.opening is not None and opened.opening.process == "guardianship"
    assert opened.opening.facts["linked_from"] == c.no
    assert opened.to_step == "police_report" and (await g.step()).holder.id == agency("police").id
    # The same request again (a retry) opens nothing more.
    assert list(sample_env.fakes.follow_ons.values()) == [linked_no]


# ---------------------------------------------------------------------------- an end that depends on a condition


async def test_at_18_support_goes_on_while_in_full_time_education(sample_env: FakeEnv) -> None:
    now = await sample_env.env.get_current_time()
    born = date(local_date(now).year - 18, 1, 1) + timedelta(days=(local_date(now).timetuple().tm_yday + 20))
    c = await open_sample(sample_env, born=born)
    await to_support(c)
    until = local_date(now) + timedelta(days=200)
    await c.act(op("vc1"), "record_education", {"until": until.isoformat()})
    eighteen = start_of_local_day(birthday(born, 18))
    before = c.events()[-1].seq
    await c.sleep_until(eighteen + timedelta(seconds=1))
    events = await c.wait_seq(before + 1)
    reached = events[-1]
    assert reached.kind == "age_reached" and f"保障至{until.isoformat()}" in reached.note
    assert not (await c.view()).closed
    await c.sleep_until(end_of_local_day(until) + timedelta(seconds=1))
    last = (await c.wait_closed())[-1]
    assert last.closed_outcome == "adult"


async def test_at_18_support_ends_without_education(sample_env: FakeEnv) -> None:
    now = await sample_env.env.get_current_time()
    born = date(local_date(now).year - 18, 1, 1) + timedelta(days=(local_date(now).timetuple().tm_yday + 20))
    c = await open_sample(sample_env, born=born)
    await to_support(c)
    await c.sleep_until(start_of_local_day(birthday(born, 18)) + timedelta(seconds=1))
    last = (await c.wait_closed())[-1]
    assert (last.kind, last.closed_outcome) == ("closed", "adult")


# ---------------------------------------------------------------------------- Action.to as a contract


async def test_a_move_the_action_does_not_declare_fails_the_workflow_task(sample_env: FakeEnv) -> None:
    c = await open_sample(sample_env)
    req = ActionRequest(request_id=uuid.uuid4().hex, actor=op(TOWN), action="bad_move", step="intake")
    with pytest.raises(DomainError) as unanswered:
        await send(sample_env.client, c.no, req, wait_seconds=1.5)
    assert unanswered.value.code == "unavailable"
    history = (await c.handle().fetch_history()).events
    raw = [
        e.workflow_task_failed_event_attributes.failure
        for e in history
        if e.HasField("workflow_task_failed_event_attributes")
    ]
    # The failure's text is encrypted in the history (worker/codec.py); decrypted, it names the move.
    assert raw and raw[0].message == "Encoded failure"
    failures = [str(await CONVERTER.decode_failure(f)) for f in raw]
    assert "undeclared" in failures[0] and "intake/bad_move" in failures[0]
