"""Operations on the real stack: a holiday schedule loaded for a year makes provisional deadlines exact;
a quiet case and a case whose automation is failing show as stalled; an action sent while the
automation is stuck is not lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from db.models import Agency, Case, CaseStep
from domain.workdays import WorkCalendar
from tests.api.test_cases_api import auth, start_body
from tests.conftest import Live, make_token
from tests.support import today_iso, wait_for


async def test_loading_a_years_schedule_makes_provisional_deadlines_exact(live: Live) -> None:
    if WorkCalendar().is_exact(datetime.now(UTC).year + 1):
        pytest.skip("the calendar package already knows next year")
    year = datetime.now(UTC).year + 1
    police = await make_token(live.db, "luzhou-police")
    body = {**await start_body(live), "start_step": "reprimand"}
    case_no = (await live.http.post("/api/v1/cases", json=body, headers=auth(police))).json()["case_no"]
    r = await live.http.post(
        f"/api/v1/cases/{case_no}/actions",
        headers=auth(police),
        json={
            "step": "reprimand",
            "action": "issue_reprimand",
            "payload": {"done_on": today_iso(), "content": "训诫", "family_education_order": True},
        },
    )
    assert r.status_code == 200, r.text
    # Guidance: first session within 15 WD; its level 3 (15 WD later) lies in next year, not yet known.
    case = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(police))).json()
    step = case["steps"][0]
    assert step["step"] == "family_education_guidance"
    assert step["due_provisional"] is True
    old_level3 = step["level3_at"]

    admin = await make_token(live.db, "admin")
    r = await live.http.put(
        f"/api/v1/admin/holidays/{year}",
        headers=auth(admin),
        json={
            "year": year,
            "source": "测试用节假日安排",
            "holidays": [f"{year}-01-01", f"{year}-01-02", f"{year}-01-03", f"{year}-01-04", f"{year}-01-05"],
            "workdays": [],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["provisional_cases"] == 1

    async def exact() -> dict | None:
        # The live step changes first; the timeline event is written by the activity just after.
        c = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(police))).json()
        done = not c["steps"][0]["due_provisional"] and c["timeline"][-1]["kind"] == "deadline_confirmed"
        return c if done else None

    case = await wait_for(exact, what="the deadline to become exact")
    assert case["steps"][0]["level3_at"] != old_level3  # two more days off in January move it
    assert case["timeline"][-1]["kind"] == "deadline_confirmed"
    r = await live.http.put(f"/api/v1/admin/holidays/{year}", headers=auth(police), json={"year": year})
    assert r.status_code == 403


async def test_quiet_case_shows_as_stalled(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    case_no = (await live.http.post("/api/v1/cases", json=await start_body(live), headers=auth(vc))).json()["case_no"]
    sup = await make_token(live.db, "luzhou-civil-sup")
    assert (await live.http.get("/api/v1/stalled", headers=auth(sup))).json()["items"] == []
    async with live.db.sf() as s, s.begin():
        await s.execute(
            update(Case).where(Case.case_no == case_no).values(last_activity_at=datetime.now(UTC) - timedelta(days=31))
        )
    items = (await live.http.get("/api/v1/stalled", headers=auth(sup))).json()["items"]
    assert [(i["case_no"], i["reasons"]) for i in items] == [(case_no, ["30天无进展"])]
    other = await make_token(live.db, "shangdang-civil-sup")
    assert (await live.http.get("/api/v1/stalled", headers=auth(other))).json()["items"] == []


async def test_failing_automation_shows_and_the_action_is_not_lost(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    case_no = (await live.http.post("/api/v1/cases", json=await start_body(live), headers=auth(vc))).json()["case_no"]
    # No police agency serves the county or the city: reporting to the police cannot find a holder.
    async with live.db.sf() as s, s.begin():
        await s.execute(update(Agency).where(Agency.code.in_(["luzhou-police", "city-police"])).values(is_active=False))
    live.app.state.settings.update_timeout_seconds = 2.0
    r = await live.http.post(
        f"/api/v1/cases/{case_no}/actions",
        headers=auth(vc),
        json={
            "request_id": "report-1",
            "step": "admonition",
            "action": "report_serious",
            "payload": {"note": "监护人殴打儿童"},
        },
    )
    assert r.status_code == 503
    assert "稍后" in r.json()["error"]["message"]

    async def flagged() -> str | None:
        async with live.db.sf() as s:
            return (await s.execute(select(Case.automation_error).where(Case.case_no == case_no))).scalar_one()

    error = await wait_for(flagged, what="the automation error flag", within=30)
    assert error.startswith("resolve_agency")
    sup = await make_token(live.db, "luzhou-civil-sup")
    items = (await live.http.get("/api/v1/stalled", headers=auth(sup))).json()["items"]
    assert [(i["case_no"], i["reasons"]) for i in items] == [(case_no, ["系统处理异常"])]

    async with live.db.sf() as s, s.begin():
        await s.execute(update(Agency).where(Agency.code == "luzhou-police").values(is_active=True))

    async def moved() -> CaseStep | None:
        async with live.db.sf() as s:
            step = (await s.execute(select(CaseStep).join(Case).where(Case.case_no == case_no))).scalar_one()
            return step if step.step == "police_report" else None

    await wait_for(moved, what="the report to reach the police", within=60)
    assert await flagged() is None
    # The same request sent again is the same action: one report, not two.
    live.app.state.settings.update_timeout_seconds = 20.0
    r = await live.http.post(
        f"/api/v1/cases/{case_no}/actions",
        headers=auth(vc),
        json={
            "request_id": "report-1",
            "step": "admonition",
            "action": "report_serious",
            "payload": {"note": "监护人殴打儿童"},
        },
    )
    assert r.status_code == 200, r.text
    case = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(vc))).json()
    assert [e["kind"] for e in case["timeline"]] == ["opened", "action"]
