"""Need-to-know on a child's record, by agency type (domain/record_access.py): a hospital of the child's
county sees who the child is and nothing that leads to the family, and changes nothing; the police read
all of it; the committee keeps it. API and pages on real PostgreSQL, Temporal and the web app."""

from __future__ import annotations

from sqlalchemy import text

from tests.api.test_cases_api import auth
from tests.conftest import Live, make_token
from tests.support import child_id
from tests.ui.test_pages import browser, csrf_of


async def family_of(live: Live, cid: int) -> tuple[str, list[str]]:
    async with live.db.engine.begin() as conn:
        address = (await conn.execute(text("SELECT address FROM children WHERE id = :i"), {"i": cid})).scalar_one()
        phones = (
            await conn.execute(text("SELECT phone FROM guardians WHERE child_id = :i AND phone <> ''"), {"i": cid})
        ).scalars()
        return address, list(phones)


async def test_each_agency_type_sees_and_changes_what_it_needs(live: Live) -> None:
    cid = await child_id(live.db, "王小明")
    address, phones = await family_of(live, cid)
    assert address and phones  # the demo child has both, so their absence below means something

    hospital = await make_token(live.db, "luzhou-hospital")
    r = await live.http.get(f"/api/v1/children/{cid}", headers=auth(hospital))
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == "王小明" and body["record_view"] == "basic" and body["may_edit"] is False
    assert isinstance(body["age"], int) and body["residence_region"] == "140403"
    assert "guardians" not in body and "address" not in body and "school" not in body and "birth_date" not in body
    assert not any(p in r.text for p in phones) and address not in r.text
    r = await live.http.patch(f"/api/v1/children/{cid}", json={"address": "别处"}, headers=auth(hospital))
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_permitted"
    assert (await family_of(live, cid))[0] == address  # nothing changed

    police = await make_token(live.db, "luzhou-police")
    r = await live.http.get(f"/api/v1/children/{cid}", headers=auth(police))
    assert r.json()["record_view"] == "full" and r.json()["may_edit"] is False
    assert {g["phone"] for g in r.json()["guardians"]} >= set(phones)
    r = await live.http.patch(f"/api/v1/children/{cid}", json={"address": "别处"}, headers=auth(police))
    assert r.status_code == 403

    committee = await make_token(live.db, "luzhou-vc1")
    r = await live.http.patch(f"/api/v1/children/{cid}", json={"address": "城北社区3号楼"}, headers=auth(committee))
    assert r.status_code == 200 and r.json()["address"] == "城北社区3号楼" and r.json()["may_edit"] is True


async def test_the_pages_show_a_hospital_the_basic_view_only(live: Live) -> None:
    cid = await child_id(live.db, "王小明")
    address, phones = await family_of(live, cid)
    async with browser(live, "luzhou-hospital") as http:
        page = await http.get(f"/children/{cid}")
        assert page.status_code == 200 and "王小明" in page.text and "岁" in page.text
        assert address not in page.text and not any(p in page.text for p in phones)
        assert f'href="/children/{cid}/edit"' not in page.text and "监护人及联系人" not in page.text
        edit = await http.get(f"/children/{cid}/edit")
        assert edit.status_code == 403 and "不能修改档案" in edit.text
        r = await http.post(
            f"/children/{cid}/edit", data={"csrf": csrf_of(page.text), "name": "王小明", "address": "别处"}
        )
        assert r.status_code == 403
    assert (await family_of(live, cid))[0] == address
    async with browser(live, "luzhou-vc1") as http:
        page = await http.get(f"/children/{cid}")
        assert address in page.text and all(p in page.text for p in phones)
        assert f'href="/children/{cid}/edit"' in page.text
        assert (await http.get(f"/children/{cid}/edit")).status_code == 200
