"""The guardianship statistics on the real stack: a month's, quarter's and year's cases opened by source,
the police's decisions, family-education guidance given and completed, and what is overdue now, by
agency; each supervisor counts only the cases they may read; the page and its export agree."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from api.spreadsheet import is_xlsx, read_cell, xlsx_rows
from db.models import Case, CaseStep
from domain.deadlines import local_date
from tests.api.test_cases_api import auth, start_body
from tests.api.test_dropout_api import act
from tests.conftest import Live, make_token
from tests.support import today_iso, who
from tests.ui.test_pages import browser


async def start(live: Live, token: str, child: str, step: str) -> str:
    body = {**await start_body(live, child), "start_step": step}
    r = await live.http.post("/api/v1/cases", json=body, headers=auth(token))
    assert r.status_code == 201, r.text
    return r.json()["case_no"]


async def ok(r) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == 200, r.text


def cells(body: dict, key: str) -> dict[tuple[str, str], int]:
    t = next(t for t in body["tables"] if t["key"] == key)
    return {(r["group"], c): n for r in t["rows"] for c, n in zip(t["columns"], r["cells"], strict=True) if n}


async def statistics(live: Live, token: str, **period: str) -> dict:
    r = await live.http.get("/api/v1/statistics/guardianship", params=period, headers=auth(token))
    assert r.status_code == 200, r.text
    return r.json()


async def a_month_of_cases(live: Live) -> dict[str, str]:
    vc1, school, police = [await make_token(live.db, u) for u in ("luzhou-vc1", "luzhou-school1", "luzhou-police")]
    await start(live, vc1, "王小明", "admonition")
    reported = await start(live, school, "李娜", "police_report")
    await ok(await act(live, police, reported, "police_report", "accept", note="受理"))
    await ok(
        await act(
            live,
            police,
            reported,
            "police_decision",
            "decide_reprimand",
            decision="reprimand_penalty",
            penalty="罚款",
            note="查实",
        )
    )
    direct = await start(live, police, "张浩", "reprimand")
    await ok(
        await act(
            live,
            police,
            direct,
            "reprimand",
            "issue_reprimand",
            done_on=today_iso(),
            content="训诫",
            family_education_order=True,
        )
    )
    wf = await make_token(live.db, "luzhou-wf")
    for n in range(3):
        await ok(
            await act(
                live, wf, direct, "family_education_guidance", "record_session", done_on=today_iso(), content=f"第{n}次"
            )
        )
    # The reprimand still to be issued is overdue, escalated to the county.
    async with live.db.sf() as s, s.begin():
        case_id = (await s.execute(select(Case.id).where(Case.case_no == reported))).scalar_one()
        await s.execute(
            update(CaseStep)
            .where(CaseStep.case_id == case_id)
            .values(due_at=datetime.now(UTC) - timedelta(days=2), escalation_level=2)
        )
    names = {u: (await who(live.db, u)).agency.name for u in ("luzhou-police", "luzhou-wf")}
    return names


async def test_the_police_supervisor_counts_the_police_cases(live: Live) -> None:
    names = await a_month_of_cases(live)
    sup = await make_token(live.db, "luzhou-police-sup")
    month = await statistics(live, sup)
    assert month["period"]["kind"] == "month"
    # The committee's admonition involves no police agency: not the police supervisor's to count.
    assert cells(month, "sources") == {("潞州区", "学校/幼儿园"): 1, ("潞州区", "公安机关"): 1}
    assert cells(month, "decisions") == {(names["luzhou-police"], "训诫并治安处罚"): 1}
    assert cells(month, "guidance") == {(names["luzhou-wf"], "指导次数"): 3, (names["luzhou-wf"], "完成指导"): 1}
    assert cells(month, "overdue") == {(names["luzhou-police"], "二级（县级督导）"): 1}
    today = local_date(datetime.now(UTC))
    for period in ({"quarter": f"{today.year}-Q{(today.month - 1) // 3 + 1}"}, {"year": str(today.year)}):
        body = await statistics(live, sup, **period)
        assert cells(body, "sources") == cells(month, "sources")
        assert cells(body, "guidance") == cells(month, "guidance")
    last_year = await statistics(live, sup, year=str(today.year - 1))
    assert cells(last_year, "sources") == {} and cells(last_year, "decisions") == {}

    civil = await statistics(live, await make_token(live.db, "luzhou-civil-sup"))
    assert ("潞州区", "村（居）民委员会") in cells(civil, "sources")
    other_county = await statistics(live, await make_token(live.db, "shangdang-police-sup"))
    assert all(t["total"] == 0 for t in other_county["tables"] if t["key"] != "overdue")

    r = await live.http.get("/api/v1/statistics/guardianship", headers=auth(await make_token(live.db, "luzhou-vc1")))
    assert r.status_code == 403
    r = await live.http.get("/api/v1/statistics/guardianship", params={"quarter": "2026-Q5"}, headers=auth(sup))
    assert r.status_code == 422
    assert "季度格式" in r.json()["error"]["message"]


async def test_the_page_and_its_export_agree(live: Live) -> None:
    names = await a_month_of_cases(live)
    async with browser(live, "luzhou-police-sup") as http:
        home = await http.get("/inbox")
        assert 'href="/statistics/guardianship"' in home.text
        today = local_date(datetime.now(UTC))
        quarter = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
        page = await http.get("/statistics/guardianship", params={"quarter": quarter})
        assert page.status_code == 200
        assert f"{today.year}年第" in page.text and "按月份" in page.text and "按年份" in page.text
        for words in ("监护干预统计", "立案来源", "处理决定", "家庭教育指导", "当前逾期", names["luzhou-police"]):
            assert words in page.text, words
        page = await http.get("/statistics/guardianship", params={"year": "20x6"})
        assert page.status_code == 422 and "年份格式" in page.text
        term = await http.get("/statistics/guardianship", params={"term": "2026-autumn"})
        assert term.status_code == 422 and "该统计按月份、季度、年份查看" in term.text
        export = await http.get("/statistics/guardianship/export")
        assert export.status_code == 200 and is_xlsx(export.content)
        rows = xlsx_rows(export.content, max_rows=1000)
        as_csv = await http.get("/statistics/guardianship/export", params={"format": "csv"})
        assert [[read_cell(c) for c in r] for r in csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig")))] == rows
        assert rows[0] == ["统计期间", "统计项", "分组", "类别", "数量"]
        assert [r[1:] for r in rows[1:] if r[1] == "处理决定"] == [
            ["处理决定", names["luzhou-police"], "训诫并治安处罚", "1"]
        ]
        assert ["家庭教育指导", names["luzhou-wf"], "完成指导", "1"] in [r[1:] for r in rows[1:]]
