"""Dropout return (processes.md §2) in milliseconds: the real workflow on the time-skipping server with
fake activities (tests/fakes.py), no database. School contact, the 双线 persuasion team, the written
order and its compliance date, legal action with the supervisor's sign-off, consolidation, relapse,
hand-over with a linked case, escalation. The same paths against PostgreSQL: test_dropout_paths.py."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from domain.deadlines import compute_deadlines, end_of_local_day, local_date
from domain.errors import DomainError
from domain.policy import Allowance, Unit
from domain.workdays import WorkCalendar, YearSchedule
from tests.fakes import FakeCase, FakeEnv, agency, holders, op, sup
from tests.support import dropout_facts, form

CLOSE = "@close"
CAL = WorkCalendar()


def wd_end(at, n: int):
    return end_of_local_day(CAL.add_working_days(local_date(at), n)[0])


def day_end(at, n: int):
    return end_of_local_day(local_date(at) + timedelta(days=n))


async def open_case(f: FakeEnv, starter: str = "school1", **facts) -> FakeCase:
    """A suspected dropout reported by a school; the child lives in 南庄村 (vc2, 西街街道)."""
    return await FakeCase.open(
        f, "dropout_return", op(starter), "school_contact", dropout_facts(**facts), village_committee="vc2"
    )


async def to_persuasion(c: FakeCase) -> None:
    await c.act(op("school1"), "not_returned", form("not_returned"))
    assert (await c.step()).step == "joint_persuasion"


def ids(*keys: str) -> list[int]:
    return [agency(k).id for k in keys]


# ---------------------------------------------------------------------------- returned and consolidated


async def test_returned_at_school_then_two_checks_close_it(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    first = await c.step()
    assert (first.step, first.holder.id, first.allowance) == ("school_contact", agency("school1").id, "3WD")
    assert first.deadlines.due_at == wd_end(first.opened_at, 3)
    assert c.events()[0].summary == {"school": "潞州区实验小学", "relapses": 0}

    await c.act(op("school1"), "returned", form("returned"))
    check = await c.step()
    assert (check.step, check.holder.id, check.counters, check.deadlines.due_at) == (
        "consolidation",
        agency("school1").id,
        {"checks": 0},
        day_end(check.opened_at, 30),
    )
    await c.sleep(timedelta(days=30))
    await c.act(op("school1"), "record_attendance", form("record_attendance"))
    second = await c.step()
    assert (second.allowance, second.base, second.counters) == ("90d", check.base, {"checks": 1})
    assert second.deadlines.due_at == day_end(check.base, 90)  # 90 days after the return
    await c.sleep_until(second.window_opens_at)
    r = await c.act(op("school1"), "record_attendance", form("record_attendance"))
    assert (r.closed, r.outcome) == (True, "returned")
    assert c.path() == [
        ("opened", None, None, "school_contact"),
        ("action", "returned", "school_contact", "consolidation"),
        ("action", "record_attendance", "consolidation", "consolidation"),
        ("action", "record_attendance", "consolidation", CLOSE),
    ]


async def test_a_bureau_reporting_names_the_school(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env, "edu", school_id=agency("school2").id)
    first = await c.step()
    assert (first.step, first.holder.id) == ("school_contact", agency("school2").id)
    assert c.events()[0].summary["school"] == "潞州区西街小学"


# ---------------------------------------------------------------------------- persuasion, order, legal action


async def test_persuasion_order_legal_action_and_the_supervisors_sign_off(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    r = await c.act(op("school1"), "not_returned", form("not_returned"))
    team = await c.step()
    # The county's bureau with the child's committee and that committee's township (the 双线 team).
    assert (team.holder.id, [a.id for a in team.co_holders]) == (agency("edu").id, ids("vc2", "town-west"))
    assert (team.allowance, team.counters, team.deadlines.due_at) == (
        "15WD",
        {"attempts": 0},
        wd_end(team.opened_at, 15),
    )
    assert sorted(w for _, w, _ in c.told(r.seq)) == ["edu", "town-west", "vc2"]

    # A written order needs a home visit on record first.
    with pytest.raises(DomainError) as e:
        await c.act(op("edu"), "refuses", form("refuses"))
    assert (e.value.code, e.value.message) == ("home_visit_required", "书面责令前须至少记录一次入户劝返")
    await c.act(op("vc2"), "record_attempt", form("record_attempt", kind="phone"))
    r = await c.act(op("town-west"), "record_attempt", form("record_attempt"))  # a home visit
    noted = await c.step()
    # Attempts are notes on the step: the deadline and the step's seq stay.
    assert (noted.counters, noted.seq, noted.deadlines) == ({"attempts": 2, "home_visits": 1}, team.seq, team.deadlines)
    assert c.path()[-1] == ("action", "record_attempt", "joint_persuasion", "joint_persuasion")
    with pytest.raises(DomainError) as e:
        await c.act(op("vc2"), "refuses", form("refuses"))  # the bureau's decision alone
    assert e.value.code == "not_holder"

    await c.act(op("edu"), "refuses", form("refuses"))
    order = await c.step()
    assert (order.step, order.holder.id, [a.id for a in order.co_holders]) == (
        "written_order",
        agency("edu").id,
        ids("town-west"),
    )
    assert order.deadlines.due_at == wd_end(order.opened_at, 5)

    today = local_date(await c.now())
    comply_by = today + timedelta(days=12)
    await c.act(op("town-west"), "issue_order", form("issue_order", comply_by=comply_by.isoformat()))
    compliance = await c.step()
    assert (compliance.step, compliance.allowance) == ("order_compliance", "12d")
    assert compliance.deadlines.due_at == end_of_local_day(comply_by)
    doc = c.events()[-1].document
    assert (doc.kind, doc.title, doc.fields["authority"], doc.fields["comply_by"]) == (
        "written_order",
        "责令限期改正通知书",
        "西街街道办事处",  # the township issued it
        comply_by.isoformat(),
    )
    with pytest.raises(DomainError) as e:
        await c.act(op("edu"), "not_complied", form("not_complied"))
    assert e.value.message == f"“期满仍未复学，依法控辍”改正期限{comply_by.isoformat()}届满后可办理"

    await c.sleep_until(compliance.deadlines.due_at + timedelta(hours=1))
    await c.act(op("edu"), "not_complied", form("not_complied"))
    legal = await c.step()
    assert (legal.step, legal.co_holders, legal.counters, legal.allowance) == (
        "legal_action",
        [],
        {"measures": 0},
        "30d",
    )
    await c.act(op("edu"), "record_measure", form("record_measure"))
    rearmed = await c.step()
    assert (rearmed.counters, rearmed.deadlines.due_at) == ({"measures": 1}, day_end(rearmed.opened_at, 30))

    await c.act(op("edu"), "exhausted", form("exhausted"))
    signoff = await c.step()
    assert (signoff.step, signoff.allowance) == ("unresolved_signoff", "5WD")
    with pytest.raises(DomainError) as e:
        await c.act(op("edu"), "sign_off", form("sign_off"))
    assert e.value.message == "“同意以未复学结案”须由督导办理"
    await c.act(sup("edu"), "reject_signoff", form("reject_signoff"))
    assert holders([await c.step()]) == {"main": ("legal_action", "edu")}
    await c.act(op("edu"), "exhausted", form("exhausted"))
    r = await c.act(sup("edu"), "sign_off", form("sign_off"))
    assert (r.closed, r.outcome) == (True, "unresolved")
    actions = [a for kind, a, _, _ in c.path() if kind == "action"]
    assert actions == [
        "not_returned",
        "record_attempt",
        "record_attempt",
        "refuses",
        "issue_order",
        "not_complied",
        "record_measure",
        "exhausted",
        "reject_signoff",
        "exhausted",
        "sign_off",
    ]


async def test_the_committee_may_see_the_pupil_back_first(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    await to_persuasion(c)
    r = await c.act(op("vc2"), "returned", form("returned"))
    assert holders(r.steps) == {"main": ("consolidation", "school1")}


async def test_a_special_placement_goes_to_the_school_chosen(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    await to_persuasion(c)
    r = await c.act(op("edu"), "special_placement", form("special_placement", school_id=agency("school2").id))
    assert holders(r.steps) == {"main": ("consolidation", "school2")}
    assert c.events()[-1].summary["school"] == "潞州区西街小学"


# ---------------------------------------------------------------------------- relapse


async def test_relapse_goes_back_to_the_school_and_is_counted(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    for n in (1, 2):
        await c.act(op("school1"), "returned", form("returned"))
        r = await c.act(op("school1"), "dropped_again", form("dropped_again"))
        assert holders(r.steps) == {"main": ("school_contact", "school1")}
        ev = c.events()[-1]
        assert (ev.from_step, ev.to_step, ev.payload["relapse"], ev.summary["relapses"]) == (
            "consolidation",
            "school_contact",
            n,
            n,
        )
    assert (await c.view()).summary == {"school": "潞州区实验小学", "relapses": 2}


async def test_a_school_switched_off_is_replaced_on_the_next_step(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    fake_env.fakes.inactive.add(agency("school1").id)
    r = await c.act(op("school1"), "returned", form("returned"))
    assert holders(r.steps) == {"main": ("consolidation", "school2")}
    assert c.events()[-1].summary["school"] == "潞州区西街小学"  # the facts follow the substitute


# ---------------------------------------------------------------------------- moved: locate and hand over


async def test_located_elsewhere_handed_over_and_taken_on_in_a_linked_case(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    r = await c.act(op("school1"), "moved_or_unknown", form("moved_or_unknown"))
    assert holders(r.steps) == {"main": ("locate", "edu")}
    assert (await c.step()).deadlines.due_at == wd_end((await c.step()).opened_at, 15)
    await c.act(op("edu"), "request_police_assist", form("request_police_assist"))
    assert [a.id for a in (await c.step()).co_holders] == ids("police")

    with pytest.raises(DomainError) as e:
        await c.act(op("edu"), "hand_over", form("hand_over", destination_region="140403"))
    assert e.value.code == "same_region"
    r = await c.act(op("edu"), "hand_over", form("hand_over"))
    handover = await c.step()
    assert (handover.step, handover.holder.id, handover.allowance) == ("handover", agency("sd-edu").id, "5WD")
    doc = c.events()[-1].document
    assert (doc.kind, doc.fields["destination_region"], doc.fields["school"]) == (
        "transfer_packet",
        "140404",
        "潞州区实验小学",
    )

    r = await c.act(
        op("sd-edu"),
        "acknowledge_handover",
        form("acknowledge_handover", continue_here=True, destination_committee_id=agency("sd-vc").id),
    )
    assert (r.closed, r.outcome) == (True, "moved")
    follow_on = c.events()[-1].payload["follow_on"]
    assert follow_on == fake_env.fakes.follow_ons[c.no]
    assert sorted(w for _, w, k in c.told(r.seq) if k == "handover_acknowledged") == ["edu", "school1"]

    linked = c.of(follow_on)
    opened = (await linked.wait_seq(1))[0]
    assert (opened.kind, opened.to_step, opened.opening.county, opened.opening.facts["follows"]) == (
        "opened",
        "joint_persuasion",
        "140404",
        c.no,
    )
    step = opened.set_steps[0]
    assert (step.holder.id, [a.id for a in step.co_holders]) == (agency("sd-edu").id, ids("sd-vc", "sd-town"))
    assert opened.summary == {"school": "潞州区实验小学", "relapses": 0}
    await linked.act(op("sd-vc"), "returned", form("returned", school_id=agency("sd-school").id))
    assert holders([await linked.step()]) == {"main": ("consolidation", "sd-school")}


async def test_handed_outside_the_city_the_bureau_records_the_receipt(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    await c.act(op("school1"), "moved_or_unknown", form("moved_or_unknown"))
    await c.act(op("edu"), "hand_over", form("hand_over", destination_region="410721"))
    assert holders([await c.step()]) == {"main": ("handover", "edu")}
    r = await c.act(op("edu"), "record_external_ack", form("record_external_ack"))
    assert (r.closed, r.outcome) == (True, "moved")


# ---------------------------------------------------------------------------- escalation, age limit


async def test_a_late_school_escalates_to_the_education_supervisors(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    d = (await c.step()).deadlines
    await c.sleep_until(d.level3_at + timedelta(seconds=1))
    await c.wait_seq(4)
    assert [w for _, w, k in c.told() if k in ("overdue", "escalated")] == [
        "school1",
        "education_bureau@140403:supervisor",
        "education_bureau@140400:supervisor",
    ]
    # A county supervisor of the bureau may urge the school; one of civil affairs may not.
    r = await c.supervise(sup("edu"), "urge", "school_contact", reason="请立即家访")
    assert c.told(r.seq) == [(r.seq, "school1", "urged")]
    with pytest.raises(DomainError):
        await c.supervise(sup("civil"), "urge", "school_contact", reason="x")


async def test_the_case_closes_when_the_pupil_turns_17(fake_env: FakeEnv) -> None:
    today = local_date(await fake_env.env.get_current_time())
    turns_17 = today + timedelta(days=5)
    born = date(turns_17.year - 17, turns_17.month, turns_17.day)
    c = await FakeCase.open(
        fake_env, "dropout_return", op("school1"), "school_contact", dropout_facts(), born=born, village_committee="vc2"
    )
    await c.sleep(timedelta(days=6))
    last = (await c.wait_closed())[-1]
    assert (last.kind, last.closed_outcome, local_date(last.at)) == ("closed", "aged_out", turns_17)


# ---------------------------------------------------------------------------- a year's holidays published


async def test_provisional_deadlines_become_exact_when_the_year_is_loaded(fake_env: FakeEnv) -> None:
    """Persuasion opened in late December runs into a year whose holidays are not known: its deadline is
    provisional until an admin loads the schedule, and the calendar update makes it exact."""
    now = await fake_env.env.get_current_time()
    year = local_date(now).year
    while CAL.is_exact(year):
        year += 1  # the first year the calendar does not know
    if CAL.is_exact(year - 1):
        await fake_env.env.sleep(max(end_of_local_day(date(year - 1, 12, 20)) - now, timedelta(0)))
    c = await open_case(fake_env)
    await to_persuasion(c)
    before = await c.step()
    assert before.deadlines.provisional

    off = frozenset(date(year, 1, d) for d in range(1, 16))  # a made-up fortnight off
    fake_env.fakes.schedules[year] = YearSchedule(year, holidays=off)
    handle = await fake_env.client.start_workflow(
        "calendar_update", year, id=f"calendar-{year}", task_queue=fake_env.tq, result_type=int
    )
    assert await handle.result() == 1  # one case held a provisional deadline
    ev = (await c.wait_seq(before.seq + 1))[-1]
    assert (ev.kind, ev.from_step, ev.payload["provisional"]) == ("deadline_confirmed", "joint_persuasion", False)
    after = await c.step()
    assert after.deadlines == compute_deadlines(
        before.base, Allowance(15, Unit.working_days), fake_env.fakes.calendar()
    )
    assert after.deadlines.due_at > before.deadlines.due_at and not after.deadlines.provisional
    assert after.seq == before.seq  # the same step: forms already open stay valid
