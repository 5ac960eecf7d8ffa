"""Mental-health referral (processes.md §4) in milliseconds: the real workflow on the time-skipping server
with fake activities (tests/fakes.py), no database. Triage by risk, the crisis ladder to the minute, the
28-day reassessment, consent and the danger override, a hospital's decline, follow-up halved in a care
period, the linked guardianship case, and the refusals."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from domain.care_periods import CarePeriod, default_care_periods
from domain.deadlines import end_of_local_day, local_date, start_of_local_day
from domain.enums import AgencyType as T
from domain.errors import DomainError
from domain.ids import outbound_workflow_id
from domain.policy import Allowance
from domain.process import StartContext, clean_payload
from domain.processes.mental_health import MENTAL_HEALTH
from domain.workdays import WorkCalendar
from tests.fakes import FakeCase, FakeEnv, agency, holders, op, sup
from tests.support import save_history_as

CAL = WorkCalendar()
H = timedelta(hours=1)
START = {
    "channel": "school",
    "signs": "近两周情绪低落，课上哭泣",
    "guardian_aware": True,
    "contact": "班主任 139****0000",
}


def wd_end(at: datetime, n: int) -> datetime:
    return end_of_local_day(CAL.add_working_days(local_date(at), n)[0])


async def open_case(f: FakeEnv, risk: str = "medium", starter: str = "school1", **facts: Any) -> FakeCase:
    return await FakeCase.open(f, "mental_health", op(starter), "triage", {**START, "risk_level": risk, **facts})


def consent(today: date, hospital: str = "hospital", **over: Any) -> dict[str, Any]:
    return {
        "hospital_id": agency(hospital).id,
        "consenter_name": "王某某",
        "consenter_relation": "mother",
        "consented_on": today.isoformat(),
        "consent_method": "written",
        "consent_form_ref": "心档2026-118",
        **over,
    }


async def to_counselling(c: FakeCase) -> None:
    await c.act(op("counsel"), "assess", {"risk_level": "medium", "risk_notes": "抑郁情绪，无自伤"})


async def session(c: FakeCase, on: date | None = None) -> None:
    day = on or await c.today()
    await c.act(op("counsel"), "record_session", {"session_on": day.isoformat(), "session_notes": "情绪疏导"})


# ---------------------------------------------------------------------------- triage by risk


@pytest.mark.parametrize(
    ("risk", "allowance"), [("high", "24h"), ("medium", "3WD"), ("low", "5WD")], ids=["high", "medium", "low"]
)
async def test_triage_by_the_counselling_centre_is_due_by_risk(fake_env: FakeEnv, risk: str, allowance: str) -> None:
    c = await open_case(fake_env, risk)
    step = await c.step()
    assert (step.step, step.holder.id, step.allowance) == ("triage", agency("counsel").id, allowance)
    expected = {
        "24h": step.opened_at + 24 * H,
        "3WD": wd_end(step.opened_at, 3),
        "5WD": wd_end(step.opened_at, 5),
    }[allowance]
    assert step.deadlines.due_at == expected
    opened = c.events()[0]
    assert opened.summary == {"risk_level": risk}
    assert opened.note == ""  # the signs are clinical: not the case's note that every reader sees


# ---------------------------------------------------------------------------- the crisis ladder


async def test_a_crisis_escalates_at_one_two_and_four_hours_around_the_clock(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env, "crisis")
    ack = await c.step()
    assert (ack.step, ack.holder.id, ack.allowance) == ("crisis_ack", agency("counsel").id, "1h")
    d = ack.deadlines
    # Exact hours from the moment the crisis was reported, whatever the day or the hour.
    assert (d.due_at, d.level2_at, d.level3_at) == (ack.opened_at + H, ack.opened_at + 2 * H, ack.opened_at + 4 * H)

    await c.sleep_until(d.level3_at + timedelta(seconds=1))
    events = await c.wait_seq(4)
    escalations = [e for e in events if e.kind == "escalated"]
    assert [
        (e.payload["level"], n.agency_id, n.agency_type, n.region_code, n.role)
        for e in escalations
        for n in e.notifications
    ] == [
        (1, agency("counsel").id, None, None, None),
        (2, None, "counselling_center", "140403", "supervisor"),
        (3, None, "political_legal_committee", "140403", "supervisor"),
    ]
    for e, at in zip(escalations, (d.due_at, d.level2_at, d.level3_at), strict=True):
        assert timedelta(0) <= e.at - at < timedelta(minutes=1)  # to the minute
    assert escalations[2].note == "逾期3级，已报县级政法委"

    # Acknowledged late: the hospital referral is still due 24 h after the crisis opened.
    r = await c.act(
        op("counsel"), "acknowledge", {"guardian_notified": True, "police_needed": True, "safety_measures": "专人陪护"}
    )
    referral = await c.step()
    assert (referral.step, referral.deadlines.due_at) == ("crisis_referral", ack.opened_at + 24 * H)
    assert ("police", "crisis") in [(w, k) for _, w, k in c.told(r.seq)]
    assert any(g.agency.id == agency("police").id for g in c.events()[-1].parties)

    # A crisis is a danger: a supervisor confirms the referral without the guardian's consent.
    with pytest.raises(DomainError) as e:
        await c.act(
            op("counsel"),
            "refer_danger_override",
            {"hospital_id": agency("hospital").id, "danger_reason": "有自伤行为"},
        )
    assert e.value.message == "“有危险情形，督导确认后转介”须由督导办理"
    await c.act(
        sup("counsel"), "refer_danger_override", {"hospital_id": agency("hospital").id, "danger_reason": "有自伤行为"}
    )
    assert holders([await c.step()]) == {"main": ("hospital_accept", "hospital")}
    await save_history_as(c.f.client, c.no, "mental_health-crisis-ladder")


async def test_a_crisis_acknowledged_in_time_does_not_escalate(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env, "crisis")
    await c.sleep(timedelta(minutes=59))
    await c.act(op("counsel"), "acknowledge", {"safety_measures": "已联系监护人到校"})
    await c.sleep(timedelta(hours=5))
    assert all(e.kind != "escalated" for e in c.events())


async def test_triage_finding_a_crisis_opens_the_hour_ladder(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env, "high")
    await c.act(op("counsel"), "assess", {"risk_level": "crisis", "risk_notes": "有自杀计划"})
    ack = await c.step()
    assert (ack.step, ack.deadlines.due_at) == ("crisis_ack", ack.opened_at + H)
    assert c.events()[-1].summary == {"risk_level": "crisis"}


# ---------------------------------------------------------------------------- counselling


async def test_first_session_in_five_working_days_then_a_reassessment_every_28_days(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    await c.act(
        op("counsel"), "assess", {"risk_level": "low", "risk_notes": "适应问题", "counsellor_id": agency("counsel2").id}
    )
    first = await c.step()
    assert (first.step, first.holder.id, first.allowance) == ("counselling", agency("counsel2").id, "5WD")
    assert first.deadlines.due_at == wd_end(first.opened_at, 5)

    with pytest.raises(DomainError) as e:
        await c.act(
            op("counsel2"),
            "reassess",
            {"assessed_on": (await c.today()).isoformat(), "result": "improved", "assessment_notes": "-"},
        )
    assert e.value.code == "session_required"

    await c.sleep(timedelta(days=2))
    day = await c.today()
    await c.act(op("counsel2"), "record_session", {"session_on": day.isoformat(), "session_notes": "情绪疏导"})
    reassess = await c.step()
    assert (reassess.allowance, reassess.counters) == ("28d", {"sessions": 1})
    assert reassess.deadlines.due_at == end_of_local_day(day + timedelta(days=28))
    # Later sessions are notes: the reassessment date stays.
    await c.sleep(timedelta(days=7))
    await c.act(
        op("counsel2"), "record_session", {"session_on": (await c.today()).isoformat(), "session_notes": "第二次"}
    )
    again = await c.step()
    assert (again.counters, again.deadlines) == ({"sessions": 2}, reassess.deadlines)

    # Not reassessed: overdue on day 28 + 1.
    before = c.events()[-1].seq
    await c.sleep_until(reassess.deadlines.due_at + timedelta(seconds=1))
    overdue = (await c.wait_seq(before + 1))[before]
    assert (overdue.kind, overdue.payload["level"]) == ("escalated", 1)
    assert timedelta(0) <= overdue.at - reassess.deadlines.due_at < timedelta(minutes=1)

    day = await c.today()
    await c.act(
        op("counsel2"),
        "reassess",
        {"assessed_on": day.isoformat(), "result": "continue", "assessment_notes": "仍需辅导"},
    )
    rearmed = await c.step()
    assert (rearmed.level, rearmed.deadlines.due_at) == (0, end_of_local_day(day + timedelta(days=28)))
    await save_history_as(c.f.client, c.no, "mental_health-counselling-reassessed")


# ---------------------------------------------------------------------------- medical referral


async def test_consent_a_hospital_declining_and_a_second_hospital(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    await to_counselling(c)
    await session(c)
    await c.act(
        op("counsel"),
        "reassess",
        {"assessed_on": (await c.today()).isoformat(), "result": "needs_diagnosis", "assessment_notes": "疑似抑郁症"},
    )
    referral = await c.step()
    assert (referral.step, referral.allowance, referral.deadlines.due_at) == (
        "medical_referral",
        "2WD",
        wd_end(referral.opened_at, 2),
    )
    today = await c.today()
    with pytest.raises(DomainError) as e:
        await c.act(op("counsel"), "refer_with_consent", consent(today, consenter_relation="grandparent"))
    assert (e.value.code, e.value.message) == ("not_guardian", "知情同意须由儿童的监护人作出，所选同意人不是监护人")
    assert (await c.step()).seq == referral.seq  # nothing changed

    await c.act(op("counsel"), "refer_with_consent", consent(today))
    accept = await c.step()
    assert (accept.step, accept.holder.id, accept.allowance) == ("hospital_accept", agency("hospital").id, "2WD")
    letter = c.events()[-1].document
    assert (letter.kind, letter.fields["hospital"], letter.fields["basis"]) == (
        "medical_referral_letter",
        "潞州区人民医院",
        "监护人知情同意",
    )
    assert "王某某" not in str(letter.fields)  # no clinical content on the letter
    consented = c.events()[-1].payload
    assert (consented["consenter_relation"], consented["consent_method"], consented["consent_form_ref"]) == (
        "mother",
        "written",
        "心档2026-118",
    )

    # Only the hospital referred may answer.
    with pytest.raises(DomainError) as e:
        await c.act(op("hospital2"), "accept_referral", {})
    assert e.value.code == "not_holder"
    with pytest.raises(DomainError) as e:
        await c.act(
            op("hospital"), "decline_referral", {"decline_reason": "无床位", "next_hospital_id": agency("hospital").id}
        )
    assert e.value.code == "same_hospital"
    await c.act(
        op("hospital"),
        "decline_referral",
        {"decline_reason": "无儿童精神科", "next_hospital_id": agency("hospital2").id},
    )
    second = await c.step()
    assert (second.step, second.holder.id) == ("hospital_accept", agency("hospital2").id)
    assert c.events()[-1].payload["declined_by"] == "潞州区人民医院"
    with pytest.raises(DomainError) as e:
        await c.act(
            op("hospital2"), "decline_referral", {"decline_reason": "满员", "next_hospital_id": agency("hospital").id}
        )
    assert e.value.code == "same_hospital"  # it declined already

    await c.act(op("hospital2"), "accept_referral", {})
    treatment = await c.step()
    assert (treatment.step, treatment.deadlines) == ("treatment", None)
    await c.act(op("hospital2"), "record_plan", {"diagnosis": "抑郁发作", "plan": "门诊药物治疗"})
    r = await c.act(
        op("hospital2"),
        "discharge",
        {
            "discharged_on": (await c.today()).isoformat(),
            "back_to": "community_rehab",
            "stability": "stable",
            "discharge_summary": "好转",
        },
    )
    assert (r.closed, r.outcome) == (True, "community_rehab")
    await save_history_as(c.f.client, c.no, "mental_health-consent-decline-rehab")


# ---------------------------------------------------------------------------- follow-up


async def _to_followup(c: FakeCase, stability: str) -> None:
    await to_counselling(c)
    await session(c)
    await c.act(
        op("counsel"),
        "reassess",
        {"assessed_on": (await c.today()).isoformat(), "result": "needs_diagnosis", "assessment_notes": "-"},
    )
    await c.act(op("counsel"), "refer_with_consent", consent(await c.today()))
    await c.act(op("hospital"), "accept_referral", {})
    await c.act(
        op("hospital"),
        "discharge",
        {
            "discharged_on": (await c.today()).isoformat(),
            "back_to": "followup",
            "stability": stability,
            "discharge_summary": "-",
        },
    )


async def test_followup_every_three_months_when_stable_two_weeks_when_not_then_closed(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    fake_env.fakes.care_periods = []  # the city has set none in force around these visits
    today = await c.today()
    await _to_followup(c, "unstable")
    visit = await c.step()
    assert (visit.step, visit.holder.id, visit.allowance) == ("followup", agency("school1").id, "14d")
    assert visit.deadlines.due_at == end_of_local_day(today + timedelta(days=14))
    await c.act(op("school1"), "record_visit", {"visited_on": today.isoformat(), "stability": "stable"})
    stable = await c.step()
    assert (stable.allowance, stable.counters) == ("3M", {"stable_visits": 1})
    await c.act(op("school1"), "record_visit", {"visited_on": today.isoformat(), "stability": "unstable"})
    assert (await c.step()).counters == {"stable_visits": 0}  # two in a row close it
    await c.act(op("school1"), "record_visit", {"visited_on": today.isoformat(), "stability": "stable"})
    r = await c.act(op("school1"), "record_visit", {"visited_on": today.isoformat(), "stability": "stable"})
    assert (r.closed, r.outcome) == (True, "stable")


async def test_followup_intervals_are_halved_in_an_exam_or_holiday_period(fake_env: FakeEnv) -> None:
    """In the city's default periods: the next one that starts after today (the winter holiday, the exams)."""
    c = await open_case(fake_env)
    today = await c.today()
    period = next(p for p in default_care_periods() if p.starts_on > today)
    await c.sleep_until(start_of_local_day(period.starts_on) + 10 * H)
    await _to_followup(c, "unstable")
    day = await c.today()
    assert period.covers(day)
    visit = await c.step()
    assert (visit.allowance, visit.deadlines.due_at) == ("7d", end_of_local_day(day + timedelta(days=7)))
    assert c.events()[-1].payload["halved_for"] == period.label
    await c.act(op("school1"), "record_visit", {"visited_on": day.isoformat(), "stability": "stable"})
    stable = await c.step()
    assert (stable.allowance, stable.deadlines.due_at) == ("45d", end_of_local_day(day + timedelta(days=45)))
    await save_history_as(c.f.client, c.no, "mental_health-followup-halved")


