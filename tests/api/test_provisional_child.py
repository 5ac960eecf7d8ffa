"""A child without an ID number through the API: registered provisionally with what is known, a case
started for it, the number added later (verified, or refused with the offer to merge), and the merge by a
civil-affairs supervisor. Real PostgreSQL, Temporal dev server and worker (the `live` fixture)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select

from activities.cases import registered_child_id
from db.models import AuditEntry, Case, Child, Guardian
from domain.idnumber import check_character
from tests.api.test_cases_api import auth
from tests.conftest import Live, make_token
from tests.support import agency_id, child_id, today_iso


def provisional(**over: Any) -> dict[str, Any]:
    return {
        "name": "小明",
        "sex": "male",
        "birth_date": "2018-06-01",
        "birth_date_estimated": True,
        "residence_region": "140403",
        "address": "东街街道城北社区附近",
        "no_id_number": True,
        "no_id_reason": "identity_unknown",
        **over,
    }


def id_number(first17: str) -> str:
    return first17 + check_character(first17)


async def register(live: Live, token: str, **over: Any) -> dict[str, Any]:
    r = await live.http.post("/api/v1/children", json=provisional(**over), headers=auth(token))
    assert r.status_code == 201, r.text
    return r.json()


async def start_case(live: Live, token: str, cid: int) -> str:
    body = {
        "process": "guardianship",
        "start_step": "admonition",
        "child_id": cid,
        "facts": {"facts": "热线报告：儿童长期独自在家", "occurred_on": today_iso()},
    }
    r = await live.http.post("/api/v1/cases", json=body, headers=auth(token))
    assert r.status_code == 201, r.text
    return r.json()["case_no"]


async def count(live: Live, model: type, *where: Any) -> int:
    async with live.db.sf() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def record(live: Live, cid: int) -> Child:
    async with live.db.sf() as s:
        child = await s.get(Child, cid)
        assert child is not None
        return child


async def test_registered_without_an_id_number_and_a_case_started_for_it(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    body = await register(live, vc)
    assert body["identity_status"] == "provisional" and body["no_id_reason"] == "identity_unknown"
    assert body["id_number"] is None and body["origin_region"] is None and body["guardians"] == []
    assert body["birth_date"] == "2018-06-01" and body["birth_date_estimated"] is True
    assert body["possible_duplicates"] == []  # 王小明 has another birth date
    # The same partial name and 王小明's birth date: shown as a warning, not refused, nothing merged.
    twin = await register(live, vc, birth_date="2015-03-12", birth_date_estimated=False, no_id_reason="other")
    assert [c["name"] for c in twin["possible_duplicates"]] == ["王小明"]
    assert twin["identity_status"] == "provisional"

    case_no = await start_case(live, vc, body["id"])
    case = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(vc))).json()
    assert case["child"] == {"id": body["id"], "name": "小明", "identity_status": "provisional"}
    assert [s["step"] for s in case["steps"]] == ["admonition"] and case["steps"][0]["due_at"]
    read = (await live.http.get(f"/api/v1/children/{body['id']}", headers=auth(vc))).json()
    assert read["identity_status"] == "provisional" and read["id_number_masked"] is None
    # Another county neither reads the record nor starts a case for it.
    other = await make_token(live.db, "shangdang-vc1")
    assert (await live.http.get(f"/api/v1/children/{body['id']}", headers=auth(other))).status_code == 404


async def test_bad_input_is_refused_in_chinese_and_registers_nothing(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    before = await count(live, Child)
    tomorrow = (date.fromisoformat(today_iso()) + timedelta(days=1)).isoformat()
    for over, code, field, text in [
        ({"name": " "}, "field_required", "name", "请填写“姓名”"),
        ({"birth_date": tomorrow}, "date_in_future", "birth_date", "出生日期不能晚于今天"),
        ({"birth_date": None}, "field_required", "birth_date", "请填写出生日期"),
        ({"birth_date": "2000-01-01"}, "not_a_child", "birth_date", "已年满十八周岁"),
        ({"no_id_reason": "lost_it"}, "field_invalid", "no_id_reason", "请选择暂无身份证号码的原因"),
        ({"sex": None}, "field_required", "sex", "请选择性别"),
        ({"origin_region": "999999"}, "region_unknown", "origin_region", "不存在"),
        ({"id_number": id_number("41072120160101003")}, "field_invalid", "id_number", "暂无身份证号码"),
        ({"no_id_number": False}, "field_required", "id_number", "请勾选“暂无身份证号码”"),
    ]:
        r = await live.http.post("/api/v1/children", json=provisional(**over), headers=auth(vc))
        assert r.status_code == 422, (over, r.text)
        error = r.json()["error"]
        assert (error["code"], error["field"]) == (code, field), over
        assert text in error["message"], (over, error["message"])
    assert await count(live, Child) == before


async def test_the_id_number_added_later_verifies_the_record(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    cid = (await register(live, vc, birth_date="2016-01-01"))["id"]  # estimated
    number = id_number("41072120160105003")  # a boy born 2016-01-05
    r = await live.http.patch(f"/api/v1/children/{cid}", json={"id_number": number}, headers=auth(vc))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["identity_status"], body["id_number"], body["birth_date"], body["origin_region"]) == (
        "verified",
        number,
        "2016-01-05",  # the estimate gave way to the number
        "410721",  # unknown before: the number's region
    )
    assert body["birth_date_estimated"] is False and body["no_id_reason"] is None
    async with live.db.sf() as s:
        details = (
            await s.execute(
                select(AuditEntry.detail).where(AuditEntry.action == "update_child", AuditEntry.child_id == cid)
            )
        ).scalars()
        assert list(details) == ["fields: id_number, birth_date, origin_region"]  # names, never values
    # Now verified: the number and what it fixes cannot change here.
    again = await live.http.patch(
        f"/api/v1/children/{cid}", json={"id_number": id_number("41072120160105011")}, headers=auth(vc)
    )
    assert again.status_code == 422 and again.json()["error"]["code"] == "id_number_fixed"
    sex = await live.http.patch(f"/api/v1/children/{cid}", json={"sex": "female"}, headers=auth(vc))
    assert sex.status_code == 422 and sex.json()["error"]["code"] == "identity_fixed"
    found = await live.http.post("/api/v1/children/search", json={"id_number": number}, headers=auth(vc))
    assert [c["id"] for c in found.json()["items"]] == [cid]


async def test_a_number_that_conflicts_with_the_record_is_refused(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    cid = (await register(live, vc, birth_date="2016-01-01", birth_date_estimated=False, origin_region="130481"))["id"]
    before = await record(live, cid)
    right = id_number("41072120160101003")
    wrong = right[:-1] + ("0" if right[-1] != "0" else "1")
    for number, code, text in [
        (id_number("41072120160105003"), "birth_date_mismatch", "与档案中的出生日期（2016-01-01）不一致"),
        (id_number("41072120160101004"), "sex_mismatch", "身份证号码显示的性别（女）"),
        (id_number("41072120160101003"), "origin_mismatch", "与档案中的户籍地（130481）不一致"),
        (wrong, "id_number_checksum", "校验位"),
    ]:
        r = await live.http.patch(f"/api/v1/children/{cid}", json={"id_number": number}, headers=auth(vc))
        assert r.status_code == 422, (number, r.text)
        assert r.json()["error"]["code"] == code and text in r.json()["error"]["message"], r.json()
    tomorrow = (date.fromisoformat(today_iso()) + timedelta(days=1)).isoformat()
    for change, code in (
        ({"birth_date": tomorrow}, "date_in_future"),
        ({"no_id_reason": "lost_it"}, "field_invalid"),
        ({"name": ""}, "field_required"),
        ({"sex": "x"}, "field_required"),
    ):
        r = await live.http.patch(f"/api/v1/children/{cid}", json=change, headers=auth(vc))
        assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text
    after = await record(live, cid)
    assert (after.name, after.sex, after.no_id_reason) == (before.name, before.sex, before.no_id_reason)
    assert (after.identity_status, after.id_number, after.birth_date, after.origin_region) == (
        before.identity_status,
        None,
        before.birth_date,
        "130481",
    )
    # With the origin confirmed (the household registration moved), the number is taken.
    r = await live.http.patch(
        f"/api/v1/children/{cid}",
        json={"id_number": id_number("41072120160101003"), "origin_region": "130481"},
        headers=auth(vc),
    )
    assert r.status_code == 200 and r.json()["identity_status"] == "verified"
    assert r.json()["origin_region"] == "130481"


async def test_another_childs_number_offers_the_merge_which_a_supervisor_does(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    target = await child_id(live.db, "王小明")
    cid = (
        await register(
            live,
            vc,
            guardians=[
                {"name": "王建国", "relation": "父亲", "phone": ""},  # 王小明's father: not added twice
                {"name": "张阿姨", "relation": "邻居", "phone": "13900000099", "is_guardian": False},
            ],
        )
    )["id"]
    case_no = await start_case(live, vc, cid)
    async with live.db.sf() as s:
        number = (await s.get(Child, target)).id_number  # type: ignore[union-attr]
    r = await live.http.patch(f"/api/v1/children/{cid}", json={"id_number": number}, headers=auth(vc))
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "id_number_registered" and error["merge_into_child_id"] == target
    assert "合并" in error["message"] and error["merge"] == f"/api/v1/children/{cid}/merge"
    assert (await record(live, cid)).identity_status == "provisional"

    # Not permitted: the committee's clerk, civil affairs' operator, an admin (403); another county (404).
    for user, status in (("luzhou-vc1", 403), ("luzhou-civil", 403), ("luzhou-police-sup", 403)):
        token = await make_token(live.db, user)
        r = await live.http.post(f"/api/v1/children/{cid}/merge", json={"into_child_id": target}, headers=auth(token))
        assert r.status_code == status, (user, r.text)
        assert r.json()["error"]["message"] == "只有儿童居住县（区）或市级民政部门的督导可以合并儿童档案"
    for user in ("shangdang-civil-sup", "admin"):
        token = await make_token(live.db, user)
        r = await live.http.post(f"/api/v1/children/{cid}/merge", json={"into_child_id": target}, headers=auth(token))
        assert r.status_code == 404 and r.json()["error"]["message"] == "儿童不存在或无权查看", user
    async with live.db.sf() as s:
        assert (await s.execute(select(Case.child_id).where(Case.case_no == case_no))).scalar_one() == cid
    assert await count(live, AuditEntry, AuditEntry.action == "merge_child") == 0
    assert (await record(live, cid)).merged_into_id is None

    sup = await make_token(live.db, "luzhou-civil-sup")
    r = await live.http.post(f"/api/v1/children/{cid}/merge", json={"into_id_number": number}, headers=auth(sup))
    assert r.status_code == 200, r.text
    merged = r.json()
    assert merged["child"]["id"] == target and merged["cases"] == [case_no] and merged["guardians_added"] == 1
    async with live.db.sf() as s:
        assert (await s.execute(select(Case.child_id).where(Case.case_no == case_no))).scalar_one() == target
        guardians = (
            await s.execute(select(Guardian.name, Guardian.is_guardian).where(Guardian.child_id == target))
        ).all()
        assert sorted(guardians) == sorted([("王建国", True), ("李秀英", True), ("张阿姨", False)])
        audits = (
            await s.execute(
                select(AuditEntry.child_id, AuditEntry.case_no, AuditEntry.detail)
                .where(AuditEntry.action == "merge_child")
                .order_by(AuditEntry.id)
            )
        ).all()
    assert audits == [
        (cid, None, f"into child {target}; cases 1"),
        (target, None, f"from child {cid}; guardians 1"),
        (target, case_no, f"from child {cid}"),
    ]
    kept = await record(live, cid)
    assert (kept.merged_into_id, kept.identity_status, kept.name) == (target, "provisional", "小明")
    # A workflow still names the provisional record: what it writes for the child lands on the target.
    async with live.db.sf() as s:
        assert await registered_child_id(s, cid) == target

    # The case now belongs to the registered child; reads of the provisional record lead there.
    case = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(vc))).json()
    assert case["child"]["id"] == target and case["child"]["name"] == "王小明"
    old = await live.http.get(f"/api/v1/children/{cid}", headers=auth(vc))
    assert old.status_code == 301 and old.headers["location"] == f"/api/v1/children/{target}"
    found = await live.http.post("/api/v1/children/search", json={"q": "小明"}, headers=auth(vc))
    assert cid not in [c["id"] for c in found.json()["items"]]
    # A merged record takes no changes, no second merge and no new case.
    again = await live.http.post(f"/api/v1/children/{cid}/merge", json={"into_child_id": target}, headers=auth(sup))
    assert again.status_code == 409 and again.json()["error"]["code"] == "child_merged"
    patch = await live.http.patch(f"/api/v1/children/{cid}", json={"address": "x"}, headers=auth(vc))
    assert patch.status_code == 409 and patch.json()["error"]["merged_into_id"] == target
    body = {"process": "guardianship", "start_step": "admonition", "child_id": cid, "facts": {}}
    start = await live.http.post("/api/v1/cases", json=body, headers=auth(vc))
    assert start.status_code == 409 and "已合并" in start.json()["error"]["message"]


async def test_only_a_provisional_record_merges_and_only_into_a_verified_one(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    sup = await make_token(live.db, "luzhou-civil-sup")
    first = (await register(live, vc))["id"]
    second = (await register(live, vc, name="未知"))["id"]
    verified = await child_id(live.db, "李娜")
    for source, into, field in (
        (verified, {"into_child_id": await child_id(live.db, "王小明")}, "child_id"),
        (first, {"into_child_id": second}, "into_child_id"),
        (first, {"into_child_id": first}, "into_child_id"),
        (first, {}, "into_child_id"),
    ):
        r = await live.http.post(f"/api/v1/children/{source}/merge", json=into, headers=auth(sup))
        assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    r = await live.http.post(
        f"/api/v1/children/{first}/merge", json={"into_id_number": id_number("41072120160105003")}, headers=auth(sup)
    )
    assert r.status_code == 404 and r.json()["error"]["message"] == "未找到该身份证号码的儿童"
    assert await count(live, Child, Child.merged_into_id.is_not(None)) == 0


async def test_an_integration_registers_a_provisional_child_and_reports_it(live: Live) -> None:
    """An agency's system (here a school's; the 12355 hotline's alike) knows only part of the name: it registers
    the child provisionally, starts the report with the new record, and reads it back as its own."""
    school = await make_token(live.db, agency_code="luzhou-school1")
    committee = await agency_id(live.db, "luzhou-vc1")
    child = await register(live, school, name="小红", sex="female", residence_committee_id=committee)
    assert child["identity_status"] == "provisional" and child["guardians"] == []
    body = {
        "process": "guardianship",
        "start_step": "police_report",
        "child_id": child["id"],
        "facts": {
            "facts": "学生反映该儿童长期无人照料",
            "occurred_on": today_iso(),
            "village_committee_id": None,
        },
    }
    r = await live.http.post("/api/v1/cases", json=body, headers={**auth(school), "Idempotency-Key": "sis-child-1"})
    assert r.status_code == 201, r.text
    assert r.json()["steps"][0]["holder"] == "潞州区公安局"
    read = await live.http.get(f"/api/v1/children/{child['id']}", headers=auth(school))
    assert read.status_code == 200 and read.json()["identity_status"] == "provisional"


async def live_child(live: Live, case_no: str) -> Any:
    """The child the case's workflow holds (its Query), once it has taken in the change."""
    from domain.ids import workflow_id
    from domain.messages import CaseState

    handle = live.temporal.get_workflow_handle(workflow_id(case_no))
    return (await handle.query("view", result_type=CaseState)).child


