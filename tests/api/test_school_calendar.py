"""The county education bureau sets its school terms and holidays (校历), over the API and on the page;
a suspected-dropout report counts school days on them, and where none is set, on the statutory working
days, and says so. Real PostgreSQL, Temporal dev server and worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.deadlines import local_date
from tests.api.test_cases_api import auth
from tests.api.test_dropout_api import report_body
from tests.conftest import Live, make_token
from tests.support import child_id
from tests.ui.test_pages import browser, csrf_of, form, submit


def this_term_with_a_holiday() -> tuple[dict, dict]:
    """A term around today whose last three weeks up to today were a holiday, and that absence."""
    today = local_date(datetime.now(UTC))
    holiday_from = today - timedelta(days=20)
    term = {
        "label": "本学期（测试）",
        "starts_on": (today - timedelta(days=120)).isoformat(),
        "ends_on": (today + timedelta(days=60)).isoformat(),
        "holidays": [{"starts_on": holiday_from.isoformat(), "ends_on": today.isoformat(), "label": "秋假"}],
    }
    absence = {"absent_from": holiday_from.isoformat(), "absent_to": today.isoformat()}
    return term, absence


async def test_an_absence_in_the_school_holiday_is_no_dropout(live: Live) -> None:
    term, absence = this_term_with_a_holiday()
    school = await make_token(live.db, "luzhou-school1")
    # Without a calendar: three weeks of working days, counted as school days; the report is taken.
    r = await live.http.post("/api/v1/cases", json=await report_body(live, "李娜", **absence), headers=auth(school))
    assert r.status_code == 201, r.text

    # A school may not set the calendar; the county's bureau may.
    r = await live.http.post("/api/v1/school-calendar/140403/terms", json=term, headers=auth(school))
    assert r.status_code == 403
    other = await make_token(live.db, "shangdang-edu")
    assert (
        await live.http.post("/api/v1/school-calendar/140403/terms", json=term, headers=auth(other))
    ).status_code == 403
    bureau = await make_token(live.db, "luzhou-edu")
    r = await live.http.post("/api/v1/school-calendar/140403/terms", json=term, headers=auth(bureau))
    assert r.status_code == 201, r.text
    overlapping = {**term, "label": "重叠", "holidays": []}
    r = await live.http.post("/api/v1/school-calendar/140403/terms", json=overlapping, headers=auth(bureau))
    assert r.status_code == 422 and r.json()["error"]["code"] == "term_overlaps"
    listed = (await live.http.get("/api/v1/school-calendar/140403", headers=auth(school))).json()
    assert [t["label"] for t in listed["terms"]] == ["本学期（测试）"] and listed["may_set"] is False

    # With it: the same three weeks are the holiday, not one school day missed.
    r = await live.http.post("/api/v1/cases", json=await report_body(live, **absence), headers=auth(school))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "below_threshold" and "连续无故缺课0个上学日" in error["message"]
    assert "按本县校历计算" in error["message"]


async def test_without_a_calendar_the_refusal_says_working_days_were_counted(live: Live) -> None:
    today = local_date(datetime.now(UTC))
    school = await make_token(live.db, "luzhou-school1")
    short = {"absent_from": (today - timedelta(days=3)).isoformat(), "absent_to": today.isoformat()}
    r = await live.http.post("/api/v1/cases", json=await report_body(live, **short), headers=auth(school))
    assert r.status_code == 422
    assert "尚未设置这段日期的校历，按法定工作日计算" in r.json()["error"]["message"]


async def test_the_bureau_sets_a_term_on_the_page(live: Live) -> None:
    term, _ = this_term_with_a_holiday()
    holiday = term["holidays"][0]
    start_form = f"/cases/new?child_id={await child_id(live.db, '王小明')}&process=dropout_return"
    async with browser(live, "luzhou-school1") as http:
        page = await http.get(start_form)
        assert "潞州区教育局尚未设置当前学期的校历：上学日暂按法定工作日计算" in page.text
    async with browser(live, "luzhou-edu") as http:
        page = await http.get("/school-calendar")
        assert page.status_code == 200 and "尚未设置校历" in page.text and 'href="/school-calendar"' in page.text
        f = form(page.text, action="/school-calendar/140403/terms")
        values = {"label": term["label"], "starts_on": term["starts_on"], "ends_on": term["ends_on"]}
        bad = await submit(http, f, **values, holidays="十月一日到七日")
        assert bad.status_code == 422 and "第1行格式不对" in bad.text
        r = await submit(http, f, **values, holidays=f"{holiday['starts_on']} 至 {holiday['ends_on']} 秋假")
        assert r.status_code == 303, r.text
        page = await http.get(r.headers["location"])
        assert "本学期（测试）" in page.text and f"秋假：{holiday['starts_on']} 至 {holiday['ends_on']}" in page.text
    async with browser(live, "luzhou-school1") as http:
        page = await http.get("/school-calendar?county=140403")
        assert "本学期（测试）" in page.text and "设置一个学期" not in page.text
        page = await http.get(start_form)
        assert "上学日按潞州区教育局设置的校历计算" in page.text and "尚未设置" not in page.text
        r = await http.post("/school-calendar/140403/terms", data={"csrf": csrf_of(page.text), "label": "x"})
        assert r.status_code == 403 and "只有本县（区）教育局" in r.text
