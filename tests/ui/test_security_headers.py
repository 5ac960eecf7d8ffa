"""Every page and API answer carries the browser's security headers, and no page needs what the
Content-Security-Policy forbids (inline scripts, inline styles, event attributes). Real PostgreSQL,
Temporal and the web app."""

from __future__ import annotations

import re

import httpx

from tests.api.test_cases_api import auth
from tests.conftest import Live, make_token
from tests.ui.test_dropout_pages import start_by_service
from tests.ui.test_pages import browser, csrf_of

INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=", re.I)


def assert_headers(r: httpx.Response) -> None:
    assert r.headers["x-frame-options"] == "DENY", r.url
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    if r.url.path != "/api/docs":
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp


async def test_pages_carry_the_headers_and_need_no_inline_script(live: Live) -> None:
    case_no = await start_by_service(live, "luzhou-school1", "王小明")
    async with browser(live) as anon:
        for url in ("/login", "/static/style.css", "/static/app.js", "/no-such-page"):
            assert_headers(await anon.get(url))
        assert (await anon.get("/static/app.js")).status_code == 200
    pages = {
        "luzhou-edu-sup": ["/inbox", "/cases", f"/cases/{case_no}", "/reports/dropout_return", "/supervision"],
        "luzhou-school1": ["/inbox", "/cases/new", "/notifications", "/account", f"/cases/{case_no}"],
        "admin": ["/admin", "/admin/users", "/admin/agencies"],
    }
    for username, urls in pages.items():
        async with browser(live, username) as http:
            for url in urls:
                r = await http.get(url)
                assert r.status_code == 200, (username, url)
                assert_headers(r)
                assert not INLINE.findall(r.text), (url, INLINE.findall(r.text))
                assert '<script src="/static/app.js" defer></script>' in r.text


async def test_api_answers_carry_the_headers(live: Live) -> None:
    assert_headers(await live.http.get("/api/v1/me"))  # a refusal too
    token = await make_token(live.db, "luzhou-vc1")
    assert_headers(await live.http.get("/api/v1/me", headers=auth(token)))
    assert_headers(await live.http.get("/api/docs"))


async def test_a_non_party_page_user_gets_the_same_404_for_an_existing_case(live: Live) -> None:
    case_no = await start_by_service(live, "luzhou-school1", "王小明")
    forms = [
        ("act", {"action": "no_such_action"}),
        ("act", {"action": "record_contact", "step": "school_contact", "step_seq": "1"}),
        ("supervise", {"kind": "extend", "step": "school_contact", "extend_amount": "99999", "extend_unit": "WD"}),
        ("supervise", {"kind": "urge", "step": "school_contact", "reason": "快"}),
    ]
    for username in ("luzhou-court", "shangdang-school1", "luzhou-police", "shangdang-edu-sup"):
        async with browser(live, username) as http:
            csrf = csrf_of((await http.get("/account")).text)
            for path, values in forms:
                answers = []
                for no in (case_no, "KC-2026-140403-99999"):
                    r = await http.post(f"/cases/{no}/{path}", data={"csrf": csrf, **values})
                    answers.append(r.status_code)
                assert answers == [404, 404], (username, path, values, answers)
            assert (await http.get(f"/cases/{case_no}")).status_code == 404
