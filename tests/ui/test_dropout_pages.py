"""Dropout return (劝返复学) through the Chinese pages: the school's report, joint persuasion by the bureau
with the township and the village committee, the written order and its printable notice, a relapse, a
hand-over between two counties with a linked case, and the county supervisor's monthly report. Real
PostgreSQL, Temporal dev server and worker (the `live` fixture)."""

from __future__ import annotations

import asyncio
import html
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
from sqlalchemy import func, select, text

from api.cases import service
from api.cases.report import Report, ReportGroup
from db.models import Case, Child, TimelineEvent
from domain import permissions
from domain.deadlines import compute_deadlines, local_date
from domain.enums import AgencyType, Role
from domain.messages import Actor, AgencyRef, CaseState, ChildRef, StepState
from domain.periods import month_period, term_of
from domain.policy import Allowance
from domain.processes.dropout import DROPOUT as DROPOUT_PROCESS
from domain.processes.dropout import school_days_between
from domain.workdays import WorkCalendar
from tests import support
from tests.conftest import Live
from tests.ui.test_pages import browser, current_steps, form, forms_of, location, submit
from ui.case_info import hidden_actions, reserved_actions
from ui.report_pages import report_table
from ui.start_pages import start_fields_for

DROPOUT = "dropout_return"
# The 双线 team on 王小明's joint persuasion, as a list or inbox row names it.
TEAM = "协办单位：</span>潞州区东街街道城北社区居民委员会、潞州区东街街道办事处"


def today() -> date:
    return local_date(datetime.now(UTC))


def absence(n: int = 10) -> dict[str, str]:
    """Absent for the last `n` school days, up to today."""
    end = today()
    start = end
    while school_days_between(start, end) < n:
        start -= timedelta(days=1)
    return {"absent_from": start.isoformat(), "absent_to": end.isoformat()}


def report_form(**over: str) -> dict[str, str]:
    return {"class_name": "四年级二班", "known": "连续两周未到校，家长电话无人接听", **absence(), **over}


