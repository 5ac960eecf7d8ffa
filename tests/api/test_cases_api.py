"""The JSON API against a real PostgreSQL and the Temporal dev server: start, act, read, scope, refusals."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import func, select

from db.models import AuditEntry, Case, Child, TimelineEvent
from tests.conftest import Live, make_token
from tests.support import child_id, today_iso


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def start_body(live: Live, child: str = "王小明", **facts: object) -> dict:
    return {
        "process": "guardianship",
        "start_step": "admonition",
        "child_id": await child_id(live.db, child),
        "facts": {"facts": "儿童长期独自在家，监护人外出务工未委托照护", "occurred_on": today_iso(), **facts},
    }


async def count(live: Live, model: type) -> int:
    async with live.db.sf() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def test_start_act_and_read_back(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    r = await live.http.post("/api/v1/cases", json=await start_body(live), headers=auth(vc))
    assert r.status_code == 201, r.text
    body = r.json()
    case_no = body["case_no"]
    assert case_no.startswith("JH-")
    assert body["created"] is True
    assert body["steps"][0]["step"] == "admonition"
    assert body["steps"][0]["due_at"]

    r = await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(vc))
    assert r.status_code == 200
    case = r.json()
    assert case["live"] is True
    assert case["child"]["name"] == "王小明"
    assert [s["step"] for s in case["steps"]] == ["admonition"]
    assert case["steps"][0]["holder"]["name"] == "潞州区东街街道城北社区居民委员会"
    assert [e["kind"] for e in case["timeline"]] == ["opened"]
    offered = {(a["step"], a["action"]) for a in case["allowed_actions"]}
    assert ("admonition", "record_admonition") in offered
    seq = case["steps"][0]["step_seq"]

    r = await live.http.post(
        f"/api/v1/cases/{case_no}/actions",
        json={
            "step": "admonition",
            "step_seq": seq,
            "action": "record_admonition",
            "payload": {"done_on": today_iso(), "content": "已上门劝诫，监护人表示改正"},
        },
        headers=auth(vc),
    )
    assert r.status_code == 200, r.text
    assert r.json()["steps"][0]["step"] == "admonition_followup"

    case = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(vc))).json()
    assert [s["step"] for s in case["steps"]] == ["admonition_followup"]
    last = case["timeline"][-1]
    assert (last["action"], last["from_step"], last["to_step"]) == (
        "record_admonition",
        "admonition",
        "admonition_followup",
    )
    assert last["actor"]["agency"] == "潞州区东街街道城北社区居民委员会"
    assert last["due_at"] == case["steps"][0]["due_at"]

    listed = (await live.http.get("/api/v1/cases", params={"step": "admonition_followup"}, headers=auth(vc))).json()
    assert [c["case_no"] for c in listed["items"]] == [case_no]
    # Found by the child's name or part of the case number; a wildcard is taken literally.
    for q, found in (("小明", [case_no]), (case_no[-4:], [case_no]), ("李娜", []), ("%", []), ("_", [])):
        listed = (await live.http.get("/api/v1/cases", params={"q": q}, headers=auth(vc))).json()
        assert [c["case_no"] for c in listed["items"]] == found, q
    async with live.db.sf() as s:
        reads = (
            await s.execute(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.case_no == case_no, AuditEntry.action == "read")
            )
        ).scalar_one()
    assert reads == 2


async def test_other_county_cannot_see_or_act(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    case_no = (await live.http.post("/api/v1/cases", json=await start_body(live), headers=auth(vc))).json()["case_no"]
    for user in ("shangdang-vc1", "shangdang-police-sup", "luzhou-police"):
        other = await make_token(live.db, user)
        r = await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(other))
        assert r.status_code == 404, user
        assert r.json()["error"]["code"] == "case_not_found"
        r = await live.http.post(
            f"/api/v1/cases/{case_no}/actions",
            headers=auth(other),
            json={
                "step": "admonition",
                "action": "record_admonition",
                "payload": {"done_on": today_iso(), "content": "x"},
            },
        )
        assert r.status_code == 404, user
        listed = (await live.http.get("/api/v1/cases", headers=auth(other))).json()
        assert case_no not in [c["case_no"] for c in listed["items"]]
        named = (await live.http.get("/api/v1/cases", params={"q": "王小明"}, headers=auth(other))).json()
        assert named["items"] == [] and named["total"] == 0, user  # the name does not reach past the scope
    # The county's supervisor of the same agency type sees it; the city's too.
    for user in ("luzhou-vc1-sup",):
        r = await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(await make_token(live.db, user)))
        assert r.status_code == 200, user


async def test_same_idempotency_key_makes_one_case(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    body = await start_body(live)
    key = str(uuid.uuid4())
    first = await live.http.post("/api/v1/cases", json=body, headers={**auth(vc), "Idempotency-Key": key})
    again = await live.http.post("/api/v1/cases", json=body, headers={**auth(vc), "Idempotency-Key": key})
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["case_no"] == again.json()["case_no"]
    assert again.json()["created"] is False
    assert await count(live, Case) == 1
    async with live.db.sf() as s:
        opened = (
            await s.execute(select(func.count()).select_from(TimelineEvent).where(TimelineEvent.kind == "opened"))
        ).scalar_one()
    assert opened == 1
    changed = await start_body(live, child="李娜")
    r = await live.http.post("/api/v1/cases", json=changed, headers={**auth(vc), "Idempotency-Key": key})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "idempotency_conflict"
    assert await count(live, Case) == 1


async def test_no_login_is_refused(live: Live) -> None:
    r = await live.http.get("/api/v1/cases")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "not_authenticated"
    r = await live.http.post("/api/v1/cases", json=await start_body(live), headers=auth("rf_not-a-real-token"))
    assert r.status_code == 401
    assert await count(live, Case) == 0


async def test_refused_actions_change_nothing(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    case_no = (await live.http.post("/api/v1/cases", json=await start_body(live), headers=auth(vc))).json()["case_no"]
    before = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(vc))).json()

    async def refused(token: str, body: dict, status: int, code: str) -> None:
        r = await live.http.post(f"/api/v1/cases/{case_no}/actions", json=body, headers=auth(token))
        assert r.status_code == status, r.text
        assert r.json()["error"]["code"] == code
        assert r.json()["error"]["message"]

    await refused(vc, {"step": "admonition", "action": "accept", "payload": {}}, 422, "action_not_allowed")
    await refused(
        vc, {"step": "police_decision", "action": "no_violation", "payload": {"note": "x"}}, 409, "step_not_open"
    )
    await refused(
        vc,
        {"step": "admonition", "action": "record_admonition", "payload": {"done_on": today_iso()}},
        422,
        "field_required",
    )
    await refused(
        vc,
        {"step": "admonition", "action": "record_admonition", "payload": {"done_on": "2999-01-01", "content": "x"}},
        422,
        "date_in_future",
    )
    await refused(
        vc,
        {
            "step": "admonition",
            "step_seq": 999,
            "action": "record_admonition",
            "payload": {"done_on": today_iso(), "content": "x"},
        },
        409,
        "stale",
    )
    director_other = await make_token(live.db, "luzhou-vc2")  # a committee of the same county, not the holder
    r = await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(director_other))
    assert r.status_code == 404
    r = await live.http.post(
        "/api/v1/cases/JH-2026-999999/actions",
        headers=auth(vc),
        json={"step": "admonition", "action": "record_admonition", "payload": {}},
    )
    assert r.status_code == 404
    after = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(vc))).json()
    assert after["timeline"] == before["timeline"]
    assert after["steps"] == before["steps"]


async def test_child_registration_checks(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    good = {
        "name": "测试儿童",
        "id_number": "",
        "origin_region": "410721",
        "residence_region": "140403",
        "address": "东街街道城北社区",
        "guardians": [{"name": "测试家长", "relation": "父亲", "phone": "13900000000"}],
    }
    first17 = "41072120160101003"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights, strict=True)) % 11]
    wrong = "0" if check != "0" else "1"
    before = await count(live, Child)

    async def refused(body: dict, code: str, field: str) -> None:
        r = await live.http.post("/api/v1/children", json=body, headers=auth(vc))
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == code
        assert r.json()["error"]["field"] == field

    await refused({**good, "id_number": first17 + wrong}, "id_number_checksum", "id_number")
    future = "41072130010101003"
    future += "10X98765432"[sum(int(c) * w for c, w in zip(future, weights, strict=True)) % 11]
    await refused({**good, "id_number": future}, "id_number_birth_date_future", "id_number")
    await refused({**good, "id_number": first17 + check, "origin_region": "999999"}, "region_unknown", "origin_region")
    await refused({**good, "id_number": first17 + check, "name": ""}, "field_required", "name")
    await refused({**good, "id_number": first17 + check, "guardians": []}, "field_required", "guardians")
    assert await count(live, Child) == before
    r = await live.http.post("/api/v1/children", json={**good, "id_number": first17 + check.lower()}, headers=auth(vc))
    assert r.status_code == 201, r.text
    assert r.json()["birth_date"] == "2016-01-01"
    assert r.json()["id_number"] == first17 + check
    again = await live.http.post("/api/v1/children", json={**good, "id_number": first17 + check}, headers=auth(vc))
    assert again.status_code == 409
    assert await count(live, Child) == before + 1


async def test_integration_token_reports_to_police(live: Live) -> None:
    school = await make_token(live.db, agency_code="luzhou-school1")
    body = {**await start_body(live), "start_step": "police_report"}
    body["facts"]["village_committee_id"] = None
    r = await live.http.post("/api/v1/cases", json=body, headers={**auth(school), "Idempotency-Key": "sis-001"})
    assert r.status_code == 201, r.text
    case_no = r.json()["case_no"]
    assert r.json()["steps"][0]["holder"] == "潞州区公安局"
    police = await make_token(live.db, "luzhou-police")
    inbox = (await live.http.get("/api/v1/inbox", headers=auth(police))).json()
    assert case_no in [i["case_no"] for i in inbox["items"]]
    item = next(i for i in inbox["items"] if i["case_no"] == case_no)
    assert item["step"]["step"] == "police_report"
    notes = (await live.http.get("/api/v1/notifications", headers=auth(police))).json()["items"]
    assert any(n["case_no"] == case_no and n["kind"] == "new_step" for n in notes)


async def test_supervisor_urges_and_sees_scope(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    case_no = (await live.http.post("/api/v1/cases", json=await start_body(live), headers=auth(vc))).json()["case_no"]
    # A committee's own supervisor reads its cases but does not oversee them: the county's civil affairs does.
    own = await make_token(live.db, "luzhou-vc1-sup")
    assert (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(own))).json()["supervision"] == []
    sup = await make_token(live.db, "luzhou-civil-sup")
    case = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(sup))).json()
    assert case["supervision"] == [{"step": "admonition", "step_seq": 1, "kinds": ["urge", "extend", "reassign"]}]
    r = await live.http.post(
        f"/api/v1/cases/{case_no}/supervision",
        headers=auth(sup),
        json={"kind": "urge", "step": "admonition", "reason": "请尽快劝诫"},
    )
    assert r.status_code == 200, r.text
    r = await live.http.post(
        f"/api/v1/cases/{case_no}/supervision",
        headers=auth(sup),
        json={"kind": "extend", "step": "admonition", "reason": ""},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "reason_required"
    r = await live.http.post(
        f"/api/v1/cases/{case_no}/supervision",
        headers=auth(vc),
        json={"kind": "urge", "step": "admonition", "reason": "x"},
    )
    assert r.status_code == 403
    case = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(vc))).json()
    assert [e["kind"] for e in case["timeline"]] == ["opened", "urged"]
    stalled = (await live.http.get("/api/v1/stalled", headers=auth(sup))).json()
    assert stalled["items"] == []  # nothing is overdue yet
    r = await live.http.get("/api/v1/stalled", headers=auth(vc))
    assert r.status_code == 403


async def test_openapi_lists_the_api(live: Live) -> None:
    spec = (await live.http.get("/api/v1/openapi.json")).json()
    for path in (
        "/api/v1/cases",
        "/api/v1/cases/{case_no}",
        "/api/v1/cases/{case_no}/actions",
        "/api/v1/cases/{case_no}/supervision",
        "/api/v1/children",
        "/api/v1/inbox",
        "/api/v1/stalled",
    ):
        assert path in spec["paths"], path


async def test_a_step_held_outside_the_deployment_shows_its_holder_in_the_lists(live: Live) -> None:
    """A child moves to Henan: the hand-over step is held by the office there, outside this system; the
    committee that records its receipt sees it so on the case, in its inbox and in the case list."""
    from tests.ui.test_pages import browser

    vc = await make_token(live.db, "luzhou-vc1")
    case_no = (await live.http.post("/api/v1/cases", json=await start_body(live), headers=auth(vc))).json()["case_no"]
    r = await live.http.post(
        f"/api/v1/cases/{case_no}/actions",
        json={"action": "child_moved", "payload": {"destination_region": "410721", "note": "随父母迁回户籍地"}},
        headers=auth(vc),
    )
    assert r.status_code == 200, r.text
    step = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(vc))).json()["steps"][0]
    assert step["step"] == "handover" and step["holder"]["name"] == "潞州区东街街道城北社区居民委员会"
    assert step["external"]["name"] == "河南省新乡市新乡县村（居）民委员会"
    assert step["external"]["region_code"] == "410721"
    shown = "外地承办：河南省新乡市新乡县村（居）民委员会（本系统以外，由潞州区东街街道城北社区居民委员会登记其答复）"

    def text(html: str) -> str:
        return re.sub(r"<[^>]+>", "", html)

    async with browser(live, "luzhou-vc1") as http:
        assert shown in text((await http.get("/inbox")).text)
        assert shown in text((await http.get("/cases")).text)
        assert "外地承办" in (await http.get(f"/cases/{case_no}")).text
