"""Key-child follow-up (processes.md §5) in milliseconds: the real workflow on the time-skipping server with
fake activities (tests/fakes.py). Sixteen simulated years of contacts every 3 months and visits every 6,
each counted from the day it happened; escalation to the township's child supervisor, then county civil
affairs; a bounded history per run; every end rule; a linked case opened by a visit; the refusals."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from domain.deadlines import local_date, start_of_local_day
from domain.errors import DomainError
from domain.ids import workflow_id
from domain.messages import Actor, AgencyRef
from domain.months import add_months
from tests.fakes import BY_ID, FakeCase, FakeEnv, agency, op
from tests.support import HISTORIES, SAVE_HISTORIES

CLOSE, END = "@close", "@end"
PROCESS = "key_child_followup"
MAX_EVENTS_PER_RUN = 1_000


async def open_case(f: FakeEnv, born: date, starter: str = "civil") -> FakeCase:
    """A key child living in 城北社区 (vc1, 东街街道), listed by county civil affairs."""
    return await FakeCase.open(
        f,
        PROCESS,
        op(starter),
        "contact",
        {"categories": ["hardship", "guardian_missing"], "known": "父母在外务工"},
        born=born,
        village_committee="vc1",
    )


def contact_form(day: date) -> dict:
    return {"done_on": day.isoformat(), "kind": "phone", "content": "电话联系监护人，儿童近况良好"}


def visit_form(day: date, **over) -> dict:
    return {"done_on": day.isoformat(), "findings": "入户走访，家中有人照料", **over}


def at(day: date) -> datetime:
    """10 in the morning of `day`, Shanghai time."""
    return start_of_local_day(day) + timedelta(hours=10)


def due_day(step) -> date:
    return local_date(step.deadlines.due_at)


async def runs(c: FakeCase) -> list[WorkflowHistory]:
    """The history of every run of the case, first to last (following continue-as-new back)."""
    client = c.f.client
    chain: list[WorkflowHistory] = []
    run_id = (await c.handle().describe()).run_id
    while run_id:
        history = await client.get_workflow_handle(workflow_id(c.no), run_id=run_id).fetch_history()
        chain.insert(0, history)
        run_id = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
    return chain


def save(history: WorkflowHistory, name: str) -> None:
    """With REFERRALS_SAVE_HISTORIES=1, writes the run's history to tests/histories/followup-<name>.json,
    replayed by tests/replay."""
    if SAVE_HISTORIES:
        text = json.dumps(history.to_json_dict(), separators=(",", ":"))
        (HISTORIES / f"followup-{name}.json").write_text(text + "\n", encoding="utf-8")


async def save_last(c: FakeCase, name: str) -> None:
    save((await runs(c))[-1], name)


async def test_sixteen_years_of_contacts_and_visits_then_aged_out(fake_env: FakeEnv) -> None:
    """Born today: 16 years of contacts (each a few days before its due date) and visits; every next one
    due 3 (6) months from the day the last happened, never escalated; the case ends at 16, its history
    spread over runs of fewer than 1,000 events each."""
    born = local_date(await fake_env.env.get_current_time())
    c = await open_case(fake_env, born=born)
    contact, visit = (await c.step("main")), (await c.step("visit"))
    opened = local_date(contact.opened_at)
    assert (contact.step, contact.holder.id, contact.allowance) == ("contact", agency("vc1").id, "3M")
    assert (visit.step, visit.holder.id, visit.allowance) == ("home_visit", agency("vc1").id, "6M")
    assert due_day(contact) == add_months(opened, 3) and due_day(visit) == add_months(opened, 6)
    assert c.events()[0].summary == {"categories": "生活困难、监护缺失"}

    sixteen = add_months(born, 16 * 12)
    contacts = visits = 0
    while True:
        # Each contact happens five days before it is due and is entered two days later.
        happened = due_day(await c.step("main")) - timedelta(days=5)
        if happened + timedelta(days=2) >= sixteen:
            break
        await c.sleep_until(at(happened + timedelta(days=2)))
        await c.act(op("vc1"), "record_contact", contact_form(happened))
        contacts += 1
        contact = await c.step("main")
        assert due_day(contact) == add_months(happened, 3), "the next contact counts from the day it happened"
        assert contact.counters == {"contacts": contacts}
        if due_day(await c.step("visit")) - happened <= timedelta(days=60):
            await c.act(op("vc1"), "record_visit", visit_form(happened))
            visits += 1
            visit = await c.step("visit")
            assert due_day(visit) == add_months(happened, 6), "the next visit counts from the day it happened"
            assert visit.counters == {"visits": visits}
    await c.sleep_until(at(sixteen + timedelta(days=1)))
    events = await c.wait_closed()
    assert (events[-1].kind, events[-1].closed_outcome) == ("closed", "aged_out")
    assert contacts >= 62 and visits >= 31, (contacts, visits)
    assert not [e for e in events if e.kind == "escalated" or e.kind == "overdue"], "nothing was ever late"
    chain = await runs(c)
    lengths = [len(h.events) for h in chain]
    assert len(lengths) >= 3 and max(lengths) < MAX_EVENTS_PER_RUN, lengths
    last_events = [e.event_type for e in chain[0].events[-1:]]
    assert last_events == [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW]
    save(chain[0], "years-first-run")  # contacts and visits, then continue-as-new
    save(chain[-1], "years-aged-out")  # a resumed run to the 16th birthday


# ---------------------------------------------------------------------------- escalation


async def test_overdue_contact_reaches_the_township_supervisor_then_county_then_city(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env, born=date(2018, 3, 1))
    contact = await c.step("main")
    due = contact.deadlines
    await c.sleep_until(due.due_at + timedelta(minutes=1))
    await c.wait_seq(2)
    level1 = [t for t in c.told() if t[0] == 2]
    assert [w for _, w, _ in level1] == ["vc1", "township@140403:supervisor"]
    assert c.events()[1].note == "逾期1级，已报乡镇（街道）儿童督导员"
    assert c.events()[1].notifications[1].township == "东街街道"
    await c.sleep_until(due.level2_at + timedelta(minutes=1))
    await c.wait_seq(3)
    assert [w for s, w, _ in c.told() if s == 3] == ["civil_affairs@140403:supervisor"]
    await c.sleep_until(due.level3_at + timedelta(minutes=1))
    await c.wait_seq(4)
    assert [w for s, w, _ in c.told() if s == 4] == ["civil_affairs@140400:supervisor"]
    assert (await c.step("main")).level == 3
    # A late contact recorded at last re-arms the step at level 0, 3 months from the day it happened.
    today = await c.today()
    await c.act(op("vc1"), "record_contact", contact_form(today))
    contact = await c.step("main")
    assert (contact.level, due_day(contact)) == (0, add_months(today, 3))
    await save_last(c, "escalation")


async def test_overdue_visit_escalates_on_its_own_track(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env, born=date(2018, 3, 1))
    visit = await c.step("visit")
    # Contacts kept up: only the visit is late.
    for _ in range(2):
        await c.sleep(timedelta(days=80))
        await c.act(op("vc1"), "record_contact", contact_form(await c.today()))
    await c.sleep_until(visit.deadlines.due_at + timedelta(minutes=1))
    events = await c.wait_seq(4)
    late = events[-1]
    assert (late.kind, late.track, late.from_step) == ("escalated", "visit", "home_visit")
    assert [whom for whom in (n.agency_id or n.agency_type.value for n in late.notifications)] == [
        agency("vc1").id,
        "township",
    ]
    assert (await c.step("main")).level == 0


async def test_a_visit_is_also_a_contact_and_re_arms_it(fake_env: FakeEnv) -> None:
    """The plan: a home visit is a contact with the family too. A visit re-arms the contact from its day
    (its own event, the contacts' count unchanged); a visit dated before the last contact changes nothing;
    the contact, never recorded, is then not overdue at its first due date."""
    c = await open_case(fake_env, born=date(2018, 3, 1))
    first_due = due_day(await c.step("main"))
    await c.sleep(timedelta(days=50))
    visited = await c.today() - timedelta(days=1)
    await c.act(op("vc1"), "record_visit", visit_form(visited))
    contact = await c.step("main")
    assert (contact.step, due_day(contact), contact.counters) == ("contact", add_months(visited, 3), {"contacts": 0})
    assert due_day(await c.step("visit")) == add_months(visited, 6)
    rearmed = c.events()[-1]
    assert (rearmed.kind, rearmed.track, rearmed.from_step, rearmed.to_step) == (
        "rearmed",
        "main",
        "contact",
        "contact",
    )
    assert "入户走访同时计为一次联系" in (rearmed.note or "")

    # A contact a week later, then a visit entered late and dated before it: the contact stays as it is.
    await c.sleep(timedelta(days=7))
    await c.act(op("vc1"), "record_contact", contact_form(await c.today()))
    contact = await c.step("main")
    seq = c.events()[-1].seq
    await c.act(op("vc1"), "record_visit", visit_form(await c.today() - timedelta(days=3)))
    assert [e.kind for e in c.events() if e.seq > seq] == ["action"]
    assert (await c.step("main")).deadlines.due_at == contact.deadlines.due_at

    # Past the first contact's original due date: nothing overdue (the visit counted).
    await c.sleep_until(at(first_due + timedelta(days=2)))
    assert not [e for e in c.events() if e.kind == "escalated"]
    await save_last(c, "visit-rearms-contact")


# ---------------------------------------------------------------------------- the end rules


async def test_leaving_the_key_list_closes_it(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env, born=date(2018, 3, 1))
    with pytest.raises(DomainError) as e:
        await c.act(op("vc1"), "leave_key_list", {"note": "家庭困难已解决"})
    assert e.value.code == "not_permitted"  # the committee follows the child; the list is civil affairs'
    r = await c.act(op("town-east"), "leave_key_list", {"note": "家庭困难已解决"})
    assert (r.closed, r.outcome) == (True, "left_key_list")
    assert c.path()[-1] == ("action", "leave_key_list", "contact", CLOSE)
    await save_last(c, "left-key-list")


async def test_moved_within_the_city_is_handed_over_and_followed_there(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env, born=date(2018, 3, 1))
    await c.act(op("civil"), "moved_away", {"destination_region": "140404", "note": "随父母迁往上党区"})
    state = await c.view()
    assert sorted(state.steps) == ["main"]  # the visits ended with the move
    hand = state.steps["main"]
    assert (hand.step, hand.holder.region_code, hand.holder.agency_type) == ("handover", "140404", "civil_affairs")
    assert c.path()[-2:] == [
        ("action", "moved_away", "contact", "handover"),
        ("action", "visits_end", "home_visit", END),
    ]
    assert c.events()[-2].document.kind == "transfer_packet"
    with pytest.raises(DomainError) as e:
        await c.act(op("civil"), "leave_key_list", {"note": "x"}, step="contact")
    assert e.value.code == "step_not_open"
    receiver = op_of(hand.holder)
    r = await c.act(
        receiver,
        "acknowledge_handover",
        {"continue_here": True, "destination_committee_id": agency("sd-vc").id},
    )
    assert (r.closed, r.outcome) == (True, "moved")
    follow_on = c.events()[-1].payload["follow_on"]
    there = c.of(follow_on)
    steps = (await there.view()).steps
    assert {t: (s.step, s.holder.id) for t, s in steps.items()} == {
        "main": ("contact", agency("sd-vc").id),
        "visit": ("home_visit", agency("sd-vc").id),
    }
    assert there.events()[0].summary == {"categories": "生活困难、监护缺失"}
    assert there.events()[0].opening.facts["follows"] == c.no
    await save_last(c, "moved-follow-on")
    await save_last(there, "follow-on")


async def test_moved_outside_the_city_ends_with_the_receipt(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env, born=date(2018, 3, 1))
    await c.act(op("civil"), "moved_away", {"destination_region": "140105"})  # 太原市小店区
    hand = await c.step("main")
    assert (hand.step, hand.holder.id, hand.external.region_code) == ("handover", agency("civil").id, "140105")
    with pytest.raises(DomainError):
        await c.act(op("civil"), "acknowledge_handover", {})
    r = await c.act(
        op("civil"), "record_external_ack", {"done_on": (await c.today()).isoformat(), "receiver": "小店区民政局"}
    )
    assert (r.closed, r.outcome) == (True, "moved")


async def test_moving_within_the_county_is_refused(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env, born=date(2018, 3, 1))
    with pytest.raises(DomainError) as e:
        await c.act(op("civil"), "moved_away", {"destination_region": "140403"})
    assert e.value.code == "same_region"
    assert len(c.events()) == 1


async def test_at_16_it_ends_unless_a_protection_case_is_open_then_at_18(fake_env: FakeEnv) -> None:
    now = await fake_env.env.get_current_time()
    sixteen = local_date(now) + timedelta(days=20)
    born = sixteen.replace(year=sixteen.year - 16)
    c = await open_case(fake_env, born=born)
    g = await FakeCase.open(
        fake_env,
        "guardianship",
        op("vc1"),
        "admonition",
        guardianship_facts(local_date(now)),
        born=born,
        village_committee="vc1",
    )
    await c.sleep_until(at(sixteen + timedelta(days=1)))
    events = await c.wait_seq(2)
    assert events[-1].kind == "age_reached" and not (await c.view()).closed
    # Still open a month on: asked again, nothing new on the timeline.
    await c.sleep(timedelta(days=31))
    assert not (await c.view()).closed
    # The protection case closes: at the next check the follow-up ends.
    await close_guardianship(g)
    await c.sleep(timedelta(days=31))
    events = await c.wait_closed()
    assert (events[-1].closed_outcome, events[-1].note) == ("aged_out", "儿童已年满16周岁，关爱服务自动结束")
    assert [e.kind for e in events].count("age_reached") == 1
    await save_last(c, "protected-past-16")


async def test_a_protection_case_keeps_it_at_most_until_18(fake_env: FakeEnv) -> None:
    now = await fake_env.env.get_current_time()
    sixteen = local_date(now) + timedelta(days=20)
    born = sixteen.replace(year=sixteen.year - 16)
    c = await open_case(fake_env, born=born)
    await FakeCase.open(
        fake_env,
        "guardianship",
        op("vc1"),
        "admonition",
        guardianship_facts(local_date(now)),
        born=born,
        village_committee="vc1",
    )
    eighteen = born.replace(year=born.year + 18)
    await c.sleep_until(at(eighteen) - timedelta(days=40))
    assert not (await c.view()).closed
    await c.sleep_until(at(eighteen + timedelta(days=1)))
    events = await c.wait_closed()
    assert (events[-1].closed_outcome, events[-1].note) == ("aged_out", "儿童已年满18周岁，关爱服务自动结束")


def guardianship_facts(today: date) -> dict:
    return {"facts": "监护人长期外出，儿童独自在家", "occurred_on": today.isoformat()}


async def close_guardianship(g: FakeCase) -> None:
    """The shortest way a guardianship case closes: the child moved out of the city, the receipt recorded."""
    await g.act(op("vc1"), "child_moved", {"destination_region": "140105"}, step=None)
    receipt = {"done_on": (await g.today()).isoformat(), "receiver": "小店区某社区居委会"}
    r = await g.act(op("vc1"), "record_external_ack", receipt)
    assert r.closed


def op_of(a: AgencyRef) -> Actor:
    return op(BY_ID[a.id])


# ---------------------------------------------------------------------------- a visit opens a linked case


async def test_a_visit_opens_a_linked_guardianship_case(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env, born=date(2018, 3, 1))
    await c.sleep(timedelta(days=10))
    day = await c.today() - timedelta(days=1)
    await c.act(op("vc1"), "record_visit", visit_form(day, findings="父母外出，儿童独自在家", open_case="guardianship"))
    event = c.events()[-2]  # the last re-arms the contact (a visit is also a contact)
    assert c.events()[-1].kind == "rearmed"
    assert (event.action, event.from_step, event.to_step) == ("record_visit", "home_visit", "home_visit")
    linked = c.of(event.payload["linked_case"])
    state = await linked.view()
    assert (state.process, state.child.id, state.steps["main"].step) == ("guardianship", 1, "admonition")
    assert state.steps["main"].holder.id == agency("vc1").id
    opening = linked.events()[0].opening
    assert opening.facts == {
        "facts": "父母外出，儿童独自在家",
        "occurred_on": day.isoformat(),
        "village_committee_id": agency("vc1").id,
        "linked_from": c.no,
    }
    # The visit's next one counts from it all the same.
    assert due_day(await c.step("visit")) == add_months(day, 6)
    await save_last(c, "visit-opens-linked")


@pytest.mark.parametrize(
    ("chosen", "code"),
    [("mental_health", "field_invalid"), ("dropout_return", "not_permitted"), ("nothing", "field_invalid")],
)
async def test_a_linked_case_that_cannot_open_from_a_visit_is_refused(
    fake_env: FakeEnv, chosen: str, code: str
) -> None:
    c = await open_case(fake_env, born=date(2018, 3, 1))
    with pytest.raises(DomainError) as e:
        await c.act(op("vc1"), "record_visit", visit_form(await c.today(), open_case=chosen))
    assert e.value.code == code
    assert len(c.events()) == 1 and (await c.view()).seq == 1


async def test_a_visit_carrying_the_linked_start_form_opens_a_mental_health_referral(fake_env: FakeEnv) -> None:
    """What the mental-health referral's start form needs beyond the visit (its channel, the risk seen) the
    visit form carries (Field kind facts): the referral opens, its signs the visit's findings, and the
    linked form stays off the follow-up's timeline (it is the referral's, clinical readers' only)."""
    c = await open_case(fake_env, born=date(2014, 3, 1))
    await c.sleep(timedelta(days=10))
    day = await c.today() - timedelta(days=1)
    linked = {"channel": "community", "risk_level": "medium", "guardian_aware": True, "contact": "母亲 13900000000"}
    form = visit_form(day, findings="儿童情绪低落、不愿与人交流", open_case="mental_health", linked_facts=linked)
    # Without the linked form's risk level it is still refused, naming what is missing.
    with pytest.raises(DomainError) as e:
        missing = {**form, "linked_facts": {k: v for k, v in linked.items() if k != "risk_level"}}
        await c.act(op("vc1"), "record_visit", missing)
    assert e.value.code == "field_invalid" and "初步风险等级" in e.value.message
    await c.act(op("vc1"), "record_visit", form)
    event = next(e for e in reversed(c.events()) if e.action == "record_visit")
    assert "linked_facts" not in event.payload and event.payload["open_case"] == "mental_health"
    referral = c.of(event.payload["linked_case"])
    state = await referral.view()
    assert (state.process, state.steps["main"].step) == ("mental_health", "triage")
    facts = referral.events()[0].opening.facts
    assert {k: facts[k] for k in ("channel", "risk_level", "signs", "guardian_aware")} == {
        "channel": "community",
        "risk_level": "medium",
        "signs": "儿童情绪低落、不愿与人交流",
        "guardian_aware": True,
    }
    assert facts["linked_from"] == c.no
    await save_last(c, "visit-opens-mental-health")


# ---------------------------------------------------------------------------- refusals


async def test_dates_in_the_future_or_before_the_case_opened_are_refused(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env, born=date(2018, 3, 1))
    today = await c.today()
    for day, code in ((today + timedelta(days=1), "date_in_future"), (today - timedelta(days=3), "date_before_step")):
        for action, form in (("record_visit", visit_form(day)), ("record_contact", contact_form(day))):
            with pytest.raises(DomainError) as e:
                await c.act(op("vc1"), action, form)
            assert e.value.code == code, (action, day, e.value.message)
    assert len(c.events()) == 1


async def test_only_the_committee_holding_the_step_records_a_contact(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env, born=date(2018, 3, 1))
    for who in ("vc2", "town-east", "civil"):
        with pytest.raises(DomainError) as e:
            await c.act(op(who), "record_contact", contact_form(await c.today()))
        assert e.value.code == "not_holder", who
    assert len(c.events()) == 1


async def test_categories_outside_the_list_are_refused(fake_env: FakeEnv) -> None:
    for categories in (["hardship", "rich"], [], "rich"):
        with pytest.raises(DomainError) as e:
            await FakeCase.open(
                fake_env, PROCESS, op("civil"), "contact", {"categories": categories}, village_committee="vc1"
            )
        assert (e.value.code, e.value.field) == ("field_invalid", "categories")
    assert fake_env.fakes.events == []
