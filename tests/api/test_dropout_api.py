"""Dropout return through the JSON API on a real PostgreSQL and the Temporal dev server: a school
information system's report, a township's persuasion attempt, a hand-over between two counties, the
supervisors' monthly report, and the refusals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from db.models import Agency, Case, Child
from db.seed import make_id_number
from domain.deadlines import local_date
from domain.periods import term_of
from tests.api.test_cases_api import auth
from tests.conftest import Live, make_token
from tests.support import child_id, today_iso, wait_for
from tests.ui.test_pages import browser


def absence(days_back: int = 14, length: int = 10) -> dict[str, str]:
    today = local_date(datetime.now(UTC))
    start = today - timedelta(days=days_back)
    return {"absent_from": start.isoformat(), "absent_to": (start + timedelta(days=length)).isoformat()}


async def report_body(live: Live, child: str = "王小明", **facts: object) -> dict:
    return {
        "process": "dropout_return",
        "start_step": "school_contact",
        "child_id": await child_id(live.db, child),
        "facts": {"class_name": "五年级二班", "known": "家长外出务工，学生随祖父母生活", **absence(), **facts},
    }


async def cases(live: Live) -> int:
    async with live.db.sf() as s:
        return (await s.execute(select(func.count()).select_from(Case))).scalar_one()


async def act(live: Live, token: str, case_no: str, step: str, action: str, **payload: object):
    return await live.http.post(
        f"/api/v1/cases/{case_no}/actions",
        headers=auth(token),
        json={"step": step, "action": action, "payload": payload},
    )


async def not_returned(live: Live, token: str, case_no: str):
    """The school's contact recorded: the child has not come back (joint persuasion opens)."""
    return await act(
        live,
        token,
        case_no,
        "school_contact",
        "not_returned",
        contacted_on=today_iso(),
        visited_on=today_iso(),
        family_says="孩子不愿上学",
    )


async def test_school_system_reports_with_its_token(live: Live) -> None:
    sis = await make_token(live.db, agency_code="luzhou-school1")
    body = await report_body(live)
    headers = {**auth(sis), "Idempotency-Key": "sis-2026-11-0042"}
    first = await live.http.post("/api/v1/cases", json=body, headers=headers)
    assert first.status_code == 201, first.text
    step = first.json()["steps"][0]
    assert (step["step"], step["holder"]) == ("school_contact", "潞州区实验小学")
    again = await live.http.post("/api/v1/cases", json=body, headers=headers)
    assert again.status_code == 200 and again.json()["case_no"] == first.json()["case_no"]
    assert await cases(live) == 1

    assert (await live.http.post("/api/v1/cases", json=body)).status_code == 401
    hospital = await make_token(live.db, agency_code="luzhou-hospital")
    r = await live.http.post("/api/v1/cases", json=body, headers=auth(hospital))
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_permitted"
    other_school = await make_token(live.db, agency_code="shangdang-school1")
    r = await live.http.post("/api/v1/cases", json=body, headers=auth(other_school))
    assert r.status_code == 404  # a pupil of another county's registry is named by the exact ID number only
    assert await cases(live) == 1

    case = (await live.http.get(f"/api/v1/cases/{first.json()['case_no']}", headers=auth(sis))).json()
    assert {s["key"]: s["value"] for s in case["summary"]} == {"school": "潞州区实验小学", "relapses": 0}
    assert case["timeline"][0]["note"] == "家长外出务工，学生随祖父母生活"