async def eventually(probe: Any, want: Any) -> Any:
    import asyncio

    for _ in range(100):
        got = await probe()
        if got == want:
            return got
        await asyncio.sleep(0.05)
    return got


async def test_the_open_cases_learn_the_verified_birth_date_and_the_merge(live: Live) -> None:
    """The workflow counts the age limit from the child it holds: the number added later (or a merge)
    changes it, and the timeline says so."""
    vc = await make_token(live.db, "luzhou-vc1")
    cid = (await register(live, vc, birth_date="2016-01-01"))["id"]  # estimated
    case_no = await start_case(live, vc, cid)
    assert (await live_child(live, case_no)).birth_date == date(2016, 1, 1)
    r = await live.http.patch(
        f"/api/v1/children/{cid}", json={"id_number": id_number("41072120160105003")}, headers=auth(vc)
    )
    assert r.status_code == 200, r.text

    async def held() -> tuple[int, date, str | None]:
        c = await live_child(live, case_no)
        return c.id, c.birth_date, c.origin_region

    assert await eventually(held, (cid, date(2016, 1, 5), "410721")) == (cid, date(2016, 1, 5), "410721")

    async def updates() -> int:
        # The workflow holds the new facts first, then writes the event.
        r = await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(vc))
        return [e["kind"] for e in r.json()["timeline"]].count("child_updated")

    assert await eventually(updates, 1) == 1

    # A merge: the case now holds the registered child.
    other = (await register(live, vc, name="小红", sex="female", birth_date="2017-03-01"))["id"]
    second = await start_case(live, vc, other)
    target = await child_id(live.db, "王小明")
    async with live.db.sf() as s:
        born = (await s.get(Child, target)).birth_date  # type: ignore[union-attr]
    sup = await make_token(live.db, "luzhou-civil-sup")
    r = await live.http.post(f"/api/v1/children/{other}/merge", json={"into_child_id": target}, headers=auth(sup))
    assert r.status_code == 200, r.text

    async def merged() -> tuple[int, date]:
        c = await live_child(live, second)
        return c.id, c.birth_date

    assert await eventually(merged, (target, born)) == (target, born)
