"""Agency administration through /api/v1/admin/agencies on the real stack: a school added by the admin takes a
dropout case and a user; a CSV import adds, renames and leaves alone, or imports nothing and says why for every
wrong row; an agency still holding open steps is not switched off; a switched-off one is no longer picked by
resolve_agency."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
from sqlalchemy import func, select, update

from activities.cases import CaseActivities
from api.admin import agencies
from db.models import Agency, AuditEntry, Case, CaseParty, CaseStep, Notification, TimelineEvent, User
from db.session import transaction
from domain.enums import AgencyType
from domain.ids import workflow_id
from domain.messages import AgencyQuery, AgencyRef, EventRecord, EventWithStep, StepInputsRequest, StepState
from tests.api.test_admin_users import agency_id, audit_rows, page_login
from tests.api.test_cases_api import auth
from tests.api.test_dropout_api import not_returned, report_body
from tests.conftest import Live, make_token
from tests.ui.test_pages import browser
from workflows import activity_names as names

URL = "/api/v1/admin/agencies"
SCHOOL3 = {
    "code": "luzhou-school3",
    "name": "潞州区第三小学",
    "agency_type": "学校",
    "region_code": "潞州区",
    "township": "东街街道",
}
HEADER = "code,name,type,region,township"


async def agency_count(live: Live) -> int:
    async with live.db.sf() as s:
        return (await s.execute(select(func.count()).select_from(Agency))).scalar_one()


async def agency_row(live: Live, code: str) -> Agency | None:
    async with live.db.sf() as s:
        return (await s.execute(select(Agency).where(Agency.code == code))).scalar_one_or_none()


async def resolve(live: Live, kind: AgencyType, **query: object) -> str:
    """The code of the agency the workflows' activity picks."""
    found = await CaseActivities(live.db.sf).resolve_agency(
        AgencyQuery(agency_type=kind, region_code="140403", **query)
    )
    async with live.db.sf() as s:
        return (await s.get(Agency, found.id)).code  # type: ignore[union-attr]


async def patch(live: Live, token: str, code: str, **body: object) -> httpx.Response:
    return await live.http.patch(f"{URL}/{await agency_id(live, code)}", json=body, headers=auth(token))


async def import_csv(live: Live, token: str, text: str | bytes, **params: str) -> httpx.Response:
    body = text.encode("utf-8") if isinstance(text, str) else text
    return await live.http.post(
        f"{URL}/import", content=body, params=params, headers={**auth(token), "Content-Type": "text/csv"}
    )


async def test_a_new_school_takes_a_dropout_case_and_a_user(live: Live) -> None:
    admin = await make_token(live.db, "admin")
    r = await live.http.post(URL, json=SCHOOL3, headers=auth(admin))
    assert r.status_code == 201, r.text
    school = r.json()
    assert (school["code"], school["agency_type"], school["region_code"], school["township"]) == (
        "luzhou-school3",
        "school",
        "140403",
        "东街街道",
    )
    assert school["is_active"] is True and school["agency_type_label"] == "学校/幼儿园"

    # The county bureau reports a pupil of the new school: the school holds the first step.
    bureau = await make_token(live.db, "luzhou-edu")
    started = await live.http.post(
        "/api/v1/cases", json=await report_body(live, school_id=school["id"]), headers=auth(bureau)
    )
    assert started.status_code == 201, started.text
    assert started.json()["steps"][0]["holder"] == "潞州区第三小学"
    case_no = started.json()["case_no"]

    # A clerk of the new school is added, and finds the case in their inbox.
    r = await live.http.post(
        "/api/v1/admin/users",
        json={
            "username": "luzhou-school3",
            "display_name": "周老师",
            "agency_id": school["id"],
            "role": "operator",
            "password": "Sanxiao2026",
        },
        headers=auth(admin),
    )
    assert r.status_code == 201, r.text
    clerk = await make_token(live.db, "luzhou-school3")
    assert case_no in [
        i["case_no"] for i in (await live.http.get("/api/v1/inbox", headers=auth(clerk))).json()["items"]
    ]

    one = (await live.http.get(f"{URL}/{school['id']}", headers=auth(admin))).json()
    assert one["open_steps"] == 1 and one["open_cases"] == 1
    assert [u["username"] for u in one["users"]] == ["luzhou-school3"]
    listed = (await live.http.get(URL, params={"q": "SCHOOL3"}, headers=auth(admin))).json()
    assert [a["code"] for a in listed["items"]] == ["luzhou-school3"]
    entries = await audit_rows(live, "agency_")
    assert [(e.action, e.detail) for e in entries] == [
        ("agency_create", f"agency={school['id']} luzhou-school3 school@140403")
    ]


