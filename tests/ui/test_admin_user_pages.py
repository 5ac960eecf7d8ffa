"""用户管理 through the pages, driven like a browser: the admin creates a clerk with the 新增用户 form, finds
them in the list, switches the account off (the clerk's open session ends and the login is refused),
resets a password; refused forms keep what was typed and say why next to the field."""

from __future__ import annotations

import re

from sqlalchemy import select

from db.models import Agency, User
from tests.api.test_admin_users import page_login
from tests.conftest import Live
from tests.ui.test_pages import browser, csrf_of, form, location, submit

PASSWORD = "Qinyuan2026a"


async def ids(live: Live, model: type, column: object, value: str) -> int:
    async with live.db.sf() as s:
        return (await s.execute(select(model.id).where(column == value))).scalar_one()  # type: ignore[attr-defined]


async def test_create_find_and_switch_off_a_user(live: Live) -> None:
    vc2 = await ids(live, Agency, Agency.code, "luzhou-vc2")
    async with browser(live, "admin") as admin:
        settings = await admin.get("/admin")
        assert 'href="/admin/users"' in settings.text and "用户管理" in settings.text
        page = await admin.get("/admin/users")
        assert page.status_code == 200 and "新增用户" in page.text and "luzhou-vc1-director" in page.text
        created = await submit(
            admin,
            form(page.text, action="/admin/users"),
            username="luzhou-vc2-zhao",
            display_name="赵敏",
            title="儿童主任",
            agency_id=str(vc2),
            role="operator",
            password=PASSWORD,
            confirm=PASSWORD,
        )
        user_url = location(created)
        assert re.fullmatch(r"/admin/users/\d+", user_url)
        shown = await admin.get(user_url)
        assert "已新增用户 luzhou-vc2-zhao" in shown.text and "潞州区西街街道南庄村民委员会" in shown.text
        assert "儿童主任" in shown.text and "启用" in shown.text and "scrypt" not in shown.text

        listed = await admin.get("/admin/users", params={"q": "zhao", "region_code": "140403", "active": "1"})
        assert "luzhou-vc2-zhao" in listed.text and "赵敏" in listed.text and "luzhou-vc1-director" not in listed.text

        async with page_login(live, "luzhou-vc2-zhao", PASSWORD) as (clerk, login):
            assert location(login) == "/inbox"
            assert (await clerk.get("/inbox")).status_code == 200

            off = await submit(admin, form(shown.text, container="status"))
            assert location(off) == user_url
            after = await admin.get(user_url)
            assert "已停用 luzhou-vc2-zhao" in after.text and "已停用" in after.text
            assert form(after.text, container="status").fields["active"] == "1"  # now offers 启用

            # The clerk's open session ends at the next page.
            assert location(await clerk.get("/inbox")) == "/login?next=/inbox"
        async with page_login(live, "luzhou-vc2-zhao", PASSWORD) as (_, refused):
            assert refused.status_code == 401 and "用户名或密码错误" in refused.text

        stopped = await admin.get("/admin/users", params={"active": "0"})
        assert "luzhou-vc2-zhao" in stopped.text and ">luzhou-vc1</a>" not in stopped.text


