"""The pages in a real headless Chromium (playwright driving the Debian `chromium` package), as the users
click them: a guardianship case from the committee's admonition through the police, the women's
federation's guidance and the child director's visits to its close, and a dropout case from the school's
report through joint persuasion and the written order to the pupil's return. Each page is looked at on a
desktop (1280 px) and on a phone (390 x 844): screenshots are kept under var/screenshots/ (CI artefacts)
and the phone layout is checked as a child director would see it."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests import support
from tests.conftest import Live
from tests.ui.test_dropout_pages import absence, today

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "var" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")  # the Debian package (config/debian-packages.txt): nothing is downloaded
CHROMIUM_INSTALLED = CHROMIUM.exists()
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def base_url(live: Live) -> AsyncIterator[str]:
    """The live app (real PostgreSQL, Temporal dev server, worker) served over HTTP by uvicorn on the
    test's own event loop, where its database engine and Temporal client live."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(live.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    assert CHROMIUM_INSTALLED, "Debian chromium is missing: `make test` installs config/debian-packages.txt"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@dataclass
class User:
    """One person's browser window, logged in through the login page."""

    name: str
    page: Page
    context: BrowserContext
    base: str

    async def open(self, path: str) -> None:
        r = await self.page.goto(self.base + path)
        assert r is not None and r.status == 200, (path, r and r.status)

    async def act(self, step: str, action: str, **values: str) -> None:
        """Opens the action's form on the case page, fills it and submits it; back on the case page, the
        page says it was submitted."""
        box = self.page.locator(f"#act-{step}-{action}")
        await expect(box).to_have_count(1)
        if await box.get_attribute("open") is None:
            await box.locator("summary").click()
        await fill(box, values)
        async with self.page.expect_navigation():
            await box.locator("button[type=submit]").click()
        await expect(self.page.locator(".flash-ok")).to_contain_text("已提交")

    async def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def fill(scope, values: dict[str, str]) -> None:  # a Locator or a Page
    for field, value in values.items():
        el = scope.locator(f"[name={field}]").first
        tag = await el.evaluate("e => e.tagName + ':' + (e.type || '')")
        if tag.startswith("SELECT"):
            await el.select_option(value)
        elif tag.endswith(":checkbox"):
            await el.set_checked(value == "on")
        else:
            await el.fill(value)


async def login(browser: Browser, base: str, username: str, viewport: dict[str, int] = DESKTOP) -> User:
    phone = viewport == PHONE
    context = await browser.new_context(
        viewport=viewport, locale="zh-CN", is_mobile=phone, has_touch=phone, device_scale_factor=2 if phone else 1
    )
    context.set_default_timeout(15_000)
    page = await context.new_page()
    await page.goto(f"{base}/login")
    await page.fill("#username", username)
    await page.fill("#password", "demo1234")
    async with page.expect_navigation():
        await page.click("button[type=submit]")
    await expect(page.locator(".who-name")).to_be_visible()
    return User(username, page, context, base)


async def steps_now(page: Page) -> set[str]:
    """The steps the diagram marks current (what the user sees highlighted)."""
    return set(await page.locator("svg g.current[data-step]").evaluate_all("gs => gs.map(g => g.dataset.step)"))


async def timeline_text(page: Page) -> str:
    return await page.locator("table.timeline").inner_text()


async def phone_fits(user: User, name_text: str | None = None) -> dict[str, float]:
    """The phone layout a child director needs: a compact top bar (under 15% of the screen), nothing wider
    than the screen, and a child's name on one line (not one character per line)."""
    m = await user.page.evaluate(
        """() => ({
            bar: document.querySelector('.topbar').getBoundingClientRect().height,
            vh: window.innerHeight, vw: window.innerWidth,
            sw: document.scrollingElement.scrollWidth,
        })"""
    )
    assert m["bar"] < 0.15 * m["vh"], f"the top bar takes {m['bar']:.0f} of {m['vh']} px"
    assert m["sw"] <= m["vw"], f"the page is {m['sw']} px wide on a {m['vw']} px screen"
    if name_text:
        lines = await user.page.evaluate(
            """(name) => {
                const walker = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
                for (let n = walker.nextNode(); n; n = walker.nextNode()) {
                    const at = n.data.indexOf(name);
                    if (at < 0) continue;
                    const r = document.createRange();
                    r.setStart(n, at); r.setEnd(n, at + name.length);
                    const tops = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
                    return tops.size;
                }
                return -1;
            }""",
            name_text,
        )
        assert lines == 1, f"{name_text} is set on {lines} lines"
    return m


