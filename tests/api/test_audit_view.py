"""The audit log, viewable, with two agencies on the real stack: each committee sees who read its own
cases (a supervisor of another agency included) and nothing of the other's; the city's supervisors and
admins see every entry; the filters (person, agency, case, dates) and the export agree with the page."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx

from api.spreadsheet import is_xlsx, read_cell, xlsx_rows
from domain.deadlines import local_date
from tests.api.test_cases_api import auth, start_body
from tests.conftest import Live, make_token
from tests.support import who
from tests.ui.test_pages import browser

SUP = "潞州区民政局督导"  # luzhou-civil-sup's display name


async def entries(live: Live, token: str, **params: str) -> dict:
    r = await live.http.get("/api/v1/audit", params=params, headers=auth(token))
    assert r.status_code == 200, r.text
    return r.json()


def seen(body: dict) -> set[tuple[str, str | None, str]]:
    return {(i["action"], i["case_no"], i["person"].split("（")[0]) for i in body["items"]}


async def two_cases(live: Live) -> tuple[str, str, str, str]:
    vc1, vc2 = await make_token(live.db, "luzhou-vc1"), await make_token(live.db, "luzhou-vc2")
    one = (await live.http.post("/api/v1/cases", json=await start_body(live), headers=auth(vc1))).json()["case_no"]
    body = await start_body(live, "张浩")
    two = (await live.http.post("/api/v1/cases", json=body, headers=auth(vc2))).json()["case_no"]
    sup = await make_token(live.db, "luzhou-civil-sup")
    assert (await live.http.get(f"/api/v1/cases/{one}", headers=auth(sup))).status_code == 200
    return vc1, vc2, one, two


async def test_each_agency_sees_who_read_its_own_cases(live: Live) -> None:
    vc1, vc2, one, two = await two_cases(live)
    vc1_name = (await who(live.db, "luzhou-vc1")).display_name
    vc2_name = (await who(live.db, "luzhou-vc2")).display_name
    mine = await entries(live, vc1)
    assert mine["scope"] == "own_cases"
    assert seen(mine) >= {("start", one, vc1_name), ("read", one, SUP)}
    assert {i["case_no"] for i in mine["items"]} == {one}
    theirs = await entries(live, vc2)
    assert {i["case_no"] for i in theirs["items"]} == {two}
    assert all(SUP not in i["person"] for i in theirs["items"])
    assert all(i["temporal_url"] is None for i in mine["items"])

    city = await make_token(live.db, "city-police-sup")
    everything = await entries(live, city)
    assert everything["scope"] == "all"
    assert {("start", one, vc1_name), ("start", two, vc2_name), ("read", one, SUP)} <= seen(everything)
    # Filters: a person, an agency (part of its name), a case, a date range.
    by_sup = await entries(live, city, person="luzhou-civil-sup")
    assert seen(by_sup) == {("read", one, SUP)}
    by_agency = await entries(live, city, agency="南庄村民委员会")
    assert {i["case_no"] for i in by_agency["items"]} == {two}
    assert {i["case_no"] for i in (await entries(live, city, case_no=two))["items"]} == {two}
    child = next(i["child_id"] for i in everything["items"] if i["case_no"] == one)
    assert {i["case_no"] for i in (await entries(live, city, child_id=str(child)))["items"]} == {one}
    today = local_date(datetime.now(UTC))
    assert (await entries(live, city, date_to=str(today - timedelta(days=1))))["total"] == 0
    assert (await entries(live, city, date_from=str(today), date_to=str(today)))["total"] == everything["total"]
    r = await live.http.get(
        "/api/v1/audit", params={"date_from": str(today), "date_to": str(today - timedelta(days=1))}, headers=auth(city)
    )
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "起始日期不能晚于截止日期"

    admin = await make_token(live.db, "admin")
    body = await entries(live, admin, case_no=one)
    links = {i["temporal_url"] for i in body["items"]}
    assert links == {f"http://127.0.0.1:8233/namespaces/default/workflows/case-{one}"}


async def test_the_page_and_its_export_show_the_same_entries(live: Live) -> None:
    _, _, one, two = await two_cases(live)
    async with browser(live, "luzhou-vc1") as http:
        page = await http.get("/audit")
        assert page.status_code == 200
        assert "审计日志" in page.text and SUP in page.text
        assert one in page.text and two not in page.text
        export = await http.get("/audit/export")
        assert export.status_code == 200 and is_xlsx(export.content)
        rows = xlsx_rows(export.content, max_rows=1000)
        as_csv = await http.get("/audit/export", params={"format": "csv"})
        assert len(list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))) == len(rows)
        assert rows[0][:5] == ["时间", "操作", "人员", "单位", "案件编号"]
        assert {read_cell(r[4]) for r in rows[1:]} == {one}
        assert any(r[1] == "查阅案件" and r[2].startswith(SUP) for r in rows[1:])
        bad = await http.get("/audit", params={"date_from": "2026-13-01"})
        assert bad.status_code == 422
        assert "起始日期" in bad.text
    async with browser(live, "admin") as http:
        page = await http.get("/audit", params={"case_no": one})
        assert f"/namespaces/default/workflows/case-{one}" in page.text


async def test_signed_out_reads_nothing(live: Live) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=live.app), base_url="http://t") as http:  # type: ignore[arg-type]
        assert (await http.get("/api/v1/audit")).status_code == 401
