"""User administration through /api/v1/admin/users on the real stack: a created user logs in and works; a
switched-off account loses its login, its open page sessions and its personal tokens at once; a password
reset ends the page sessions; an admin cannot lock the system out of its own administration."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from api.admin import users
from api.principal import load_principal
from db.models import Agency, AuditEntry, User
from domain.errors import DomainError
from tests.api.test_cases_api import auth, start_body
from tests.conftest import Live, make_token
from tests.ui.test_pages import browser, csrf_of

NEW_PASSWORD = "Chang2026zhi"


async def agency_id(live: Live, code: str) -> int:
    async with live.db.sf() as s:
        return (await s.execute(select(Agency.id).where(Agency.code == code))).scalar_one()


async def user_id(live: Live, username: str) -> int:
    async with live.db.sf() as s:
        return (await s.execute(select(User.id).where(User.username == username))).scalar_one()


async def audit_rows(live: Live, action_prefix: str = "user_") -> list[AuditEntry]:
    async with live.db.sf() as s:
        return list(
            (
                await s.execute(
                    select(AuditEntry).where(AuditEntry.action.startswith(action_prefix)).order_by(AuditEntry.id)
                )
            ).scalars()
        )


@asynccontextmanager
async def page_login(
    live: Live, username: str, password: str
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.Response]]:
    """A fresh browser that has posted the login form, and the answer to it."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=live.app), base_url="http://testserver") as http:
        page = await http.get("/login")
        r = await http.post(
            "/login", data={"csrf": csrf_of(page.text), "username": username, "password": password, "next": "/inbox"}
        )
        yield http, r


async def create(live: Live, token: str, **fields: object) -> httpx.Response:
    body = {
        "username": "luzhou-vc1-wang",
        "display_name": "王芳",
        "title": "儿童主任",
        "agency_id": await agency_id(live, "luzhou-vc1"),
        "role": "operator",
        "password": NEW_PASSWORD,
        **fields,
    }
    return await live.http.post("/api/v1/admin/users", json=body, headers=auth(token))