async def test_a_refused_create_keeps_what_was_typed(live: Live) -> None:
    vc1 = await ids(live, Agency, Agency.code, "luzhou-vc1")
    async with browser(live, "admin") as admin:
        f = form((await admin.get("/admin/users")).text, action="/admin/users")
        typed = {
            "username": "luzhou-vc1",
            "display_name": "钱多多",
            "title": "委员",
            "agency_id": str(vc1),
            "role": "supervisor",
            "password": PASSWORD,
            "confirm": PASSWORD,
        }
        taken = await submit(admin, f, **typed)
        assert taken.status_code == 409
        assert "用户名“luzhou-vc1”已被使用" in taken.text
        assert '<details class="action" id="new-user" open>' in taken.text
        again = form(taken.text, action="/admin/users")
        assert {k: again.fields[k] for k in ("username", "display_name", "title", "agency_id", "role")} == {
            k: typed[k] for k in ("username", "display_name", "title", "agency_id", "role")
        }
        assert again.fields["password"] == "" and PASSWORD not in taken.text  # never sent back
        # The reason stands next to its field.
        assert re.search(r'has-error">\s*<label for="f-username">', taken.text)

        weak = await submit(admin, f, **{**typed, "username": "luzhou-vc1-qian", "password": "qian", "confirm": "qian"})
        assert weak.status_code == 422 and "密码至少8位，且须同时包含字母和数字" in weak.text
        assert re.search(r'has-error">\s*<label for="f-password">', weak.text)
        mismatch = await submit(admin, f, **{**typed, "username": "luzhou-vc1-qian", "confirm": PASSWORD + "x"})
        assert mismatch.status_code == 422 and "两次输入的密码不一致" in mismatch.text
        no_agency = await submit(admin, f, **{**typed, "username": "luzhou-vc1-qian", "agency_id": ""})
        assert no_agency.status_code == 422 and "请选择所属单位" in no_agency.text
        admin_elsewhere = await submit(admin, f, **{**typed, "username": "luzhou-vc1-qian", "role": "admin"})
        assert admin_elsewhere.status_code == 422 and "管理员账号只能设在长治市民政局" in admin_elsewhere.text
    async with live.db.sf() as s:
        assert (await s.execute(select(User).where(User.username == "luzhou-vc1-qian"))).first() is None


async def test_edit_reset_password_and_an_admins_own_account(live: Live) -> None:
    clerk_id = await ids(live, User, User.username, "luzhou-vc1")
    own_id = await ids(live, User, User.username, "admin")
    async with browser(live, "admin") as admin, browser(live, "luzhou-vc1") as clerk:
        url = f"/admin/users/{clerk_id}"
        page = await admin.get(url)
        saved = await submit(admin, form(page.text, container="edit"), display_name="孙晓", title="儿童主任")
        assert location(saved) == url
        page = await admin.get(url)
        assert "已保存" in page.text and "孙晓" in page.text and "儿童主任" in page.text

        short = await submit(admin, form(page.text, container="password"), password="abc", confirm="abc")
        assert short.status_code == 422 and "密码至少8位" in short.text
        reset = await submit(admin, form(page.text, container="password"), password=PASSWORD, confirm=PASSWORD)
        assert location(reset) == url
        assert "已重置 luzhou-vc1 的密码" in (await admin.get(url)).text
        # The clerk's session ended; the new password lets them in.
        assert location(await clerk.get("/inbox")) == "/login?next=/inbox"
        async with page_login(live, "luzhou-vc1", PASSWORD) as (_, login):
            assert location(login) == "/inbox"

        # An admin's own page offers no 停用, and refuses giving up the admin role, keeping what was typed.
        mine = await admin.get(f"/admin/users/{own_id}")
        assert "这是您本人的账号，不能停用" in mine.text
        demoted = await submit(admin, form(mine.text, container="edit"), display_name="管理员甲", role="supervisor")
        assert demoted.status_code == 422 and "不能取消自己的管理员角色" in demoted.text
        assert form(demoted.text, container="edit").fields["display_name"] == "管理员甲"
        # Resetting one's own password here keeps this session.
        reset = await submit(admin, form(mine.text, container="password"), password=PASSWORD, confirm=PASSWORD)
        assert location(reset) == f"/admin/users/{own_id}"
        assert (await admin.get("/admin/users")).status_code == 200

        # A POST-only address reached by GET (after logging in again) leads to the account's page.
        assert location(await admin.get(f"{url}/password")) == url


async def test_only_admins_see_user_administration(live: Live) -> None:
    async with browser(live, "luzhou-civil-sup") as sup:
        assert (await sup.get("/admin/users")).status_code == 403
        assert (await sup.get("/admin/users/1")).status_code == 403
        inbox = await sup.get("/inbox")
        r = await sup.post("/admin/users", data={"csrf": csrf_of(inbox.text), "username": "x-y-z"})
        assert r.status_code == 403 and "只有管理员" in r.text
    async with browser(live) as anonymous:
        assert location(await anonymous.get("/admin/users")) == "/login?next=/admin/users"