async def test_refused_creations_say_why_and_create_nothing(live: Live) -> None:
    admin = await make_token(live.db, "admin")
    before = await agency_count(live)

    async def refused(status: int, error_code: str, error_field: str, **fields: object) -> str:
        r = await live.http.post(URL, json={**SCHOOL3, **fields}, headers=auth(admin))
        assert r.status_code == status, r.text
        error = r.json()["error"]
        assert (error["code"], error["field"]) == (error_code, error_field), error
        return error["message"]

    assert "潞州区实验小学" in await refused(409, "agency_code_taken", "code", code="luzhou-school1")
    assert "小写字母" in await refused(422, "field_invalid", "code", code="Luzhou School3")
    assert "小写字母" in await refused(422, "field_invalid", "code", code="-school")
    assert "请填写单位名称" in await refused(422, "field_required", "name", name="  ")
    assert "无法识别" in await refused(422, "field_invalid", "agency_type", agency_type="小学校")
    assert "不是长治市" in await refused(422, "region_unknown", "region_code", region_code="140105")
    assert "不在长治市" in await refused(422, "region_unknown", "region_code", region_code="小店区")
    # 长治县 became 上党区 in 2018.
    assert "已撤销" in await refused(422, "region_unknown", "region_code", region_code="140421")
    assert "已撤销" in await refused(422, "region_unknown", "region_code", region_code="长治县")
    assert "潞州区已有名为“潞州区实验小学”" in await refused(409, "agency_name_taken", "name", name="潞州区实验小学")

    committee = {"agency_type": "村（居）委会", "code": "luzhou-vc3", "name": "潞州区东街街道英雄中路社区居民委员会"}
    assert "请填写所在乡镇" in await refused(422, "field_required", "township", **committee, township="")
    assert "北街街道" in await refused(422, "township_unknown", "township", **committee, township="北街街道")
    assert "长治市本级" in await refused(422, "field_invalid", "region_code", **committee, region_code="140400")
    town = {"agency_type": "township", "code": "luzhou-town3", "name": "潞州区东街街道办事处（新）"}
    assert "潞州区东街街道办事处" in await refused(409, "township_taken", "township", **town, township="东街街道")

    assert await agency_count(live) == before
    assert await audit_rows(live, "agency_") == []

    # The labels' common names and the county's Chinese name are understood.
    r = await live.http.post(URL, json={**SCHOOL3, **committee, "township": "西街街道"}, headers=auth(admin))
    assert r.status_code == 201 and r.json()["agency_type"] == "village_committee", r.text


