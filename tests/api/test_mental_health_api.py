"""Mental-health referral through the API: the 12355 hotline's system starts one with its agency token for a
child it knows only in part (a provisional record), merged later with the registered child by a civil-affairs
supervisor; and the bad input each refused with a Chinese 4xx and nothing changed. Real PostgreSQL, Temporal
dev server and worker."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select

from db.models import Case, Child, TimelineEvent
from tests.api.test_cases_api import auth
from tests.api.test_provisional_child import eventually, live_child, register
from tests.conftest import Live, make_token
from tests.support import agency_id, child_id, today_iso

FACTS = {"channel": "hotline", "signs": "来电称情绪崩溃", "risk_level": "high", "guardian_aware": False}


async def start(live: Live, token: str, cid: int, **facts: Any) -> Any:
    body = {"process": "mental_health", "start_step": "triage", "child_id": cid, "facts": {**FACTS, **facts}}
    return await live.http.post(
        "/api/v1/cases", json=body, headers={**auth(token), "Idempotency-Key": uuid.uuid4().hex}
    )


async def counts(live: Live) -> tuple[int, int]:
    async with live.db.sf() as s:
        cases = (await s.execute(select(func.count()).select_from(Case))).scalar_one()
        events = (await s.execute(select(func.count()).select_from(TimelineEvent))).scalar_one()
    return cases, events


async def act(live: Live, token: str, case_no: str, action: str, payload: dict[str, Any]) -> Any:
    case = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(token))).json()
    step = case["steps"][0]
    return await live.http.post(
        f"/api/v1/cases/{case_no}/actions",
        json={"action": action, "step": step["step"], "step_seq": step["step_seq"], "payload": payload},
        headers=auth(token),
    )


async def test_the_hotline_refers_a_child_without_an_id_number_later_merged(live: Live) -> None:
    hotline = await make_token(live.db, agency_code="luzhou-youth")
    child = await register(live, hotline, name="小明")
    assert child["identity_status"] == "provisional" and child["id_number"] is None
    r = await start(live, hotline, child["id"], contact="来电人 138****0000")
    assert r.status_code == 201, r.text
    case_no = r.json()["case_no"]
    assert case_no.startswith("XL-")
    step = r.json()["steps"][0]
    assert (step["step"], step["holder"], step["due_at"] is not None) == ("triage", "潞州区心理辅导中心", True)

    target = await child_id(live.db, "王小明")
    sup = await make_token(live.db, "luzhou-civil-sup")
    r = await live.http.post(f"/api/v1/children/{child['id']}/merge", json={"into_child_id": target}, headers=auth(sup))
    assert r.status_code == 200, r.text
    assert r.json()["cases"] == [case_no]
    async with live.db.sf() as s:
        assert (await s.execute(select(Case.child_id).where(Case.case_no == case_no))).scalar_one() == target
        registered = await s.get(Child, target)
        assert registered is not None
    # The workflow learns of the merge: it now holds the registered child.
    got = await eventually(lambda: _child_id(live, case_no), target)
    assert got == target


async def _child_id(live: Live, case_no: str) -> int:
    return (await live_child(live, case_no)).id


async def test_bad_input_is_refused_in_chinese_and_changes_nothing(live: Live) -> None:
    school = await make_token(live.db, "luzhou-school1")
    cid = await child_id(live.db, "王小明")
    before = await counts(live)
    r = await start(live, school, cid, risk_level="crisis")  # no contact
    assert r.status_code == 422 and r.json()["error"]["message"] == "危机转介须填写可即时联系的联系人及电话"
    r = await start(live, school, cid, risk_level="severe")
    assert r.status_code == 422 and r.json()["error"]["field"] == "risk_level", r.text
    assert "初步风险等级" in r.json()["error"]["message"]
    assert await counts(live) == before

    r = await start(live, school, cid)
    assert r.status_code == 201, r.text
    case_no = r.json()["case_no"]
    centre = await make_token(live.db, "luzhou-counselling")
    r = await act(live, centre, case_no, "assess", {"risk_level": "medium", "risk_notes": "抑郁情绪"})
    assert r.status_code == 200, r.text
    before = await counts(live)
    tomorrow = (date.fromisoformat(today_iso()) + timedelta(days=1)).isoformat()
    r = await act(live, centre, case_no, "record_session", {"session_on": tomorrow, "session_notes": "-"})
    assert r.status_code in (400, 409, 422) and "辅导日期" in r.json()["error"]["message"], r.text
    assert await counts(live) == before
    await act(live, centre, case_no, "record_session", {"session_on": today_iso(), "session_notes": "-"})
    await act(
        live,
        centre,
        case_no,
        "reassess",
        {"assessed_on": today_iso(), "result": "needs_diagnosis", "assessment_notes": "-"},
    )
    hospital = await agency_id(live.db, "luzhou-hospital")
    consent = {
        "hospital_id": hospital,
        "consenter_name": "王某",
        "consenter_relation": "teacher",
        "consented_on": today_iso(),
        "consent_method": "phone",
        "consent_form_ref": "档-1",
    }
    before = await counts(live)
    r = await act(live, centre, case_no, "refer_with_consent", consent)
    assert r.status_code in (400, 409, 422), r.text
    assert r.json()["error"]["message"] == "知情同意须由儿童的监护人作出，所选同意人不是监护人"
    assert await counts(live) == before
    r = await act(live, centre, case_no, "refer_with_consent", {**consent, "consenter_relation": "father"})
    assert r.status_code == 200, r.text

    # Another county's hospital, never referred, may not accept: the case is not even visible to it.
    other = await make_token(live.db, "shangdang-hospital")
    before = await counts(live)
    r = await live.http.post(
        f"/api/v1/cases/{case_no}/actions",
        json={"action": "accept_referral", "step": "hospital_accept", "payload": {}},
        headers=auth(other),
    )
    assert r.status_code == 404 and r.json()["error"]["message"] == "案件不存在或无权查看"
    # The city's hospital may see nothing either; the referred one accepts.
    city = await make_token(live.db, "city-hospital")
    r = await live.http.post(
        f"/api/v1/cases/{case_no}/actions",
        json={"action": "accept_referral", "step": "hospital_accept", "payload": {}},
        headers=auth(city),
    )
    assert r.status_code in (403, 404), r.text
    assert await counts(live) == before
    r = await act(live, await make_token(live.db, "luzhou-hospital"), case_no, "accept_referral", {})
    assert r.status_code == 200, r.text


async def test_the_city_sets_the_care_periods(live: Live) -> None:
    admin = await make_token(live.db, "admin")
    clerk = await make_token(live.db, "luzhou-school1")
    r = await live.http.get("/api/v1/care-periods", headers=auth(clerk))
    assert r.status_code == 200 and r.json()["defaults"] is True and r.json()["may_set"] is False
    assert "寒假" in {p["label"] for p in r.json()["periods"]}

    exams = {"periods": [{"starts_on": "2027-06-05", "ends_on": "2027-06-28", "label": "中考"}]}
    r = await live.http.put("/api/v1/care-periods", json=exams, headers=auth(clerk))
    assert r.status_code == 403 and r.json()["error"]["message"] == "关爱期由市级管理员设置"
    backwards = {"periods": [{"starts_on": "2027-06-28", "ends_on": "2027-06-05", "label": "中考"}]}
    r = await live.http.put("/api/v1/care-periods", json=backwards, headers=auth(admin))
    assert r.status_code == 422 and r.json()["error"]["message"] == "第1段关爱期“中考”的结束日期早于开始日期"
    assert (await live.http.get("/api/v1/care-periods", headers=auth(clerk))).json()["defaults"] is True

    r = await live.http.put("/api/v1/care-periods", json=exams, headers=auth(admin))
    assert r.status_code == 200, r.text
    assert r.json()["periods"] == exams["periods"] and r.json()["defaults"] is False
    try:
        read = (await live.http.get("/api/v1/care-periods", headers=auth(clerk))).json()
        assert read["periods"] == exams["periods"]
    finally:  # the defaults again for the other tests
        r = await live.http.put("/api/v1/care-periods", json={"periods": []}, headers=auth(admin))
        assert r.status_code == 200 and r.json()["defaults"] is True


async def test_improved_goes_to_follow_up_on_the_city_periods(live: Live) -> None:
    """The follow-up interval is read with the real care-period activity: a period the city sets around
    today halves it."""
    admin = await make_token(live.db, "admin")
    today = date.fromisoformat(today_iso())
    around = {
        "periods": [
            {
                "starts_on": (today - timedelta(days=3)).isoformat(),
                "ends_on": (today + timedelta(days=3)).isoformat(),
                "label": "寒假",
            }
        ]
    }
    assert (await live.http.put("/api/v1/care-periods", json=around, headers=auth(admin))).status_code == 200
    try:
        school = await make_token(live.db, "luzhou-school1")
        r = await start(live, school, await child_id(live.db, "王小明"), risk_level="low")
        assert r.status_code == 201, r.text
        case_no = r.json()["case_no"]
        centre = await make_token(live.db, "luzhou-counselling")
        for action, payload in (
            ("assess", {"risk_level": "low", "risk_notes": "-"}),
            ("record_session", {"session_on": today_iso(), "session_notes": "-"}),
            ("reassess", {"assessed_on": today_iso(), "result": "improved", "assessment_notes": "-"}),
        ):
            r = await act(live, centre, case_no, action, payload)
            assert r.status_code == 200, r.text
        assert [(s["step"], s["holder"]) for s in r.json()["steps"]] == [("followup", "潞州区实验小学")]
        case = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(school))).json()
        assert case["steps"][0]["allowance"] == "45d"  # three months, halved in the period
    finally:
        await live.http.put("/api/v1/care-periods", json={"periods": []}, headers=auth(admin))