def cn(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


async def case_count(live: Live) -> int:
    async with live.db.sf() as s:
        return (await s.execute(select(func.count()).select_from(Case))).scalar_one()


async def start_by_service(live: Live, username: str, child: str, **facts: object) -> str:
    """A dropout case reported through the service (for steps the test is not about)."""
    p = await support.who(live.db, username)
    async with live.db.sf() as s:
        started = await service.start_case(
            session=s,
            client=live.temporal,
            task_queue=live.task_queue,
            principal=p,
            data=service.StartCaseIn(
                process=DROPOUT,
                start_step="school_contact",
                child_id=await support.child_id(live.db, child),
                facts={**report_form(), **facts},
            ),
            idempotency_key=uuid.uuid4().hex,
        )
    return started.case_no


async def act(http: httpx.AsyncClient, case_url: str, step: str, action: str, **values: str) -> str:
    """Submits the action's form on the case page; returns the page after the redirect."""
    page = await http.get(case_url)
    assert page.status_code == 200, page.text[:500]
    r = await submit(http, form(page.text, container=f"act-{step}-{action}"), **values)
    assert location(r) == case_url
    after = await http.get(case_url)
    assert "已提交" in after.text
    return after.text


async def start_form_of(http: httpx.AsyncClient, child: str) -> str:
    """The search for `child`, then its dropout start button: the start form's page."""
    found = await submit(http, form((await http.get("/cases/new")).text, action="/cases/new"), q=child)
    link = re.search(r'href="(/cases/new\?child_id=\d+&amp;process=dropout_return)"', found.text)
    assert link, found.text[:2000]
    page = await http.get(html.unescape(link.group(1)))
    assert page.status_code == 200 and "劝返复学 · 立案信息" in page.text
    return page.text


def timeline_of(page: str) -> str:
    section = re.search(r"<h2>办理记录</h2>.*?</table>", page, re.S)
    assert section, "no timeline"
    return section.group(0)


def summary_value(page: str, label: str) -> str:
    match = re.search(rf'<dt>{label}</dt><dd class="summary-value">([^<]*)</dd>', page)
    assert match, f"no {label} in the header"
    return match.group(1)


# ---------------------------------------------------------------------------- the school's report to the order


async def test_school_reports_the_team_persuades_the_bureau_orders(live: Live) -> None:
    async with browser(live, "luzhou-school1") as school:
        # A school may start two processes: it chooses, and the dropout form asks no school (its own).
        child = await support.child_id(live.db, "王小明")
        choose = await school.get(f"/cases/new?child_id={child}")
        assert "选择流程" in choose.text and "立案：劝返复学" in choose.text and "立案：监护干预" in choose.text
        record = await school.get(f"/children/{child}")
        assert f'href="/cases/new?child_id={child}&amp;process=dropout_return"' in record.text
        # Found by ID number (a child maybe outside the school's area), the choice is posted with the number.
        async with live.db.sf() as s:
            id_number = (await s.get(Child, child)).id_number
        by_id = await submit(
            school, form((await school.get("/cases/new")).text, action="/cases/new"), id_number=id_number
        )
        assert by_id.status_code == 200 and "选择流程" in by_id.text
        chosen = [f for f in forms_of(by_id.text) if f.fields.get("process") == DROPOUT]
        assert chosen and chosen[0].fields["id_number"] == id_number
        by_id_form = await submit(school, chosen[0])
        assert "劝返复学 · 立案信息" in by_id_form.text
        assert form(by_id_form.text, action="/cases").fields["id_number"] == id_number
        page = await start_form_of(school, "王小明")
        start = form(page, action="/cases")
        assert start.fields["process"] == DROPOUT and start.fields["start_step"] == "school_contact"
        assert "school_id" not in start.fields and "本单位：潞州区实验小学" in page
        assert f'max="{today().isoformat()}"' in page  # the absence dates cannot be in the future

        # Wrong dates are refused next to the field, in Chinese, and make no case.
        backwards = report_form(absent_from=absence()["absent_to"], absent_to=absence()["absent_from"])
        r = await submit(school, start, **backwards)
        assert r.status_code == 422 and "缺课结束日期早于开始日期" in r.text and "未能立案" in r.text
        assert 'value="四年级二班"' in r.text  # what was typed is kept
        future = report_form(absent_to=(today() + timedelta(days=2)).isoformat())
        r = await submit(school, start, **future)
        assert r.status_code == 422 and "“缺课截至日期”不能晚于今天" in r.text
        assert await case_count(live) == 0

        # The report opens the case at school contact, due in 3 working days.
        case_url = location(await submit(school, start, **report_form()))
        case_no = case_url.rsplit("/", 1)[1]
        assert case_no.startswith("KC-")
        page = (await school.get(case_url)).text
        assert current_steps(page) == {"school_contact"} and "学校联系家访" in page
        due = compute_deadlines(datetime.now(UTC), Allowance.parse("3WD"), WorkCalendar()).due_at
        assert f"{local_date(due).isoformat()} 23:59" in page and "3个工作日" in page
        assert summary_value(page, "学校") == "潞州区实验小学" and summary_value(page, "复辍次数") == "0"
        assert "四年级二班" in page and "连续两周未到校" in page

        # Contacted and visited, still not back: joint persuasion at the bureau, with the 双线 team.
        page = await act(
            school,
            case_url,
            "school_contact",
            "not_returned",
            contacted_on=today().isoformat(),
            visited_on=today().isoformat(),
            family_says="孩子不愿上学，想外出打工",
        )
        assert current_steps(page) == {"joint_persuasion"}
        card = re.search(r'<article class="card step-card.*?</article>', page, re.S)
        assert card
        assert "潞州区教育局" in card.group(0) and "协办单位" in card.group(0)
        assert "潞州区东街街道办事处" in card.group(0) and "潞州区东街街道城北社区居民委员会" in card.group(0)
        assert "act-joint_persuasion" not in page  # the school follows the case now

    async with browser(live, "luzhou-town1") as town:
        inbox = await town.get("/inbox")
        assert case_no in inbox.text and "联合劝返" in inbox.text and "协办" in inbox.text
        # The row names the holder and the whole team, as the case page does.
        row = re.search(rf"<tr[^>]*>\s*<td><a href=\"/cases/{case_no}\">.*?</tr>", inbox.text, re.S)
        assert row, "the case is not in the township's inbox"
        assert "承办单位：</span>潞州区教育局" in row.group(0)
        assert TEAM in row.group(0)
        listed = await town.get("/cases")
        assert case_no in listed.text and TEAM in listed.text
        page = await act(
            town,
            case_url,
            "joint_persuasion",
            "record_attempt",
            kind="home_visit",
            who="街道干部李某、社区主任王某",
            result="家长同意考虑，尚未送学",
        )
        assert current_steps(page) == {"joint_persuasion"}
        history = timeline_of(page)
        assert "记录一次劝返" in history and "入户劝返" in history
        assert "街道干部李某、社区主任王某" in history and "家长同意考虑，尚未送学" in history
        assert "已记录劝返</dt><dd>1次" in page and "其中入户劝返</dt><dd>1次" in page

    async with browser(live, "luzhou-vc1") as committee:
        page = await committee.get(case_url)
        assert page.status_code == 200 and "联合劝返" in page.text
        assert "act-joint_persuasion-record_attempt" in page.text

    async with browser(live, "luzhou-edu") as bureau:
        page = await act(bureau, case_url, "joint_persuasion", "refuses", note="多次入户劝返，家长拒不送学")
        assert current_steps(page) == {"written_order"}
        comply_by = today() + timedelta(days=15)
        order = form(page, container="act-written_order-issue_order")
        assert order.fields["comply_by"] == comply_by.isoformat()  # prefilled from the policy, 15 days
        r = await submit(bureau, order, content="责令监护人于期限内将王小明送回学校复学")
        assert location(r) == case_url
        page = (await bureau.get(case_url)).text
        assert current_steps(page) == {"order_compliance"} and "限期改正" in page
        # Only what can be done now is offered; the rest says from when.
        assert "act-order_compliance-returned" in page and "act-order_compliance-not_complied" not in page
        assert f"“期满仍未复学，依法控辍”改正期限{comply_by.isoformat()}届满后可办理" in page
        history = timeline_of(page)
        assert (
            "制发责令改正通知书" in history and f"改正期限（送学截止日期）：</span>{comply_by.isoformat()}" in history
        )
        doc = re.search(rf'href="(/cases/{case_no}/documents/\d+)">责令限期改正通知书', page)
        assert doc, "the order is linked"
        printed = await bureau.get(doc.group(1))
        assert printed.status_code == 200
        for expected in (
            "责令限期改正通知书",
            "王建国",
            "王小明",
            "潞州区实验小学四年级二班",
            "第五十八条",
            cn(comply_by),
        ):
            assert expected in printed.text, expected
        assert cn(date.fromisoformat(absence()["absent_from"])) in printed.text
        assert "潞州区教育局（盖章）" in printed.text and "送达回证" in printed.text

        # The pupil is back by the date; the school follows the return.
        page = await act(bureau, case_url, "order_compliance", "returned", returned_on=today().isoformat())
        assert current_steps(page) == {"consolidation"}

    async with browser(live, "luzhou-school1") as school:
        # The attendance check is due 30 days after the return and may be recorded from 7 days before.
        page = (await school.get(case_url)).text
        due, opens = today() + timedelta(days=30), today() + timedelta(days=23)
        assert "act-consolidation-record_attendance" not in page and "act-consolidation-dropped_again" in page
        assert f"<dt>可记录时间</dt><dd>{opens.isoformat()}起</dd>" in page
        assert f"“记录到校核查（正常在校）”{opens.isoformat()}起可办理（应核查日期{due.isoformat()}）" in page
        page = await act(school, case_url, "consolidation", "dropped_again", note="再次连续无故缺课")
        assert current_steps(page) == {"school_contact"}
        assert summary_value(page, "复辍次数") == "1"
        assert "第1次再次辍学" in timeline_of(page)


# ---------------------------------------------------------------------------- the bureau's report and a hand-over


async def test_the_bureau_reports_and_hands_over_to_another_county(live: Live) -> None:
    async with browser(live, "luzhou-edu") as bureau:
        page = await start_form_of(bureau, "李娜")
        start = form(page, action="/cases")
        schools = re.search(r'<select id="start-school_id" name="school_id" required.*?</select>', page, re.S)
        assert schools, "the bureau must choose the school"
        assert "潞州区实验小学" in schools.group(0) and "潞州区第二中学" in schools.group(0)
        assert "上党区" not in schools.group(0)  # only the child's county's schools
        r = await submit(bureau, start, **report_form())
        assert r.status_code == 422 and "请选择学生就读的学校" in r.text
        second = re.search(r'<option value="(\d+)">潞州区第二中学', schools.group(0))
        assert second
        case_url = location(await submit(bureau, start, school_id=second.group(1), **report_form()))
        case_no = case_url.rsplit("/", 1)[1]
        page = (await bureau.get(case_url)).text
        assert current_steps(page) == {"school_contact"} and summary_value(page, "学校") == "潞州区第二中学"

    today_iso = today().isoformat()
    not_returned = {"contacted_on": today_iso, "visited_on": today_iso, "family_says": "举家外出"}
    await support.act(live.db, live.temporal, case_no, "luzhou-school2", "not_returned", not_returned)

    async with browser(live, "luzhou-edu") as bureau:
        await act(
            bureau, case_url, "joint_persuasion", "moved_or_unknown", known_destination="上党区", note="举家迁往上党区"
        )
        page = (await bureau.get(case_url)).text
        hand_over = form(page, container="act-locate-hand_over")
        assert "本市以外请选“本市以外”" in page and "河南省新乡市辉县市" in page
        same = await submit(bureau, hand_over, destination_region="140403")
        assert same.status_code == 422 and "无需移交" in same.text
        r = await submit(
            bureau, hand_over, destination_region="140404", destination_school="上党区实验小学", note="随父母迁居"
        )
        assert location(r) == case_url
        page = (await bureau.get(case_url)).text
        assert current_steps(page) == {"handover"} and "上党区教育局" in page
        assert "act-handover" not in page  # the destination acknowledges, not the sender

    async with browser(live, "shangdang-edu") as dest:
        inbox = await dest.get("/inbox")
        assert case_no in inbox.text and "跨县移交" in inbox.text
        page = (await dest.get(case_url)).text
        history = timeline_of(page)
        assert "移交迁入地教育局" in history and "立案" not in history  # from the hand-over on only
        assert "连续两周未到校" not in page and "见迁出移交函" in page
        assert "act-handover-record_external_ack" not in page  # inside the city: the receiver acknowledges
        packet = re.search(rf'href="(/cases/{case_no}/documents/\d+)">迁出移交函', page)
        assert packet
        printed = (await dest.get(packet.group(1))).text
        for expected in (
            "致：山西省长治市上党区教育局",
            "李娜",
            "潞州区第二中学",
            "上党区实验小学",
            "四年级二班",
            "回执",
        ):
            assert expected in printed, expected

    async with browser(live, "luzhou-edu") as bureau:
        history = timeline_of((await bureau.get(case_url)).text)
        assert "立案" in history and "举家迁往上党区" in history  # the origin keeps the whole history

    async with browser(live, "shangdang-edu") as dest:
        page = (await dest.get(case_url)).text
        ack = form(page, container="act-handover-acknowledge_handover")
        assert location(await submit(dest, ack, continue_here="on", note="已接收，继续劝返")) == case_url
        # The follow-on case opens as the hand-over closes: the link shows once it is written.
        for _ in range(100):
            page = (await dest.get(case_url)).text
            new_no = re.search(r'迁入地继续办理的案件</dt>\s*<dd><a href="/cases/(KC-[^"]+)"', page)
            if new_no:
                break
            await asyncio.sleep(0.1)
        assert "已结案：已迁出并移交" in page
        assert new_no, "the origin links to the new case"
        new_page = (await dest.get(f"/cases/{new_no.group(1)}")).text
        assert current_steps(new_page) == {"joint_persuasion"} and "联合劝返" in new_page
        assert f'<a href="/cases/{case_no}">{case_no}</a>' in new_page  # and back

    async with browser(live, "luzhou-edu") as bureau:
        page = (await bureau.get(case_url)).text
        assert f"{new_no.group(1)} <span" in page and f'href="/cases/{new_no.group(1)}"' not in page


# ---------------------------------------------------------------------------- the supervisor's month


async def test_the_county_supervisor_sees_the_month_overdue_first(live: Live) -> None:
    on_time = await start_by_service(live, "luzhou-school1", "王小明")
    late = await start_by_service(live, "luzhou-school1", "张浩")
    async with live.db.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE case_steps SET escalation_level = 1, due_at = now() - interval '2 days' "
                "WHERE case_id = (SELECT id FROM cases WHERE case_no = :no)"
            ),
            {"no": late},
        )
    month = today().strftime("%Y-%m")
    async with browser(live, "luzhou-edu-sup") as sup:
        inbox = await sup.get("/inbox")
        assert 'href="/reports/dropout_return"' in inbox.text and "劝返复学统计" in inbox.text
        page = await sup.get(f"/reports/dropout_return?month={month}")
        assert page.status_code == 200
        assert "本月新立案" in page.text and "仍在办理" in page.text
        table = re.search(r'<table class="table report-table">.*?</table>', page.text, re.S)
        assert table
        row = re.search(r'<th scope="row">潞州区实验小学</th>(.*?)</tr>', table.group(0), re.S)
        assert row and "学校联系家访" in table.group(0) and "2" in row.group(1) and "（逾期1）" in row.group(1)
        cases = re.search(r'<table class="table report-cases">.*?</table>', page.text, re.S)
        assert cases
        listed = re.findall(r'href="/cases/(KC-[^"]+)"', cases.group(0))
        assert listed == [late, on_time]  # the overdue one first
        assert "张浩" in cases.group(0) and "已逾期" in cases.group(0) and "逾期1级" in cases.group(0)
        previous = (today().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        assert f'href="?month={previous}"' in page.text
        export = await sup.get(f"/reports/dropout_return/export?month={month}&format=csv")
        assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
        assert "attachment" in export.headers["content-disposition"]
        text_rows = export.content.decode("utf-8").splitlines()
        assert text_rows[0].startswith("\ufeff案件编号,学生,学校,当前环节")  # Excel reads UTF-8 with the BOM
        assert [r.split(",")[0] for r in text_rows[1:]] == [late, on_time]
        assert text_rows[1].split(",")[6:8] == ["是", "1"] and "潞州区实验小学" in text_rows[2]
        async with live.db.sf() as s:
            exported = (await s.execute(text("SELECT detail FROM audit_log WHERE action = 'export'"))).scalars().all()
        assert exported == [f"dropout_return:{month}: 2 cases"]
        bad = await sup.get("/reports/dropout_return?month=2026-13")
        assert bad.status_code == 422 and "月份格式应为 YYYY-MM" in bad.text

        # The list filters by process, and then offers only that process's steps.
        listing = await sup.get("/cases?process=dropout_return&step=admonition")
        step_select = re.search(r'<select id="step".*?</select>', listing.text, re.S)
        assert step_select and "学校联系家访" in step_select.group(0) and "劝诫" not in step_select.group(0)
        assert late in listing.text and on_time in listing.text
        filtered = await sup.get("/cases?process=dropout_return&step=joint_persuasion")
        assert late not in filtered.text

    # The city supervisor's report starts on this school term (全市每学期调度), across every county.
    term = term_of(today())
    async with browser(live, "city-edu-sup") as city:
        page = await city.get("/reports/dropout_return")
        assert page.status_code == 200
        assert f'劝返复学学期统计 <span class="muted">{term.label}</span>' in page.text
        assert "本学期新立案" in page.text and late in page.text and on_time in page.text
        assert f'href="?term={term.shift(-1).key}"' in page.text and f'href="?month={month}"' in page.text
        by_month = await city.get(f"/reports/dropout_return?month={month}")
        assert "本月新立案" in by_month.text and f'href="?term={term.key}"' in by_month.text
        wrong = await city.get("/reports/dropout_return?term=2026-summer")
        assert wrong.status_code == 422 and "学期有误" in wrong.text and "YYYY-autumn" in wrong.text
        refused = await city.get("/reports/dropout_return/export?term=2026-summer")
        assert refused.status_code == 422 and "YYYY-autumn" in refused.text
        before = await city.get(f"/reports/dropout_return?term={term.shift(-1).key}")
        assert before.status_code == 200 and "本学期没有劝返复学案件" in before.text

    async with browser(live, "luzhou-school1") as school:
        assert "劝返复学统计" not in (await school.get("/inbox")).text
        refused = await school.get("/reports/dropout_return")
        assert refused.status_code == 403 and "督导" in refused.text
        assert (await school.get("/reports/dropout_return/export")).status_code == 403
        assert "潞州区实验小学经办人" in refused.text and 'href="/inbox"' in refused.text  # the top bar stays


# ---------------------------------------------------------------------------- the pages' rules, without a server


def _bureau() -> AgencyRef:
    return AgencyRef(id=7, name="潞州区教育局", agency_type=AgencyType.education_bureau, region_code="140403")


def _state(step: str) -> tuple[CaseState, StepState]:
    now = datetime.now(UTC)
    st = StepState(track="main", step=step, seq=5, opened_at=now, base=now, holder=_bureau())
    state = CaseState(
        case_no="KC-2026-000001",
        process=DROPOUT,
        county="140403",
        child=ChildRef(id=1, birth_date=date(2015, 3, 12), residence_region="140403", origin_region="410721"),
        starter=_bureau(),
        steps={"main": st},
    )
    return state, st


def _actor(role: Role) -> Actor:
    return Actor(user_id=1, user_name="经办人", agency=_bureau(), role=role)


def test_the_sign_off_is_offered_to_supervisors_and_named_to_operators() -> None:
    state, step = _state("unresolved_signoff")
    operator, supervisor = _actor(Role.operator), _actor(Role.supervisor)
    assert [o.action.name for o in permissions.offers(DROPOUT_PROCESS, state, operator)] == []
    assert reserved_actions(DROPOUT_PROCESS, state, step, operator) == [
        ("同意以未复学结案", "督导"),
        ("不同意，继续依法控辍", "督导"),
    ]
    offered = [o.action.name for o in permissions.offers(DROPOUT_PROCESS, state, supervisor)]
    assert offered == ["sign_off", "reject_signoff"]
    assert reserved_actions(DROPOUT_PROCESS, state, step, supervisor) == []


def test_a_hand_over_offers_the_acknowledgement_or_the_receipt() -> None:
    _, step = _state("handover")

    def opened(payload: dict[str, object]) -> TimelineEvent:
        return TimelineEvent(seq=5, kind="action", payload=payload)

    assert hidden_actions(step, [opened({"destination_region": "140404"})]) == {"record_external_ack"}
    assert hidden_actions(step, [opened({"destination_region": "410721", "external": True})]) == {
        "acknowledge_handover"
    }
    assert hidden_actions(_state("locate")[1], [opened({"external": True})]) == set()


def test_the_start_form_asks_the_school_of_a_bureau_only() -> None:
    school = {s.field.name: s for s in start_fields_for(DROPOUT_PROCESS, AgencyType.school)}
    bureau = {s.field.name: s for s in start_fields_for(DROPOUT_PROCESS, AgencyType.education_bureau)}
    assert school["school_id"].own and not bureau["school_id"].own and bureau["school_id"].field.required
    assert not bureau["village_committee_id"].own and not bureau["village_committee_id"].field.required
    assert not DROPOUT_PROCESS.start_field("school_id").required  # the definition itself is unchanged


def test_the_report_table_counts_schools_by_step_in_the_process_order() -> None:
    groups = [
        ReportGroup("潞州区实验小学", "joint_persuasion", "联合劝返", 1, 0),
        ReportGroup("潞州区实验小学", "school_contact", "学校联系家访", 2, 1),
        ReportGroup("潞州区第二中学", None, "本月结案", 1, 0),
    ]
    report = Report(DROPOUT_PROCESS, month_period(date(2026, 11, 1)), groups, [], opened=3, closed=1, still_open=3)
    table = report_table(DROPOUT_PROCESS, report)
    assert table.columns == ["学校联系家访", "联合劝返", "本月结案"]
    first = table.rows[0]
    assert first.group == "潞州区实验小学" and [(c.cases, c.overdue) for c in first.cells] == [(2, 1), (1, 0), (0, 0)]
    assert (first.total.cases, first.total.overdue) == (3, 1)
    assert [(c.cases, c.overdue) for c in table.totals] == [(2, 1), (1, 0), (1, 0)]
    assert (table.total.cases, table.total.overdue) == (4, 1)
    assert table.columns[-1] == "本月结案"