async def test_import_adds_renames_and_leaves_alone(live: Live) -> None:
    admin = await make_token(live.db, "admin")
    # As Excel writes it: a BOM, CRLF line ends; types and counties by label, name or code.
    text = "\ufeff" + "\r\n".join(
        [
            HEADER,
            "luzhou-school3,潞州区第三小学,学校,潞州区,东街街道",
            "luzhou-school2,潞州区第二中学（东校区）,school,140403,东街街道",
            "luzhou-school1,潞州区实验小学,学校/幼儿园,140403,东街街道",
            "",
        ]
    )
    checked = await import_csv(live, admin, text, dry_run="true")
    assert checked.status_code == 200, checked.text
    assert (checked.json()["created"], checked.json()["updated"], checked.json()["unchanged"]) == (1, 1, 1)
    assert await agency_row(live, "luzhou-school3") is None  # only checked

    r = await import_csv(live, admin, text)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["created"], body["updated"], body["unchanged"], body["moved"], body["dry_run"]) == (1, 1, 1, 0, False)
    assert body["rows"] == [
        {"row": 2, "code": "luzhou-school3", "result": "created"},
        {"row": 3, "code": "luzhou-school2", "result": "updated"},
        {"row": 4, "code": "luzhou-school1", "result": "unchanged"},
    ]
    new = await agency_row(live, "luzhou-school3")
    assert new is not None and (new.name, new.agency_type, new.region_code, new.township, new.is_active) == (
        "潞州区第三小学",
        "school",
        "140403",
        "东街街道",
        True,
    )
    renamed = await agency_row(live, "luzhou-school2")
    assert renamed is not None and renamed.name == "潞州区第二中学（东校区）"

    # The same file again changes nothing.
    again = (await import_csv(live, admin, text)).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert [e.action for e in await audit_rows(live, "agency_")] == [
        "agency_rename",
        "agency_create",
        "agency_import",
        "agency_import",
    ]


async def test_import_a_township_with_its_committee(live: Live) -> None:
    """A new 街道 and a committee in it, in one file: joint persuasion then finds that 街道 for the committee."""
    admin = await make_token(live.db, "admin")
    text = "\n".join(
        [
            "name,code,type,region,township",  # columns in any order
            "潞州区太行东街街道英雄中路社区居民委员会,luzhou-vc3,村（居）委会,潞州区,太行东街街道",
            "潞州区太行东街街道办事处,luzhou-town3,街道办事处,长治市潞州区,太行东街街道",
        ]
    )
    r = await import_csv(live, admin, text)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2
    assert await resolve(live, AgencyType.township, township="太行东街街道") == "luzhou-town3"


async def test_a_file_with_wrong_rows_imports_nothing_and_says_why(live: Live) -> None:
    admin = await make_token(live.db, "admin")
    before = await agency_count(live)
    text = "\n".join(
        [
            HEADER,
            "luzhou-school3,潞州区第三小学,学校,潞州区,东街街道",
            "luzhou-school4,潞州区第四小学,小学校,潞州区,东街街道",
            "xiangyuan-school3,襄垣县第三小学,学校,太原市,古韩镇",
        ]
    )
    r = await import_csv(live, admin, text)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert (error["code"], error["field"]) == ("import_invalid", "file")
    assert error["rows"] == [
        "第3行：单位类型“小学校”无法识别，应为类型名称（如 学校、村（居）委会）或代码（如 school）",
        "第4行：县（区）“太原市”不在长治市，应为长治市所辖县（区）的名称或6位行政区划代码",
    ]
    assert "共2行有误" in error["message"] and "第3行" in error["message"] and "第4行" in error["message"]
    assert await agency_count(live) == before and await agency_row(live, "luzhou-school3") is None

    # Rules among the rows and with the agencies there: one code twice, a type changed, a committee whose
    # 街道 has no government.
    r = await import_csv(
        live,
        admin,
        "\n".join(
            [
                HEADER,
                "luzhou-school3,潞州区第三小学,学校,潞州区,东街街道",
                "luzhou-school3,潞州区第三小学,学校,潞州区,东街街道",
                "luzhou-school1,潞州区实验小学,幼儿园,上党区,韩店街道",
                "luzhou-vc3,潞州区北街社区居民委员会,村委会,潞州区,北街街道",
                "Luzhou School9,,学校,140421,",
            ]
        ),
    )
    rows = r.json()["error"]["rows"]
    assert [line[:4] for line in rows] == ["第3行：", "第4行：", "第5行：", "第6行："], rows
    assert "与第2行重复" in rows[0] and "不能修改单位类型和所属县（区）" in rows[1] and "北街街道" in rows[2]
    # Every reason of a row at once.
    assert rows[3] == f"第6行：{agencies.CODE_RULE}；请填写单位名称；“140421”（长治县）已撤销，请填写现行县（区）"

    # The file itself: another header, another encoding, nothing in it.
    for body, words in (
        ("编码,名称\nx,y", "第1行应为表头 code,name,type,region,township"),
        ("code,name,type,region,township\n潞州区第三小学".encode("gbk"), "UTF-8"),
        (HEADER + "\n\n", "没有单位"),
        (HEADER + "\nluzhou-school3,潞州区第三小学,学校,潞州区,东街街道,多余", "列数多于表头"),
    ):
        r = await import_csv(live, admin, body)
        assert r.status_code == 422 and words in r.json()["error"]["message"], r.text
        assert r.json()["error"]["field"] == "file"
    assert await agency_count(live) == before
    assert await audit_rows(live, "agency_") == []