async def test_a_guardianship_case_through_chromium(base_url: str, chromium: Browser, live: Live) -> None:
    on = support.today_iso()
    async with support.visits_any_day(live.db):
        clerk = await login(chromium, base_url, "luzhou-vc1")
        # Find the child, open the start form, fill and send it.
        await clerk.open("/cases/new")
        await clerk.page.fill("#q", "李娜")
        async with clerk.page.expect_navigation():
            await clerk.page.get_by_role("button", name="查找").click()
        # A committee starts more than one process: it chooses guardianship intervention.
        await clerk.page.get_by_role("link", name="立案：监护干预").first.click()
        await expect(clerk.page.locator("form[action='/cases']")).to_be_visible()
        await fill(
            clerk.page.locator("form[action='/cases']"), {"facts": "父亲长期酗酒，儿童经常无人照料", "occurred_on": on}
        )
        async with clerk.page.expect_navigation():
            await clerk.page.get_by_role("button", name="立案", exact=True).click()
        case_url = clerk.page.url
        case_no = case_url.rsplit("/", 1)[1]
        assert re.fullmatch(r"JH-\d{4}-140403-\d{5,}", case_no), case_no
        assert await steps_now(clerk.page) == {"admonition"}
        await expect(clerk.page.locator("main")).to_contain_text("潞州区东街街道城北社区居民委员会")
        await clerk.shot("guardianship-1-opened-desktop")
        await clerk.act("admonition", "record_admonition", content="当面劝诫父亲戒酒并照料孩子")
        assert await steps_now(clerk.page) == {"admonition_followup"}
        await clerk.act("admonition_followup", "not_improved", note="父亲仍酗酒，儿童独自在家")
        assert await steps_now(clerk.page) == {"police_report"}

        police = await login(chromium, base_url, "luzhou-police")
        await police.open("/inbox")
        row = police.page.locator("table tbody tr", has_text=case_no)
        await expect(row).to_contain_text("报告公安机关")
        await expect(row).to_contain_text("李娜")
        await police.shot("guardianship-2-police-inbox-desktop")
        await row.get_by_role("link", name=case_no).click()
        await police.page.wait_for_url(case_url)
        await police.act("police_report", "accept", police_case_ref="潞公受字〔2026〕88号")
        await police.act(
            "police_decision", "decide_reprimand", decision="reprimand", family_education_order="on", note="调查属实"
        )
        await police.act("reprimand", "issue_reprimand", content="训诫监护人依法履行监护职责")
        assert await steps_now(police.page) == {"family_education_guidance"}
        doc = police.page.get_by_role("link", name="训诫书").first
        await expect(doc).to_be_visible()
        await doc.click()
        await expect(police.page.locator(".document")).to_contain_text("训诫监护人依法履行监护职责")
        await expect(police.page.locator(".document")).to_contain_text("李娜")
        await police.shot("guardianship-3-reprimand-document-desktop")

        wf = await login(chromium, base_url, "luzhou-wf")
        await wf.open(f"/cases/{case_no}")
        for n in range(3):
            await wf.act(
                "family_education_guidance",
                "record_session",
                content=f"第{n + 1}次家庭教育指导",
                guardian_attended="on",
            )
        assert await steps_now(wf.page) == {"monitoring"}

        # The child director works from a phone: the inbox lists the visit as a card, the case page fits.
        director = await login(chromium, base_url, "luzhou-vc1-director", PHONE)
        await director.open("/inbox")
        card = director.page.locator("table tbody tr", has_text=case_no)
        await expect(card).to_contain_text("跟踪回访")
        await phone_fits(director, "李娜")
        await director.shot("guardianship-4-director-inbox-phone")
        await director.open("/cases/new")  # the search for a child, full width
        await phone_fits(director)
        assert await director.page.locator("#q").evaluate("e => e.getBoundingClientRect().width / innerWidth") > 0.7
        await director.open("/cases")
        await expect(director.page.locator("table tbody tr", has_text=case_no)).to_contain_text("跟踪回访")
        await phone_fits(director, "李娜")
        await director.shot("guardianship-4-director-cases-phone")
        await director.open(f"/cases/{case_no}")
        await phone_fits(director)
        diagram = director.page.locator(".diagram-wrap")
        assert await diagram.evaluate("d => d.scrollWidth > d.clientWidth && getComputedStyle(d).overflowX === 'auto'")
        await director.shot("guardianship-5-case-phone")
        await director.act("monitoring", "record_visit", finding="clean", note="儿童状况良好")
        await director.act("monitoring", "record_visit", finding="clean", note="家庭稳定")
        assert await steps_now(director.page) == set()
        await expect(director.page.locator(".case-head")).to_contain_text("已解决")
        history = await timeline_text(director.page)
        for label in ("立案", "记录劝诫", "受理", "决定训诫", "制发训诫书", "记录一次指导", "记录回访", "结案"):
            assert label in history, label
        await phone_fits(director)
        await director.shot("guardianship-6-closed-phone")

        # The help page (使用说明), from the top bar: the director's own role first.
        await director.page.locator(".mainnav").get_by_role("link", name="使用说明").click()
        await director.page.wait_for_url("**/help")
        help_text = director.page.locator("main")
        await expect(help_text).to_contain_text("我的待办里有什么")
        await expect(help_text).to_contain_text("经办人不能自行延期或改派")
        levels = director.page.locator("table.help-levels tbody tr")
        await expect(levels).to_have_count(3)
        await expect(levels.nth(1)).to_contain_text("逾期未办，已报县级督导")
        await phone_fits(director)
        await director.shot("help-operator-phone")

        # Whoever opened the case hears how it closed: one line, the case number once.
        await clerk.open("/notifications")
        note = clerk.page.locator(".notes li", has_text="已结案").first
        await expect(note).to_be_visible()
        assert (await note.inner_text()).count(case_no) == 1
        await clerk.shot("guardianship-7-notifications-desktop")
        await clerk.page.set_viewport_size(PHONE)
        await phone_fits(clerk)
        await clerk.shot("guardianship-7-notifications-phone")
    row = await support.case_row(live.db, case_no)
    assert (row.status, row.outcome) == ("closed", "resolved")