async def test_start_refusals_change_nothing(live: Live) -> None:
    school = await make_token(live.db, "luzhou-school1")
    today = local_date(datetime.now(UTC))

    async def refused(body: dict, status: int, code: str, field: str | None) -> None:
        r = await live.http.post("/api/v1/cases", json=body, headers=auth(school))
        assert r.status_code == status, r.text
        assert (r.json()["error"]["code"], r.json()["error"]["field"]) == (code, field)
        assert r.json()["error"]["message"]

    future = {"absent_from": today.isoformat(), "absent_to": (today + timedelta(days=3)).isoformat()}
    await refused(await report_body(live, **future), 422, "date_in_future", "absent_to")
    backwards = {
        "absent_from": (today - timedelta(days=2)).isoformat(),
        "absent_to": (today - timedelta(days=20)).isoformat(),
    }
    await refused(await report_body(live, **backwards), 422, "dates_out_of_order", "absent_to")
    short = {"absent_from": (today - timedelta(days=4)).isoformat(), "absent_to": today.isoformat()}
    await refused(await report_body(live, **short), 422, "below_threshold", "absent_to")
    # A child of four is not of compulsory-education age.
    async with live.db.sf() as s, s.begin():
        born = date(today.year - 4, 1, 15)
        s.add(
            Child(
                name="小小",
                sex="female",
                birth_date=born,
                id_number=make_id_number("140403", born, 2),
                origin_region="140403",
                residence_region="140403",
                address="东街",
            )
        )
    await refused(await report_body(live, child="小小"), 422, "not_compulsory_age", "child_id")
    # The bureau must name the school, and a school it must be.
    bureau = await make_token(live.db, "luzhou-edu")
    r = await live.http.post("/api/v1/cases", json=await report_body(live), headers=auth(bureau))
    assert r.status_code == 422 and r.json()["error"]["field"] == "school_id"
    async with live.db.sf() as s:
        hospital_id = (await s.execute(select(Agency.id).where(Agency.code == "luzhou-hospital"))).scalar_one()
    r = await live.http.post("/api/v1/cases", json=await report_body(live, school_id=hospital_id), headers=auth(bureau))
    assert r.status_code == 422 and (r.json()["error"]["code"], r.json()["error"]["field"]) == (
        "field_invalid",
        "school_id",
    )
    assert await cases(live) == 0


async def test_persuasion_by_the_township_and_a_hand_over_between_counties(live: Live) -> None:
    school = await make_token(live.db, "luzhou-school1")
    case_no = (await live.http.post("/api/v1/cases", json=await report_body(live), headers=auth(school))).json()[
        "case_no"
    ]
    r = await not_returned(live, school, case_no)
    assert r.status_code == 200, r.text
    edu = await make_token(live.db, "luzhou-edu")
    case = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(edu))).json()
    step = case["steps"][0]
    assert step["step"] == "joint_persuasion" and step["holder"]["name"] == "潞州区教育局"
    assert sorted(a["name"] for a in step["co_holders"]) == ["潞州区东街街道办事处", "潞州区东街街道城北社区居民委员会"]

    town = await make_token(live.db, "luzhou-town1")
    inbox = (await live.http.get("/api/v1/inbox", headers=auth(town))).json()["items"]
    assert case_no in [i["case_no"] for i in inbox]
    r = await act(
        live,
        town,
        case_no,
        "joint_persuasion",
        "record_attempt",
        done_on=today_iso(),
        kind="home_visit",
        who="街道干部李某、社区主任王某",
        result="家长同意考虑，尚未送学",
    )
    assert r.status_code == 200, r.text
    vc = await make_token(live.db, "luzhou-vc1")
    seen = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(vc))).json()
    assert seen["timeline"][-1]["actor"]["agency"] == "潞州区东街街道办事处"
    assert seen["steps"][0]["counters"] == {"attempts": 1, "home_visits": 1}

    # The family has moved to 上党区: the bureau hands the case over.
    r = await act(
        live, edu, case_no, "joint_persuasion", "moved_or_unknown", known_destination="上党区", note="举家迁往上党区"
    )
    assert r.status_code == 200, r.text
    r = await act(live, edu, case_no, "locate", "hand_over", destination_region="140405x")
    assert r.status_code == 422 and r.json()["error"]["code"] == "region_format"
    r = await act(live, edu, case_no, "locate", "hand_over", destination_region="140403")
    assert r.status_code == 422 and r.json()["error"]["code"] == "same_region"
    r = await act(
        live,
        edu,
        case_no,
        "locate",
        "hand_over",
        destination_region="140404",
        destination_address="上党区韩店街道某小区",
    )
    assert r.status_code == 200, r.text
    origin = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(edu))).json()
    handover_seq = origin["timeline"][-1]["seq"]

    dest = await make_token(live.db, "shangdang-edu")
    seen = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(dest))).json()
    assert seen["timeline"][0]["seq"] == handover_seq  # only from the hand-over on
    assert "家长外出务工" not in str(seen["timeline"])
    assert [d["kind"] for d in seen["documents"]] == ["transfer_packet"]
    # Only the agency handed the case may acknowledge it.
    r = await act(live, edu, case_no, "handover", "acknowledge_handover")
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_holder"
    tunliu = await make_token(live.db, "tunliu-edu")
    assert (await act(live, tunliu, case_no, "handover", "acknowledge_handover")).status_code == 404
    async with live.db.sf() as s:
        committee = (await s.execute(select(Agency.id).where(Agency.code == "shangdang-vc1"))).scalar_one()
    r = await act(
        live,
        dest,
        case_no,
        "handover",
        "acknowledge_handover",
        continue_here=True,
        note="已接收",
        destination_committee_id=committee,
    )
    assert r.status_code == 200, r.text
    assert r.json()["closed"] is True and r.json()["outcome"] == "moved"
    told = (await live.http.get("/api/v1/notifications", headers=auth(edu))).json()["items"]
    assert any(n["case_no"] == case_no and n["kind"] == "handover_acknowledged" for n in told)

    # The origin keeps its whole history, and sees where the case went.
    origin = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(edu))).json()
    assert origin["timeline"][0]["kind"] == "opened" and origin["outcome"] == "moved"
    follow_on = origin["timeline"][-1]["payload"]["follow_on"]
    assert follow_on.startswith("KC-") and follow_on.split("-")[2] == "140404"  # the new county's count

    async def opened() -> dict | None:
        # The linked case is its own workflow: it opens moments after the origin closes.
        r = await live.http.get(f"/api/v1/cases/{follow_on}", headers=auth(dest))
        return r.json() if r.status_code == 200 else None

    new = await wait_for(opened, what="the follow-on case")
    assert new["county"] == "140404" and new["steps"][0]["step"] == "joint_persuasion"
    assert new["steps"][0]["holder"]["name"] == "上党区教育局"
    # The committee the receiving bureau named, and its township, persuade with it there.
    assert sorted(a["name"] for a in new["steps"][0]["co_holders"]) == [
        "上党区韩店街道办事处",
        "上党区韩店街道城北社区居民委员会",
    ]
    assert (await live.http.get(f"/api/v1/cases/{follow_on}", headers=auth(edu))).status_code == 404


