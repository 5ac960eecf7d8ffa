"""Dropout return (劝返复学, processes.md §2), path by path, on the time-skipping server: who holds each step
(and who helps: the 双线 team of joint persuasion, the police in locate), when it is due, what the timeline
says, who is told, which documents are made, what the case summary (school, relapses) says, how it ends."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from api.cases import service
from api.children.service import ChildIn, GuardianIn, register_child
from db.models import Agency, Case, Child
from db.seed import make_id_number
from domain.deadlines import birthday, local_date
from domain.errors import DomainError
from domain.workdays import WorkCalendar
from tests import support as s
from tests.support import DropoutDriver, day_end, form

CLOSE = "@close"
MINUTE = timedelta(minutes=1)
SCHOOL1 = "潞州区实验小学"
SCHOOL2 = "潞州区第二中学"
TEAM = ["luzhou-vc1", "luzhou-town1"]  # 王小明's committee (城北社区) and its township (东街街道)


def holder(step) -> str:
    return step.holder.code


async def co_holders(c: DropoutDriver, step) -> list[str]:
    codes = await s.agency_codes(c.db)
    return [codes[i] for i in step.co_holder_ids]


def wd_end(opened: datetime, n: int) -> datetime:
    """The end of the n-th working day after `opened` (where an "n WD" deadline falls)."""
    d, _ = WorkCalendar().add_working_days(s.local(opened).date(), n)
    return s.sh(d.year, d.month, d.day)


async def to_persuasion(c: DropoutDriver) -> None:
    await c.act("luzhou-school1", "not_returned", form("not_returned"))
    assert (await c.step()).step == "joint_persuasion"


async def to_order_compliance(c: DropoutDriver, comply_in: int = 15) -> str:
    """persuasion → a home visit → refuses → the bureau issues the order; returns the compliance date."""
    await to_persuasion(c)
    await c.act("luzhou-vc1", "record_attempt", form("record_attempt"))
    await c.act("luzhou-edu", "refuses", form("refuses"))
    comply_by = (await s.server_today(c.w.env) + timedelta(days=comply_in)).isoformat()
    await c.act("luzhou-edu", "issue_order", form("issue_order", comply_by=comply_by))
    assert (await c.step()).step == "order_compliance"
    return comply_by


async def to_legal_action(c: DropoutDriver) -> None:
    await to_order_compliance(c, comply_in=1)
    await c.sleep(timedelta(days=2))
    await c.act("luzhou-edu", "not_complied", form("not_complied"))
    assert (await c.step()).step == "legal_action"


# ---------------------------------------------------------------------------- return at school contact


async def test_returned_at_school_contact_then_two_attendance_checks_close_returned(fresh_wf):
    c = await DropoutDriver.open(fresh_wf)
    first = await c.step()
    assert (first.step, holder(first), first.allowance) == ("school_contact", "luzhou-school1", "3WD")
    assert first.due_at == wd_end(first.opened_at, 3)
    assert (first.level2_at, first.level3_at) == (wd_end(first.due_at, 2), wd_end(first.due_at, 3))
    assert await co_holders(c, first) == []
    row = await c.row()
    assert (row.process, row.county, row.status, row.main_step) == (
        "dropout_return",
        "140403",
        "open",
        "school_contact",
    )
    assert row.summary == {"school": SCHOOL1, "relapses": 0}
    assert row.facts["village_committee_id"] == await s.agency_id(c.db, "luzhou-vc1")
    assert row.facts["class_name"] == "四年级二班"
    assert await c.parties() == {"luzhou-school1": ("starter", 0)}
    assert await c.notes() == []  # the school reported and holds the step itself
    [opened] = await c.events()
    assert (opened.kind, opened.to_step, opened.note) == ("opened", "school_contact", "连续两周未到校，电话无人接听")

    await c.sleep(timedelta(days=1))
    r = await c.act("luzhou-school1", "returned", form("returned"))
    cons = await c.step()
    assert (cons.step, holder(cons), cons.allowance, cons.counters) == (
        "consolidation",
        "luzhou-school1",
        "30d",
        {"checks": 0},
    )
    assert cons.step_seq == r.seq == 2
    assert cons.due_at == day_end(cons.opened_at, 30)  # first check 30 d after the return
    assert await c.notes(r.seq) == [(r.seq, "luzhou-school1", "", "new_step")]

    await c.sleep(timedelta(days=29))
    r = await c.act("luzhou-school1", "record_attendance", form("record_attendance"))
    second = await c.step()
    assert (second.step, second.allowance, second.counters, second.step_seq) == (
        "consolidation",
        "90d",
        {"checks": 1},
        r.seq,
    )
    assert second.due_at == day_end(cons.opened_at, 90)  # the second check 90 d after the return
    assert (await c.row()).status == "open"

    await c.sleep(timedelta(days=60))
    r = await c.act("luzhou-school1", "record_attendance", form("record_attendance", attendance="出勤正常，成绩回升"))
    assert r.closed and r.outcome == "returned"
    row = await c.row()
    assert (row.status, row.outcome, row.main_step) == ("closed", "returned", None)
    assert row.summary == {"school": SCHOOL1, "relapses": 0}
    assert await c.steps() == {}
    events = await c.events()
    assert s.path(events) == [
        ("opened", None, None, "school_contact"),
        ("action", "returned", "school_contact", "consolidation"),
        ("action", "record_attendance", "consolidation", "consolidation"),
        ("action", "record_attendance", "consolidation", CLOSE),
    ]
    assert events[1].payload["returned_on"] == local_date(cons.opened_at).isoformat()
    assert events[1].note == "学生已返校上课"
    assert events[3].payload["attendance"] == "出勤正常，成绩回升"
    assert (events[1].actor_agency_name, events[1].actor_name) == (SCHOOL1, "潞州区实验小学经办人")
    assert {a for _, a, _, _ in await c.notes()} == {"luzhou-school1"}
    result = await c.handle().result()
    assert (result.outcome, result.seq) == ("returned", 4)
    await c.save_history("returned-at-school")
    await c.save_history("consolidation-counts-from-policy")  # with the counts' patch marker
    await c.save_history("local-activities")  # the timeline written by local activities
    await c.save_history("step-inputs-at-once")  # a new step's agencies, deadline, window: one local activity


async def test_a_bureau_reports_naming_the_school_which_holds_school_contact(fresh_wf):
    school2 = await s.agency_id(fresh_wf.db, "luzhou-school2")
    c = await DropoutDriver.open(fresh_wf, "luzhou-edu", facts={"school_id": school2})
    first = await c.step()
    assert (first.step, holder(first), first.allowance) == ("school_contact", "luzhou-school2", "3WD")
    assert await c.parties() == {"luzhou-edu": ("starter", 0), "luzhou-school2": ("holder", 0)}
    assert await c.notes(1) == [(1, "luzhou-school2", "", "new_step")]
    assert (await c.summary()) == {"school": SCHOOL2, "relapses": 0}
    # The pupil comes back to the same school: it follows the return.
    await c.act("luzhou-school2", "returned", form("returned"))
    assert holder(await c.step()) == "luzhou-school2"


# ---------------------------------------------------------------------------- joint persuasion → order → legal action


async def test_persuasion_order_legal_action_and_the_supervisors_sign_off(fresh_wf):
    c = await DropoutDriver.open(fresh_wf)
    r = await c.act("luzhou-school1", "not_returned", form("not_returned"))
    jp = await c.step()
    assert (jp.step, holder(jp), jp.allowance, jp.counters) == (
        "joint_persuasion",
        "luzhou-edu",
        "15WD",
        {"attempts": 0},
    )
    assert await co_holders(c, jp) == TEAM
    assert jp.due_at == wd_end(jp.opened_at, 15)
    assert sorted(await c.notes(r.seq)) == [
        (r.seq, "luzhou-edu", "", "new_step"),
        (r.seq, "luzhou-town1", "", "new_step"),
        (r.seq, "luzhou-vc1", "", "new_step"),
    ]
    assert await c.parties() == {
        "luzhou-school1": ("starter", 0),
        "luzhou-edu": ("holder", 0),
        "luzhou-vc1": ("co_holder", 0),
        "luzhou-town1": ("co_holder", 0),
    }
    assert (await c.events())[-1].payload["family_says"] == "家长称孩子不愿上学，要外出打工"

    # Each of the team records attempts; the step, its seq and its deadline stay.
    attempts = [
        ("luzhou-vc1", "phone", {"attempts": 1, "home_visits": 0}),
        ("luzhou-town1", "home_visit", {"attempts": 2, "home_visits": 1}),
        ("luzhou-edu", "meeting", {"attempts": 3, "home_visits": 1}),
    ]
    for user, kind, counters in attempts:
        r = await c.act(user, "record_attempt", form("record_attempt", kind=kind))
        now = await c.step()
        assert (now.step, now.step_seq, now.due_at, now.counters) == (
            "joint_persuasion",
            jp.step_seq,
            jp.due_at,
            counters,
        )
        ev = (await c.events())[-1]
        assert (ev.seq, ev.action, ev.from_step, ev.to_step, ev.payload["kind"]) == (
            r.seq,
            "record_attempt",
            "joint_persuasion",
            "joint_persuasion",
            kind,
        )
        assert await c.notes(r.seq) == []

    # Refuses → the written order, held by the bureau with the township (which may issue it too).
    r = await c.act("luzhou-edu", "refuses", form("refuses"))
    wo = await c.step()
    assert (wo.step, holder(wo), wo.allowance) == ("written_order", "luzhou-edu", "5WD")
    assert await co_holders(c, wo) == ["luzhou-town1"]
    assert wo.due_at == wd_end(wo.opened_at, 5)
    assert sorted(await c.notes(r.seq)) == [
        (r.seq, "luzhou-edu", "", "new_step"),
        (r.seq, "luzhou-town1", "", "new_step"),
    ]

    today = await s.server_today(fresh_wf.env)
    comply = today + timedelta(days=25)
    r = await c.act("luzhou-edu", "issue_order", form("issue_order", comply_by=comply.isoformat()))
    oc = await c.step()
    assert (oc.step, holder(oc), oc.allowance) == ("order_compliance", "luzhou-edu", "25d")
    assert await co_holders(c, oc) == ["luzhou-town1"]
    assert oc.due_at == s.sh(comply.year, comply.month, comply.day)  # the end of the compliance date
    [doc] = await c.documents()
    assert (doc.kind, doc.title, doc.seq) == ("written_order", "责令限期改正通知书", r.seq)
    assert doc.fields == {
        "issued_on": s.today_iso(),
        "comply_by": comply.isoformat(),
        "content": "责令监护人于期限内送子女入学",
        "authority": "潞州区教育局",
        "school": SCHOOL1,
    }

    # Not complied: refused before the compliance date has passed, allowed after.
    with pytest.raises(DomainError) as e:
        await c.act("luzhou-edu", "not_complied", form("not_complied"))
    said = f"“期满仍未复学，依法控辍”改正期限{comply.isoformat()}届满后可办理"
    assert (e.value.code, e.value.message) == ("not_yet", said)
    await c.sleep_until(oc.due_at - MINUTE)
    with pytest.raises(DomainError) as e:
        await c.act("luzhou-edu", "not_complied", form("not_complied"))
    assert e.value.code == "not_yet"
    seq = (await c.row()).last_seq
    await c.sleep_until(oc.due_at + MINUTE)
    assert (await c.wait_seq(seq + 1))[-1].payload == {"level": 1}  # the compliance date has passed
    r = await c.act("luzhou-edu", "not_complied", form("not_complied"))
    la = await c.step()
    assert (la.step, holder(la), la.allowance, la.counters, la.escalation_level) == (
        "legal_action",
        "luzhou-edu",
        "30d",
        {"measures": 0},
        0,
    )
    assert await co_holders(c, la) == []
    assert la.due_at == day_end(la.opened_at, 30)

    # Each measure recorded re-arms the 30-day report.
    await c.sleep(timedelta(days=20))
    r = await c.act("luzhou-edu", "record_measure", form("record_measure"))
    la2 = await c.step()
    assert (la2.step, la2.step_seq, la2.counters) == ("legal_action", r.seq, {"measures": 1})
    assert la2.due_at == day_end(la2.opened_at, 30) and la2.due_at > la.due_at
    assert await c.notes(r.seq) == []  # the same holder on the same step: nobody new to tell
    r = await c.act("luzhou-edu", "record_measure", form("record_measure", measure="supported_lawsuit"))
    assert (await c.step()).counters == {"measures": 2}

    # Exhausted → a supervisor's sign-off; an operator may not give it.
    r = await c.act("luzhou-edu", "exhausted", form("exhausted"))
    so = await c.step()
    assert (so.step, holder(so), so.allowance) == ("unresolved_signoff", "luzhou-edu", "5WD")
    snap = await c.snapshot()
    with pytest.raises(DomainError) as e:
        await c.act("luzhou-edu", "sign_off", form("sign_off"))
    assert (e.value.code, e.value.message) == ("not_permitted", "“同意以未复学结案”须由督导办理")
    assert await c.snapshot() == snap
    r = await c.act("luzhou-edu-sup", "reject_signoff", form("reject_signoff"))
    back = await c.step()
    assert (back.step, holder(back), back.counters) == ("legal_action", "luzhou-edu", {"measures": 0})

    await c.act("luzhou-edu", "exhausted", form("exhausted"))
    r = await c.act("luzhou-edu-sup", "sign_off", form("sign_off"))
    assert r.closed and r.outcome == "unresolved"
    row = await c.row()
    assert (row.status, row.outcome) == ("closed", "unresolved")
    events = await c.events()
    assert [p for p in s.path(events) if p[0] == "action"] == [
        ("action", "not_returned", "school_contact", "joint_persuasion"),
        ("action", "record_attempt", "joint_persuasion", "joint_persuasion"),
        ("action", "record_attempt", "joint_persuasion", "joint_persuasion"),
        ("action", "record_attempt", "joint_persuasion", "joint_persuasion"),
        ("action", "refuses", "joint_persuasion", "written_order"),
        ("action", "issue_order", "written_order", "order_compliance"),
        ("action", "not_complied", "order_compliance", "legal_action"),
        ("action", "record_measure", "legal_action", "legal_action"),
        ("action", "record_measure", "legal_action", "legal_action"),
        ("action", "exhausted", "legal_action", "unresolved_signoff"),
        ("action", "reject_signoff", "unresolved_signoff", "legal_action"),
        ("action", "exhausted", "legal_action", "unresolved_signoff"),
        ("action", "sign_off", "unresolved_signoff", CLOSE),
    ]
    assert (events[-1].actor_name, events[-1].note) == ("潞州区教育局督导", "同意以未复学结案")
    assert [(e.from_step, e.payload["level"]) for e in events if e.kind == "escalated"] == [("order_compliance", 1)]
    await c.save_history("order-legal-unresolved")


# ---------------------------------------------------------------------------- return at each later stage


@pytest.mark.parametrize("stage", ["joint_persuasion", "order_compliance", "legal_action", "locate"])
async def test_returned_at_each_stage_goes_to_consolidation_at_the_school(fresh_wf, stage):
    c = await DropoutDriver.open(fresh_wf)
    if stage == "joint_persuasion":
        await to_persuasion(c)
    elif stage == "order_compliance":
        await to_order_compliance(c)
    elif stage == "legal_action":
        await to_legal_action(c)
    else:
        await c.act("luzhou-school1", "moved_or_unknown", form("moved_or_unknown"))
    assert (await c.step()).step == stage
    r = await c.act("luzhou-edu", "returned", form("returned"))
    cons = await c.step()
    assert (cons.step, holder(cons), cons.allowance, cons.counters) == (
        "consolidation",
        "luzhou-school1",
        "30d",
        {"checks": 0},
    )
    assert await co_holders(c, cons) == []
    assert cons.due_at == day_end(cons.opened_at, 30)
    assert (await c.path())[-1] == ("action", "returned", stage, "consolidation")
    assert (r.seq, "luzhou-school1", "", "new_step") in await c.notes(r.seq)
    assert await c.summary() == {"school": SCHOOL1, "relapses": 0}


async def test_returned_to_another_school_of_the_county(fresh_wf):
    c = await DropoutDriver.open(fresh_wf)
    await to_persuasion(c)
    school2 = await s.agency_id(c.db, "luzhou-school2")
    r = await c.act("luzhou-vc1", "returned", form("returned", school_id=school2))
    cons = await c.step()
    assert (cons.step, holder(cons)) == ("consolidation", "luzhou-school2")
    assert await c.summary() == {"school": SCHOOL2, "relapses": 0}
    assert (await c.parties())["luzhou-school2"] == ("holder", 0)
    assert await c.notes(r.seq) == [(r.seq, "luzhou-school2", "", "new_step")]
    # A relapse later goes back to the school the pupil now attends.
    await c.act("luzhou-school2", "dropped_again", form("dropped_again"))
    sc = await c.step()
    assert (sc.step, holder(sc)) == ("school_contact", "luzhou-school2")


# ---------------------------------------------------------------------------- special placement


@pytest.mark.parametrize(
    ("placement", "school", "expected_holder", "expected_school"),
    [
        ("home_teaching", None, "luzhou-school1", SCHOOL1),
        ("special_school", "luzhou-school2", "luzhou-school2", SCHOOL2),
        ("vocational", "luzhou-school2", "luzhou-school2", SCHOOL2),
    ],
)
async def test_special_placement_goes_to_consolidation(fresh_wf, placement, school, expected_holder, expected_school):
    c = await DropoutDriver.open(fresh_wf)
    await to_persuasion(c)
    over = {"placement": placement}
    if school:
        over["school_id"] = await s.agency_id(c.db, school)
    r = await c.act("luzhou-edu", "special_placement", form("special_placement", **over))
    cons = await c.step()
    assert (cons.step, holder(cons), cons.allowance, cons.counters) == (
        "consolidation",
        expected_holder,
        "30d",
        {"checks": 0},
    )
    ev = (await c.events())[-1]
    assert (ev.seq, ev.action, ev.from_step, ev.to_step, ev.payload["placement"]) == (
        r.seq,
        "special_placement",
        "joint_persuasion",
        "consolidation",
        placement,
    )
    assert await c.summary() == {"school": expected_school, "relapses": 0}
    assert await c.notes(r.seq) == [(r.seq, expected_holder, "", "new_step")]


# ---------------------------------------------------------------------------- locate, hand-over


async def test_locate_with_the_police_then_found_in_the_county(fresh_wf):
    c = await DropoutDriver.open(fresh_wf)
    r = await c.act("luzhou-school1", "moved_or_unknown", form("moved_or_unknown"))
    loc = await c.step()
    assert (loc.step, holder(loc), loc.allowance) == ("locate", "luzhou-edu", "15WD")
    assert loc.due_at == wd_end(loc.opened_at, 15)
    assert await co_holders(c, loc) == []
    assert await c.notes(r.seq) == [(r.seq, "luzhou-edu", "", "new_step")]
    assert (await c.path())[-1] == ("action", "moved_or_unknown", "school_contact", "locate")

    await c.sleep(timedelta(days=3))
    r = await c.act("luzhou-edu", "request_police_assist", form("request_police_assist"))
    after = await c.step()
    # A note on the step: the same step (seq) and deadline, the county police now help.
    assert (after.step, after.step_seq, after.due_at, holder(after)) == (
        "locate",
        loc.step_seq,
        loc.due_at,
        "luzhou-edu",
    )
    assert await co_holders(c, after) == ["luzhou-police"]
    assert await c.notes(r.seq) == [(r.seq, "luzhou-police", "", "new_step")]
    title = (await s.notifications(c.db, c.no))[-1].title
    assert title == "协办：查找去向"
    assert (await c.parties())["luzhou-police"] == ("co_holder", 0)
    assert (await c.path())[-1] == ("action", "request_police_assist", "locate", "locate")
    # Asked again: recorded, nobody added twice.
    r = await c.act("luzhou-edu", "request_police_assist", form("request_police_assist", note="再次请求协查"))
    assert await co_holders(c, await c.step()) == ["luzhou-police"] and await c.notes(r.seq) == []

    # The police find the pupil in the county: joint persuasion with the child's committee and township.
    r = await c.act("luzhou-police", "located_here", form("located_here"))
    jp = await c.step()
    assert (jp.step, holder(jp), jp.counters) == ("joint_persuasion", "luzhou-edu", {"attempts": 0})
    assert await co_holders(c, jp) == TEAM
    assert (await c.events())[-1].actor_agency_name == "潞州区公安局"
    assert (await c.path())[-1] == ("action", "located_here", "locate", "joint_persuasion")


async def test_moved_from_persuasion_handed_over_and_acknowledged(fresh_wf):
    c = await DropoutDriver.open(fresh_wf)
    await to_persuasion(c)
    r = await c.act("luzhou-edu", "moved_or_unknown", form("moved_or_unknown", known_destination="上党区"))
    loc = await c.step()
    assert (loc.step, holder(loc)) == ("locate", "luzhou-edu")
    assert (await c.path())[-1] == ("action", "moved_or_unknown", "joint_persuasion", "locate")

    r = await c.act("luzhou-edu", "hand_over", form("hand_over"))
    ho = await c.step()
    assert (ho.step, holder(ho), ho.allowance) == ("handover", "shangdang-edu", "5WD")
    assert ho.due_at == wd_end(ho.opened_at, 5)
    assert (await c.path())[-1] == ("action", "hand_over", "locate", "handover")
    assert (await c.parties())["shangdang-edu"] == ("receiver", r.seq)  # reads from the hand-over on
    assert await c.notes(r.seq) == [(r.seq, "shangdang-edu", "", "new_step")]
    [packet] = await c.documents()
    assert (packet.kind, packet.title, packet.seq) == ("transfer_packet", "迁出移交函", r.seq)
    assert packet.fields == {
        "destination_region": "140404",
        "from_agency": "潞州区教育局",
        "destination_address": "上党区韩店街道某小区",
        "destination_school": "",
        "school": SCHOOL1,
    }

    # The receiving bureau reads only what follows the hand-over.
    receiver = await s.who(c.db, "shangdang-edu")
    async with c.db.sf() as sess:
        detail = await service.get_case_detail(
            session=sess, client=fresh_wf.client, principal=receiver, case_no=c.no, record_read=False
        )
    assert [e.seq for e in detail.timeline] == [r.seq] and [d.kind for d in detail.documents] == ["transfer_packet"]

    # Only the receiving bureau acknowledges.
    snap = await c.snapshot()
    for user in ("luzhou-edu", "luzhou-school1", "luzhou-vc1"):
        with pytest.raises(DomainError) as e:
            await c.act(user, "acknowledge_handover", form("acknowledge_handover"))
        assert (e.value.code, e.value.message) == ("not_holder", "本单位不是“跨县移交”环节的承办单位"), user
    with pytest.raises(DomainError) as e:  # not a party: the case does not exist for it
        await c.act("shangdang-school1", "acknowledge_handover", form("acknowledge_handover"))
    assert e.value.code == "case_not_found"
    with pytest.raises(DomainError) as e:
        await c.act_on("shangdang-school1", "acknowledge_handover", form("acknowledge_handover"), step="handover")
    assert e.value.code == "not_holder"
    assert await c.snapshot() == snap

    r = await c.act("shangdang-edu", "acknowledge_handover", form("acknowledge_handover"))
    assert r.closed and r.outcome == "moved"
    row = await c.row()
    assert (row.status, row.outcome) == ("closed", "moved")
    ev = (await c.events())[-1]
    assert (ev.action, ev.from_step, ev.to_step, ev.actor_agency_name) == (
        "acknowledge_handover",
        "handover",
        CLOSE,
        "上党区教育局",
    )
    assert "follow_on" not in ev.payload
    async with c.db.sf() as sess:  # no case for the pupil in the receiving county unless asked
        assert (await sess.execute(select(Case.case_no).where(Case.county == "140404"))).scalars().all() == []
        child = (await sess.execute(select(Child).where(Child.name == "王小明"))).scalar_one()
        assert child.residence_region == "140403"


async def test_acknowledged_with_a_follow_on_case_in_the_receiving_county(fresh_wf):
    c = await DropoutDriver.open(fresh_wf)
    await c.act("luzhou-school1", "moved_or_unknown", form("moved_or_unknown", known_destination="上党区韩店街道"))
    await c.act("luzhou-edu", "hand_over", form("hand_over"))
    r = await c.act("shangdang-edu", "acknowledge_handover", form("acknowledge_handover", continue_here=True))
    assert r.closed and r.outcome == "moved"
    ev = (await c.events())[-1]
    follow_on = ev.payload["follow_on"]
    assert (ev.action, ev.to_step, ev.payload["continue_here"]) == ("acknowledge_handover", CLOSE, True)
    assert follow_on.startswith("KC") and follow_on != c.no

    # The linked case: a new number, in the receiving county, joint persuasion held by its bureau.
    f = DropoutDriver(fresh_wf, follow_on)
    await f.wait_seq(1)
    row = await f.row()
    assert (row.process, row.county, row.status, row.child_id) == (
        "dropout_return",
        "140404",
        "open",
        (await c.row()).child_id,
    )
    assert row.facts["follows"] == c.no
    assert row.facts["school"] == SCHOOL1
    assert row.summary == {"school": SCHOOL1, "relapses": 0}
    jp = await f.step()
    assert (jp.step, holder(jp), jp.allowance, jp.counters) == (
        "joint_persuasion",
        "shangdang-edu",
        "15WD",
        {"attempts": 0},
    )
    assert await co_holders(f, jp) == []  # no committee known in the new county yet
    [opened] = await f.events()
    assert (opened.kind, opened.to_step, opened.actor_agency_name) == ("opened", "joint_persuasion", "上党区教育局")
    assert opened.note == f"由{c.no}移交（原就读：{SCHOOL1}）"
    assert await f.parties() == {"shangdang-edu": ("starter", 0)}
    async with c.db.sf() as sess:  # the registry follows the pupil
        child = (await sess.execute(select(Child).where(Child.name == "王小明"))).scalar_one()
        assert (child.residence_region, child.residence_committee_id) == ("140404", None)
    await c.save_history("moved-follow-on")

    # The new county carries on: the pupil returns to one of its schools (which must be named: the case
    # knows no school of its own).
    with pytest.raises(DomainError) as e:
        await f.act("shangdang-edu", "returned", form("returned"))
    assert (e.value.code, e.value.field) == ("field_required", "school_id")
    school = await s.agency_id(c.db, "shangdang-school1")
    await f.act("shangdang-edu", "returned", form("returned", school_id=school))
    cons = await f.step()
    assert (cons.step, holder(cons)) == ("consolidation", "shangdang-school1")
    assert await f.summary() == {"school": "上党区实验小学", "relapses": 0}
    await f.save_history("follow-on")
    await f.save_history("follow-on-encrypted")  # kept as recorded with the payload codec (tests/replay)


async def test_a_handover_never_acknowledged_escalates_in_the_receiving_county(fresh_wf):
    c = await DropoutDriver.open(fresh_wf)
    await c.act("luzhou-school1", "moved_or_unknown", form("moved_or_unknown"))
    await c.act("luzhou-edu", "request_police_assist", form("request_police_assist"))
    await c.act("luzhou-edu", "hand_over", form("hand_over"))
    ho = await c.step()
    seq = (await c.row()).last_seq
    await c.sleep_until(ho.level3_at + MINUTE)
    events = await c.wait_seq(seq + 3)
    assert [(e.kind, e.from_step, e.payload) for e in events[-3:]] == [
        ("escalated", "handover", {"level": 1}),
        ("escalated", "handover", {"level": 2}),
        ("escalated", "handover", {"level": 3}),
    ]
    for ev, at in zip(events[-3:], (ho.due_at, ho.level2_at, ho.level3_at), strict=True):
        assert at <= ev.at <= at + MINUTE
    assert await c.notes(seq + 1) == [(seq + 1, "shangdang-edu", "", "overdue")]
    # Level 2: the education supervisors of the county holding the step (the destination), not the sender's.
    assert await c.notes(seq + 2) == [(seq + 2, "shangdang-edu", "supervisor", "escalated")]
    assert await c.notes(seq + 3) == [(seq + 3, "city-edu", "supervisor", "escalated")]

    # The case stays open at the hand-over meanwhile: the sender cannot close it as moved.
    row = await c.row()
    assert (row.status, row.main_step) == ("open", "handover")
    step = await c.step()
    assert (step.step, holder(step), step.escalation_level) == ("handover", "shangdang-edu", 3)
    for action in ("acknowledge_handover", "record_external_ack"):
        with pytest.raises(DomainError) as e:
            await c.act("luzhou-edu", action, form(action))
        assert e.value.code == "not_holder"
    await c.sleep(timedelta(days=30))
    assert (await c.row()).status == "open"
    # Urged by the city, it acknowledges at last.
    await c.supervise("city-edu-sup", "urge", "handover", reason="请尽快确认接收")
    r = await c.act("shangdang-edu", "acknowledge_handover", form("acknowledge_handover"))
    assert r.outcome == "moved"
    await c.save_history("handover-escalation")


async def test_handed_over_outside_changzhi_and_the_receipt_recorded(fresh_wf):
    c = await DropoutDriver.open(fresh_wf)
    await c.act("luzhou-school1", "moved_or_unknown", form("moved_or_unknown", known_destination="河南省新乡县"))
    r = await c.act("luzhou-edu", "hand_over", form("hand_over", destination_region="410721", destination_address=""))
    ho = await c.step()
    assert (ho.step, holder(ho), ho.allowance) == ("handover", "luzhou-edu", "5WD")  # outside this deployment
    ev = (await c.events())[-1]
    assert (ev.seq, ev.from_step, ev.to_step, ev.payload["external"]) == (r.seq, "locate", "handover", True)
    [packet] = await c.documents()
    assert (packet.kind, packet.fields["destination_region"]) == ("transfer_packet", "410721")
    assert "receiver" not in {role for role, _ in (await c.parties()).values()}
    r = await c.act("luzhou-edu", "record_external_ack", form("record_external_ack", receiver="新乡县教育局"))
    assert r.closed and r.outcome == "moved"
    ev = (await c.events())[-1]
    assert (ev.action, ev.from_step, ev.to_step, ev.payload["receiver"]) == (
        "record_external_ack",
        "handover",
        CLOSE,
        "新乡县教育局",
    )


# ---------------------------------------------------------------------------- relapse


async def test_relapses_are_counted_in_the_summary(fresh_wf):
    c = await DropoutDriver.open(fresh_wf)
    await c.act("luzhou-school1", "returned", form("returned"))
    await c.sleep(timedelta(days=30))
    await c.act("luzhou-school1", "record_attendance", form("record_attendance"))
    r = await c.act("luzhou-school1", "dropped_again", form("dropped_again"))
    sc = await c.step()
    assert (sc.step, holder(sc), sc.allowance) == ("school_contact", "luzhou-school1", "3WD")
    assert sc.due_at == wd_end(sc.opened_at, 3)
    assert await c.summary() == {"school": SCHOOL1, "relapses": 1}
    ev = (await c.events())[-1]
    assert (ev.seq, ev.action, ev.from_step, ev.to_step, ev.payload["relapse"], ev.note) == (
        r.seq,
        "dropped_again",
        "consolidation",
        "school_contact",
        1,
        "再次连续无故缺课",
    )
    assert await c.notes(r.seq) == [(r.seq, "luzhou-school1", "", "new_step")]

    # The second time round, through joint persuasion, and a second relapse.
    await c.act("luzhou-school1", "not_returned", form("not_returned"))
    await c.act("luzhou-edu", "returned", form("returned"))
    cons = await c.step()
    assert (cons.step, cons.counters) == ("consolidation", {"checks": 0})  # the checks start again
    await c.act("luzhou-school1", "dropped_again", form("dropped_again"))
    assert await c.summary() == {"school": SCHOOL1, "relapses": 2}
    assert (await c.events())[-1].payload["relapse"] == 2
    await c.act("luzhou-school1", "returned", form("returned"))
    await c.sleep(timedelta(days=30))
    await c.act("luzhou-school1", "record_attendance", form("record_attendance"))
    await c.sleep(timedelta(days=60))
    r = await c.act("luzhou-school1", "record_attendance", form("record_attendance"))
    assert r.outcome == "returned"
    assert await c.summary() == {"school": SCHOOL1, "relapses": 2}
    assert await c.path() == [
        ("opened", None, None, "school_contact"),
        ("action", "returned", "school_contact", "consolidation"),
        ("action", "record_attendance", "consolidation", "consolidation"),
        ("action", "dropped_again", "consolidation", "school_contact"),
        ("action", "not_returned", "school_contact", "joint_persuasion"),
        ("action", "returned", "joint_persuasion", "consolidation"),
        ("action", "dropped_again", "consolidation", "school_contact"),
        ("action", "returned", "school_contact", "consolidation"),
        ("action", "record_attendance", "consolidation", "consolidation"),
        ("action", "record_attendance", "consolidation", CLOSE),
    ]
    await c.save_history("relapse")


# ---------------------------------------------------------------------------- age limit


async def test_the_case_closes_when_the_pupil_turns_17(fresh_wf):
    w = fresh_wf
    today = await s.server_today(w.env)
    birthday17 = today + timedelta(days=10)
    if (birthday17.month, birthday17.day) == (2, 29):  # 17 years earlier there was no 29 February
        birthday17 += timedelta(days=1)
    birth = birthday17.replace(year=birthday17.year - 17)
    assert birthday(birth, 17) == birthday17
    principal = await s.who(w.db, "luzhou-school1")
    async with w.db.sf() as sess:
        await register_child(
            session=sess,
            principal=principal,
            data=ChildIn(
                name="周将满",
                id_number=make_id_number("140403", birth, 37),
                origin_region="140403",
                residence_region="140403",
                residence_committee_id=await s.agency_id(w.db, "luzhou-vc1"),
                guardians=[GuardianIn(name="周父", relation="父亲")],
            ),
        )
    c = await DropoutDriver.open(w, child="周将满")  # 16: still of compulsory-education age
    await c.act("luzhou-school1", "not_returned", form("not_returned"))
    await c.act("luzhou-vc1", "record_attempt", form("record_attempt"))

    await c.sleep_until(s.sh(birthday17.year, birthday17.month, birthday17.day, 0, 0, 0) - timedelta(hours=1))
    await s.settle(c.db, c.no)
    assert (await c.row()).status == "open"  # the day before the 17th birthday
    seq = (await c.row()).last_seq
    await c.sleep(timedelta(days=2))
    events = await c.wait_seq(seq + 1)
    assert s.path(events)[-1] == ("closed", None, "joint_persuasion", CLOSE)
    assert events[-1].note == "儿童已年满17周岁，案件自动结案"
    row = await c.row()
    assert (row.status, row.outcome) == ("closed", "aged_out")
    assert s.local(row.closed_at).date() == birthday17
    assert await c.steps() == {}
    assert (await c.handle().result()).outcome == "aged_out"
    await c.save_history("aged-out")


async def test_a_school_switched_off_meanwhile_does_not_get_the_consolidation(fresh_wf):
    """The school kept at the start has been switched off by the administrator while the bureau was
    persuading: the pupil's return goes to the school now serving the county (new steps only go to
    agencies someone can log in to), which is told, may read the case, and is the report's school."""
    c = await DropoutDriver.open(fresh_wf)
    await to_persuasion(c)
    async with c.db.sf() as session:
        await session.execute(update(Agency).where(Agency.code == "luzhou-school1").values(is_active=False))
        await session.commit()
    await c.act("luzhou-edu", "returned", form("returned"))
    cons = await c.step()
    assert (cons.step, holder(cons)) == ("consolidation", "luzhou-school2")
    r_seq = (await c.events())[-1].seq
    assert (await c.path())[-1] == ("action", "returned", "joint_persuasion", "consolidation")
    assert (r_seq, "luzhou-school2", "", "new_step") in await c.notes(r_seq)
    assert "luzhou-school1" not in [a for _, a, _, _ in await c.notes(r_seq)]
    assert (await c.parties())["luzhou-school2"][0] == "holder"
    assert (await c.summary())["school"] == SCHOOL2
    await c.save_history("school-switched-off")
