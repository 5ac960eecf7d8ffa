"""The refresh schedules on the Temporal dev server (created once, however often a worker starts), and the
refresh through the API: county civil affairs reads and records it, others are refused, and the inbox
carries its notice though it is about no case."""

from __future__ import annotations

from sqlalchemy import select

from db.models import RegistryRefresh
from domain.deadlines import local_date
from domain.refresh import half_year, schedule_id
from tests.api.test_cases_api import auth
from tests.conftest import Live, make_token
from tests.support import wait_for
from tests.ui.test_pages import browser, form, location, submit
from worker.schedules import ensure_refresh_schedules

LUZHOU = "140403"


async def test_the_schedule_opens_the_half_year_and_civil_affairs_records_it(live: Live) -> None:
    try:
        assert await ensure_refresh_schedules(live.temporal, live.task_queue, counties=(LUZHOU,)) == 1
        assert await ensure_refresh_schedules(live.temporal, live.task_queue, counties=(LUZHOU,)) == 0
        described = await live.temporal.get_schedule_handle(schedule_id(LUZHOU)).describe()
        assert described.schedule.spec.time_zone_name == "Asia/Shanghai"

        async def opened() -> RegistryRefresh | None:
            async with live.db.sf() as s:
                return (
                    await s.execute(select(RegistryRefresh).where(RegistryRefresh.county == LUZHOU))
                ).scalar_one_or_none()

        row = await wait_for(opened, what="the half-year's refresh")
        period = half_year(local_date(row.opened_at))[0]
        assert row.period == period

        clerk = await make_token(live.db, "luzhou-civil")
        r = await live.http.get(f"/api/v1/registry-refreshes/{LUZHOU}", headers=auth(clerk))
        assert r.status_code == 200, r.text
        assert r.json()["may_record"] is True
        assert [(d["period"], d["done_at"], d["escalation_level"]) for d in r.json()["data"]] == [(period, None, 0)]
        inbox = (await live.http.get("/api/v1/notifications", headers=auth(clerk))).json()["items"]
        assert any(i["case_no"] is None and "台账更新待办" in i["title"] for i in inbox), inbox

        for other, status in (("luzhou-police", 403), ("shangdang-civil", 403), ("luzhou-vc1", 403)):
            token = await make_token(live.db, other)
            r = await live.http.post(f"/api/v1/registry-refreshes/{LUZHOU}/record", json={}, headers=auth(token))
            assert r.status_code == status and r.json()["error"]["code"] == "not_permitted", (other, r.text)
        city = await make_token(live.db, "city-civil-sup")
        assert (await live.http.get(f"/api/v1/registry-refreshes/{LUZHOU}", headers=auth(city))).status_code == 200
        police = await make_token(live.db, "luzhou-police")
        assert (await live.http.get(f"/api/v1/registry-refreshes/{LUZHOU}", headers=auth(police))).status_code == 403
        r = await live.http.get("/api/v1/registry-refreshes/140400", headers=auth(clerk))
        assert r.status_code == 422 and r.json()["error"]["field"] == "county"
        assert (await opened()).done_at is None

        # The clerk records it on the page.
        async with browser(live, "luzhou-civil") as page_clerk:
            page = await page_clerk.get("/registry-refreshes")
            assert page.status_code == 200 and "台账更新：潞州区" in page.text and "待更新" in page.text
            r = await submit(page_clerk, form(page.text, container="record-refresh"), note="已汇总五部门数据")
            assert location(r) == f"/registry-refreshes?county={LUZHOU}"

            async def done() -> bool:
                row = await opened()
                return row is not None and row.done_at is not None

            await wait_for(done, what="the refresh recorded")
            after = await page_clerk.get(f"/registry-refreshes?county={LUZHOU}")
            assert "已登记" in after.text and "已更新" in after.text
        async with browser(live, "luzhou-police") as police_page:
            assert (await police_page.get("/registry-refreshes")).status_code == 403
        r = await live.http.get(f"/api/v1/registry-refreshes/{LUZHOU}", headers=auth(clerk))
        assert r.json()["data"][0]["done_by"].startswith("潞州区民政局")
        # Nothing is open any more: recording again completes nothing.
        r = await live.http.post(f"/api/v1/registry-refreshes/{LUZHOU}/record", json={}, headers=auth(clerk))
        assert r.status_code == 200 and r.json() == {"recorded": []}, r.text
    finally:
        await live.temporal.get_schedule_handle(schedule_id(LUZHOU)).delete()