async def test_the_inbox_and_the_lists_name_the_co_holders_as_the_case_page_does(live: Live) -> None:
    school = await make_token(live.db, "luzhou-school1")
    case_no = (await live.http.post("/api/v1/cases", json=await report_body(live), headers=auth(school))).json()[
        "case_no"
    ]
    r = await not_returned(live, school, case_no)
    assert r.status_code == 200, r.text
    town = await make_token(live.db, "luzhou-town1")
    page = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(town))).json()
    assert page["live"] is True
    team = page["steps"][0]["co_holders"]
    assert [a["name"] for a in team] == ["潞州区东街街道城北社区居民委员会", "潞州区东街街道办事处"]

    # The township helps on the step: its 我的待办 shows the case, with the bureau and the whole team.
    inbox = (await live.http.get("/api/v1/inbox", headers=auth(town))).json()["items"]
    assert [(i["case_no"], i["step"]["step"], i["step"]["holder"]["name"]) for i in inbox] == [
        (case_no, "joint_persuasion", "潞州区教育局")
    ]
    assert inbox[0]["step"]["co_holders"] == team
    listed = (await live.http.get("/api/v1/cases", headers=auth(town))).json()["items"]
    assert [(c["case_no"], c["steps"][0]["co_holders"]) for c in listed] == [(case_no, team)]
    bureau = await make_token(live.db, "luzhou-edu")
    inbox = (await live.http.get("/api/v1/inbox", headers=auth(bureau))).json()["items"]
    assert [(i["case_no"], i["step"]["co_holders"]) for i in inbox] == [(case_no, team)]


