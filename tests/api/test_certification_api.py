"""Certification (孤儿、事实无人抚养儿童认定) through the JSON API and the pages, on a real PostgreSQL and the
Temporal dev server: a 潞州区 township accepts, 上党区's township verifies and its civil affairs decides; the
跨地区审批 view of both sides and of the city; a child without an ID number; and the bad input, each a
Chinese 4xx that changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from db.models import Case
from domain.deadlines import local_date
from domain.processes.certification import CERTIFICATION_MATERIALS, month_after
from tests.api.test_cases_api import auth
from tests.api.test_provisional_child import register
from tests.conftest import Live, make_token
from tests.support import agency_id, child_id, today_iso, wait_for
from tests.ui.test_pages import browser

MATERIALS = {f.name: True for f in CERTIFICATION_MATERIALS}


async def body(live: Live, child: str = "李娜", origin: str = "140404", township: str | None = "shangdang-town1"):
    facts = {"kind": "orphan", "origin_region": origin, "applicant": "祖母", "situation": "父母双亡，随祖母生活"}
    if township:
        facts["origin_township_id"] = await agency_id(live.db, township)
    return {
        "process": "certification",
        "start_step": "residence_intake",
        "child_id": await child_id(live.db, child),
        "facts": facts,
    }


async def act(live: Live, token: str, case_no: str, step: str, action: str, **payload: object):
    return await live.http.post(
        f"/api/v1/cases/{case_no}/actions",
        headers=auth(token),
        json={"step": step, "action": action, "payload": payload},
    )


async def read(live: Live, token: str, case_no: str) -> dict:
    r = await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(token))
    assert r.status_code == 200, r.text
    return r.json()


async def cross_region(live: Live, token: str, **params: str) -> dict:
    r = await live.http.get("/api/v1/cross-region", headers=auth(token), params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def cases(live: Live) -> int:
    async with live.db.sf() as s:
        return (await s.execute(select(func.count()).select_from(Case))).scalar_one()


async def test_two_counties_accept_verify_and_decide_and_both_see_it_across_regions(live: Live) -> None:
    town = await make_token(live.db, "luzhou-town1")
    sd_town = await make_token(live.db, "shangdang-town1")
    sd_civil = await make_token(live.db, "shangdang-civil")
    lz_civil = await make_token(live.db, "luzhou-civil-sup")
    city = await make_token(live.db, "city-civil-sup")
    other = await make_token(live.db, "xiangyuan-civil")

    r = await live.http.post("/api/v1/cases", json=await body(live), headers=auth(town))
    assert r.status_code == 201, r.text
    no = r.json()["case_no"]
    assert no.startswith("RD-")
    assert r.json()["steps"][0]["step"] == "residence_intake"

    async with browser(live, "luzhou-town1") as http:  # the one-time materials list, as a checklist
        page = await http.get(f"/cases/{no}")
        assert page.status_code == 200 and "一次性告知补正" in page.text and "监护人或抚养人情况说明" in page.text
        assert 'type="checkbox"' in page.text
    r = await act(live, town, no, "residence_intake", "forward", **MATERIALS)
    assert r.status_code == 200, r.text
    assert r.json()["steps"][0]["holder"] == "上党区韩店街道办事处"

    # The 跨地区审批 view: both counties' civil affairs and the city see it, held by the origin; others do not.
    for token in (sd_civil, lz_civil, city):
        view = await wait_for(lambda t=token: _listed(live, t, no), what="the cross-region row")
        assert (view["side"], view["origin"], view["residence"], view["step"]) == (
            "户籍地",
            "上党区",
            "潞州区",
            "origin_verification",
        )
        # 15 working days on the statutory calendar, counted as such (not the calendar days to the due date).
        assert (view["days_left"], view["days_unit"], view["overdue"]) == (15, "WD", False)
        assert view["month"] == local_date(datetime.now(UTC)).strftime("%Y-%m")
    assert all(i["case_no"] != no for i in (await cross_region(live, other))["items"])
    months = (await cross_region(live, sd_civil))["months"]
    assert months and months[0]["cases"] >= 1
    assert (await cross_region(live, sd_civil, month=months[0]["month"]))["count"] >= 1
    r = await live.http.get("/api/v1/cross-region", headers=auth(town))
    assert r.status_code == 403 and "民政" in r.json()["error"]["message"]

    r = await act(live, sd_town, no, "origin_verification", "give_opinion", verified_by="both", opinion="approve")
    assert r.status_code == 200, r.text
    assert r.json()["steps"][0]["holder"] == "上党区民政局"
    r = await act(
        live, sd_civil, no, "origin_decision", "approve", allowance_from=month_after(local_date(datetime.now(UTC)))
    )
    assert r.status_code == 200, r.text
    assert r.json()["steps"][0]["holder"] == "潞州区东街街道办事处"
    detail = await read(live, town, no)
    assert any(d["kind"] == "certification_result" for d in detail["documents"])
    r = await act(live, town, no, "notify_applicant", "notified", done_on=today_iso())
    assert r.status_code == 200, r.text
    assert (r.json()["steps"][0]["step"], r.json()["steps"][0]["holder"]) == ("in_support", "上党区民政局")

    # The pages: the case with its printable transfer packet and result notice; the start form; the view.
    docs = {d["kind"]: d["id"] for d in (await read(live, town, no))["documents"]}
    async with browser(live, "luzhou-town1") as http:
        page = await http.get(f"/cases/{no}")
        assert page.status_code == 200 and "纳入保障" in page.text and "上党区" in page.text
        for kind, title in (("certification_transfer", "跨地区认定移交函"), ("certification_result", "认定结果告知书")):
            doc = await http.get(f"/cases/{no}/documents/{docs[kind]}")
            assert doc.status_code == 200 and title in doc.text, kind
        cid = await child_id(live.db, "李娜")
        start = await http.get("/cases/new", params={"process": "certification", "child_id": cid})
        assert start.status_code == 200 and "户籍地（县、市、区）" in start.text, start.text[-3000:]
    async with browser(live, "shangdang-civil") as http:
        page = await http.get("/cross-region")
        assert page.status_code == 200 and "跨地区审批" in page.text and no in page.text
        assert "纳入保障" in page.text
        assert "工作日时限按法定工作日计，其余按自然日" in page.text  # the column says how it counts
        assert (await http.get("/cross-region?month=2026-13")).status_code == 422
        assert 'href="/cross-region"' in (await http.get("/inbox")).text


async def _listed(live: Live, token: str, no: str) -> dict | None:
    return next((i for i in (await cross_region(live, token))["items"] if i["case_no"] == no), None)


async def test_a_child_without_an_id_number_can_be_certified(live: Live) -> None:
    town = await make_token(live.db, "luzhou-town1")
    child = await register(live, town, name="小芳", sex="female")
    data = await body(live)
    data["child_id"] = child["id"]
    r = await live.http.post("/api/v1/cases", json=data, headers=auth(town))
    assert r.status_code == 201, r.text
    detail = await read(live, town, r.json()["case_no"])
    assert detail["child"]["identity_status"] == "provisional"


async def test_bad_input_is_refused_in_chinese_and_changes_nothing(live: Live) -> None:
    town = await make_token(live.db, "luzhou-town1")
    before = await cases(live)

    async def refused_start(data: dict, code: str, field: str | None) -> str:
        r = await live.http.post("/api/v1/cases", json=data, headers=auth(town))
        assert 400 <= r.status_code < 500, r.text
        error = r.json()["error"]
        assert (error["code"], error["field"]) == (code, field), error
        return error["message"]

    message = await refused_start(
        await body(live, origin="140403", township="luzhou-town1"), "not_cross_region", "origin_region"
    )
    assert "不属于跨地区" in message
    message = await refused_start(await body(live, origin="999999", township=None), "region_unknown", "origin_region")
    assert "999999" in message or "行政区划" in message
    assert await cases(live) == before

    r = await live.http.post("/api/v1/cases", json=await body(live), headers=auth(town))
    no = r.json()["case_no"]

    async def refused(token: str, step: str, action: str, status: int, code: str, **payload: object) -> str:
        seq = len((await read(live, town, no))["timeline"])
        r = await act(live, token, no, step, action, **payload)
        assert r.status_code == status, r.text
        assert r.json()["error"]["code"] == code, r.json()
        assert len((await read(live, town, no))["timeline"]) == seq
        return r.json()["error"]["message"]

    assert "补正" in await refused(
        town, "residence_intake", "request_supplement", 422, "supplement_items_required", **MATERIALS
    )
    assert "缺少" in await refused(town, "residence_intake", "forward", 422, "materials_incomplete")
    assert (await act(live, town, no, "residence_intake", "forward", **MATERIALS)).status_code == 200
    sd_town = await make_token(live.db, "shangdang-town1")
    await refused(sd_town, "origin_verification", "request_supplement", 422, "field_required", items="")
    r = await act(live, sd_town, no, "origin_verification", "give_opinion", verified_by="data", opinion="approve")
    assert r.status_code == 200, r.text
    # A decision by the residence side's civil affairs (its supervisor reads the case; an operator would not).
    lz_civil = await make_token(live.db, "luzhou-civil-sup")
    month = month_after(local_date(datetime.now(UTC)))
    message = await refused(lz_civil, "origin_decision", "approve", 403, "not_holder", allowance_from=month)
    assert "承办单位" in message
    sd_civil = await make_token(live.db, "shangdang-civil")
    assert "保障起始月份" in await refused(sd_civil, "origin_decision", "approve", 422, "field_required")


async def test_the_withdrawal_is_offered_to_the_accepting_township_only(live: Live) -> None:
    """An origin in the same county: its township, verifying, sees the case but not the withdrawal (which the
    workflow would refuse it); the township that accepted the application sees it and may take it."""
    town, origin_town = await make_token(live.db, "luzhou-town1"), await make_token(live.db, "luzhou-town2")
    r = await live.http.post(
        "/api/v1/cases", json=await body(live, origin="140403", township="luzhou-town2"), headers=auth(town)
    )
    assert r.status_code == 201, r.text
    no = r.json()["case_no"]
    assert (await act(live, town, no, "residence_intake", "forward", **MATERIALS)).status_code == 200
    async with browser(live, "luzhou-town2") as http:
        page = await http.get(f"/cases/{no}")
        assert page.status_code == 200 and "提出查验意见" in page.text and "登记申请人撤回申请" not in page.text
    async with browser(live, "luzhou-town1") as http:
        assert "登记申请人撤回申请" in (await http.get(f"/cases/{no}")).text
    withdrawal = {"action": "record_withdrawal", "payload": {"withdrawn_on": today_iso(), "note": "申请人书面撤回"}}
    r = await live.http.post(f"/api/v1/cases/{no}/actions", json=withdrawal, headers=auth(origin_town))
    assert r.status_code == 403 and "由受理本案的" in r.json()["error"]["message"], r.text
    assert (await read(live, town, no))["main_step"] == "origin_verification"
    r = await live.http.post(f"/api/v1/cases/{no}/actions", json=withdrawal, headers=auth(town))
    assert r.status_code == 200, r.text
    assert ((await read(live, town, no))["status"], (await read(live, town, no))["outcome"]) == ("closed", "withdrawn")