async def test_a_period_the_city_sets_halves_the_visit_that_would_fall_in_it(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    today = await c.today()
    # A stable child's visit, three months on, would fall in the exams the city set.
    exams = CarePeriod(starts_on=today + timedelta(days=80), ends_on=today + timedelta(days=100), label="中考")
    fake_env.fakes.care_periods = [exams]
    await _to_followup(c, "stable")
    visit = await c.step()
    assert (visit.allowance, c.events()[-1].payload["halved_for"]) == ("45d", "中考")
    fake_env.fakes.care_periods = []  # the city removed it: the next interval is whole
    await c.act(op("school1"), "record_visit", {"visited_on": today.isoformat(), "stability": "stable"})
    assert (await c.step()).allowance == "3M"


async def test_worse_at_followup_goes_back_to_counselling(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    await _to_followup(c, "stable")
    await c.act(op("school1"), "worse", {"worse_to": "counselling", "note": "再次出现失眠、厌学"})
    assert holders([await c.step()]) == {"main": ("counselling", "counsel")}


# ---------------------------------------------------------------------------- the linked case


async def test_a_guardian_who_harms_opens_a_linked_guardianship_case(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env)
    await c.act(
        op("counsel"),
        "guardian_harm",
        {"village_committee_id": agency("vc1").id, "note": "儿童称遭父亲殴打"},
    )
    linked_no = c.events()[-1].payload["linked_case"]
    assert linked_no.startswith("JH-")
    g = c.of(linked_no)
    await g.wait_seq(1)
    opened = g.events()[0]
    assert opened.opening is not None and opened.opening.process == "guardianship"
    assert opened.opening.facts["linked_from"] == c.no
    assert (await g.step()).step == "police_report"
    assert (await c.step()).step == "triage"  # the referral goes on
    await save_history_as(c.f.client, c.no, "mental_health-linked-guardianship")


# ---------------------------------------------------------------------------- bad input


async def test_refusals_change_nothing(fake_env: FakeEnv) -> None:
    # The start check the API runs (api/cases/service.py) before the workflow starts.
    facts = clean_payload(
        MENTAL_HEALTH.start_fields, {**START, "risk_level": "crisis", "contact": ""}, today=date.today()
    )
    ctx = StartContext(facts, date(2014, 1, 1), date.today(), T.school, policy=lambda key: Allowance.parse("1h"))
    assert MENTAL_HEALTH.check_start is not None
    with pytest.raises(DomainError) as e:
        MENTAL_HEALTH.check_start(ctx)
    assert (e.value.code, e.value.field) == ("contact_required", "contact")
    with pytest.raises(DomainError) as e:
        await open_case(fake_env, "severe")
    assert e.value.field == "risk_level"
    assert fake_env.fakes.events == []

    c = await open_case(fake_env)
    await to_counselling(c)
    before = await c.step()
    tomorrow = (await c.today()) + timedelta(days=1)
    with pytest.raises(DomainError) as e:
        await c.act(op("counsel"), "record_session", {"session_on": tomorrow.isoformat(), "session_notes": "-"})
    assert e.value.field == "session_on"
    with pytest.raises(DomainError) as e:
        await c.act(op("counsel"), "assess", {"risk_level": "crisis"}, step="triage")
    assert e.value.code == "step_not_open"
    assert (await c.step()) == before


# ---------------------------------------------------------------------------- the outbound channel


async def test_the_notifications_of_hour_level_steps_are_sent_out(fake_env: FakeEnv) -> None:
    c = await open_case(fake_env, "crisis")
    await c.sleep(timedelta(hours=1, seconds=1))
    await c.wait_seq(2)
    slow = await open_case(fake_env, "low")  # 5 working days: the inbox is enough
    await c.act(op("counsel"), "acknowledge", {"safety_measures": "已联系监护人"})

    def sent(no: str) -> list[int]:
        return sorted(r.seq for r in fake_env.fakes.sent_out if r.case_no == no)

    for _ in range(100):
        if len(sent(c.no)) >= 3:
            break
        await asyncio.sleep(0.02)
    # Opened (the centre told of the crisis), escalated at 1 h, acknowledged (the 24 h referral).
    assert sent(c.no) == [1, 2, 3]
    assert sent(slow.no) == []
    # Each by a delivery workflow of its own, named by the case number and the event only, and done.
    assert sorted(r.seq for r in fake_env.fakes.handed_over if r.case_no == c.no) == [1, 2, 3]
    for seq in (1, 2, 3):
        delivery = fake_env.client.get_workflow_handle(outbound_workflow_id(c.no, seq))
        assert delivery.id == f"outbound-{c.no}-{seq}"
        assert await delivery.result() == 0
    await save_history_as(c.f.client, c.no, "mental_health-outbound-handed-over")


async def test_improved_goes_to_the_committee_chosen_and_a_crisis_in_counselling_opens_the_ladder(
    fake_env: FakeEnv,
) -> None:
    c = await open_case(fake_env)
    await to_counselling(c)
    await session(c)
    day = (await c.today()).isoformat()
    await c.act(
        op("counsel"),
        "reassess",
        {"assessed_on": day, "result": "improved", "assessment_notes": "-", "followup_by": agency("vc2").id},
    )
    assert holders([await c.step()]) == {"main": ("followup", "vc2")}
    await c.act(op("vc2"), "worse", {"worse_to": "medical_referral", "note": "出现幻听"})
    assert holders([await c.step()]) == {"main": ("medical_referral", "counsel")}

    other = await open_case(fake_env)
    await to_counselling(other)
    await session(other)
    await other.act(op("counsel"), "reassess", {"assessed_on": day, "result": "crisis", "assessment_notes": "-"})
    ack = await other.step()
    assert (ack.step, ack.deadlines.due_at) == ("crisis_ack", ack.opened_at + H)
    assert other.events()[-1].summary == {"risk_level": "crisis"}
