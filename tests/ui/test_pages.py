"""The Chinese pages, driven like a browser: log in with the form, post the forms the pages render
(with their hidden fields and CSRF token), follow the redirects. Real PostgreSQL, Temporal dev server
and worker (the `live` fixture)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from xml.etree import ElementTree

import httpx
import pytest
from sqlalchemy import func, select, text

from api.cases import service
from db.models import Child
from tests import support
from tests.conftest import Live

# ---------------------------------------------------------------------------- a tiny browser


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    container: str | None = None  # id of the nearest element with an id around the form


class FormParser(HTMLParser):
    """Collects every form: its action and the values a browser would send without changes (hidden and
    filled inputs, checked boxes and radios, selected options, textareas)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._ids: list[str | None] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in ("details", "section", "article", "div"):
            self._ids.append(a.get("id"))
        if tag == "form":
            container = next((i for i in reversed(self._ids) if i), None)
            self._form = Form(a.get("action", ""), a.get("method", "get").lower(), container=container)
            self.forms.append(self._form)
        if self._form is None:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._form.fields[name] = a.get("value") or "on"
            elif kind != "submit":
                self._form.fields.setdefault(name, a.get("value", ""))
        elif tag == "select" and name:
            self._select = name
            self._form.fields.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in a:
            self._form.fields[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self._form.fields[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("details", "section", "article", "div") and self._ids:
            self._ids.pop()
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea:
            self._form.fields[self._textarea] += data


def forms_of(html: str) -> list[Form]:
    parser = FormParser()
    parser.feed(html)
    return parser.forms


def form(html: str, *, action: str | None = None, container: str | None = None) -> Form:
    found = [
        f
        for f in forms_of(html)
        if (action is None or f.action == action) and (container is None or f.container == container)
    ]
    assert found, f"no form action={action} container={container}"
    return found[0]


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@asynccontextmanager
async def browser(live: Live, username: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A client with its own cookies, logged in as `username` through the login form."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=live.app), base_url="http://testserver") as http:
        if username:
            page = await http.get("/login")
            r = await http.post(
                "/login", data={"csrf": csrf_of(page.text), "username": username, "password": "demo1234", "next": "/"}
            )
            assert r.status_code == 303, r.text
        yield http


async def submit(http: httpx.AsyncClient, f: Form, **values: str) -> httpx.Response:
    return await http.post(f.action, data={**f.fields, **values})


def location(r: httpx.Response) -> str:
    assert r.status_code == 303, (r.status_code, r.text[:2000])
    return r.headers["location"]


def current_steps(html: str) -> set[str]:
    svg = re.search(r"<svg.*?</svg>", html, re.S)
    assert svg, "no process diagram"
    root = ElementTree.fromstring(svg.group(0))
    return {
        g.get("data-step")
        for g in root.iter("{http://www.w3.org/2000/svg}g")
        if "current" in (g.get("class") or "").split()
    }


# ---------------------------------------------------------------------------- the tests


async def test_login_and_front_door(live: Live) -> None:
    async with browser(live) as http:
        r = await http.get("/inbox")
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/inbox"
        page = await http.get("/login?next=/inbox")
        assert "长治市流动儿童关爱保护转介系统" in page.text
        token = csrf_of(page.text)
        wrong = await http.post("/login", data={"csrf": token, "username": "luzhou-vc1", "password": "nope"})
        assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
        no_csrf = await http.post("/login", data={"username": "luzhou-vc1", "password": "demo1234"})
        assert no_csrf.status_code == 403 and "页面已过期，请刷新后重新提交" in no_csrf.text
        offsite = await http.post(
            "/login", data={"csrf": token, "username": "luzhou-vc1", "password": "demo1234", "next": "//evil.example/x"}
        )
        assert location(offsite) == "/"
        assert location(await http.get("/")) == "/inbox"
        inbox = await http.get("/inbox")
        assert inbox.status_code == 200 and "我的待办" in inbox.text and "经办人" in inbox.text
        assert "逾期与停滞" not in inbox.text and "系统设置" not in inbox.text
        assert (await http.get("/supervision")).status_code == 403
        assert (await http.get("/admin")).status_code == 403
        out = await http.post("/logout", data={"csrf": csrf_of(inbox.text)})
        assert location(out) == "/login"
        assert (await http.get("/inbox")).status_code == 303

    async with browser(live, "admin") as http:
        assert location(await http.get("/")) == "/admin"
        admin = await http.get("/admin")
        assert admin.status_code == 200
        assert "法定节假日安排" in admin.text and "guardianship.admonition" in admin.text and "管理员" in admin.text
        bad = await submit(http, form(admin.text, action="/admin/policy"), key="guardianship.admonition", value="5x")
        assert bad.status_code == 422 and "期限格式不正确" in bad.text
        ok = await submit(
            http,
            form(admin.text, action="/admin/policy"),
            key="guardianship.admonition",
            region_code="140403",
            value="5WD",
        )
        assert location(ok) == "/admin"
        assert "guardianship.admonition" in (await http.get("/admin")).text

    async with browser(live, "luzhou-police-sup") as http:
        page = await http.get("/supervision")
        assert page.status_code == 200 and "逾期与停滞" in page.text and "督导" in page.text
        assert "显示所有逾期" in page.text


@pytest.fixture
async def visits_any_day(live: Live) -> AsyncIterator[None]:
    async with support.visits_any_day(live.db):
        yield


async def test_admin_sets_a_policy_in_calendar_months(live: Live) -> None:
    """A county's value in months is accepted and shown in Chinese; a date rule, a lower-case "m" or a
    month on a count are refused with the reason. (Effective in 2099, so no other test's case sees it.)"""
    async with browser(live, "admin") as http:
        admin = await http.get("/admin")
        assert "3M（月，大写M）" in admin.text and "1M@start（次月1日起）" in admin.text
        policy = {"key": "guardianship.monitoring_final", "region_code": "140431", "effective_from": "2099-01-01"}
        for value, says in [
            ("1M@start", "该设置应填写期限（工作日、天、小时、月或年，如 15WD、30d、24h、3M、1y）"),
            ("3m", "月份请用大写 M（如 3M）：“3m”"),
        ]:
            bad = await submit(http, form(admin.text, action="/admin/policy"), **policy, value=value)
            assert bad.status_code == 422 and says in bad.text, value
        bad = await submit(
            http,
            form(admin.text, action="/admin/policy"),
            **{**policy, "key": "guardianship.guidance_sessions"},
            value="3M",
        )
        assert bad.status_code == 422 and "该设置应填写次数（如 3count）" in bad.text
        ok = await submit(http, form(admin.text, action="/admin/policy"), **policy, value="3M")
        assert location(ok) == "/admin"
        page = (await http.get("/admin")).text
        row = re.search(r"<tr><td class=\"mono\">guardianship.monitoring_final</td>.*?</tr>", page)
        assert row and "3M" in row.group(0) and "3个月" in row.group(0) and "沁源县" in row.group(0)


async def test_register_child_refuses_a_wrong_check_character(live: Live) -> None:
    async with live.db.sf() as s:
        before = (await s.execute(select(func.count()).select_from(Child))).scalar_one()
    async with browser(live, "luzhou-vc1") as http:
        page = await http.get("/children/new")
        assert page.status_code == 200 and "登记儿童" in page.text
        f = form(page.text, action="/children/new")
        r = await submit(
            http,
            f,
            **{
                "name": "测试儿童",
                "id_number": "410721201503120011",
                "guardians.0.name": "测试家长",
                "guardians.0.relation": "父亲",
            },
        )
        assert r.status_code == 422 and "校验位" in r.text
        assert 'value="测试儿童"' in r.text  # what was typed is kept
        # A right number registers the child and leads to the start form.
        first17 = "41072120150312003"
        from domain.idnumber import check_character

        ok = await submit(
            http,
            f,
            **{
                "name": "测试儿童",
                "id_number": first17 + check_character(first17),
                "guardians.0.name": "测试家长",
                "guardians.0.relation": "父亲",
            },
        )
        target = location(ok)
        assert target.startswith("/cases/new?child_id=")
        start = await http.get(target)
        assert "测试儿童" in start.text and "立案信息" in start.text
    async with live.db.sf() as s:
        assert (await s.execute(select(func.count()).select_from(Child))).scalar_one() == before + 1


async def _unavailable(client: object, case_no: str) -> None:
    return None


async def test_a_guardianship_case_through_the_pages(
    live: Live, monkeypatch: pytest.MonkeyPatch, visits_any_day: None
) -> None:
    async with browser(live, "luzhou-vc1") as clerk:
        # find the child and open the start form
        search = await clerk.get("/cases/new")
        found = await submit(clerk, form(search.text, action="/cases/new"), q="王小明")
        assert found.status_code == 200 and "王小明" in found.text
        link = re.search(r'href="(/cases/new\?child_id=\d+(?:&amp;process=\w+)?)"', found.text)
        assert link
        start_page = await clerk.get(link.group(1).replace("&amp;", "&"))
        start_form = form(start_page.text, action="/cases")
        assert start_form.fields["start_step"] == "admonition"
        filled = {"facts": "监护人长期外出打工，儿童独自在家", "occurred_on": support.today_iso()}

        # a missing required field is refused next to the field, with the values kept
        missing = await submit(clerk, start_form, occurred_on=support.today_iso())
        assert missing.status_code == 422 and "请填写“监护人失职的情况”" in missing.text

        # start it; the same form submitted twice makes one case
        case_url = location(await submit(clerk, start_form, **filled))
        assert location(await submit(clerk, start_form, **filled)) == case_url
        case_no = case_url.rsplit("/", 1)[1]
        page = await clerk.get(case_url)
        assert page.status_code == 200
        assert current_steps(page.text) == {"admonition"}
        assert 'aria-current="step"' in page.text
        assert "潞州区东街街道城北社区居民委员会" in page.text  # the holder
        assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", page.text)  # the due date
        assert "剩余" in page.text and "立案" in page.text and "已立案" in page.text

        # record the admonition through its form
        act = form(page.text, container="act-admonition-record_admonition")
        assert act.fields["done_on"] == support.today_iso()
        done = await submit(clerk, act, content="已上门劝诫，监护人表示改正")
        assert location(done) == case_url
        page = await clerk.get(case_url)
        assert "已提交：记录劝诫" in page.text
        assert current_steps(page.text) == {"admonition_followup"} and "劝诫后回访" in page.text
        events = len(await support.timeline(live.db, case_no))

        # the same form posted twice (a double click): the second gets the first one's answer, no new event
        assert location(await submit(clerk, act, content="已上门劝诫，监护人表示改正")) == case_url
        assert len(await support.timeline(live.db, case_no)) == events
        # the old form again from another tab (same step_seq): refused as stale, nothing added
        stale = await submit(clerk, act, content="再次提交", request_id="second-tab-0001")
        assert stale.status_code == 409 and "请刷新页面" in stale.text and "未能提交" in stale.text
        # a form without the CSRF token: refused, nothing changed
        report = form(page.text, container="act-admonition_followup-not_improved")
        no_csrf = await clerk.post(
            report.action, data={k: v for k, v in report.fields.items() if k != "csrf"} | {"note": "仍未改正"}
        )
        assert no_csrf.status_code == 403 and "页面已过期，请刷新后重新提交" in no_csrf.text
        assert len(await support.timeline(live.db, case_no)) == events

        # without the workflow's live state the page shows the last recorded steps and no forms
        monkeypatch.setattr(service, "live_state", _unavailable)
        offline = await clerk.get(case_url)
        assert "实时状态暂不可用，暂不能办理" in offline.text and "劝诫后回访" in offline.text
        assert "/act" not in offline.text
        monkeypatch.undo()

        # another county's clerk cannot see the case
        async with browser(live, "shangdang-vc1") as other:
            assert (await other.get(case_url)).status_code == 404

        # not improved: reported to the police
        assert location(await submit(clerk, report, note="监护人仍未改正")) == case_url

    # the projection says the police are late (as the escalation timers would record): the county
    # supervisor's list shows it, and the police's inbox shows it in red
    async with live.db.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE case_steps SET escalation_level = 2, due_at = now() - interval '3 hours 10 minutes' "
                "WHERE case_id = (SELECT id FROM cases WHERE case_no = :no)"
            ),
            {"no": case_no},
        )
    async with browser(live, "luzhou-police-sup") as sup:
        listed = await sup.get("/supervision")
        assert case_no in listed.text and "逾期（2级）" in listed.text and "3小时" in listed.text
        page = await sup.get(case_url)
        extend = form(page.text, container="sup-police_report-extend")
        bad = await submit(sup, extend, reason="需补充调查", extend_amount="5x", extend_unit="d")
        assert bad.status_code == 422 and "延长的时长应为不超过6位的正整数" in bad.text
        urge = form(page.text, container="sup-police_report-urge")
        assert location(await submit(sup, urge, reason="请尽快受理")) == case_url
        page = await sup.get(case_url)
        assert "已提交：督办" in page.text and "请尽快受理" in page.text

    async with browser(live, "luzhou-police") as police:
        inbox = await police.get("/inbox")
        assert case_no in inbox.text and "报告公安机关" in inbox.text
        assert "已逾期3小时" in inbox.text and "逾期2级" in inbox.text
        page = await police.get(case_url)
        assert current_steps(page.text) == {"police_report"}
        assert location(await submit(police, form(page.text, container="act-police_report-accept"))) == case_url
        page = await police.get(case_url)
        decide = form(page.text, container="act-police_decision-decide_reprimand")
        assert location(await submit(police, decide, decision="reprimand", note="调查属实")) == case_url
        page = await police.get(case_url)
        issue = form(page.text, container="act-reprimand-issue_reprimand")
        assert location(await submit(police, issue, content="监护人长期不履行监护职责，予以训诫")) == case_url
        page = await police.get(case_url)
        assert current_steps(page.text) == {"monitoring"}
        assert "act-monitoring-record_visit" not in page.text  # the committee's step now
        doc = re.search(rf'href="(/cases/{case_no}/documents/\d+)">训诫书', page.text)
        assert doc
        printed = await police.get(doc.group(1))
        assert printed.status_code == 200 and "训诫书" in printed.text and "予以训诫" in printed.text
        assert "王小明" in printed.text and "@page" not in printed.text

    async with browser(live, "shangdang-vc1") as other:
        assert (await other.get(doc.group(1))).status_code == 404

    # a step that opens again (a visit with concerns) refuses a form shown for its earlier opening
    async with browser(live, "luzhou-vc1") as clerk:
        page = await clerk.get(case_url)
        visit = form(page.text, container="act-monitoring-record_visit")
        assert location(await submit(clerk, visit, finding="concern", note="仍需关注")) == case_url
        events = len(await support.timeline(live.db, case_no))
        stale = await submit(clerk, visit, finding="clean", request_id="second-tab-0002")
        assert stale.status_code == 409 and "该环节已有新的办理记录，请刷新页面后再操作" in stale.text
        assert len(await support.timeline(live.db, case_no)) == events