async def test_a_dropout_case_through_chromium(base_url: str, chromium: Browser, live: Live) -> None:
    on = today().isoformat()
    school = await login(chromium, base_url, "luzhou-school1")
    await school.open("/cases/new")
    await school.page.fill("#q", "王小明")
    async with school.page.expect_navigation():
        await school.page.get_by_role("button", name="查找").click()
    await school.page.get_by_role("link", name="立案：劝返复学").first.click()
    start = school.page.locator("form[action='/cases']")
    await expect(school.page.locator("main")).to_contain_text("劝返复学 · 立案信息")
    await fill(start, {"class_name": "四年级二班", "known": "连续两周未到校，家长电话无人接听", **absence()})
    async with school.page.expect_navigation():
        await school.page.get_by_role("button", name="立案", exact=True).click()
    case_no = school.page.url.rsplit("/", 1)[1]
    assert case_no.startswith("KC-"), case_no
    assert await steps_now(school.page) == {"school_contact"}
    await school.shot("dropout-1-reported-desktop")
    await school.act(
        "school_contact",
        "not_returned",
        contacted_on=on,
        visited_on=on,
        family_says="孩子不愿上学，想外出打工",
    )
    assert await steps_now(school.page) == {"joint_persuasion"}

    # The township works the joint persuasion from a phone: its inbox lists it as a card.
    town = await login(chromium, base_url, "luzhou-town1", PHONE)
    await town.open("/inbox")
    card = town.page.locator("table tbody tr", has_text=case_no)
    await expect(card).to_contain_text("联合劝返")
    await expect(card).to_contain_text("协办")
    await phone_fits(town, "王小明")
    await town.shot("dropout-2-township-inbox-phone")
    await card.get_by_role("link", name=case_no).click()
    await town.page.wait_for_url(f"**/cases/{case_no}")
    await town.act(
        "joint_persuasion", "record_attempt", kind="home_visit", who="街道干部李某、社区主任王某", result="家长同意考虑"
    )
    assert "入户劝返" in await timeline_text(town.page)
    await phone_fits(town)
    width = await town.page.locator(
        "#act-joint_persuasion-record_attempt textarea, #act-joint_persuasion-record_attempt input[type=text]"
    ).first.evaluate("e => e.getBoundingClientRect().width / window.innerWidth")
    assert width > 0.7, f"a form field takes {width:.0%} of the phone's width"
    await town.shot("dropout-3-case-phone")

    # A county supervisor's help page says how to extend and reassign, with the policy's limits.
    sup = await login(chromium, base_url, "luzhou-edu-sup")
    await sup.open("/help")
    await expect(sup.page.locator("main h2").first).to_have_text("县级督导")
    await expect(sup.page.locator("main")).to_contain_text("30个工作日、60天、72小时、3个月")
    await expect(sup.page.locator("main")).to_contain_text("改派")
    await sup.shot("help-county-supervisor-desktop")

    bureau = await login(chromium, base_url, "luzhou-edu")
    await bureau.open(f"/cases/{case_no}")
    await bureau.act("joint_persuasion", "refuses", note="多次入户劝返，家长拒不送学")
    assert await steps_now(bureau.page) == {"written_order"}
    comply_by = (today() + timedelta(days=15)).isoformat()
    order = bureau.page.locator("#act-written_order-issue_order [name=comply_by]")
    assert await order.input_value() == comply_by  # prefilled from the policy
    await bureau.act("written_order", "issue_order", content="责令监护人于期限内将王小明送回学校复学")
    assert await steps_now(bureau.page) == {"order_compliance"}
    await bureau.shot("dropout-4-order-desktop")
    await bureau.act("order_compliance", "returned", returned_on=on)
    assert await steps_now(bureau.page) == {"consolidation"}
    history = await timeline_text(bureau.page)
    for label in ("立案", "联合劝返", "制发责令改正通知书", "已按期复学"):
        assert label in history, label

    await school.open("/inbox")
    row = school.page.locator("table tbody tr", has_text=case_no)
    await expect(row).to_contain_text("巩固")
    await school.shot("dropout-5-school-inbox-desktop")
