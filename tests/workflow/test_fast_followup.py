"""Key-child follow-up (processes.md §5) in milliseconds: the real workflow on the time-skipping server with
fake activities (tests/fakes.py). Sixteen simulated years of contacts every 3 months and visits every 6,
each counted from the day it happened; escalation to the township's child supervisor, then county civil
affairs; a bounded history per run; every end rule; a linked case opened by a visit; the refusals."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from temporalio.client import WorkflowHandle

from domain.deadlines import local_date, start_of_local_day
from domain.errors import DomainError
from domain.ids import workflow_id
from domain.months import add_months
from tests.fakes import AGENCIES, FakeCase, FakeEnv, agency, op

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
        {"categories": ["hardship", "lack_of_guardianship"], "known": "父母在外务工"},
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


async def run_lengths(c: FakeCase) -> list[int]:
    """The history length of every run of the case, first to last (following continue-as-new back)."""
    client = c.f.client
    handle: WorkflowHandle = client.get_workflow_handle(workflow_id(c.no))
    lengths = []
    run_id = (await handle.describe()).run_id
    while run_id:
        events = (await client.get_workflow_handle(workflow_id(c.no), run_id=run_id).fetch_history()).events
        lengths.append(len(events))
        run_id = events[0].workflow_execution_started_event_attributes.continued_execution_run_id
    return lengths[::-1]


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
    lengths = await run_lengths(c)
    assert len(lengths) >= 3 and max(lengths) < MAX_EVENTS_PER_RUN, lengths
