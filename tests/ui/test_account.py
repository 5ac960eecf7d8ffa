"""The door: repeated wrong passwords lock an account for a while (without telling strangers which names
exist), and a person changes their own password, which ends their other sessions. Real PostgreSQL and
the web app (the `live` fixture)."""

from __future__ import annotations

import base64
import json
import re

import httpx
from sqlalchemy import text

from tests.conftest import Live
from tests.ui.test_pages import browser, csrf_of, form, submit


async def try_login(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    page = await http.get("/login")
    return await http.post(
        "/login", data={"csrf": csrf_of(page.text), "username": username, "password": password, "next": "/inbox"}
    )


async def audit_actions(live: Live, username: str) -> list[tuple[str, str]]:
    async with live.db.engine.begin() as conn:
        rows = await conn.execute(
            text(
                "SELECT a.action, a.detail FROM audit_log a JOIN users u ON u.id = a.user_id "
                "WHERE u.username = :u ORDER BY a.id"
            ),
            {"u": username},
        )
        return [(r[0], r[1]) for r in rows]


async def test_five_wrong_passwords_lock_the_account_for_a_while(live: Live) -> None:
    async with browser(live) as http:
        for n in range(1, 5):
            r = await try_login(http, "luzhou-wf", f"wrong-{n}")
            assert r.status_code == 401 and "用户名或密码错误" in r.text
        assert (await try_login(http, "luzhou-wf", "demo1234")).status_code == 303  # 4 wrong, then right: in
        for n in range(1, 6):
            r = await try_login(http, "luzhou-wf", f"wrong-{n}")
            assert r.status_code == 401 and "锁定" not in r.text  # the fifth sets the lock, says nothing more
        r = await try_login(http, "luzhou-wf", "demo1234")  # even the right password now
        assert r.status_code == 429 and "连续输错密码次数过多，账号已暂时锁定" in r.text
        # Strangers learn nothing: an unknown name is never "locked".
        for n in range(7):
            r = await try_login(http, "no-such-user", f"x{n}")
            assert r.status_code == 401 and "锁定" not in r.text

    actions = await audit_actions(live, "luzhou-wf")
    assert [a for a, _ in actions] == ["login_failed"] * 4 + ["login"] + ["login_failed"] * 5 + ["login_locked"]
    assert actions[3][1] == "4 in a row" and actions[9][1] == "5 in a row; locked for 15 min"
    assert all("wrong" not in d and "demo" not in d for _, d in actions)  # never a password in the log

    async with live.db.engine.begin() as conn:  # the lock runs out
        await conn.execute(
            text("UPDATE users SET locked_until = now() - interval '1 second' WHERE username = 'luzhou-wf'")
        )
    async with browser(live) as http:
        assert (await try_login(http, "luzhou-wf", "demo1234")).status_code == 303
    async with live.db.engine.begin() as conn:
        left = (await conn.execute(text("SELECT failed_logins FROM users WHERE username = 'luzhou-wf'"))).scalar_one()
    assert left == 0


async def test_changing_ones_password_ends_the_other_sessions(live: Live) -> None:
    async with browser(live, "luzhou-police") as other, browser(live, "luzhou-police") as http:
        page = await http.get("/account")
        assert page.status_code == 200 and "潞州区公安局" in page.text and 'href="/account"' in page.text
        change = form(page.text, action="/account/password")
        for values, status, words, field in [
            ({"current": "nope", "new": "Safer2026", "confirm": "Safer2026"}, 422, "当前密码不正确", "current"),
            ({"current": "demo1234", "new": "short1", "confirm": "short1"}, 422, "至少8位", "new"),
            ({"current": "demo1234", "new": "onlyletters", "confirm": "onlyletters"}, 422, "字母和数字", "new"),
            ({"current": "demo1234", "new": "Safer2026", "confirm": "Safer2027"}, 422, "两次输入", "confirm"),
        ]:
            r = await submit(http, change, **values)
            assert r.status_code == status and words in r.text, values
            marked = re.findall(r'class="field has-error">\s*<label for="(\w+)"', r.text)
            assert marked == [field], (values, marked)  # the reason sits by the field it is about
        async with browser(live) as fresh:
            assert (await try_login(fresh, "luzhou-police", "demo1234")).status_code == 303  # unchanged so far

        r = await submit(http, change, current="demo1234", new="Safer2026", confirm="Safer2026")
        assert r.status_code == 303 and r.headers["location"] == "/account"
        assert "密码已修改" in (await http.get("/account")).text  # this session goes on
        assert (await http.get("/inbox")).status_code == 200
        gone = await other.get("/inbox")  # the other one has ended
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login")

    async with browser(live) as http:
        assert (await try_login(http, "luzhou-police", "demo1234")).status_code == 401
        assert (await try_login(http, "luzhou-police", "Safer2026")).status_code == 303
    assert "password_change" in [a for a, _ in await audit_actions(live, "luzhou-police")]


async def test_logging_out_ends_the_session_on_the_server(live: Live) -> None:
    """A cookie copied before logging out (a shared computer, a stolen cookie) no longer opens a page, and
    the cookie carries nothing of the password hash."""
    async with browser(live, "luzhou-police") as http:
        page = await http.get("/inbox")
        assert page.status_code == 200
        copied = dict(http.cookies)
        async with live.db.engine.begin() as conn:
            stored = (
                await conn.execute(text("SELECT password_hash FROM users WHERE username = 'luzhou-police'"))
            ).scalar_one()
        payload = copied["referrals_session"].split(".")[0]
        session = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
        assert not any(isinstance(v, str) and (v in stored or stored[-16:] in v) for v in session.values()), session
        r = await submit(http, form(page.text, action="/logout"))
        assert r.status_code == 303 and r.headers["location"] == "/login"
    async with browser(live) as thief:
        thief.cookies.update(copied)
        r = await thief.get("/inbox")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
    async with browser(live, "luzhou-police"):  # a new login; the ended one is gone from the table
        async with live.db.engine.begin() as conn:
            kept = await conn.execute(
                text(
                    "SELECT count(*), count(revoked_at) FROM login_sessions s JOIN users u ON u.id = s.user_id "
                    "WHERE u.username = 'luzhou-police'"
                )
            )
            assert tuple(kept.one()) == (1, 0)


async def test_switching_an_account_off_ends_its_sessions_for_good(live: Live) -> None:
    """Switched off and on again by the admin, the account's earlier logins stay ended."""
    async with browser(live, "luzhou-police") as http:
        assert (await http.get("/inbox")).status_code == 200
        copied = dict(http.cookies)
    async with live.db.engine.begin() as conn:
        uid = (await conn.execute(text("SELECT id FROM users WHERE username = 'luzhou-police'"))).scalar_one()
    async with browser(live, "admin") as admin:
        for value in ("0", "1"):
            page = await admin.get(f"/admin/users/{uid}")
            r = await submit(admin, form(page.text, action=f"/admin/users/{uid}/active"), active=value)
            assert r.status_code == 303, r.text
    async with browser(live) as thief:
        thief.cookies.update(copied)
        r = await thief.get("/inbox")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
    async with browser(live, "luzhou-police") as http:  # the password still opens a new one
        assert (await http.get("/inbox")).status_code == 200