async def test_an_agency_holding_open_steps_stays_on_until_a_supervisor_reassigns(live: Live) -> None:
    admin = await make_token(live.db, "admin")
    school = await make_token(live.db, "luzhou-school1")
    started = await live.http.post("/api/v1/cases", json=await report_body(live), headers=auth(school))
    case_no = started.json()["case_no"]

    r = await patch(live, admin, "luzhou-school1", is_active=False)
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert (error["code"], error["field"]) == ("agency_has_open_steps", "is_active")
    assert error["message"] == "潞州区实验小学仍承办1个未办结的案件环节，请先由督导将这些环节改派给其他单位，再停用"

    # Joint persuasion: the committee takes part as a co-holder, which counts too.
    r = await not_returned(live, school, case_no)
    assert r.status_code == 200, r.text
    r = await patch(live, admin, "luzhou-vc1", is_active=False)
    assert r.status_code == 409 and "仍承办1个" in r.json()["error"]["message"], r.text

    # A second case held by the school: the county supervisor reassigns it, then the school may go.
    second = await live.http.post("/api/v1/cases", json=await report_body(live, child="李娜"), headers=auth(school))
    assert "仍承办1个" in (await patch(live, admin, "luzhou-school1", is_active=False)).json()["error"]["message"]
    sup = await make_token(live.db, "luzhou-edu-sup")
    r = await live.http.post(
        f"/api/v1/cases/{second.json()['case_no']}/supervision",
        json={
            "kind": "reassign",
            "step": "school_contact",
            "reason": "学生已转入第二中学",
            "new_agency_id": await agency_id(live, "luzhou-school2"),
        },
        headers=auth(sup),
    )
    assert r.status_code == 200, r.text
    r = await patch(live, admin, "luzhou-school1", is_active=False)
    assert r.status_code == 200 and r.json()["is_active"] is False, r.text

    # The city civil-affairs bureau runs the system: never switched off.
    r = await patch(live, admin, "city-civil", is_active=False)
    assert r.status_code == 422 and r.json()["error"]["code"] == "agency_protected"
    assert [e.action for e in await audit_rows(live, "agency_")] == ["agency_deactivate"]