async def test_monthly_report_for_the_county_supervisor(live: Live) -> None:
    school = await make_token(live.db, "luzhou-school1")
    for child in ("王小明", "李娜"):
        r = await live.http.post("/api/v1/cases", json=await report_body(live, child=child), headers=auth(school))
        assert r.status_code == 201
    sup = await make_token(live.db, "luzhou-edu-sup")
    month = f"{local_date(datetime.now(UTC)):%Y-%m}"
    report = (await live.http.get("/api/v1/reports/dropout_return", params={"month": month}, headers=auth(sup))).json()
    assert report["opened"] == 2 and report["still_open"] == 2
    assert report["groups"] == [
        {"group": "潞州区实验小学", "step": "school_contact", "step_label": "学校联系家访", "cases": 2, "overdue": 0}
    ]
    assert report["period"]["kind"] == "month" and report["month"] == month
    # The city's supervisor gets this school term by default, and the same cases.
    city = await make_token(live.db, "city-edu-sup")
    by_term = (await live.http.get("/api/v1/reports/dropout_return", headers=auth(city))).json()
    term = term_of(local_date(datetime.now(UTC)))
    assert by_term["period"] == {
        "kind": "term",
        "key": term.key,
        "label": term.label,
        "start": term.start.isoformat(),
        "end": term.end.isoformat(),
    }
    assert by_term["groups"] == report["groups"] and by_term["month"] is None
    r = await live.http.get(
        "/api/v1/reports/dropout_return", params={"month": month, "term": term.key}, headers=auth(city)
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "term"
    other = await make_token(live.db, "shangdang-edu-sup")
    assert (await live.http.get("/api/v1/reports/dropout_return", headers=auth(other))).json()["items"] == []
    r = await live.http.get("/api/v1/reports/dropout_return", headers=auth(school))
    assert r.status_code == 403


async def test_the_city_report_counts_a_pupil_taken_on_in_another_county_once(live: Live) -> None:
    """A pupil of 潞州区实验小学 moves to 上党区, which takes the case on: the city's term report counts
    the pupil once, in the follow-on case under the county now responsible, and lists the case they came
    from as handed over; the page says so."""
    school = await make_token(live.db, "luzhou-school1")
    r = await live.http.post("/api/v1/cases", json=await report_body(live), headers=auth(school))
    case_no = r.json()["case_no"]
    r = await act(
        live, school, case_no, "school_contact", "moved_or_unknown", known_destination="上党区", note="举家迁走"
    )
    assert r.status_code == 200, r.text
    edu = await make_token(live.db, "luzhou-edu")
    r = await act(live, edu, case_no, "locate", "hand_over", destination_region="140404", destination_address="某小区")
    assert r.status_code == 200, r.text
    dest = await make_token(live.db, "shangdang-edu")
    r = await act(live, dest, case_no, "handover", "acknowledge_handover", continue_here=True, note="已接收")
    assert r.status_code == 200, r.text
    origin = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(edu))).json()
    follow_on = origin["timeline"][-1]["payload"]["follow_on"]

    city = await make_token(live.db, "city-edu-sup")
    report = (await live.http.get("/api/v1/reports/dropout_return", headers=auth(city))).json()
    assert report["groups"] == [
        {
            "group": "上党区（转入，待定）",
            "step": "joint_persuasion",
            "step_label": "联合劝返",
            "cases": 1,
            "overdue": 0,
        }
    ]
    assert (report["opened"], report["closed"], report["still_open"]) == (1, 0, 1)
    by_case = {i["case_no"]: i for i in report["items"]}
    assert by_case[case_no]["handed_to"] == follow_on and by_case[follow_on]["handed_to"] is None
    # The county that handed the pupil over still sees its own case closed as moved that month.
    origin_sup = await make_token(live.db, "luzhou-edu-sup")
    month = f"{local_date(datetime.now(UTC)):%Y-%m}"
    mine = (
        await live.http.get("/api/v1/reports/dropout_return", params={"month": month}, headers=auth(origin_sup))
    ).json()
    assert (mine["opened"], mine["closed"], mine["still_open"]) == (1, 1, 0)
    async with browser(live, "city-edu-sup") as http:
        page = await http.get("/reports/dropout_return")
        assert page.status_code == 200
        assert f"移交：由 {follow_on} 接续办理" in page.text and "只统计一次" in page.text
