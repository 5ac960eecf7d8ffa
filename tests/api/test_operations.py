"""Operations on the real stack: a holiday schedule loaded for a year makes provisional deadlines exact;
a quiet case and a case whose automation is failing show as stalled; an action sent while the
automation is stuck is not lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import literal, select, update

from db.models import Agency, Case, CaseStep, PolicyOverrideRow
from db.policy import policy_in_force
from domain.policy import Allowance, PolicyOverride, resolve_policy
from domain.processes import policy_default
from domain.regions import CHANGZHI_COUNTIES
from domain.workdays import WorkCalendar
from tests.api.test_cases_api import auth, start_body
from tests.conftest import Db, Live, make_token
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


async def quiet_for(live: Live, reporter: str, child: str, days: int) -> str:
    """A guardianship case on which nothing has happened for `days` days."""
    token = await make_token(live.db, reporter)
    r = await live.http.post("/api/v1/cases", json=await start_body(live, child=child), headers=auth(token))
    assert r.status_code == 201, r.text
    case_no = r.json()["case_no"]
    async with live.db.sf() as s, s.begin():
        await s.execute(
            update(Case)
            .where(Case.case_no == case_no)
            .values(last_activity_at=datetime.now(UTC) - timedelta(days=days))
        )
    return case_no


async def test_a_county_or_city_stalled_after_decides_when_a_case_is_quiet(live: Live) -> None:
    luzhou = await quiet_for(live, "luzhou-vc1", "王小明", 12)
    shangdang = await quiet_for(live, "shangdang-vc1", "赵雨涵", 12)
    xiangyuan = await quiet_for(live, "xiangyuan-vc1", "刘子轩", 12)
    admin = await make_token(live.db, "admin")
    city_sup = await make_token(live.db, "city-civil-sup")

    async def policy(region: str, value: str, effective_from: datetime) -> None:
        body = {
            "key": "stalled_after",
            "region_code": region,
            "value": value,
            "effective_from": effective_from.isoformat(),
        }
        r = await live.http.post("/api/v1/admin/policy", json=body, headers=auth(admin))
        assert r.status_code == 201, r.text

    async def stalled(token: str) -> dict[str, list[str]]:
        items = (await live.http.get("/api/v1/stalled", headers=auth(token))).json()["items"]
        return {i["case_no"]: i["reasons"] for i in items}

    assert await stalled(city_sup) == {}  # 12 days is not the default's 30
    now = datetime.now(UTC)
    await policy("140403", "10d", now - timedelta(hours=1))
    await policy("140404", "5d", now + timedelta(days=1))  # not yet in force
    assert await stalled(city_sup) == {luzhou: ["10天无进展"]}
    assert await stalled(await make_token(live.db, "luzhou-civil-sup")) == {luzhou: ["10天无进展"]}
    assert await stalled(await make_token(live.db, "shangdang-civil-sup")) == {}

    # The city's value applies to every county without its own; 潞州区 keeps its own.
    await policy("140400", "11d", now - timedelta(hours=1))
    assert await stalled(city_sup) == {
        luzhou: ["10天无进展"],
        shangdang: ["11天无进展"],
        xiangyuan: ["11天无进展"],
    }

    # Decided in SQL against timestamps, the value is in calendar days or hours, never working days.
    body = {"key": "stalled_after", "region_code": "140403", "value": "8WD"}
    r = await live.http.post("/api/v1/admin/policy", json=body, headers=auth(admin))
    assert r.status_code == 422 and r.json()["error"]["code"] == "policy_value_invalid"
    assert await stalled(city_sup) == {
        luzhou: ["10天无进展"],
        shangdang: ["11天无进展"],
        xiangyuan: ["11天无进展"],
    }


async def test_the_sql_policy_in_force_agrees_with_resolve_policy(db: Db) -> None:
    """db/policy.py and domain/policy.py state one rule; every county, at times around each override."""
    t0 = datetime(2026, 6, 1, tzinfo=UTC)
    rows = [
        ("stalled_after", "140403", "10d", t0),
        ("stalled_after", "140403", "12d", t0 + timedelta(days=10)),
        ("stalled_after", "140400", "20d", t0 + timedelta(days=5)),
        ("stalled_after", "140404", "48h", t0 + timedelta(days=20)),
        ("guardianship.admonition", "140405", "5WD", t0),  # another key changes nothing
    ]
    async with db.sf() as s, s.begin():
        s.add_all(PolicyOverrideRow(key=k, region_code=r, value=v, effective_from=at) for k, r, v, at in rows)
    overrides = [PolicyOverride(k, r, Allowance.parse(v), at) for k, r, v, at in rows]
    checked = 0
    async with db.sf() as s:
        for county in CHANGZHI_COUNTIES:
            for days in (-1, 0, 3, 5, 10, 15, 20, 30):
                at = t0 + timedelta(days=days)
                got = (await s.execute(select(policy_in_force("stalled_after", literal(county), at)))).scalar_one()
                assert got == str(resolve_policy(policy_default("stalled_after"), county, overrides, at)), (county, at)
                checked += 1
    assert checked == len(CHANGZHI_COUNTIES) * 8


async def test_failing_automation_shows_and_the_action_is_not_lost(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    case_no = (await live.http.post("/api/v1/cases", json=await start_body(live), headers=auth(vc))).json()["case_no"]
    # No police agency serves the county or the city: reporting to the police cannot find a holder.
    async with live.db.sf() as s, s.begin():
        await s.execute(
            update(Agency)
            .where(Agency.code.in_(["luzhou-police", "luzhou-ps2", "city-police"]))
            .values(is_active=False)
        )
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