async def test_a_created_user_logs_in_and_works_in_their_agency(live: Live) -> None:
    admin = await make_token(live.db, "admin")
    r = await create(live, admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["username"] == "luzhou-vc1-wang" and created["is_active"] is True
    assert created["agency"]["code"] == "luzhou-vc1" and created["role"] == "operator"
    assert created["title"] == "儿童主任"
    assert "password" not in r.text and "scrypt" not in r.text

    # The page login with the initial password.
    async with page_login(live, "luzhou-vc1-wang", NEW_PASSWORD) as (http, login):
        assert login.status_code == 303, login.text
        inbox = await http.get("/inbox")
        assert inbox.status_code == 200 and "王芳" in inbox.text

    # A case the committee holds is in the new clerk's inbox (through a personal token).
    vc = await make_token(live.db, "luzhou-vc1")
    case_no = (await live.http.post("/api/v1/cases", json=await start_body(live), headers=auth(vc))).json()["case_no"]
    mine = await make_token(live.db, "luzhou-vc1-wang")
    me = (await live.http.get("/api/v1/me", headers=auth(mine))).json()
    assert me["display_name"] == "王芳" and me["agency"]["name"] == "潞州区东街街道城北社区居民委员会"
    items = (await live.http.get("/api/v1/inbox", headers=auth(mine))).json()["items"]
    assert case_no in [i["case_no"] for i in items]

    # It is listed, and its creation audited without the password.
    listed = await live.http.get("/api/v1/admin/users", params={"q": "wang"}, headers=auth(admin))
    assert [u["username"] for u in listed.json()["items"]] == ["luzhou-vc1-wang"]
    one = await live.http.get(f"/api/v1/admin/users/{created['id']}", headers=auth(admin))
    assert one.json()["username"] == "luzhou-vc1-wang" and "scrypt" not in one.text
    entries = await audit_rows(live)
    assert [e.action for e in entries] == ["user_create"]
    assert "luzhou-vc1-wang" in entries[0].detail and NEW_PASSWORD not in entries[0].detail
    assert entries[0].user_id == await user_id(live, "admin")


async def test_refused_creations_say_why_and_create_nothing(live: Live) -> None:
    admin = await make_token(live.db, "admin")
    async with live.db.sf() as s:
        before = (await s.execute(select(func.count()).select_from(User))).scalar_one()

    async def refused(status: int, code: str, field: str, **fields: object) -> str:
        r = await create(live, admin, **fields)
        assert r.status_code == status, r.text
        error = r.json()["error"]
        assert (error["code"], error["field"]) == (code, field), error
        return error["message"]

    assert "已被使用" in await refused(409, "username_taken", "username", username="luzhou-vc1")
    assert "小写字母" in await refused(422, "field_invalid", "username", username="Wang Fang")
    assert "小写字母" in await refused(422, "field_invalid", "username", username="wf")
    assert "字母和数字" in await refused(422, "weak_password", "password", password="abcdefgh")
    assert "字母和数字" in await refused(422, "weak_password", "password", password="12345678")
    assert "字母和数字" in await refused(422, "weak_password", "password", password="abc123")
    await refused(422, "weak_password", "password", username="abc12345", password="abc12345")
    assert "不存在" in await refused(422, "agency_unknown", "agency_id", agency_id=999999)
    assert "请选择所属单位" in await refused(422, "field_required", "agency_id", agency_id=None)
    assert "请填写姓名" in await refused(422, "field_required", "display_name", display_name="  ")
    await refused(422, "field_invalid", "role", role="superuser")
    # An administrator belongs to the city civil-affairs bureau, as the seeded `admin` does.
    assert "长治市民政局" in await refused(422, "field_invalid", "role", role="admin")
    async with live.db.sf() as s, s.begin():
        await s.execute(update(Agency).where(Agency.code == "luzhou-vc2").values(is_active=False))
    assert "已停用" in await refused(422, "agency_inactive", "agency_id", agency_id=await agency_id(live, "luzhou-vc2"))
    async with live.db.sf() as s:
        assert (await s.execute(select(func.count()).select_from(User))).scalar_one() == before
    assert await audit_rows(live) == []

    r = await create(live, admin, username="city-admin2", agency_id=await agency_id(live, "city-civil"), role="admin")
    assert r.status_code == 201, r.text


async def test_only_admins_manage_users(live: Live) -> None:
    target = await user_id(live, "luzhou-vc1")
    for username in ("luzhou-civil-sup", "luzhou-vc1", "city-civil-sup"):
        token = await make_token(live.db, username)
        calls = [
            live.http.get("/api/v1/admin/users", headers=auth(token)),
            live.http.get(f"/api/v1/admin/users/{target}", headers=auth(token)),
            create(live, token),
            live.http.patch(f"/api/v1/admin/users/{target}", json={"is_active": False}, headers=auth(token)),
            live.http.post(
                f"/api/v1/admin/users/{target}/password", json={"password": "x1234567"}, headers=auth(token)
            ),
        ]
        for call in calls:
            r = await call
            assert r.status_code == 403 and r.json()["error"]["code"] == "not_permitted", (username, r.text)
    integration = await make_token(live.db, agency_code="luzhou-school1")
    assert (await live.http.get("/api/v1/admin/users", headers=auth(integration))).status_code == 403
    async with live.db.sf() as s:
        assert (await s.get(User, target)).is_active


async def test_a_switched_off_account_loses_login_sessions_and_tokens(live: Live) -> None:
    admin = await make_token(live.db, "admin")
    police = await make_token(live.db, "luzhou-police")
    target = await user_id(live, "luzhou-police")
    async with browser(live, "luzhou-police") as page:
        assert (await page.get("/inbox")).status_code == 200
        assert (await live.http.get("/api/v1/me", headers=auth(police))).status_code == 200

        r = await live.http.patch(f"/api/v1/admin/users/{target}", json={"is_active": False}, headers=auth(admin))
        assert r.status_code == 200 and r.json()["is_active"] is False

        # The open page session ends at its next request, the personal token at once, and login is refused.
        gone = await page.get("/inbox")
        assert gone.status_code == 303 and gone.headers["location"] == "/login?next=/inbox"
        assert (await live.http.get("/api/v1/me", headers=auth(police))).status_code == 401
    async with page_login(live, "luzhou-police", "demo1234") as (_, login):
        assert login.status_code == 401 and "用户名或密码错误" in login.text
    listed = await live.http.get("/api/v1/admin/users", params={"active": "false"}, headers=auth(admin))
    assert [u["username"] for u in listed.json()["items"]] == ["luzhou-police"]

    # Switched on again: the same password works; the old token stays revoked, a new one works.
    r = await live.http.patch(f"/api/v1/admin/users/{target}", json={"is_active": True}, headers=auth(admin))
    assert r.status_code == 200 and r.json()["is_active"] is True
    assert (await live.http.get("/api/v1/me", headers=auth(police))).status_code == 401
    fresh = await make_token(live.db, "luzhou-police")
    assert (await live.http.get("/api/v1/me", headers=auth(fresh))).status_code == 200
    async with page_login(live, "luzhou-police", "demo1234") as (_, login):
        assert login.status_code == 303
    assert [(e.action, e.detail) for e in await audit_rows(live)] == [
        ("user_deactivate", f"user={target} luzhou-police"),
        ("user_reactivate", f"user={target} luzhou-police"),
    ]


async def test_a_password_reset_ends_page_sessions(live: Live) -> None:
    admin = await make_token(live.db, "admin")
    target = await user_id(live, "luzhou-wf")
    token = await make_token(live.db, "luzhou-wf")
    url = f"/api/v1/admin/users/{target}/password"
    weak = await live.http.post(url, json={"password": "short1"}, headers=auth(admin))
    assert weak.status_code == 422 and weak.json()["error"]["field"] == "password"

    async with browser(live, "luzhou-wf") as page:
        assert (await page.get("/inbox")).status_code == 200
        r = await live.http.post(url, json={"password": NEW_PASSWORD}, headers=auth(admin))
        assert r.status_code == 200, r.text
        assert r.json() == {"id": target, "username": "luzhou-wf", "password_reset": True}
        gone = await page.get("/inbox")
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login")

    async with page_login(live, "luzhou-wf", "demo1234") as (_, login):
        assert login.status_code == 401
    async with page_login(live, "luzhou-wf", NEW_PASSWORD) as (new, login):
        assert login.status_code == 303 and (await new.get("/inbox")).status_code == 200
    # The personal token goes with the old password: whoever had the account keeps nothing of it.
    assert (await live.http.get("/api/v1/me", headers=auth(token))).status_code == 401

    entries = await audit_rows(live)
    assert [(e.action, e.detail) for e in entries] == [
        ("user_password_reset", f"user={target} luzhou-wf; 1 tokens revoked")
    ]
    async with live.db.sf() as s:
        details = (await s.execute(select(AuditEntry.detail))).scalars().all()
    assert not any(NEW_PASSWORD in d for d in details)


async def test_a_password_reset_lifts_a_lock_from_wrong_guesses(live: Live) -> None:
    admin = await make_token(live.db, "admin")
    target = await user_id(live, "luzhou-court")
    async with live.db.sf() as s, s.begin():
        await s.execute(
            update(User)
            .where(User.id == target)
            .values(failed_logins=3, locked_until=datetime.now(UTC) + timedelta(minutes=15))
        )
    r = await live.http.post(
        f"/api/v1/admin/users/{target}/password", json={"password": NEW_PASSWORD}, headers=auth(admin)
    )
    assert r.status_code == 200, r.text
    async with page_login(live, "luzhou-court", NEW_PASSWORD) as (_, login):
        assert login.status_code == 303, login.text


async def test_role_name_and_title_change(live: Live) -> None:
    admin = await make_token(live.db, "admin")
    target = await user_id(live, "luzhou-vc1")
    url = f"/api/v1/admin/users/{target}"
    r = await live.http.patch(
        url, json={"role": "supervisor", "display_name": "李主任", "title": "儿童主任"}, headers=auth(admin)
    )
    assert r.status_code == 200, r.text
    assert (r.json()["role"], r.json()["display_name"], r.json()["title"]) == ("supervisor", "李主任", "儿童主任")
    me = (await live.http.get("/api/v1/me", headers=auth(await make_token(live.db, "luzhou-vc1")))).json()
    assert (me["role"], me["display_name"]) == ("supervisor", "李主任")
    cleared = await live.http.patch(url, json={"title": ""}, headers=auth(admin))
    assert cleared.json()["title"] is None and cleared.json()["role"] == "supervisor"
    wrong = await live.http.patch(url, json={"role": "admin"}, headers=auth(admin))
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "role"
    blank = await live.http.patch(url, json={"display_name": ""}, headers=auth(admin))
    assert blank.status_code == 422 and blank.json()["error"]["field"] == "display_name"
    missing = await live.http.patch("/api/v1/admin/users/999999", json={"title": "x"}, headers=auth(admin))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "user_not_found"
    assert [e.action for e in await audit_rows(live)] == ["user_role", "user_rename", "user_title", "user_title"]


async def test_an_admin_cannot_switch_off_or_demote_themselves_nor_the_last_admin(live: Live) -> None:
    admin = await make_token(live.db, "admin")
    me = await user_id(live, "admin")
    url = f"/api/v1/admin/users/{me}"
    for body, field in (({"is_active": False}, "is_active"), ({"role": "supervisor"}, "role")):
        r = await live.http.patch(url, json=body, headers=auth(admin))
        assert r.status_code == 422, r.text
        assert (r.json()["error"]["code"], r.json()["error"]["field"]) == ("own_account", field)

    # A second admin; each may switch the other off, but never the last active one. The last-admin rule
    # matters when two admins act at once: here the second admin's request was already under way.
    r = await create(live, admin, username="city-admin2", agency_id=await agency_id(live, "city-civil"), role="admin")
    second_id = r.json()["id"]
    async with live.db.sf() as s:
        second = await load_principal(s, "city-admin2", channel="api")
    assert second is not None
    r = await live.http.patch(f"/api/v1/admin/users/{second_id}", json={"is_active": False}, headers=auth(admin))
    assert r.status_code == 200
    for data, field in (
        (users.UserUpdateIn(is_active=False), "is_active"),
        (users.UserUpdateIn(role="operator"), "role"),
    ):
        async with live.db.sf() as s:
            with pytest.raises(DomainError) as refused:
                await users.update_user(session=s, principal=second, user_id=me, data=data)
        assert (refused.value.code, refused.value.field) == ("last_admin", field)
    async with live.db.sf() as s:
        row = await s.get(User, me)
        assert row is not None and row.is_active and row.role == "admin"


async def test_the_list_filters_and_pages(live: Live) -> None:
    admin = await make_token(live.db, "admin")

    async def listed(**params: object) -> dict:
        r = await live.http.get("/api/v1/admin/users", params=params, headers=auth(admin))
        assert r.status_code == 200, r.text
        assert "scrypt" not in r.text and "password" not in r.text
        return r.json()

    committees = await listed(region_code="140403", agency_type="village_committee")
    names = [u["username"] for u in committees["items"]]
    # By agency (county, then name), then username.
    assert names == [
        "luzhou-vc2",
        "luzhou-vc2-director",
        "luzhou-vc2-sup",
        "luzhou-vc1",
        "luzhou-vc1-director",
        "luzhou-vc1-sup",
    ] or names == [
        "luzhou-vc1",
        "luzhou-vc1-director",
        "luzhou-vc1-sup",
        "luzhou-vc2",
        "luzhou-vc2-director",
        "luzhou-vc2-sup",
    ]
    assert committees["total"] == 6
    vc1 = await agency_id(live, "luzhou-vc1")
    assert [u["username"] for u in (await listed(agency_id=vc1))["items"]] == [
        "luzhou-vc1",
        "luzhou-vc1-director",
        "luzhou-vc1-sup",
    ]
    assert [u["username"] for u in (await listed(q="ADMIN"))["items"]] == ["admin"]
    assert [u["username"] for u in (await listed(q="城北社区居民委员会儿童主任", region_code="140403"))["items"]] == [
        "luzhou-vc1-director"
    ]
    assert (await listed(q="%"))["total"] == 0  # wildcards are literal
    assert (await listed(active="false"))["total"] == 0
    everyone = await listed(per_page=200)
    second = await listed(per_page=7, page=2)
    assert second["total"] == everyone["total"] and second["page"] == 2
    assert [u["id"] for u in second["items"]] == [u["id"] for u in everyone["items"][7:14]]
