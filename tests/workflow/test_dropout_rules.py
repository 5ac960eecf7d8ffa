"""Rules of dropout return that sit between the steps: what a start must hold (checked by the service before any
case exists), what joint persuasion, the written order and the hand-over refuse, and the escalation of a
school's late contact to the education bureau's supervisors. A refused action leaves the case as it was."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from api.cases import lists
from api.children.service import ChildIn, GuardianIn, register_child
from db.models import Case, CaseRequest, PolicyOverrideRow
from db.seed import make_id_number
from domain.errors import DomainError
from tests import support as s
from tests.support import DropoutDriver, form, refused

MINUTE = timedelta(minutes=1)


async def at_persuasion(w) -> DropoutDriver:
    c = await DropoutDriver.open(w)
    await c.act("luzhou-school1", "not_returned", form("not_returned"))
    assert (await c.step()).step == "joint_persuasion"
    return c


# ---------------------------------------------------------------------------- starting a case


async def register(w, name: str, birth: date, sequence: int) -> None:
    principal = await s.who(w.db, "luzhou-school1")
    async with w.db.sf() as sess:
        await register_child(
            session=sess,
            principal=principal,
            data=ChildIn(
                name=name,
                id_number=make_id_number("140403", birth, sequence),
                origin_region="140403",
                residence_region="140403",
                residence_committee_id=await s.agency_id(w.db, "luzhou-vc1"),
                guardians=[GuardianIn(name="监护人", relation="母亲")],
            ),
        )


def years_ago(today: date, years: int, days: int) -> date:
    """A birth date: `years` years and `days` days before `today` (a 29 February today counts as the 28th)."""
    return date(today.year - years, today.month, min(today.day, 28)) - timedelta(days=days)


async def counts(w) -> tuple[int, int]:
    """Cases, and case numbers reserved."""
    async with w.db.sf() as sess:
        cases = (await sess.execute(select(func.count()).select_from(Case))).scalar_one()
        reserved = (await sess.execute(select(func.count()).select_from(CaseRequest))).scalar_one()
    return cases, reserved


async def test_refused_starts_create_no_case(wf):
    today = date.fromisoformat(s.today_iso())
    await register(wf, "幼儿甲", years_ago(today, 4, 30), 41)
    await register(wf, "少年乙", years_ago(today, 17, 30), 43)
    school2 = await s.agency_id(wf.db, "luzhou-school2")
    committee = await s.agency_id(wf.db, "luzhou-vc1")
    other_county_school = await s.agency_id(wf.db, "shangdang-school1")
    tomorrow = (today + timedelta(days=1)).isoformat()
    six_days = s.school_days_back(today, 6).isoformat()
    attempts = [
        # (user, child, facts, code, field, message)
        (
            "luzhou-school1",
            "幼儿甲",
            {},
            "not_compulsory_age",
            "child_id",
            "该学生4周岁，不在义务教育年龄段（6至16周岁）",
        ),
        (
            "luzhou-school1",
            "少年乙",
            {},
            "not_compulsory_age",
            "child_id",
            "该学生17周岁，不在义务教育年龄段（6至16周岁）",
        ),
        (
            "luzhou-school1",
            "王小明",
            {"absent_to": tomorrow},
            "date_in_future",
            "absent_to",
            "“缺课截至日期”不能晚于今天",
        ),
        (
            "luzhou-school1",
            "王小明",
            {"absent_from": today.isoformat(), "absent_to": (today - timedelta(days=20)).isoformat()},
            "dates_out_of_order",
            "absent_to",
            "缺课结束日期早于开始日期",
        ),
        (
            "luzhou-school1",
            "王小明",
            {"absent_from": six_days},
            "below_threshold",
            "absent_to",
            "连续无故缺课6个上学日，未达到7个上学日，暂不按疑似辍学报告（本县尚未设置这段日期的校历，按法定工作日计算）",
        ),
        ("luzhou-edu", "王小明", {}, "field_required", "school_id", "请选择学生就读的学校"),
        ("luzhou-edu", "王小明", {"school_id": committee}, "field_invalid", "school_id", "“就读学校”不是有效的单位"),
        (
            "luzhou-edu",
            "王小明",
            {"school_id": other_county_school},
            "field_invalid",
            "school_id",
            "“就读学校”不在案件所在县（区）",
        ),
        (
            "luzhou-hospital",
            "王小明",
            {"school_id": school2},
            "not_permitted",
            "start_step",
            "本单位类型不能以“报告疑似辍学”方式立案",
        ),
        ("luzhou-school1", "王小明", {"known": " "}, "field_required", "known", "请填写“学校已掌握的情况”"),
    ]
    for user, child, facts, code, field, message in attempts:
        with pytest.raises(DomainError) as e:
            await s.start_dropout(wf.db, wf.client, wf.tq, user, child=child, facts=facts)
        assert (e.value.code, e.value.field, e.value.message) == (code, field, message), (user, child, facts)
    assert await counts(wf) == (0, 0)  # no case, not even a reserved number

    # At the threshold (7 school days) the report is taken.
    no = await s.start_dropout(
        wf.db, wf.client, wf.tq, "luzhou-school1", facts={"absent_from": s.school_days_back(today, 7).isoformat()}
    )
    assert (await s.case_row(wf.db, no)).main_step == "school_contact"


async def test_the_absence_threshold_follows_the_county_policy(wf):
    async with wf.db.sf() as sess, sess.begin():
        sess.add(
            PolicyOverrideRow(
                key="dropout.absence_threshold",
                region_code="140403",
                value="5count",
                effective_from=datetime.now(UTC) - timedelta(days=1),
            )
        )
    today = date.fromisoformat(s.today_iso())
    with pytest.raises(DomainError) as e:
        await s.start_dropout(
            wf.db, wf.client, wf.tq, "luzhou-school1", facts={"absent_from": s.school_days_back(today, 4).isoformat()}
        )
    assert (
        e.value.message
        == "连续无故缺课4个上学日，未达到5个上学日，暂不按疑似辍学报告（本县尚未设置这段日期的校历，按法定工作日计算）"
    )
    no = await s.start_dropout(
        wf.db, wf.client, wf.tq, "luzhou-school1", facts={"absent_from": s.school_days_back(today, 5).isoformat()}
    )
    assert (await s.case_row(wf.db, no)).status == "open"


# ---------------------------------------------------------------------------- joint persuasion


async def test_refuses_needs_a_home_visit_first(fresh_wf):
    c = await at_persuasion(fresh_wf)
    no_visit = "书面责令前须至少记录一次入户劝返"
    await refused(c, "home_visit_required", no_visit, c.act("luzhou-edu", "refuses", form("refuses")))
    await c.act("luzhou-vc1", "record_attempt", form("record_attempt", kind="phone"))
    await c.act("luzhou-edu", "record_attempt", form("record_attempt", kind="meeting"))
    assert (await c.step()).counters == {"attempts": 2, "home_visits": 0}
    await refused(c, "home_visit_required", no_visit, c.act("luzhou-edu", "refuses", form("refuses")))
    # The decision to order is the bureau's: the team records attempts but may not take it.
    bureau_only = "“家长拒不送学，书面责令”由承办单位潞州区教育局办理，协办单位不能办理"
    await refused(c, "not_holder", bureau_only, c.act("luzhou-town1", "refuses", form("refuses")))
    await c.act("luzhou-town1", "record_attempt", form("record_attempt"))  # a home visit
    assert (await c.step()).counters == {"attempts": 3, "home_visits": 1}
    await c.act("luzhou-edu", "refuses", form("refuses"))
    assert (await c.step()).step == "written_order"


async def test_only_the_team_acts_on_joint_persuasion(fresh_wf):
    c = await at_persuasion(fresh_wf)
    # Not parties: another committee and township of the county, another county's bureau.
    for user in ("luzhou-vc2", "luzhou-town2", "shangdang-edu"):
        await refused(
            c, "case_not_found", "案件不存在或无权查看", c.act(user, "record_attempt", form("record_attempt"))
        )
        await refused(
            c,
            "not_holder",
            "本单位不是“联合劝返”环节的承办单位",
            c.act_on(user, "record_attempt", form("record_attempt"), step="joint_persuasion"),
        )
    # A party that is not on the team: the reporting school.
    await refused(
        c,
        "not_holder",
        "本单位不是“联合劝返”环节的承办单位",
        c.act("luzhou-school1", "record_attempt", form("record_attempt")),
    )
    # The form.
    await refused(
        c, "field_invalid", "“方式”的取值无效", c.act("luzhou-vc1", "record_attempt", form("record_attempt", kind="x"))
    )
    await refused(c, "field_required", "请填写“情况说明”", c.act("luzhou-edu", "refuses", {"note": ""}))


async def test_the_return_school_must_be_a_school_of_the_county(fresh_wf):
    c = await at_persuasion(fresh_wf)
    other = await s.agency_id(c.db, "shangdang-school1")
    await refused(
        c,
        "field_invalid",
        "“复学学校”不在案件所在县（区）",
        c.act("luzhou-edu", "returned", form("returned", school_id=other)),
    )
    await refused(
        c,
        "field_invalid",
        "“复学学校”不是有效的单位",
        c.act("luzhou-edu", "returned", form("returned", school_id=await s.agency_id(c.db, "luzhou-edu"))),
    )


# ---------------------------------------------------------------------------- the written order


async def test_the_township_issues_the_order_in_its_own_name(fresh_wf):
    c = await at_persuasion(fresh_wf)
    await c.act("luzhou-vc1", "record_attempt", form("record_attempt"))
    await c.act("luzhou-edu", "refuses", form("refuses"))
    today = await s.server_today(fresh_wf.env)
    # The compliance date must lie ahead.
    for comply_by in (today, today - timedelta(days=3)):
        await refused(
            c,
            "field_invalid",
            "改正期限应晚于今天",
            c.act("luzhou-town1", "issue_order", form("issue_order", comply_by=comply_by.isoformat())),
        )
    await refused(
        c, "field_required", "请填写“改正要求”", c.act("luzhou-town1", "issue_order", form("issue_order", content=""))
    )
    # The committee follows the case but does not issue orders (it is not on the written-order step).
    await refused(c, "not_holder", None, c.act("luzhou-vc1", "issue_order", form("issue_order")))

    comply = today + timedelta(days=1)
    r = await c.act("luzhou-town1", "issue_order", form("issue_order", comply_by=comply.isoformat()))
    [doc] = await c.documents()
    assert (doc.kind, doc.seq, doc.fields["comply_by"]) == ("written_order", r.seq, comply.isoformat())
    assert doc.fields["authority"] == "潞州区东街街道办事处"  # the township issued it
    oc = await c.step()
    assert (oc.step, oc.holder.code, oc.allowance) == ("order_compliance", "luzhou-edu", "1d")
    assert oc.due_at == s.sh(comply.year, comply.month, comply.day)
    # The township, co-holder, records the outcome once the date has passed.
    await refused(
        c,
        "not_yet",
        f"“期满仍未复学，依法控辍”改正期限{comply.isoformat()}届满后可办理",
        c.act("luzhou-town1", "not_complied", form("not_complied")),
    )
    await c.sleep_until(oc.due_at + MINUTE)
    await c.act("luzhou-town1", "not_complied", form("not_complied"))
    assert (await c.step()).step == "legal_action"


# ---------------------------------------------------------------------------- hand-over


async def test_handover_refusals(fresh_wf):
    c = await DropoutDriver.open(fresh_wf)
    await c.act("luzhou-school1", "moved_or_unknown", form("moved_or_unknown"))
    await refused(
        c,
        "same_region",
        "迁入地与当前所在县（区）相同，无需移交",
        c.act("luzhou-edu", "hand_over", form("hand_over", destination_region="140403")),
    )
    await refused(
        c,
        "field_invalid",
        "请填写迁入地的县（区）代码，而不是长治市的代码",
        c.act("luzhou-edu", "hand_over", form("hand_over", destination_region="140400")),
    )
    await refused(
        c,
        "region_unknown",
        None,
        c.act("luzhou-edu", "hand_over", form("hand_over", destination_region="149999")),
    )
    await refused(c, "field_required", None, c.act("luzhou-edu", "hand_over", form("hand_over", destination_region="")))
    # The school reported the case but does not search for the pupil.
    await refused(c, "not_holder", None, c.act("luzhou-school1", "hand_over", form("hand_over")))


async def test_each_kind_of_handover_closes_only_its_own_way(fresh_wf):
    """Within Changzhi the receiving bureau acknowledges (it may take the case on); outside it the sender
    records the receipt. Neither action fits the other kind of hand-over."""
    inside = await DropoutDriver.open(fresh_wf)
    await inside.act("luzhou-school1", "moved_or_unknown", form("moved_or_unknown"))
    await inside.act("luzhou-edu", "hand_over", form("hand_over"))
    await refused(
        inside,
        "action_not_allowed",
        "迁入地教育局在本系统中，须由其确认接收",
        inside.act("shangdang-edu", "record_external_ack", form("record_external_ack")),
    )

    outside = await DropoutDriver.open(fresh_wf, child="李娜")
    await outside.act("luzhou-school1", "moved_or_unknown", form("moved_or_unknown"))
    await outside.act("luzhou-edu", "hand_over", form("hand_over", destination_region="410721"))
    await refused(
        outside,
        "action_not_allowed",
        "迁入地不在本系统中，请记录迁入地回执",
        outside.act("luzhou-edu", "acknowledge_handover", form("acknowledge_handover", continue_here=True)),
    )
    await outside.act("luzhou-edu", "record_external_ack", form("record_external_ack"))
    assert (await outside.row()).outcome == "moved"
    async with fresh_wf.db.sf() as sess:  # no follow-on case was opened
        assert (await sess.execute(select(func.count()).select_from(Case))).scalar_one() == 2


# ---------------------------------------------------------------------------- escalation and supervision


async def stalled_for(c: DropoutDriver, username: str) -> list[str]:
    p = await s.who(c.db, username)
    async with c.db.sf() as sess:
        found = await lists.stalled(session=sess, principal=p, per_page=10_000)  # every page at once
        return [row.case.case_no for row in found.items]


async def test_a_late_school_contact_climbs_to_the_education_supervisors(fresh_wf):
    c = await DropoutDriver.open(fresh_wf)
    step = await c.step()
    seq = (await c.row()).last_seq

    await c.sleep_until(step.due_at - MINUTE)
    await s.settle(c.db, c.no)
    assert (await c.step()).escalation_level == 0

    # Level 1 at the deadline (3 WD): the school.
    await c.sleep_until(step.due_at + MINUTE)
    ev = (await c.wait_seq(seq + 1))[-1]
    assert (ev.kind, ev.from_step, ev.to_step, ev.payload) == (
        "escalated",
        "school_contact",
        "school_contact",
        {"level": 1},
    )
    assert await c.notes(seq + 1) == [(seq + 1, "luzhou-school1", "", "overdue")]
    title = (await s.notifications(c.db, c.no))[-1].title
    assert c.no in title and "学校联系家访" in title and "已逾期" in title
    assert c.no not in await stalled_for(c, "luzhou-edu-sup")

    # Level 2: the supervisors of the county's education bureau, which oversees schools.
    await c.sleep_until(step.level2_at + MINUTE)
    ev = (await c.wait_seq(seq + 2))[-1]
    assert (ev.payload, ev.note) == ({"level": 2}, "逾期未办，已报县级督导")
    assert await c.notes(seq + 2) == [(seq + 2, "luzhou-edu", "supervisor", "escalated")]
    assert c.no in await stalled_for(c, "luzhou-edu-sup")
    assert c.no not in await stalled_for(c, "city-edu-sup")
    assert c.no not in await stalled_for(c, "luzhou-civil-sup")

    # Level 3: the city's education bureau.
    await c.sleep_until(step.level3_at + MINUTE)
    ev = (await c.wait_seq(seq + 3))[-1]
    assert (ev.payload, ev.note) == ({"level": 3}, "严重逾期，已报市级督导")
    assert await c.notes(seq + 3) == [(seq + 3, "city-edu", "supervisor", "escalated")]
    assert c.no in await stalled_for(c, "city-edu-sup")

    # The school still acts; the next step starts at level 0.
    await c.act("luzhou-school1", "not_returned", form("not_returned"))
    assert ((await c.step()).step, (await c.step()).escalation_level) == ("joint_persuasion", 0)


async def test_education_supervisors_urge_extend_and_reassign_a_schools_step(fresh_wf):
    c = await DropoutDriver.open(fresh_wf)
    step = await c.step()
    r = await c.supervise("luzhou-edu-sup", "urge", "school_contact", reason="请今日家访")
    assert await c.notes(r.seq) == [(r.seq, "luzhou-school1", "", "urged")]
    await c.supervise("luzhou-edu-sup", "extend", "school_contact", reason="家长外出", extend_by="2WD")
    extended = await c.step()
    assert extended.due_at > step.due_at and extended.step_seq == step.step_seq
    school2 = await s.agency_id(c.db, "luzhou-school2")
    r = await c.supervise("luzhou-edu-sup", "reassign", "school_contact", reason="已转学", new_agency_id=school2)
    assert ((await c.step()).holder.code, (await c.step()).step_seq) == ("luzhou-school2", step.step_seq)
    # Civil affairs oversees committees and townships, not schools.
    await refused(
        c,
        "case_not_found",
        "案件不存在或无权查看",
        c.supervise("luzhou-civil-sup", "urge", "school_contact", reason="x"),
    )
    await refused(
        c,
        "not_permitted",
        None,
        c.act_on("luzhou-civil-sup", "urge", step="school_contact", supervisor="urge", reason="x"),
    )
    # The school it was reassigned to has the pupil back: it follows the return, and the summary says so.
    await c.act("luzhou-school2", "returned", form("returned"))
    cons = await c.step()
    assert (cons.step, cons.holder.code) == ("consolidation", "luzhou-school2")
    assert await c.summary() == {"school": "潞州区第二中学", "relapses": 0}
