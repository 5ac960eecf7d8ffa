"""The city supervisor sees where things are stalled: a line per holding agency, the worst first, and a
click narrows the list to that agency. Real PostgreSQL, Temporal dev server and worker (`live`)."""

from __future__ import annotations

import re

from sqlalchemy import text

from tests.api.test_cases_api import auth, start_body
from tests.conftest import Live, make_token
from tests.support import agency_id
from tests.ui.test_pages import browser


async def police_report(live: Live, reporter: str, child: str) -> str:
    token = await make_token(live.db, reporter)
    body = {**await start_body(live, child=child), "start_step": "police_report"}
    body["facts"]["village_committee_id"] = None
    r = await live.http.post("/api/v1/cases", json=body, headers=auth(token))
    assert r.status_code == 201, r.text
    return r.json()["case_no"]


async def late(live: Live, case_no: str, level: int) -> None:
    async with live.db.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE case_steps SET escalation_level = :level, due_at = now() - interval '5 days' "
                "WHERE case_id = (SELECT id FROM cases WHERE case_no = :no)"
            ),
            {"no": case_no, "level": level},
        )


async def test_the_city_sees_which_police_are_late_and_narrows_to_one(live: Live) -> None:
    luzhou = await police_report(live, "luzhou-school1", "王小明")
    luzhou2 = await police_report(live, "luzhou-school1", "李娜")
    shangdang = await police_report(live, "shangdang-school1", "赵雨涵")
    await late(live, luzhou, 3)
    await late(live, luzhou2, 2)
    await late(live, shangdang, 3)

    async with browser(live, "city-police-sup") as city:
        page = await city.get("/supervision?all=1")
        assert page.status_code == 200
        summary = re.search(r'<section aria-label="按承办单位汇总">.*?</section>', page.text, re.S)
        assert summary, "no summary"
        lines = re.findall(
            r'<td><a href="\?holder=(\d+)&amp;all=1">([^<]+)</a></td>\s*<td>([^<]+)</td>\s*<td>(\d+)</td>',
            summary.group(0),
        )
        luzhou_id = await agency_id(live.db, "luzhou-police")
        shangdang_id = await agency_id(live.db, "shangdang-police")
        # Both have a step at level 3; 潞州 has one more at level 2, so it comes first.
        assert [(int(a), name, county, n) for a, name, county, n in lines] == [
            (luzhou_id, "潞州区公安局", "潞州区（140403）", "2"),
            (shangdang_id, "上党区公安局", "上党区（140404）", "1"),
        ]
        narrowed = await city.get(f"/supervision?all=1&holder={shangdang_id}")
        listed = re.findall(r'href="/cases/(JH-[^"]+)"', narrowed.text)
        assert listed == [shangdang] and 'class="row-selected"' in narrowed.text and "显示全部承办单位" in narrowed.text