async def test_a_switched_off_agency_is_no_longer_picked(live: Live) -> None:
    admin = await make_token(live.db, "admin")
    school2 = await agency_id(live, "luzhou-school2")
    integration = await make_token(live.db, agency_code="luzhou-school2")
    assert await resolve(live, AgencyType.school, prefer_id=school2) == "luzhou-school2"

    r = await patch(live, admin, "luzhou-school2", is_active=False)
    assert r.status_code == 200 and r.json()["is_active"] is False, r.text
    assert await resolve(live, AgencyType.school, prefer_id=school2) == "luzhou-school1"
    # Its users stay (switched on, their agency off); its integration token stops at once.
    one = (await live.http.get(f"{URL}/{school2}", headers=auth(admin))).json()
    assert one["is_active"] is False
    assert [(u["username"], u["is_active"]) for u in one["users"]] == [
        ("luzhou-school2", True),
        ("luzhou-school2-sup", True),
    ]
    assert (await live.http.get("/api/v1/inbox", headers=auth(integration))).status_code == 401
    # Nor chosen in a form, nor given a new user.
    bureau = await make_token(live.db, "luzhou-edu")
    r = await live.http.post("/api/v1/cases", json=await report_body(live, school_id=school2), headers=auth(bureau))
    assert r.status_code == 422 and r.json()["error"]["field"] == "school_id"
    r = await live.http.post(
        "/api/v1/admin/users",
        json={"username": "luzhou-school2-li", "display_name": "李", "agency_id": school2, "password": "Erzhong2026"},
        headers=auth(admin),
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "agency_inactive"
    listed = (await live.http.get(URL, params={"active": "false"}, headers=auth(admin))).json()
    assert [a["code"] for a in listed["items"]] == ["luzhou-school2"]

    # The county's last school is kept: with none at the city either, dropout cases would have nowhere to go.
    r = await patch(live, admin, "luzhou-school1", is_active=False)
    assert r.status_code == 409 and r.json()["error"]["code"] == "agency_in_use"
    assert "没有其他启用的学校/幼儿园" in r.json()["error"]["message"]
    # A 街道 whose committees rely on it neither.
    r = await patch(live, admin, "luzhou-town2", is_active=False)
    assert r.status_code == 409 and "西街街道仍有1个启用的村（居）委会" in r.json()["error"]["message"]

    r = await patch(live, admin, "luzhou-school2", is_active=True)
    assert r.status_code == 200 and r.json()["is_active"] is True
    assert await resolve(live, AgencyType.school, prefer_id=school2) == "luzhou-school2"
    assert (await live.http.get("/api/v1/inbox", headers=auth(integration))).status_code == 200
    assert [(e.action, e.detail) for e in await audit_rows(live, "agency_")] == [
        ("agency_deactivate", f"agency={school2} luzhou-school2"),
        ("agency_reactivate", f"agency={school2} luzhou-school2"),
    ]


async def test_rename_and_a_township_renamed_with_its_committees(live: Live) -> None:
    admin = await make_token(live.db, "admin")
    r = await patch(live, admin, "luzhou-school2", name="潞州区第二中学校")
    assert r.status_code == 200 and r.json()["name"] == "潞州区第二中学校"

    # 西街街道 renamed: the committee and the police station in it follow, and persuasion still finds the
    # 街道 for it.
    r = await patch(live, admin, "luzhou-town2", township="西街道")
    assert r.status_code == 200 and (r.json()["township"], r.json()["moved"]) == ("西街道", 2), r.text
    station = await agency_row(live, "luzhou-ps2")
    assert station is not None and station.township == "西街道"
    vc2 = await agency_row(live, "luzhou-vc2")
    assert vc2 is not None and vc2.township == "西街道"
    assert await resolve(live, AgencyType.township, township="西街道") == "luzhou-town2"

    r = await patch(live, admin, "luzhou-vc2", township="北街街道")
    assert r.status_code == 422 and r.json()["error"]["code"] == "township_unknown"
    r = await patch(live, admin, "luzhou-vc2", township="")
    assert r.status_code == 422 and r.json()["error"]["field"] == "township"
    r = await patch(live, admin, "luzhou-vc2", name="潞州区实验小学")
    assert r.status_code == 409 and r.json()["error"]["code"] == "agency_name_taken"
    r = await live.http.patch(f"{URL}/999999", json={"name": "x"}, headers=auth(admin))
    assert r.status_code == 404 and r.json()["error"]["code"] == "agency_not_found"
    town2, vc2_id = await agency_id(live, "luzhou-town2"), await agency_id(live, "luzhou-vc2")
    station_id = await agency_id(live, "luzhou-ps2")
    rows = [(e.action, e.detail) for e in await audit_rows(live, "agency_")][1:]
    assert rows[0] == ("agency_township", f"agency={town2} luzhou-town2 西街街道->西街道")
    assert set(rows[1:]) == {
        ("agency_township", f"agency={vc2_id} luzhou-vc2 西街街道->西街道 (with luzhou-town2)"),
        ("agency_township", f"agency={station_id} luzhou-ps2 西街街道->西街道 (with luzhou-town2)"),
    }


async def test_only_admins_manage_agencies(live: Live) -> None:
    target = await agency_id(live, "luzhou-school2")
    csv_body = f"{HEADER}\nluzhou-school3,潞州区第三小学,学校,潞州区,东街街道"
    for username in ("luzhou-civil-sup", "luzhou-edu-sup", "city-civil-sup", "luzhou-school2"):
        token = await make_token(live.db, username)
        calls = [
            live.http.get(URL, headers=auth(token)),
            live.http.get(f"{URL}/{target}", headers=auth(token)),
            live.http.post(URL, json=SCHOOL3, headers=auth(token)),
            live.http.patch(f"{URL}/{target}", json={"is_active": False}, headers=auth(token)),
            import_csv(live, token, csv_body),
        ]
        for call in calls:
            r = await call
            assert r.status_code == 403 and r.json()["error"]["code"] == "not_permitted", (username, r.text)
    integration = await make_token(live.db, agency_code="luzhou-school1")
    assert (await live.http.get(URL, headers=auth(integration))).status_code == 403
    async with live.db.sf() as s:
        assert (await s.get(Agency, target)).is_active  # type: ignore[union-attr]
        assert (await s.execute(select(Agency).where(Agency.code == "luzhou-school3"))).first() is None
        assert (await s.execute(select(func.count()).select_from(AuditEntry))).scalar_one() == 0
        assert (await s.execute(select(User).where(User.username == "luzhou-school3"))).first() is None


async def test_the_list_filters_and_pages(live: Live) -> None:
    admin = await make_token(live.db, "admin")

    async def listed(**params: object) -> dict:
        r = await live.http.get(URL, params=params, headers=auth(admin))
        assert r.status_code == 200, r.text
        return r.json()

    schools = await listed(region_code="140403", agency_type="school")
    assert [a["code"] for a in schools["items"]] == ["luzhou-school2", "luzhou-school1"] or [
        a["code"] for a in schools["items"]
    ] == ["luzhou-school1", "luzhou-school2"]
    assert schools["total"] == 2 and schools["items"][0]["region_name"] == "潞州区"
    assert [a["code"] for a in (await listed(q="城北社区", region_code="140403"))["items"]] == ["luzhou-vc1"]
    assert (await listed(q="%"))["total"] == 0  # wildcards are literal
    assert (await listed(active="false"))["total"] == 0
    city = await listed(region_code="140400", per_page=200)
    assert city["total"] == 14 and all(a["region_code"] == "140400" for a in city["items"])
    everyone = await listed(per_page=200)
    second = await listed(per_page=7, page=2)
    assert second["total"] == everyone["total"] and second["page"] == 2
    assert [a["id"] for a in second["items"]] == [a["id"] for a in everyone["items"][7:14]]
    assert everyone["items"][0]["region_code"] == "140400"  # the city first


async def test_openapi_documents_the_import(live: Live) -> None:
    spec = (await live.http.get("/api/v1/openapi.json")).json()
    op = spec["paths"]["/api/v1/admin/agencies/import"]["post"]
    content = op["requestBody"]["content"]
    assert "text/csv" in content and "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" in content
    assert "xlsx or CSV" in op["summary"]
    assert {"get", "patch"} <= set(spec["paths"]["/api/v1/admin/agencies/{agency_id}"])


async def test_users_of_a_switched_off_agency_cannot_log_in(live: Live) -> None:
    """Switching an agency off ends its people's page sessions, personal tokens and logins; switching it
    back on restores them."""
    admin = await make_token(live.db, "admin")
    personal = await make_token(live.db, "luzhou-school2")
    async with browser(live, "luzhou-school2") as page:
        assert (await page.get("/inbox")).status_code == 200
        r = await patch(live, admin, "luzhou-school2", is_active=False)
        assert r.status_code == 200, r.text
        gone = await page.get("/inbox")
        assert gone.status_code == 303 and gone.headers["location"] == "/login?next=/inbox"
    assert (await live.http.get("/api/v1/me", headers=auth(personal))).status_code == 401
    async with page_login(live, "luzhou-school2", "demo1234") as (_, login):
        assert login.status_code == 401 and "用户名或密码错误" in login.text
    r = await patch(live, admin, "luzhou-school2", is_active=True)
    assert (await live.http.get("/api/v1/me", headers=auth(personal))).status_code == 200
    async with page_login(live, "luzhou-school2", "demo1234") as (_, login):
        assert login.status_code == 303


async def test_a_step_opened_after_its_agency_was_switched_off_goes_to_the_one_serving_now(live: Live) -> None:
    """The committee kept by a dropout case is switched off under it (the agency page refuses that only for
    the holder of an open step): the joint persuasion opened next has the committee serving now as
    co-holder, told and made a party, and the one switched off neither. The event written with the step's
    inputs found the committee off and wrote nothing; the step was then opened as before."""
    school = await make_token(live.db, "luzhou-school1")
    started = await live.http.post("/api/v1/cases", json=await report_body(live), headers=auth(school))
    case_no = started.json()["case_no"]
    async with transaction(live.db.sf) as s:
        await s.execute(update(Agency).where(Agency.code == "luzhou-vc1").values(is_active=False))
    r = await not_returned(live, school, case_no)
    assert r.status_code == 200, r.text
    assert [(st["step"], st["holder"]) for st in r.json()["steps"]] == [("joint_persuasion", "潞州区教育局")]
    vc2, town1 = await agency_id(live, "luzhou-vc2"), await agency_id(live, "luzhou-town1")
    async with live.db.sf() as s:
        case = (await s.execute(select(Case).where(Case.case_no == case_no))).scalar_one()
        step = (await s.execute(select(CaseStep).where(CaseStep.case_id == case.id))).scalar_one()
        parties = (await s.execute(select(CaseParty.agency_id).where(CaseParty.case_id == case.id))).scalars().all()
        told = (await s.execute(select(Notification.agency_id).where(Notification.case_id == case.id))).scalars().all()
        seqs = (await s.execute(select(TimelineEvent.seq).where(TimelineEvent.case_id == case.id))).scalars().all()
        assert sorted(step.co_holder_ids) == sorted([vc2, town1]) and step.due_at is not None
        assert await agency_id(live, "luzhou-vc1") not in set(parties) | set(told)
        assert vc2 in set(told) and sorted(seqs) == [1, 2]
    history = await live.temporal.get_workflow_handle(workflow_id(case_no)).fetch_history()
    ran = [
        json.loads(e.marker_recorded_event_attributes.details["data"].payloads[0].data)["activity_type"]
        for e in history.events
        if e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]
    assert ran[-3:] == [names.RECORD_WITH_STEP, names.STEP_INPUTS, names.RECORD_EVENT]

    # A retry of an event written already (its answer lost) answers written, and writes nothing again.
    vc1 = AgencyRef(
        id=await agency_id(live, "luzhou-vc1"), name="", agency_type=AgencyType.village_committee, region_code="x"
    )
    now = datetime.now(UTC)
    step2 = StepState(track="main", step="joint_persuasion", seq=2, opened_at=now, base=now, holder=vc1)
    event = EventRecord(case_no=case_no, seq=2, at=now, kind="action", set_steps=[step2])
    again = await CaseActivities(live.db.sf).record_with_step(
        EventWithStep(event=event, track="main", inputs=StepInputsRequest(agencies=[vc1]))
    )
    assert again.written and again.inputs is not None
    async with live.db.sf() as s:
        kept = (await s.execute(select(CaseStep).where(CaseStep.case_id == case.id))).scalar_one()
        assert (kept.holder_agency_id, kept.due_at) == (step.holder_agency_id, step.due_at)
        assert (await s.execute(select(func.count()).where(TimelineEvent.case_id == case.id))).scalar_one() == 2
