"""Correcting a child's record: who may, what may change, what is refused, what the audit log keeps, and
that a move to another county takes the record out of the old county's sight. Real PostgreSQL and the
web app (the `live` fixture)."""

from __future__ import annotations

from sqlalchemy import select

from db.models import Agency, AuditEntry, Child
from tests.api.test_cases_api import auth
from tests.conftest import Live, make_token
from tests.support import child_id
from tests.ui.test_pages import browser, form, submit


async def committee_id(live: Live, code: str) -> int:
    async with live.db.sf() as s:
        return (await s.execute(select(Agency.id).where(Agency.code == code))).scalar_one()


async def test_a_clerk_corrects_a_record_and_the_audit_keeps_only_field_names(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    cid = await child_id(live.db, "王小明")
    before = (await live.http.get(f"/api/v1/children/{cid}", headers=auth(vc))).json()
    assert before["id_number"] is None  # only the registering agency sees the whole number
    r = await live.http.patch(
        f"/api/v1/children/{cid}",
        headers=auth(vc),
        json={
            "address": "东街街道城北社区5号楼2单元",
            "guardians": [
                {"name": "王建国", "relation": "父亲", "phone": "13900000001"},
                {"name": "赵阿姨", "relation": "邻居", "phone": "13900000002", "is_guardian": False},
            ],
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["address"] == "东街街道城北社区5号楼2单元" and body["name"] == "王小明"
    assert [(g["name"], g["is_guardian"]) for g in body["guardians"]] == [("王建国", True), ("赵阿姨", False)]
    async with live.db.sf() as s:
        entries = (
            (
                await s.execute(
                    select(AuditEntry.detail).where(AuditEntry.action == "update_child", AuditEntry.child_id == cid)
                )
            )
            .scalars()
            .all()
        )
    assert entries == ["fields: address, guardians"]  # names of fields, never the values
    same = await live.http.patch(f"/api/v1/children/{cid}", headers=auth(vc), json={"address": body["address"]})
    assert same.status_code == 200
    async with live.db.sf() as s:
        count = len((await s.execute(select(AuditEntry).where(AuditEntry.action == "update_child"))).scalars().all())
    assert count == 1  # nothing changed, nothing logged


async def test_refusals_change_nothing(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    cid = await child_id(live.db, "王小明")
    async with live.db.sf() as s:
        original = await s.get(Child, cid)
        assert original is not None
        snapshot = (original.name, original.residence_region, original.residence_committee_id, original.address)
    for body, code, field in [
        ({"name": "  "}, "field_required", "name"),
        ({"residence_region": "410721"}, "region_outside", "residence_region"),
        ({"residence_region": "999999"}, "region_unknown", "residence_region"),
        (
            {"residence_committee_id": await committee_id(live, "shangdang-vc1")},
            "field_invalid",
            "residence_committee_id",
        ),
        ({"guardians": []}, "field_required", "guardians"),
        ({"guardians": [{"name": "王建国", "relation": ""}]}, "field_required", "guardians.0.relation"),
    ]:
        r = await live.http.patch(f"/api/v1/children/{cid}", headers=auth(vc), json=body)
        assert r.status_code == 422, (body, r.text)
        assert (r.json()["error"]["code"], r.json()["error"]["field"]) == (code, field), body
    other = await make_token(live.db, "shangdang-vc1")
    r = await live.http.patch(f"/api/v1/children/{cid}", headers=auth(other), json={"address": "x"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "child_not_found"
    async with live.db.sf() as s:
        row = await s.get(Child, cid)
        assert row is not None
        assert (row.name, row.residence_region, row.residence_committee_id, row.address) == snapshot


async def test_a_move_to_another_county_takes_the_record_there(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    cid = await child_id(live.db, "王小明")
    target = await committee_id(live, "shangdang-vc1")
    r = await live.http.patch(
        f"/api/v1/children/{cid}",
        headers=auth(vc),
        json={"residence_region": "140404", "residence_committee_id": target, "address": "上党区某社区"},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["residence_region"], r.json()["residence_committee_id"]) == ("140404", target)
    assert (await live.http.get(f"/api/v1/children/{cid}", headers=auth(vc))).status_code == 404
    there = await make_token(live.db, "shangdang-vc1")
    assert (await live.http.get(f"/api/v1/children/{cid}", headers=auth(there))).status_code == 200
    # A move without naming a committee leaves none (the old one serves another county).
    r = await live.http.patch(f"/api/v1/children/{cid}", headers=auth(there), json={"residence_region": "140403"})
    assert r.status_code == 200 and r.json()["residence_committee_id"] is None


async def test_the_edit_page_keeps_values_on_a_refusal_and_saves(live: Live) -> None:
    cid = await child_id(live.db, "李娜")
    async with browser(live, "luzhou-vc1") as http:
        record = await http.get(f"/children/{cid}")
        assert f'href="/children/{cid}/edit"' in record.text
        page = await http.get(f"/children/{cid}/edit")
        assert (
            page.status_code == 200
            and "修改儿童信息" in page.text
            and "身份证号码及据此确定的出生日期、性别不能修改" in page.text
        )
        f = form(page.text, action=f"/children/{cid}/edit")
        assert f.fields["name"] == "李娜" and f.fields["guardians.0.name"]  # filled from the record
        refused = await submit(http, f, **{"guardians.0.relation": "", "address": "新地址1号"})
        assert refused.status_code == 422 and "未能保存" in refused.text and "与儿童关系" in refused.text
        assert 'value="新地址1号"' in refused.text  # what was typed stays
        r = await submit(
            http,
            f,
            address="新地址1号",
            **{"guardians.1.name": "李叔叔", "guardians.1.relation": "邻居", "guardians.1.kind": "contact"},
        )
        assert r.status_code == 303 and r.headers["location"] == f"/children/{cid}"
        shown = await http.get(r.headers["location"])
        assert (
            "儿童信息已保存" in shown.text
            and "新地址1号" in shown.text
            and "李叔叔</strong>（邻居，联系人）" in shown.text
        )
    async with browser(live, "shangdang-vc1") as http:
        assert (await http.get(f"/children/{cid}/edit")).status_code == 404


async def test_search_by_id_number_in_the_body(live: Live) -> None:
    """A reporter finds a child anywhere by the exact ID number, sent in the body (not in the URL); by
    name only within their own area."""
    vc = await make_token(live.db, "luzhou-vc1")
    async with live.db.sf() as s:
        elsewhere = (await s.execute(select(Child).where(Child.name == "赵雨涵"))).scalar_one()
    assert elsewhere.residence_region != "140403"
    r = await live.http.post("/api/v1/children/search", headers=auth(vc), json={"id_number": elsewhere.id_number})
    assert r.status_code == 200 and [c["name"] for c in r.json()["items"]] == ["赵雨涵"]
    assert r.json()["items"][0]["id_number_masked"] != elsewhere.id_number
    by_name = await live.http.post("/api/v1/children/search", headers=auth(vc), json={"q": "赵雨涵"})
    assert by_name.json()["items"] == []  # not in 潞州区
    assert (await live.http.post("/api/v1/children/search", json={"q": "王"})).status_code == 401
