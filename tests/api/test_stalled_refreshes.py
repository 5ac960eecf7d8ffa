"""Overdue county registry refreshes beside the supervisors' 逾期与停滞 list (that list itself is of case
steps): in the API's stalled answer and on the supervision page, for the county's civil-affairs supervisors
from level 2 and the city's from level 3 (every overdue one on request), never for another county's or
another agency type's supervisors; a refresh done is listed no more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from db.models import RegistryRefresh
from tests.api.test_cases_api import auth
from tests.conftest import Live, make_token
from tests.ui.test_pages import browser

LUZHOU, SHANGDANG = "140403", "140404"


async def add_refresh(live: Live, county: str, period: str, level: int) -> int:
    due = datetime.now(UTC) - timedelta(days=40)
    async with live.db.sf() as s, s.begin():
        row = RegistryRefresh(
            county=county,
            period=period,
            workflow_id=f"refresh-{county}-{period}",
            opened_at=due - timedelta(days=180),
            due_at=due,
            level2_at=due + timedelta(days=10),
            level3_at=due + timedelta(days=30),
            escalation_level=level,
        )
        s.add(row)
        await s.flush()
        return row.id


async def listed(live: Live, username: str, **params: str) -> list[tuple[str, str, int]]:
    token = await make_token(live.db, username)
    r = await live.http.get("/api/v1/stalled", params=params, headers=auth(token))
    assert r.status_code == 200, r.text
    return [(x["county"], x["period"], x["escalation_level"]) for x in r.json()["refreshes"]]


async def test_overdue_refreshes_show_for_the_county_and_city_civil_affairs_supervisors(live: Live) -> None:
    late = await add_refresh(live, LUZHOU, "2026H1", 3)
    await add_refresh(live, LUZHOU, "2026H2", 1)
    await add_refresh(live, SHANGDANG, "2026H1", 2)

    assert await listed(live, "luzhou-civil-sup") == [(LUZHOU, "2026H1", 3)]
    assert await listed(live, "luzhou-civil-sup", include_overdue="true") == [
        (LUZHOU, "2026H1", 3),
        (LUZHOU, "2026H2", 1),
    ]
    assert await listed(live, "shangdang-civil-sup") == [(SHANGDANG, "2026H1", 2)]
    assert await listed(live, "city-civil-sup") == [(LUZHOU, "2026H1", 3)]  # level 3 reaches the city
    assert await listed(live, "city-civil-sup", include_overdue="true") == [
        (LUZHOU, "2026H1", 3),
        (SHANGDANG, "2026H1", 2),
        (LUZHOU, "2026H2", 1),
    ]
    # Supervisors of other agency types oversee no refresh.
    assert await listed(live, "luzhou-edu-sup", include_overdue="true") == []

    async with browser(live, "luzhou-civil-sup") as sup:
        page = await sup.get("/supervision")
        assert page.status_code == 200
        assert "台账更新逾期" in page.text and "2026年上半年" in page.text and "2026年下半年" not in page.text
        assert f"/registry-refreshes?county={LUZHOU}" in page.text
    async with browser(live, "luzhou-edu-sup") as other:
        assert "台账更新逾期" not in (await other.get("/supervision")).text

    # Done: listed no more.
    async with live.db.sf() as s, s.begin():
        await s.execute(update(RegistryRefresh).where(RegistryRefresh.id == late).values(done_at=datetime.now(UTC)))
    assert await listed(live, "luzhou-civil-sup") == []
    async with browser(live, "luzhou-civil-sup") as sup:
        assert "台账更新逾期" not in (await sup.get("/supervision")).text
